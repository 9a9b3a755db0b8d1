//! Routing rules (domain.md §4–5, §6): given a registered (or reclassified) case and the
//! [`Directory`], decide where it goes. Pure; the routing service applies the decision.
//!
//! Order (the first matching rule wins):
//! 1. a repeat the intake proposed to refuse (不再受理, Art 36 para 3; 不予受理, Art 19 para 3)
//!    → held until a clerk confirms it (Decisions 7), then refused; a repeat merged into an open
//!    case → held (the earlier case carries it); a `related` repeat (of a finished matter, or
//!    of one past its time limit) is routed by the rules below like any petition;
//! 2. a low-confidence classification awaiting a clerk → held (when the policy says so);
//! 3. an accusation against Party members or officials → 纪委监委 of the case's level,
//!    confidential (Art 22 para 2, Art 30); when the accused's management level is known
//!    (`accused_level`), the 纪委监委 that manages that level (按照管理权限): an accusation
//!    against a county leader goes to the city's;
//! 4. litigation (涉法涉诉, Art 31(1)) → the political-legal organ (court, police or
//!    procuratorate by the diversion), the petitioner told the legal route (Art 22 para 2, 28);
//! 5. Art 31(2)–(4) → diverted into arbitration, Party appeal or administrative procedure with a
//!    guidance notice naming the channel and the organ;
//! 6. otherwise → the suggested department of the case's county (the city's when the county
//!    is not in the directory or lacks the department); urgent matters are 交办 (Assign, with
//!    a completion report), others 转送 (Forward). Extra departments assist the lead.

use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::directory::{Directory, OrganRef};
use chrono::{DateTime, Utc};

use crate::events::{
    AssignMode, Reclassified, Registered, RepeatDecided, RepeatDisposition, RepeatLink,
};
use crate::petition::{Art31Branch, CadreLevel, Diversion, PetitionType};

/// The facts routing decides on (from `case.registered`, updated by `case.reclassified`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingFacts {
    pub case_no: String,
    /// Where the matter arose.
    pub county: CountyCode,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub diversion: Option<Diversion>,
    /// Suggested handling department (directory code).
    pub department: String,
    /// Further departments the matter touches (they assist the lead).
    #[serde(default)]
    pub assisting: Vec<String>,
    pub accuses_official: bool,
    pub confidential: bool,
    pub urgent: bool,
    pub needs_triage: bool,
    pub repeat: Option<RepeatLink>,
    /// The management level of the accused cadre, when a clerk recorded it (Art 22 para 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accused_level: Option<CadreLevel>,
    /// When the classification above was made (registration, then each reclassification): an
    /// older reclassification delivered after a newer one does not replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classified_at: Option<DateTime<Utc>>,
}

impl RoutingFacts {
    pub fn from_registered(r: &Registered) -> Self {
        Self {
            case_no: r.case_no.clone(),
            county: r.county.clone(),
            petition_type: r.petition_type,
            branch: r.branch,
            diversion: r.diversion,
            department: r.department.clone(),
            // Registration names one department; a clerk's reclassification may add more.
            assisting: Vec::new(),
            accuses_official: r.accuses_official,
            confidential: r.confidential,
            urgent: r.urgent,
            needs_triage: r.needs_triage,
            repeat: r.repeat.clone(),
            accused_level: None,
            classified_at: Some(r.registered_at),
        }
    }

    /// The facts after a clerk's reclassification: the clerk's word replaces the classifier's,
    /// so the case no longer needs triage.
    pub fn reclassified(&self, r: &Reclassified, at: DateTime<Utc>) -> Self {
        Self {
            case_no: self.case_no.clone(),
            county: r.county.clone(),
            petition_type: r.petition_type,
            branch: r.branch,
            diversion: r.diversion,
            department: r.department.clone(),
            assisting: r.assisting.clone(),
            // A recorded level means a cadre is accused.
            accuses_official: r.accuses_official || r.accused_level.is_some(),
            confidential: self.confidential || r.petition_type == PetitionType::Accusation,
            urgent: self.urgent,
            needs_triage: false,
            repeat: self.repeat.clone(),
            accused_level: r.accused_level,
            classified_at: Some(at),
        }
    }

    /// The facts after a clerk's decision on the repeat link (Decisions 7): a confirmed refusal
    /// is no longer a proposal (and carries the earlier due time the registry knew at the
    /// decision), a rejected one is `related`, an unlinked petition is no repeat.
    pub fn repeat_decided(&self, d: &RepeatDecided) -> Self {
        let old = self.repeat.as_ref();
        let repeat = d.disposition.map(|disposition| RepeatLink {
            of: d.repeat_of.clone(),
            disposition,
            similarity: old.map_or(0.0, |l| l.similarity),
            count: old.map_or(1, |l| l.count),
            proposed: false,
            earlier_due: d.earlier_due.or(old.and_then(|l| l.earlier_due)),
        });
        Self {
            repeat,
            ..self.clone()
        }
    }

