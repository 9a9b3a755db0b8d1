//! Registration (登记, Art 21–22): validate, classify, link repeats, number the case, store
//! it with its personal data sealed, and emit `case.registered` through the outbox — all in
//! one transaction.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use xinfang_domain::case_source::CaseSources;
use xinfang_domain::classify::Classification;
use xinfang_domain::classify::similarity::{self, FINGERPRINT_VERSION};
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{self, Contact, RepeatDisposition, RepeatLink, SealedContact};
use xinfang_domain::registration::{Context, RegistrationInput, ValidRegistration};
use xinfang_domain::repeat::{self, EarlierCase};
use xinfang_domain::termination_registry::fingerprint_from_bytes;

use crate::repeats::earlier_time_limit;
use xinfang_domain::subject;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::outbox;

use crate::case_number;
use crate::crypto::Keys;
use crate::settings::IntakeSettings;

/// Everything registration needs, built once at start.
#[derive(Clone)]
pub struct Registrar {
    pub pool: PgPool,
    /// The classifier in use (retrained on clerks' corrections without a restart).
    pub classifier: Arc<crate::learning::ClassifierHandle>,
    pub keys: Keys,
    pub settings: IntakeSettings,
    pub city: CountyCode,
    pub served: Vec<CountyCode>,
    /// Where matters come from (`[[case_sources]]`): a petition's `source` must be one.
    pub sources: CaseSources,
}

/// What the clerk (and the petitioner's receipt) gets back.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    pub case_no: String,
    /// 查询码 given to the petitioner.
    pub query_code: String,
    /// `registered`. A refusal of a repeat (Art 19 para 3, Art 36 para 3) is only proposed
    /// (`repeat.proposed`): it applies once a clerk confirms it (Decisions 7).
    pub status: String,
    #[schema(value_type = Object)]
    pub classification: Classification,
    #[schema(value_type = Option<Object>)]
    pub repeat: Option<RepeatLink>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RegisterError {
    fn from(e: sqlx::Error) -> Self {
        RegisterError::Internal(e.into())
    }
}

/// Earlier matters of one petitioner compared with a new petition, newest first. Each is
/// re-segmented, so a petitioner with hundreds of cases must not stall registration; a matter
/// raised again after this many others is rare and a clerk can still link it.
const MAX_EARLIER_MATTERS: i64 = 100;

impl Registrar {
    /// Keyed hash naming the petitioner: the ID number when given, else the mobile.
    fn petitioner_key(&self, v: &ValidRegistration) -> String {
        match (&v.petitioner.id_number, &v.petitioner.mobile) {
            (Some(id), _) => self.keys.hash("id", id.as_str()),
            (None, Some(m)) => self.keys.hash("mobile", m.as_str()),
            (None, None) => self.keys.hash("name", v.petitioner.name.as_str()),
        }
    }

