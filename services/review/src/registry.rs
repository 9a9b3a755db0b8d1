//! The provincial terminated-matters registry (省级终结库, issue #15 item 6,
//! docs/termination-registry.md).
//!
//! - Export: this deployment's terminated matters (`terminations` with `source = 'local'`) in
//!   the format `xf-termination/1`, page by page in a stable order. Each entry gets its export
//!   number when first exported (under a lock, in `(terminated_at, case_no)` order among the
//!   entries not numbered yet), so the order never changes and a client resumes after the
//!   last number it wrote, missing nothing committed late. The petitioner's sealed identity
//!   is the contact intake sealed with the data key in `case.registered` (kept in the case
//!   projection; none for a confidential case): review reads no other service's schema.
//! - Import: the province's list, validated record by record (errors name the line and the
//!   field), stored as `source = 'province'`, idempotent (an unchanged record changes nothing;
//!   a matter of a county this deployment serves is its own and skipped). Each new or changed
//!   record goes to intake as `review.registry_termination`, where registration compares a new
//!   petition with it (Art 36 para 3, proposed to a clerk).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::petition::{Art31Branch, PetitionType};
use xinfang_domain::subject;
use xinfang_domain::termination_registry::{
    FORMAT, Level, Petitioner, REGISTRY_TERMINATION, Record, RecordFingerprint,
    RegistryTermination, hex_encode,
};
use xinfang_domain::validation::ValidationError;
use xinfang_platform::outbox;

use crate::context::Ctx;
use crate::error::ReviewError;

/// Largest export page.
pub const MAX_PAGE: i64 = 500;
/// Most records per import request (the body limit allows about 40 with sealed identities).
pub const MAX_IMPORT_BATCH: usize = 100;
/// Longest label of an imported list.
const MAX_SOURCE_CHARS: usize = 200;

/// One exported matter and its export number.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub seq: i64,
    pub record: Record,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub entries: Vec<Exported>,
    /// The cursor to continue from: the last entry's number, or the one asked for.
    pub next: i64,
    /// More entries follow.
    pub more: bool,
}