    /// Whistle-blower protection applies (Art 30 para 3).
    pub fn is_confidential(&self) -> bool {
        self.confidential || self.accuses_official || self.petition_type == PetitionType::Accusation
    }
}

/// Settings of the rules themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPolicy {
    /// Hold cases the classifier flagged for triage until a clerk reclassifies them.
    pub hold_for_triage: bool,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            hold_for_triage: true,
        }
    }
}

/// Work for departments: one lead and any assisting departments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub lead: OrganRef,
    pub assisting: Vec<OrganRef>,
    pub mode: AssignMode,
    pub report_required: bool,
    /// Whistle-blower material: the petitioner's identity goes to 纪委监委 only.
    pub confidential: bool,
    /// The rule applied, with its article.
    pub rule: String,
    /// Set when a department was taken from the city because the county lacks it.
    pub note: Option<String>,
}

/// A matter channelled out of ordinary petition handling, with the notice for the petitioner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guidance {
    pub organ: OrganRef,
    pub organ_name: String,
    pub diversion: Option<Diversion>,
    /// The guidance notice: names the legal channel and the organ.
    pub guidance: String,
    pub rule: String,
}

/// Refused: 不予受理 or 不再受理, confirmed by a clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub disposition: RepeatDisposition,
    pub repeat_of: String,
    pub rule: String,
    pub reason: String,
    pub where_to_go: Option<String>,
    /// Art 19 para 3: the earlier matter's time limit, when known; the lifecycle refuses the
    /// 不予受理 after it ([`crate::lifecycle::NotAcceptGround::PendingElsewhere`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// 转送/交办 to departments (`case.assigned`, `dept.<d>.assigned`).
    Route(Route),
    /// 涉法涉诉: to the political-legal organ, which also gets the letter (Art 22 para 2);
    /// the petitioner is told the legal route (`case.diverted`).
    PoliticalLegal { diverted: Guidance, forward: Route },
    /// Art 31(2)–(4): 导入法定途径 (`case.diverted`).
    Divert(Guidance),
    /// `case.not_accepted` / `case.not_reaccepted`.
    Refuse(Refusal),
    /// Nothing to publish yet.
    Hold { reason: String },
}

/// Why a case cannot be routed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error(
        "department `{dept}` is neither in county {county} nor in the city of the directory; reclassify the case"
    )]
    UnknownDepartment { county: CountyCode, dept: String },
    #[error("role `{role}` ({dept}) is not in the directory")]
    MissingRole { role: &'static str, dept: String },
}

/// After a clerk reclassified a case a unit already has: the route to take it back to, if the
/// bureau must (lifecycle `reroute`). It must when the matter became confidential (Art 30
/// para 3: the unit may be the accused's own, and was given the informant) or the accused's
/// management level was newly recorded (Art 22 para 2), and the rules now name another lead.
pub fn reroute_after_reclassification(
    was_confidential: bool,
    is_confidential: bool,
    level_before: Option<CadreLevel>,
    facts: &RoutingFacts,
    current_lead: Option<&OrganRef>,
    dir: &Directory,
    policy: &RoutingPolicy,
) -> Option<Decision> {
    let level_changed = facts.accused_level.is_some() && facts.accused_level != level_before;
    if !((!was_confidential && is_confidential) || level_changed) {
        return None;
    }
    let decision = decide(facts, dir, policy).ok()?;
    let lead = match &decision {
        Decision::Route(r) => Some(&r.lead),
        _ => None,
    };
    (lead != current_lead).then_some(decision)
}