    pub async fn register(
        &self,
        input: &RegistrationInput,
        now: DateTime<Utc>,
    ) -> Result<Receipt, RegisterError> {
        let v = input.validate(&Context {
            now,
            city: &self.city,
            served: &self.served,
            max_text_chars: self.settings.max_text_chars,
        })?;
        let source = self
            .sources
            .parse("source", input.source.as_deref())?
            .clone();
        // One classifier for the whole registration, whatever a retraining swaps in meanwhile.
        let classifier = self.classifier.current();
        // The ID number's division prefix places a matter whose text names no place.
        let mut classification = classifier
            .classify_with_id_number(&v.text, v.petitioner.id_number.as_ref().map(|i| i.as_str()));
        let petitioner_key = self.petitioner_key(&v);
        let contact = Contact {
            name: v.petitioner.name.as_str().to_owned(),
            mobile: v.petitioner.mobile.as_ref().map(|m| m.as_str().to_owned()),
            email: v.petitioner.email.clone(),
        };
        let sealed = SealedContact(
            self.keys
                .seal(&serde_json::to_vec(&contact).map_err(anyhow::Error::from)?)?,
        );
        let representatives = if v.representatives.is_empty() {
            None
        } else {
            let reps: Vec<Contact> = v
                .representatives
                .iter()
                .map(|p| Contact {
                    name: p.name.as_str().to_owned(),
                    mobile: p.mobile.as_ref().map(|m| m.as_str().to_owned()),
                    email: p.email.clone(),
                })
                .collect();
            Some(
                self.keys
                    .seal(&serde_json::to_vec(&reps).map_err(anyhow::Error::from)?)?,
            )
        };
        // Computed for every case: a clerk may reclassify it into an accusation later.
        let redacted_text = xinfang_domain::confidential::redact_text(
            &v.text,
            &xinfang_domain::confidential::Identifiers::of_people(
                std::iter::once(&v.petitioner)
                    .chain(&v.co_petitioners)
                    .chain(&v.representatives),
            ),
        );
        // The topic words come from the redacted text: supervision keeps them, never names.
        // Repeats are compared on it too: the petitioner's own name, on every petition they
        // write, says nothing about whether two of them are one matter.
        let matter = classifier.matter(&redacted_text);
        let matter_words: std::collections::BTreeMap<String, f32> = matter
            .weights()
            .iter()
            .map(|(w, weight)| (w.clone(), (weight * 1000.0).round() / 1000.0))
            .collect();
        let town = classifier
            .gazetteer()
            .town(&redacted_text)
            .map(|(_, town)| town);
        let id_hash = v
            .petitioner
            .id_number
            .as_ref()
            .map(|i| self.keys.hash("id", i.as_str()));
        let mobile_hash = v
            .petitioner
            .mobile
            .as_ref()
            .map(|m| self.keys.hash("mobile", m.as_str()));

        let mut tx = self.pool.begin().await?;
        // Serialise registrations of one petitioner so two copies of the same petition
        // arriving at once are linked, not both treated as first.
        sqlx::query("select pg_advisory_xact_lock(hashtext($1))")
            .bind(&petitioner_key)
            .execute(&mut *tx)
            .await?;
        // The petitioner's matters (a repeat merged into one, or refused as one, is compared
        // through that one; a `related` repeat is handled on its own, so it is a matter too).
        // The same person is the same ID number, or the same mobile when either petition gave no
        // ID number: two people with different ID numbers may share a family phone. Both texts
        // are compared as segmented now, so older cases need no stored fingerprint.
        let rows = sqlx::query(
            "select case_no, county, coalesce(text_redacted, text) as text, department, current_department, status, terminated_at,
                    repeat_count, deadlines, confidential
             from cases
             where (repeat_of is null or repeat_disposition = 'related')
               and (petitioner_key = $1
                    or id_number_hash = $2
                    or (mobile_hash = $3 and (id_number_hash is null or $2::text is null)))
             order by registered_at desc
             limit $4",
        )
        .bind(&petitioner_key)
        .bind(&id_hash)
        .bind(&mobile_hash)
        .bind(MAX_EARLIER_MATTERS)
        .fetch_all(&mut *tx)
        .await?;
        let mut earlier = Vec::with_capacity(rows.len());
        let mut confidential_matters = std::collections::HashSet::new();
        for r in &rows {
            if r.try_get::<bool, _>("confidential")? {
                confidential_matters.insert(r.try_get::<String, _>("case_no")?);
            }
            let county: String = r.try_get("county")?;
            let Ok(county) = CountyCode::parse(&county) else {
                continue;
            };
            let status: String = r.try_get("status")?;
            let terminated_at: Option<DateTime<Utc>> = r.try_get("terminated_at")?;
            let text: String = r.try_get("text")?;
            let department: String = r.try_get("department")?;
            let current: Option<String> = r.try_get("current_department")?;
            // Art 19 para 3 "在规定期限内": what the registry heard of its deadlines.
            let limit = earlier_time_limit(&r.try_get("deadlines")?, now);
            earlier.push(EarlierCase {
                case_no: r.try_get("case_no")?,
                registered_by: county,
                similarity: matter.overlap(&classifier.matter(&text)),
                same_department: department == classification.department
                    || current.as_deref() == Some(classification.department.as_str()),
                terminated: terminated_at.is_some() || status == "terminated",
                finished: is_finished(&status),
                count: r.try_get::<i32, _>("repeat_count")?.max(1) as u32,
                out_of_time: limit.passed,
                due: limit.due,
            });
        }
        let local = repeat::link(
            &v.county,
            &earlier,
            self.settings.repeat_thresholds(),
            classifier.follow_up(&v.text),
        );
        // Matters of the same petitioner terminated elsewhere in the province (the provincial
        // 终结库 review imported): compared by fingerprint, the only trace of their text.
        let mut keys: Vec<&str> = vec![petitioner_key.as_str()];
        keys.extend(id_hash.as_deref());
        keys.extend(mobile_hash.as_deref());
        let registry_rows = sqlx::query(
            "select case_no, fingerprint, fingerprint_version from registry_terminations
             where petitioner_key = any($1)
             order by terminated_at desc, case_no
             limit $2",
        )
        .bind(&keys)
        .bind(MAX_EARLIER_MATTERS)
        .fetch_all(&mut *tx)
        .await?;
        let registry = if registry_rows.is_empty() {
            None
        } else {
            let mine = similarity::fingerprint(&v.text);
            let mut candidates = Vec::with_capacity(registry_rows.len());
            for r in &registry_rows {
                let version: i32 = r.try_get("fingerprint_version")?;
                let theirs = fingerprint_from_bytes(&r.try_get::<Vec<u8>, _>("fingerprint")?);
                // Another version's fingerprint cannot be compared (review refuses to import
                // one; a version bump here leaves the old ones behind).
                let Some(theirs) = theirs.filter(|_| version == FINGERPRINT_VERSION as i32) else {
                    continue;
                };
                candidates.push(repeat::RegistryMatch {
                    case_no: r.try_get("case_no")?,
                    similarity: similarity::similarity(&mine, &theirs),
                });
            }
            repeat::best_registry_match(candidates, self.settings.repeat_threshold_registry)
        };
        let registry_of = registry.as_ref().map(|m| m.case_no.clone());
        // Read from the local link: a province registry match may take the link below, and the
        // follow-up of a confidential matter stays confidential all the same.
        let repeats_confidential = local
            .as_ref()
            .map(|l| l.of.clone())
            .filter(|of| confidential_matters.contains(of));
        let link = repeat::with_registry(local, registry);
        let confidential = xinfang_domain::confidential::at_registration(
            &mut classification,
            repeats_confidential.as_deref(),
        );
        let from_registry = link
            .as_ref()
            .is_some_and(|l| Some(&l.of) == registry_of.as_ref());
        // A proposed refusal leaves the case registered: routing holds it for a clerk, and the
        // bureau's D1 runs on (Decisions 7).
        let status = "registered";
        // The year in China Standard Time (UTC+8, no DST).
        let year = (now + chrono::Duration::hours(8)).year();
        // Chosen before the number: from the number on, the county's registrations wait for
        // this one to commit, so that stretch holds as few round trips as it can.
        let query_code = loop {
            let code = case_number::query_code();
            let taken: bool =
                sqlx::query_scalar("select exists(select 1 from cases where query_code = $1)")
                    .bind(&code)
                    .fetch_one(&mut *tx)
                    .await?;
            if !taken {
                break code;
            }
        };
        let id_sealed = match &v.petitioner.id_number {
            Some(i) => Some(self.keys.seal(i.as_str().as_bytes())?),
            None => None,
        };
        // Before the number: it needs none.
        if let Some(l) = &link
            && l.disposition == RepeatDisposition::Merged
        {
            sqlx::query(
                "update cases set repeat_count = $2, updated_at = now() where case_no = $1",
            )
            .bind(&l.of)
            .bind(l.count as i32)
            .execute(&mut *tx)
            .await?;
        }
        let matter_county = classification.county.clone();
        // The number is taken by the insert itself (case_number::TAKE_NEXT), as late as the
        // transaction allows.
        let case_no: String = sqlx::query_scalar(INSERT_CASE.as_str())
            .bind(year)
            .bind(&query_code)
            .bind(v.county.as_str())
            .bind(matter_county.as_ref().map(|c| c.as_str().to_owned()))
            .bind(v.channel.as_str())
            .bind(v.received_at)
            .bind(now)
            .bind(&v.clerk_id)
            .bind(&sealed.0)
            .bind(&id_hash)
            .bind(&mobile_hash)
            .bind(&petitioner_key)
            .bind(v.group_size as i32)
            .bind(&representatives)
            .bind(&v.text)
            .bind(classification.petition_type.as_str())
            .bind(classification.branch.map(|b| b.as_str()))
            .bind(classification.diversion.map(|d| d.as_str()))
            .bind(&classification.department)
            .bind(classification.accuses_official)
            .bind(confidential)
            .bind(v.urgent)
            .bind(classification.confidence)
            .bind(classification.needs_triage)
            .bind(serde_json::to_value(&classification.reasons).map_err(anyhow::Error::from)?)
            .bind(link.as_ref().map(|l| l.of.clone()))
            .bind(link.as_ref().map(|l| l.disposition.as_str()))
            .bind(1i32)
            .bind(status)
            .bind(serde_json::json!({"received_at": v.received_at, "registered_at": now}))
            .bind(&id_sealed)
            .bind(&redacted_text)
            .bind(&source.code)
            .bind(link.as_ref().map(|l| l.proposed))
            .bind(link.as_ref().map(|l| l.similarity))
            .bind(link.as_ref().and_then(|l| l.earlier_due))
            .fetch_one(&mut *tx)
            .await?;
        let data = events::Registered {
            case_no: case_no.clone(),
            query_code: query_code.clone(),
            channel: v.channel,
            received_at: v.received_at,
            registered_at: now,
            county: matter_county.clone().unwrap_or_else(|| v.county.clone()),
            petition_type: classification.petition_type,
            branch: classification.branch,
            diversion: classification.diversion,
            department: classification.department.clone(),
            accuses_official: classification.accuses_official,
            confidential,
            urgent: v.urgent,
            needs_triage: classification.needs_triage,
            confidence: classification.confidence,
            group_size: v.group_size,
            repeat: link.clone(),
            petitioner_key,
            contact: Some(sealed),
            text: v.text.clone(),
            redacted_text: Some(redacted_text.clone()),
            source: Some(source.code.clone()),
            listed: source.listed,
            town,
            matter_words: (!matter_words.is_empty()).then_some(matter_words),
            received_by: v.received_by.clone(),
        };
        let env = Envelope::new(
            events::kind::REGISTERED,
            Some(case_no.clone()),
            v.county.clone(),
            now,
            data,
        )
        .map_err(anyhow::Error::from)?;
        let subj = subject::case_event(&v.county, events::kind::REGISTERED)
            .map_err(anyhow::Error::from)?;
        outbox::enqueue(&mut tx, &subj, &env).await?;
        // The registry would add this line when the event comes back; writing it now makes
        // the receipt's case immediately complete (the event id keeps it single).
        sqlx::query(
            "insert into timeline (case_no, at, event, event_id, summary, public)
             values ($1, $2, $3, $4, $5, true) on conflict (event_id) do nothing",
        )
        .bind(&case_no)
        .bind(now)
        .bind(events::kind::REGISTERED)
        .bind(env.id)
        .bind(crate::registry::REGISTERED_SUMMARY)
        .execute(&mut *tx)
        .await?;
        if let Some(l) = &link {
            // Staff see the link (and what a clerk must decide) on the timeline; the
            // petitioner does not — a proposal is nobody's decision yet.
            sqlx::query(
                "insert into timeline (case_no, at, event, event_id, summary, public)
                 values ($1, $2, $3, $4, $5, false)",
            )
            .bind(&case_no)
            .bind(now)
            .bind(if l.proposed {
                "repeat_proposed"
            } else {
                "repeat_linked"
            })
            .bind(uuid::Uuid::now_v7())
            .bind(if from_registry {
                crate::repeats::registry_link_summary(l)
            } else {
                crate::repeats::link_summary(l)
            })
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        metrics::counter!("xf_petitions_registered_total", "channel" => v.channel.as_str())
            .increment(1);
        tracing::info!(case_no = %case_no, county = %v.county, petition_type = %classification.petition_type, status, "petition registered");
        Ok(Receipt {
            case_no,
            query_code,
            status: status.to_owned(),
            classification,
            repeat: link,
        })
    }
}

/// The registration's insert, which takes the case number itself (case_number::TAKE_NEXT).
static INSERT_CASE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}
             insert into cases (case_no, query_code, county, matter_county, channel, received_at,
                registered_at, clerk_id, petitioner_sealed, id_number_sealed, id_number_hash, mobile_hash,
                petitioner_key, group_size, representatives_sealed, text,
                petition_type, branch, diversion, department, accuses_official, confidential,
                urgent, confidence, needs_triage, reasons, repeat_of, repeat_disposition,
                repeat_count, status, milestones, text_redacted, source, repeat_proposed,
                repeat_similarity, repeat_earlier_due)
             select next.case_no, $2,$3,$4,$5,$6,$7,$8,$9,$31,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,
                $20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$32, $33, coalesce($34, false),
                $35, $36
             from next
             returning case_no",
        case_number::TAKE_NEXT
    )
});

/// Registry statuses after which a matter is no longer pending at its level.
pub fn is_finished(status: &str) -> bool {
    matches!(
        status,
        "replied"
            | "closed"
            | "diverted"
            | "not_accepted"
            | "not_reaccepted"
            | "terminated"
            | "review_requested"
            | "review_decided"
            | "rereview_requested"
            | "rereview_decided"
            | "final_without_appeal"
    )
}