fn decode(e: ValidationError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// Numbers the local entries not numbered yet, after the highest number given so far.
async fn number_new_entries(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('xf.review.termination_export'))")
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query(
        "with base as (select coalesce(max(export_seq), 0) as m from terminations),
              todo as (select case_no,
                              row_number() over (order by terminated_at, case_no) as n
                       from terminations where source = 'local' and export_seq is null)
         update terminations t set export_seq = base.m + todo.n
         from base, todo where t.case_no = todo.case_no",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The page of local terminated matters after export number `after`, terminated at or after
/// `since`, of the counties `scope` covers.
pub async fn export_page(
    ctx: &Ctx,
    scope: &CountyCode,
    since: Option<DateTime<Utc>>,
    after: i64,
    limit: i64,
) -> Result<ExportPage, ReviewError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut tx = ctx.pool.begin().await?;
    let numbered = number_new_entries(&mut tx).await?;
    if numbered > 0 {
        tracing::info!(numbered, "terminated matters numbered for export");
    }
    let rows = sqlx::query(
        "select t.export_seq, t.case_no, t.home_county, t.petitioner_key, t.fingerprint,
                t.fingerprint_version, t.rereview_organ, t.outcome, t.decision_served_on,
                t.terminated_at, c.matter_county, c.petition_type, c.branch, c.registered_at,
                c.contact_sealed, c.reply_department, c.department, c.reply_outcome,
                c.served_on, c.round
         from terminations t join cases c on c.case_no = t.case_no
         where t.source = 'local' and t.export_seq > $1
           and ($2::timestamptz is null or t.terminated_at >= $2)
           and (t.home_county = $3 or ($4 and substr(t.home_county, 1, 4) = substr($3, 1, 4)))
         order by t.export_seq
         limit $5",
    )
    .bind(after)
    .bind(since)
    .bind(scope.as_str())
    .bind(scope.is_city())
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    let more = rows.len() as i64 > limit;
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows.iter().take(limit as usize) {
        let case_no: String = r.try_get("case_no")?;
        let round: i32 = r.try_get("round")?;
        let review = sqlx::query(
            "select organ, outcome, decision_served_on from appeals
             where case_no = $1 and round = $2 and level = 'review'",
        )
        .bind(&case_no)
        .bind(round)
        .fetch_optional(&mut *tx)
        .await?
        .map(|a| -> Result<Level, sqlx::Error> {
            Ok(Level {
                organ: a.try_get("organ")?,
                outcome: a.try_get("outcome")?,
                served_on: a.try_get("decision_served_on")?,
            })
        })
        .transpose()?;
        entries.push(Exported {
            seq: r.try_get("export_seq")?,
            record: record_of(ctx, r, case_no, review)?,
        });
    }
    tx.commit().await?;
    let next = entries.last().map_or(after, |e| e.seq);
    Ok(ExportPage {
        entries,
        next,
        more,
    })
}

fn record_of(
    ctx: &Ctx,
    r: &sqlx::postgres::PgRow,
    case_no: String,
    review: Option<Level>,
) -> Result<Record, sqlx::Error> {
    let county = |col: &str| -> Result<CountyCode, sqlx::Error> {
        CountyCode::parse(&r.try_get::<String, _>(col)?).map_err(decode)
    };
    let matter_county = county("matter_county")?;
    let served_on: Option<NaiveDate> = r.try_get("served_on")?;
    let handling = match served_on {
        Some(served_on) => {
            let dept: Option<String> = r.try_get("reply_department")?;
            let dept = match dept {
                Some(d) => d,
                None => r.try_get("department")?,
            };
            Some(Level {
                organ: format!("{matter_county}:{dept}"),
                outcome: r.try_get("reply_outcome")?,
                served_on: Some(served_on),
            })
        }
        None => None,
    };
    let version: i32 = r.try_get("fingerprint_version")?;
    let contact: Option<String> = r.try_get("contact_sealed")?;
    // The sealed identity goes only with the id of the key that opens it.
    let (sealed_identity, sealed_identity_key_id) = match (contact, ctx.key.data_key_id()) {
        (Some(c), Some(id)) => (Some(c), Some(id.to_owned())),
        _ => (None, None),
    };
    let branch: Option<String> = r.try_get("branch")?;
    Ok(Record {
        format: FORMAT.to_owned(),
        case_no,
        home_county: county("home_county")?,
        matter_county,
        petition_type: PetitionType::parse(&r.try_get::<String, _>("petition_type")?)
            .map_err(decode)?,
        branch: branch
            .map(|b| Art31Branch::parse(&b))
            .transpose()
            .map_err(decode)?,
        registered_at: r.try_get("registered_at")?,
        petitioner: Petitioner {
            key: r.try_get("petitioner_key")?,
            key_id: ctx.key.key_id().to_owned(),
            sealed_identity,
            sealed_identity_key_id,
        },
        fingerprint: RecordFingerprint {
            version: u32::try_from(version).unwrap_or_default(),
            slots: hex_encode(&r.try_get::<Vec<u8>, _>("fingerprint")?),
        },
        handling,
        review,
        rereview: Level {
            organ: r.try_get("rereview_organ")?,
            outcome: r.try_get("outcome")?,
            served_on: r.try_get("decision_served_on")?,
        },
        terminated_at: r.try_get("terminated_at")?,
    })
}

/// `POST /v1/terminations/import`: a batch of the province's list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    /// The list's label (e.g. its file name), recorded with each record.
    pub source: Option<String>,
    /// Check every record and say what would change, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
    pub records: Vec<ImportLine>,
}

/// One record and the line of the file it was read from (for errors).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub line: u64,
    pub record: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReceipt {
    pub received: usize,
    /// Stored for the first time.
    pub new: usize,
    /// Stored before with other content, now replaced.
    pub updated: usize,
    /// Stored before exactly so: nothing changed.
    pub unchanged: usize,
    /// Matters of the counties this deployment serves (its own 终结库 holds them): skipped.
    pub own: usize,
    pub dry_run: bool,
}

fn at_line(line: u64, e: ValidationError) -> ReviewError {
    ReviewError::Invalid(ValidationError {
        message: format!("line {line}: {}: {}", e.field, e.message),
        ..e
    })
}

/// The county whose review subjects carry what intake must learn of the registry: the city
/// when this deployment serves it, else its first county.
fn event_county(ctx: &Ctx) -> Option<&CountyCode> {
    ctx.served
        .iter()
        .find(|c| c.is_city())
        .or_else(|| ctx.served.first())
}