/// Decides where a case goes (see the module docs for the order of the rules).
pub fn decide(
    facts: &RoutingFacts,
    dir: &Directory,
    policy: &RoutingPolicy,
) -> Result<Decision, RoutingError> {
    if let Some(link) = &facts.repeat {
        match link.disposition {
            d if d.is_refusal() && link.proposed => {
                let what = if d == RepeatDisposition::NotReaccepted {
                    "不再受理, Art 36 para 3"
                } else {
                    "不予受理, Art 19 para 3"
                };
                return Ok(Decision::Hold {
                    reason: format!(
                        "awaiting a clerk's confirmation of the proposed refusal ({what}): repeat of {}",
                        link.of
                    ),
                });
            }
            RepeatDisposition::NotReaccepted => {
                return Ok(Decision::Refuse(Refusal {
                    disposition: RepeatDisposition::NotReaccepted,
                    repeat_of: link.of.clone(),
                    rule: "Art 36 para 3".into(),
                    reason: format!(
                        "复核后信访人仍以同一事实和理由提出（原案 {}），各级信访部门和其他机关、单位不再受理（《信访工作条例》第三十六条第三款）",
                        link.of
                    ),
                    where_to_go: None,
                    earlier_due: None,
                }));
            }
            RepeatDisposition::NotAccepted => {
                return Ok(Decision::Refuse(Refusal {
                    disposition: RepeatDisposition::NotAccepted,
                    repeat_of: link.of.clone(),
                    rule: "Art 19 para 3".into(),
                    reason: format!(
                        "同一信访事项（原案 {}）已由有关机关受理、正在办理且在规定期限内，向上级机关再次提出的不予受理（《信访工作条例》第十九条第三款）",
                        link.of
                    ),
                    where_to_go: Some(format!(
                        "请等待原案 {} 的办理结果，或向正在办理的机关查询进展",
                        link.of
                    )),
                    earlier_due: link.earlier_due,
                }));
            }
            RepeatDisposition::Merged => {
                return Ok(Decision::Hold {
                    reason: format!("merged into open case {}; that case carries it", link.of),
                });
            }
            // Its own disposition within D1, by the rules below (Decisions 7).
            RepeatDisposition::Related => {}
        }
    }
    if facts.needs_triage && policy.hold_for_triage {
        return Ok(Decision::Hold {
            reason: "classification needs triage: awaiting a clerk's reclassification".into(),
        });
    }
    let county = dir.handling_county(&facts.county).code.clone();
    let roles = &dir.roles;
    let mode = if facts.urgent {
        AssignMode::Assign
    } else {
        AssignMode::Forward
    };

    // Accusations against officials: 纪委监委 of the case's level (Art 22 para 2, Art 30), or
    // by management authority when the accused's level is known.
    if facts.accuses_official
        || (facts.petition_type == PetitionType::Accusation && facts.department == roles.discipline)
    {
        let (lead, note, rule) = match facts.accused_level {
            Some(level) => {
                let (lead, note) = discipline_with_authority(dir, &county, level)?;
                (lead, note, "Art 22 para 2 (按照管理权限), Art 30")
            }
            None => {
                let lead = role(dir, &county, "discipline", &roles.discipline)?;
                (
                    lead.clone(),
                    fallback_note(&county, &lead),
                    "Art 22 para 2, Art 30",
                )
            }
        };
        let assisting = assisting(dir, &county, &facts.assisting, &lead)?;
        return Ok(Decision::Route(Route {
            note,
            lead,
            assisting,
            mode,
            report_required: mode == AssignMode::Assign,
            confidential: true,
            rule: rule.into(),
        }));
    }

    let branch = facts.branch.or(facts.diversion.map(Diversion::branch));
    if facts.petition_type == PetitionType::Grievance || facts.diversion.is_some() {
        match branch {
            Some(Art31Branch::LegalProcedure) => {
                let (role_name, code) = match facts.diversion {
                    Some(Diversion::PoliceFiling) => ("police", &roles.police),
                    Some(Diversion::Litigation | Diversion::CourtEnforcement) => {
                        ("court", &roles.court)
                    }
                    _ if facts.department == roles.procuratorate => {
                        ("procuratorate", &roles.procuratorate)
                    }
                    _ if facts.department == roles.police => ("police", &roles.police),
                    _ => ("court", &roles.court),
                };
                let organ = role(dir, &county, role_name, code)?;
                let organ_name = dir.organ_name(&organ);
                let channel = match role_name {
                    "police" => "向公安机关报案、控告，依法立案侦查",
                    "procuratorate" => "向人民检察院申请法律监督",
                    _ => match facts.diversion {
                        Some(Diversion::CourtEnforcement) => "向人民法院申请强制执行",
                        _ => "依法向人民法院提起诉讼或者申请再审",
                    },
                };
                let guidance = format!(
                    "您反映的事项属于涉法涉诉问题，依法应当通过法律程序解决（《信访工作条例》第二十二条第二款、第二十八条第二款、第三十一条第一项）。请{channel}，受理机关：{organ_name}。本件信访材料已转送{organ_name}。"
                );
                let forward = Route {
                    note: fallback_note(&county, &organ),
                    lead: organ.clone(),
                    assisting: Vec::new(),
                    mode: AssignMode::Forward,
                    report_required: false,
                    confidential: facts.is_confidential(),
                    rule: "Art 22 para 2".into(),
                };
                return Ok(Decision::PoliticalLegal {
                    diverted: Guidance {
                        organ,
                        organ_name,
                        diversion: facts.diversion,
                        guidance,
                        rule: "Art 22 para 2, Art 28 para 2, Art 31(1)".into(),
                    },
                    forward,
                });
            }
            Some(Art31Branch::Arbitration) => {
                let rural = facts.department == roles.rural_land_arbitration;
                let (role_name, code) = if rural {
                    ("rural_land_arbitration", &roles.rural_land_arbitration)
                } else {
                    ("labour_arbitration", &roles.labour_arbitration)
                };
                let seat = role(dir, &county, role_name, code)?;
                let county_name = county_name(dir, &seat.county);
                let seat_name = dir.organ_name(&seat);
                let (commission, kind) = if rural {
                    ("农村土地承包仲裁委员会", "农村土地承包经营纠纷")
                } else {
                    ("劳动人事争议仲裁委员会", "劳动人事争议")
                };
                let organ_name = format!("{county_name}{commission}（设在{seat_name}）");
                let guidance = format!(
                    "您反映的事项属于{kind}，依法应当通过仲裁程序解决（《信访工作条例》第三十一条第二项）。请向{organ_name}申请仲裁。"
                );
                return Ok(Decision::Divert(Guidance {
                    organ: seat,
                    organ_name,
                    diversion: Some(facts.diversion.unwrap_or(Diversion::Arbitration)),
                    guidance,
                    rule: "Art 31(2)".into(),
                }));
            }
            Some(Art31Branch::PartyAppeal) => {
                let organ = role(dir, &county, "party_appeal", &roles.party_appeal)?;
                let organ_name = dir.organ_name(&organ);
                let guidance = format!(
                    "您反映的事项可以通过党员申诉或者申请复审程序解决（《信访工作条例》第三十一条第三项）。请向{organ_name}提出申诉或者复审申请。"
                );
                return Ok(Decision::Divert(Guidance {
                    organ,
                    organ_name,
                    diversion: Some(facts.diversion.unwrap_or(Diversion::PartyAppeal)),
                    guidance,
                    rule: "Art 31(3)".into(),
                }));
            }
            Some(Art31Branch::AdministrativeProcedure) => {
                let organ = role(
                    dir,
                    &county,
                    "administrative_reconsideration",
                    &roles.administrative_reconsideration,
                )?;
                let gov = role(dir, &county, "government", &roles.government)?;
                let gov_name = dir.organ_name(&gov);
                let office = dir.organ_name(&organ);
                let organ_name = format!("{gov_name}（行政复议机构设在{office}）");
                let guidance = format!(
                    "您反映的事项可以通过行政复议、行政裁决、行政确认等行政程序解决（《信访工作条例》第三十一条第四项）。请依法向{organ_name}申请行政复议，或者向作出行政行为的机关申请相应程序。"
                );
                return Ok(Decision::Divert(Guidance {
                    organ,
                    organ_name,
                    diversion: Some(
                        facts
                            .diversion
                            .unwrap_or(Diversion::AdministrativeReconsideration),
                    ),
                    guidance,
                    rule: "Art 31(4)".into(),
                }));
            }
            _ => {}
        }
    }

    let lead =
        dir.resolve(&county, &facts.department)
            .ok_or_else(|| RoutingError::UnknownDepartment {
                county: county.clone(),
                dept: facts.department.clone(),
            })?;
    let assisting = assisting(dir, &county, &facts.assisting, &lead)?;
    let confidential = facts.is_confidential();
    Ok(Decision::Route(Route {
        note: fallback_note(&county, &lead),
        lead,
        assisting,
        mode,
        report_required: mode == AssignMode::Assign,
        confidential,
        rule: if mode == AssignMode::Assign {
            "Art 22 para 1(3), Art 25".into()
        } else {
            "Art 22 para 1(1)(2), Art 5(3)".into()
        },
    }))
}

/// The 纪委监委 that manages cadres of `level` for a matter of `county` (Art 22 para 2), with a
/// note when it is not the county's own. A level no commission in the directory manages (a
/// province-managed city leader) goes to the city's commission, which forwards it up.
fn discipline_with_authority(
    dir: &Directory,
    county: &CountyCode,
    level: CadreLevel,
) -> Result<(OrganRef, Option<String>), RoutingError> {
    if let Some(lead) = dir.discipline_with_authority(county, level) {
        let note = (lead.county != *county).then(|| {
            format!(
                "accused cadre is {} ({}): managed by the {} commission (按照管理权限)",
                level.as_str(),
                level.zh(),
                lead.county
            )
        });
        return Ok((lead, note));
    }
    let city = dir.city().code.clone();
    let lead = role(dir, &city, "discipline", &dir.roles.discipline)?;
    let note = Some(format!(
        "accused cadre is {} ({}): managed above the directory's levels; the {} commission forwards it to the commission with authority",
        level.as_str(),
        level.zh(),
        city
    ));
    Ok((lead, note))
}

/// Where a matter the handling unit diverts after acceptance goes (Art 31(1)–(4)): the organ
/// of the legal channel, as routing would have chosen it at intake; an error when the
/// directory lacks the channel's organ.
pub fn channel_organ(
    facts: &RoutingFacts,
    diversion: Diversion,
    dir: &Directory,
) -> Result<Guidance, RoutingError> {
    let mut f = facts.clone();
    f.petition_type = PetitionType::Grievance;
    f.branch = Some(diversion.branch());
    f.diversion = Some(diversion);
    f.accuses_official = false;
    f.accused_level = None;
    f.needs_triage = false;
    f.repeat = None;
    match decide(&f, dir, &RoutingPolicy::default())? {
        Decision::Divert(g) | Decision::PoliticalLegal { diverted: g, .. } => Ok(g),
        // Every diversion branch is diverted by `decide`.
        _ => Err(RoutingError::MissingRole {
            role: "diversion",
            dept: diversion.as_str().to_owned(),
        }),
    }
}