/// Checks and stores a batch of the province's list, all or nothing.
pub async fn import(
    ctx: &Ctx,
    input: &ImportInput,
    now: DateTime<Utc>,
) -> Result<ImportReceipt, ReviewError> {
    let source = input
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("province");
    if source.chars().count() > MAX_SOURCE_CHARS || source.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "source",
            "format",
            format!("at most {MAX_SOURCE_CHARS} characters, no control characters"),
        )
        .into());
    }
    if input.records.len() > MAX_IMPORT_BATCH {
        return Err(ValidationError::new(
            "records",
            "too_many",
            format!("send at most {MAX_IMPORT_BATCH} records per request"),
        )
        .into());
    }
    // Every record is checked before anything is stored.
    let mut records = Vec::with_capacity(input.records.len());
    for l in &input.records {
        let record = Record::from_json(&l.record).map_err(|e| at_line(l.line, e))?;
        if record.petitioner.key_id != ctx.key.key_id() {
            return Err(at_line(
                l.line,
                ValidationError::new(
                    "petitioner.key_id",
                    "other_hash_key",
                    "made with another hash key than this deployment's security.hash_key; petitioner keys compare only between deployments sharing the province's hash key",
                ),
            ));
        }
        records.push(record);
    }
    let county = event_county(ctx)
        .ok_or_else(|| ReviewError::Internal(anyhow::anyhow!("no county served")))?
        .clone();
    let subject = subject::review_event(&county, REGISTRY_TERMINATION)
        .map_err(|e| ReviewError::Internal(e.into()))?;
    let mut receipt = ImportReceipt {
        received: records.len(),
        dry_run: input.dry_run,
        ..Default::default()
    };
    let mut tx = ctx.pool.begin().await?;
    for record in &records {
        if ctx.serves(&record.home_county) {
            receipt.own += 1;
            continue;
        }
        let value = record.to_value();
        let existing =
            sqlx::query("select source, record from terminations where case_no = $1 for update")
                .bind(&record.case_no)
                .fetch_optional(&mut *tx)
                .await?;
        let fresh = match &existing {
            Some(row) if row.try_get::<String, _>("source")? == "local" => {
                receipt.own += 1;
                continue;
            }
            Some(row) if row.try_get::<Option<Value>, _>("record")?.as_ref() == Some(&value) => {
                receipt.unchanged += 1;
                continue;
            }
            Some(_) => {
                receipt.updated += 1;
                false
            }
            None => {
                receipt.new += 1;
                true
            }
        };
        if input.dry_run {
            continue;
        }
        let data = RegistryTermination {
            matter_case_no: record.case_no.clone(),
            home_county: record.home_county.clone(),
            petitioner_key: record.petitioner.key.clone(),
            fingerprint_version: record.fingerprint.version,
            fingerprint: record.fingerprint.slots.clone(),
            rereview_organ: record.rereview.organ.clone(),
            terminated_at: record.terminated_at,
            source: source.to_owned(),
            imported_at: now,
        };
        // About no case of this deployment: no case id (consumers keyed on it skip it).
        let env = Envelope::new(REGISTRY_TERMINATION, None, county.clone(), now, &data)
            .map_err(|e| ReviewError::Internal(e.into()))?;
        let sql = if fresh {
            "insert into terminations (case_no, home_county, petitioner_key, fingerprint,
                fingerprint_version, rereview_organ, outcome, decision_served_on, terminated_at,
                event_id, source, import_source, imported_at, record)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'province', $11, $12, $13)"
        } else {
            "update terminations set home_county = $2, petitioner_key = $3, fingerprint = $4,
                fingerprint_version = $5, rereview_organ = $6, outcome = $7,
                decision_served_on = $8, terminated_at = $9, event_id = $10,
                import_source = $11, imported_at = $12, record = $13
             where case_no = $1 and source = 'province'"
        };
        sqlx::query(sql)
            .bind(&record.case_no)
            .bind(record.home_county.as_str())
            .bind(&record.petitioner.key)
            .bind(record.fingerprint_bytes())
            .bind(i32::try_from(record.fingerprint.version).unwrap_or(i32::MAX))
            .bind(&record.rereview.organ)
            .bind(&record.rereview.outcome)
            .bind(record.rereview.served_on)
            .bind(record.terminated_at)
            .bind(env.id)
            .bind(source)
            .bind(now)
            .bind(&value)
            .execute(&mut *tx)
            .await?;
        outbox::enqueue(&mut tx, &subject, &env)
            .await
            .map_err(ReviewError::Internal)?;
    }
    if input.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
        metrics::counter!("xf_registry_imported_total")
            .increment((receipt.new + receipt.updated) as u64);
        tracing::info!(
            received = receipt.received,
            new = receipt.new,
            updated = receipt.updated,
            unchanged = receipt.unchanged,
            own = receipt.own,
            "provincial terminated-matters list imported"
        );
    }
    Ok(receipt)
}