/// May `organ`, in `role` on the case, see the petitioner's identity? Not on confidential
/// matters unless it is the lead 纪委监委 (Art 30 para 3;
/// [`crate::confidential::discloses_informant`]).
pub fn discloses_petitioner(
    confidential: bool,
    organ: &OrganRef,
    role: crate::events::DeptRole,
    dir: &Directory,
) -> bool {
    let lead = (role == crate::events::DeptRole::Lead).then_some(organ.dept.as_str());
    crate::confidential::discloses_informant(confidential, &organ.dept, lead, &dir.roles.discipline)
}

fn role(
    dir: &Directory,
    county: &CountyCode,
    role: &'static str,
    dept: &str,
) -> Result<OrganRef, RoutingError> {
    dir.resolve(county, dept)
        .ok_or_else(|| RoutingError::MissingRole {
            role,
            dept: dept.to_owned(),
        })
}

fn assisting(
    dir: &Directory,
    county: &CountyCode,
    codes: &[String],
    lead: &OrganRef,
) -> Result<Vec<OrganRef>, RoutingError> {
    let mut out: Vec<OrganRef> = Vec::new();
    for code in codes {
        let organ = dir
            .resolve(county, code)
            .ok_or_else(|| RoutingError::UnknownDepartment {
                county: county.clone(),
                dept: code.clone(),
            })?;
        if &organ != lead && !out.contains(&organ) {
            out.push(organ);
        }
    }
    Ok(out)
}

fn county_name(dir: &Directory, code: &CountyCode) -> String {
    dir.county(code)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| code.to_string())
}

fn fallback_note(county: &CountyCode, organ: &OrganRef) -> Option<String> {
    (organ.county != *county).then(|| {
        format!(
            "county {county} has no `{}`; routed to the {} organ",
            organ.dept, organ.county
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        Directory::from_toml_str(include_str!("../../../config/directory.toml")).unwrap()
    }

    fn facts() -> RoutingFacts {
        RoutingFacts {
            case_no: "XF-411282-2026-000001".into(),
            county: CountyCode::parse("411282").unwrap(),
            petition_type: PetitionType::Grievance,
            branch: Some(Art31Branch::Residual),
            diversion: None,
            department: "zjj".into(),
            assisting: Vec::new(),
            accuses_official: false,
            confidential: false,
            urgent: false,
            needs_triage: false,
            repeat: None,
            accused_level: None,
            classified_at: None,
        }
    }

    fn decide_(f: &RoutingFacts) -> Decision {
        decide(f, &dir(), &RoutingPolicy::default()).unwrap()
    }

    fn route(d: Decision) -> Route {
        match d {
            Decision::Route(r) => r,
            other => panic!("expected a route, got {other:?}"),
        }
    }

    fn diverted(d: Decision) -> Guidance {
        match d {
            Decision::Divert(d) => d,
            other => panic!("expected a diversion, got {other:?}"),
        }
    }

    #[test]
    fn ordinary_matter_goes_to_the_suggested_department_of_its_county() {
        let r = route(decide_(&facts()));
        assert_eq!(r.lead.to_string(), "411282:zjj");
        assert_eq!(r.mode, AssignMode::Forward);
        assert!(!r.report_required && !r.confidential && r.note.is_none());
    }

    #[test]
    fn unknown_county_goes_to_the_city() {
        let mut f = facts();
        f.county = CountyCode::parse("411299").unwrap();
        assert_eq!(route(decide_(&f)).lead.to_string(), "411200:zjj");
    }

    #[test]
    fn urgent_is_assigned_with_a_report() {
        let mut f = facts();
        f.urgent = true;
        let r = route(decide_(&f));
        assert_eq!(r.mode, AssignMode::Assign);
        assert!(r.report_required);
    }

    #[test]
    fn several_departments_get_one_lead_and_assisting() {
        let mut f = facts();
        f.assisting = vec!["zrzyj".into(), "zjj".into(), "zrzyj".into(), "mzj".into()];
        let r = route(decide_(&f));
        assert_eq!(r.lead.to_string(), "411282:zjj");
        let a: Vec<String> = r.assisting.iter().map(|o| o.to_string()).collect();
        assert_eq!(a, ["411282:zrzyj", "411282:mzj"]);
        f.assisting = vec!["nope".into()];
        assert!(matches!(
            decide(&f, &dir(), &RoutingPolicy::default()),
            Err(RoutingError::UnknownDepartment { .. })
        ));
    }

    #[test]
    fn accusation_against_officials_goes_to_discipline_of_the_level_confidentially() {
        let mut f = facts();
        f.petition_type = PetitionType::Accusation;
        f.branch = None;
        f.accuses_official = true;
        f.department = "zjj".into();
        let r = route(decide_(&f));
        assert_eq!(r.lead.to_string(), "411282:jwjw");
        assert!(r.confidential);
        assert_eq!(r.rule, "Art 22 para 2, Art 30");
        let d = dir();
        use crate::events::DeptRole;
        assert!(discloses_petitioner(true, &r.lead, DeptRole::Lead, &d));
        assert!(!discloses_petitioner(
            true,
            &r.lead,
            DeptRole::Assisting,
            &d
        ));
        assert!(!discloses_petitioner(
            true,
            &OrganRef::parse("411282:zjj").unwrap(),
            DeptRole::Lead,
            &d
        ));
        assert!(discloses_petitioner(
            false,
            &OrganRef::parse("411282:zjj").unwrap(),
            DeptRole::Assisting,
            &d
        ));
        // A city-level case goes to the city's commission.
        f.county = CountyCode::parse("411200").unwrap();
        assert_eq!(route(decide_(&f)).lead.to_string(), "411200:jwjw");
    }

    #[test]
    fn accusation_not_against_officials_is_still_confidential() {
        let mut f = facts();
        f.petition_type = PetitionType::Accusation;
        f.branch = None;
        f.department = "sthjj".into();
        let r = route(decide_(&f));
        assert_eq!(r.lead.to_string(), "411282:sthjj");
        assert!(r.confidential);
    }

    #[test]
    fn litigation_goes_to_the_political_legal_organ_by_diversion() {
        for (diversion, dept, organ) in [
            (Some(Diversion::Litigation), "fy", "411282:fy"),
            (Some(Diversion::CourtEnforcement), "zjj", "411282:fy"),
            (Some(Diversion::PoliceFiling), "zjj", "411282:gaj"),
            (None, "jcy", "411282:jcy"),
            (None, "zjj", "411282:fy"),
        ] {
            let mut f = facts();
            f.branch = Some(Art31Branch::LegalProcedure);
            f.diversion = diversion;
            f.department = dept.into();
            match decide_(&f) {
                Decision::PoliticalLegal { diverted, forward } => {
                    assert_eq!(diverted.organ.to_string(), organ);
                    assert_eq!(forward.lead.to_string(), organ);
                    assert!(diverted.guidance.contains(&diverted.organ_name));
                    assert!(diverted.guidance.contains("第三十一条第一项"));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn art31_2_to_4_are_diverted_with_channel_and_organ() {
        let mut f = facts();
        f.branch = Some(Art31Branch::Arbitration);
        f.department = "rsj".into();
        let d = diverted(decide_(&f));
        assert_eq!(d.organ.to_string(), "411282:rsj");
        assert!(
            d.guidance.contains("劳动人事争议仲裁委员会") && d.guidance.contains("灵宝市人社局")
        );
        assert_eq!(d.diversion, Some(Diversion::Arbitration));

        f.department = "nyncj".into();
        let d = diverted(decide_(&f));
        assert_eq!(d.organ.to_string(), "411282:nyncj");
        assert!(d.guidance.contains("农村土地承包仲裁委员会"));

        f.branch = Some(Art31Branch::PartyAppeal);
        let d = diverted(decide_(&f));
        assert_eq!(d.organ.to_string(), "411282:zzb");
        assert!(d.guidance.contains("党员申诉") && d.guidance.contains("灵宝市组织部"));

        f.branch = Some(Art31Branch::AdministrativeProcedure);
        let d = diverted(decide_(&f));
        assert_eq!(d.organ.to_string(), "411282:sfj");
        assert!(d.guidance.contains("行政复议") && d.guidance.contains("灵宝市人民政府"));
        assert_eq!(d.diversion, Some(Diversion::AdministrativeReconsideration));

        // A diversion without a branch is enough.
        let mut f = facts();
        f.branch = None;
        f.diversion = Some(Diversion::PartyAppeal);
        assert_eq!(diverted(decide_(&f)).organ.to_string(), "411282:zzb");
    }

    #[test]
    fn duty_and_residual_branches_are_routed_not_diverted() {
        let mut f = facts();
        f.branch = Some(Art31Branch::DutyPerformance);
        assert!(matches!(decide_(&f), Decision::Route(_)));
    }

    fn decided(
        f: &RoutingFacts,
        decision: crate::events::RepeatDecision,
        disposition: Option<RepeatDisposition>,
        earlier_due: Option<DateTime<Utc>>,
    ) -> RoutingFacts {
        f.repeat_decided(&RepeatDecided {
            case_no: f.case_no.clone(),
            repeat_of: "XF-411282-2025-000009".into(),
            decision,
            was: f.repeat.as_ref().unwrap().disposition,
            disposition,
            by: "t1".into(),
            reason: "同一事实和理由".into(),
            earlier_due,
            at: Utc::now(),
        })
    }

    /// Decisions 7: similarity only proposes; routing holds a proposed refusal for the clerk
    /// and refuses only once the clerk has confirmed it.
    #[test]
    fn a_proposed_refusal_is_held_until_a_clerk_confirms_it() {
        use crate::events::RepeatDecision;
        for (disposition, rule) in [
            (RepeatDisposition::NotReaccepted, "Art 36 para 3"),
            (RepeatDisposition::NotAccepted, "Art 19 para 3"),
        ] {
            let mut f = facts();
            f.repeat = Some(RepeatLink {
                of: "XF-411282-2025-000009".into(),
                disposition,
                similarity: 0.97,
                count: 3,
                proposed: true,
                earlier_due: None,
            });
            match decide_(&f) {
                Decision::Hold { reason } => {
                    assert!(
                        reason.contains("awaiting a clerk's confirmation"),
                        "{reason}"
                    );
                    assert!(reason.contains(rule.split(',').next().unwrap_or(rule)));
                }
                other => panic!("{other:?}"),
            }
            let due = Utc::now() + chrono::TimeDelta::days(10);
            let confirmed = decided(&f, RepeatDecision::Confirm, Some(disposition), Some(due));
            match decide_(&confirmed) {
                Decision::Refuse(r) => {
                    assert_eq!((r.disposition, r.rule.as_str()), (disposition, rule));
                    let want = (disposition == RepeatDisposition::NotAccepted).then_some(due);
                    assert_eq!(r.earlier_due, want);
                }
                other => panic!("{other:?}"),
            }
            // Rejected: handled on its own; unlinked: a fresh matter. Both are routed.
            let rejected = decided(
                &f,
                RepeatDecision::Reject,
                Some(RepeatDisposition::Related),
                None,
            );
            assert_eq!(
                rejected.repeat.as_ref().map(|l| l.disposition),
                Some(RepeatDisposition::Related)
            );
            assert!(matches!(decide_(&rejected), Decision::Route(_)));
            let unlinked = decided(&f, RepeatDecision::Unlink, None, None);
            assert!(unlinked.repeat.is_none());
            assert!(matches!(decide_(&unlinked), Decision::Route(_)));
        }
    }

    /// A repeat of a finished matter gets its own disposition (here a route), never a hold.
    #[test]
    fn a_related_repeat_is_routed_like_any_petition() {
        let mut f = facts();
        f.repeat = Some(RepeatLink {
            of: "XF-411282-2025-000009".into(),
            disposition: RepeatDisposition::Related,
            similarity: 0.9,
            count: 2,
            proposed: false,
            earlier_due: None,
        });
        assert_eq!(route(decide_(&f)).lead.to_string(), "411282:zjj");
        f.branch = Some(Art31Branch::Arbitration);
        f.department = "rsj".into();
        assert!(matches!(decide_(&f), Decision::Divert(_)));
    }

    #[test]
    fn repeats_are_refused_or_held() {
        let mut f = facts();
        f.repeat = Some(RepeatLink {
            of: "XF-411282-2025-000009".into(),
            disposition: RepeatDisposition::NotReaccepted,
            similarity: 0.97,
            count: 3,
            proposed: false,
            earlier_due: None,
        });
        match decide_(&f) {
            Decision::Refuse(r) => {
                assert_eq!(r.disposition, RepeatDisposition::NotReaccepted);
                assert_eq!(r.rule, "Art 36 para 3");
                assert!(r.reason.contains("XF-411282-2025-000009"));
            }
            other => panic!("{other:?}"),
        }
        f.repeat.as_mut().unwrap().disposition = RepeatDisposition::NotAccepted;
        match decide_(&f) {
            Decision::Refuse(r) => {
                assert_eq!(r.rule, "Art 19 para 3");
                assert!(r.where_to_go.is_some());
            }
            other => panic!("{other:?}"),
        }
        f.repeat.as_mut().unwrap().disposition = RepeatDisposition::Merged;
        assert!(matches!(decide_(&f), Decision::Hold { .. }));
    }

    #[test]
    fn triage_holds_only_when_the_policy_says_so() {
        let mut f = facts();
        f.needs_triage = true;
        assert!(matches!(decide_(&f), Decision::Hold { .. }));
        let p = RoutingPolicy {
            hold_for_triage: false,
        };
        assert!(matches!(
            decide(&f, &dir(), &p).unwrap(),
            Decision::Route(_)
        ));
    }

    #[test]
    fn unknown_department_is_an_error_naming_it() {
        let mut f = facts();
        f.department = "nope".into();
        let e = decide(&f, &dir(), &RoutingPolicy::default()).unwrap_err();
        assert!(e.to_string().contains("`nope`"));
    }

    #[test]
    fn reclassification_replaces_the_classification_and_ends_triage() {
        let mut f = facts();
        f.needs_triage = true;
        let r = Reclassified {
            case_no: f.case_no.clone(),
            petition_type: PetitionType::Accusation,
            branch: None,
            diversion: None,
            department: "jwjw".into(),
            county: f.county.clone(),
            accuses_official: true,
            assisting: Vec::new(),
            by: "clerk-7".into(),
            reason: "accuses a village cadre".into(),
            accused_level: None,
        };
        let g = f.reclassified(&r, Utc::now());
        assert!(!g.needs_triage && g.is_confidential());
        assert_eq!(route(decide_(&g)).lead.to_string(), "411282:jwjw");
    }

    /// Art 22 para 2: 按照管理权限 — an accusation against a county leader reaches the city's
    /// 纪委监委, one against the county's own cadres stays in the county.
    #[test]
    fn accusations_go_to_the_commission_that_manages_the_accused() {
        let mut f = facts();
        f.petition_type = PetitionType::Accusation;
        f.branch = None;
        f.department = "jwjw".into();
        let reclassify = |f: &RoutingFacts, level: Option<CadreLevel>| {
            f.reclassified(
                &Reclassified {
                    case_no: f.case_no.clone(),
                    petition_type: PetitionType::Accusation,
                    branch: None,
                    diversion: None,
                    department: "jwjw".into(),
                    county: f.county.clone(),
                    accuses_official: false,
                    assisting: Vec::new(),
                    by: "clerk-7".into(),
                    reason: "核实被举报人职级".into(),
                    accused_level: level,
                },
                Utc::now(),
            )
        };
        let leader = route(decide_(&reclassify(&f, Some(CadreLevel::CountyLeader))));
        assert_eq!(leader.lead.to_string(), "411200:jwjw");
        assert!(leader.confidential);
        assert_eq!(leader.rule, "Art 22 para 2 (按照管理权限), Art 30");
        assert!(
            leader
                .note
                .as_deref()
                .unwrap_or("")
                .contains("county_leader")
        );
        for level in [
            CadreLevel::Village,
            CadreLevel::Town,
            CadreLevel::CountyDepartment,
        ] {
            let r = route(decide_(&reclassify(&f, Some(level))));
            assert_eq!(r.lead.to_string(), "411282:jwjw", "{level}");
            assert!(r.note.is_none());
        }
        assert_eq!(
            route(decide_(&reclassify(&f, Some(CadreLevel::CityDepartment))))
                .lead
                .to_string(),
            "411200:jwjw"
        );
        // Province-managed: the city's commission, with a note that it forwards it up.
        let top = route(decide_(&reclassify(&f, Some(CadreLevel::CityLeader))));
        assert_eq!(top.lead.to_string(), "411200:jwjw");
        assert!(top.note.as_deref().unwrap_or("").contains("forwards"));
        // Level unknown: the county's commission, as before.
        let g = reclassify(&f, None);
        assert!(!g.accuses_official);
        assert_eq!(route(decide_(&g)).lead.to_string(), "411282:jwjw");
        // A recorded level makes it an accusation against a cadre.
        assert!(reclassify(&f, Some(CadreLevel::Town)).accuses_official);
    }

    #[test]
    fn a_diversion_after_acceptance_names_the_organ_of_its_channel() {
        let d = dir();
        let f = facts();
        let g = channel_organ(&f, Diversion::AdministrativeReconsideration, &d).unwrap();
        assert_eq!(g.organ.to_string(), "411282:sfj");
        assert_eq!(g.diversion, Some(Diversion::AdministrativeReconsideration));
        let g = channel_organ(&f, Diversion::Arbitration, &d).unwrap();
        assert_eq!(g.organ.to_string(), "411282:rsj");
        let g = channel_organ(&f, Diversion::Litigation, &d).unwrap();
        assert_eq!(g.organ.to_string(), "411282:fy");
        assert!(g.rule.contains("Art 31(1)"));
    }
}
