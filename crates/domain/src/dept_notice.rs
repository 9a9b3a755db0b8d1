//! What a department message says besides the matter (#17 item 4, "messages say who"): the
//! organ it is for, the deadlines that bind that organ on the case and the actions it may take.
//! Pure: routing names its organs with [`addressee`]; supervision hands [`for_organ`] the
//! clocks of its `deadlines` table that bind the organ.

use crate::county::CountyCode;
use crate::deadline::DeadlineKind;
use crate::deadline_plan::{REMAND_REF, Role, Tracked};
use crate::deadline_state::{department_subject, state};
use crate::directory::{Directory, OrganRef};
use crate::events::{DeptActionRoute, DeptClock, DeptDeadlines, DeptOrgan, OrganLevel};

/// Answer a 督办 (Art 40): supervision's `POST /v1/supervisions/{id}/response`.
pub const RESPOND: &str = "respond";
/// Give a 复查/复核 opinion (Art 35–36): review's `POST /v1/reviews/{case_no}/decision`.
pub const DECIDE: &str = "decide";
/// Reporting a conference task (会审交办任务) done, on supervision.
pub const TASK_DONE: &str = "task_done";

/// The organ a department message is addressed to: its county, department, level (the city's
/// own code makes a city organ) and name from the directory.
pub fn addressee(directory: &Directory, organ: &OrganRef) -> DeptOrgan {
    let level = if directory.city().code == organ.county {
        OrganLevel::City
    } else {
        OrganLevel::County
    };
    DeptOrgan {
        county: organ.county.clone(),
        department: organ.dept.clone(),
        level,
        name: directory.organ_name(organ),
    }
}

/// The organ a clock of `county` binds, on whose subjects (`xf.<county>.dept.<dept>.…`) it
/// hears: a department of that county (`rsj`), or a review organ written `411200:gov` of that
/// county. `None` for another county's organ or a code that is no subject token.
pub fn organ_of(county: &CountyCode, department: &str) -> Option<OrganRef> {
    department_subject(county, department).map(|d| OrganRef::new(county.clone(), d))
}

/// The organ a clock of `deadline` kind binds, as [`organ_of`], except that a unit's duty
/// recorded as another county's organ (`411200:rsj`: a city department handling a county's
/// matter) binds that organ — there is only the case county's copy of such a clock. A review
/// organ's D8/D10 (`411200:gov` on a county's case) is told from the organ county's own copy
/// of the review fact, so the case county's copy names none.
pub fn organ_bound(county: &CountyCode, department: &str, deadline: &str) -> Option<OrganRef> {
    let review_organ = matches!(deadline, "D8" | "D10");
    if department.contains(':') && !review_organ {
        let organ = OrganRef::parse(department).ok()?;
        crate::subject::token("dept", &organ.dept).ok()?;
        return Some(organ);
    }
    organ_of(county, department)
}

/// Whether a clock still binds the organ it names: a duty (D1–D3, D5/D6, D8, D10, a 督办's
/// response) while it runs, is paused, or has passed and is still owed (`fired`, not closed);
/// the unit's own objection window (D4) while it runs. The petitioner's windows (D7, D9, the
/// evaluation) bind no organ, and a window that passed has lapsed.
pub fn binds(deadline: &str, clock_state: &str, closed: bool) -> bool {
    let Ok(tracked) = deadline.parse::<Tracked>() else {
        return false;
    };
    match clock_state {
        state::PENDING | state::PAUSED => tracked.tells_department(false),
        state::FIRED => !closed && tracked.role() == Role::Duty,
        _ => false,
    }
}

/// The actions by which the organ a clock binds discharges it: the department commands
/// (`xf.<county>.cmd.<dept>.<action>`) for the handling unit's duties, [`RESPOND`] for a 督办,
/// [`DECIDE`] for a review organ. `reference` tells the handling period after a remand
/// (not extended) from the first one.
pub fn discharged_by(tracked: Tracked, reference: &str) -> &'static [&'static str] {
    use DeadlineKind::*;
    match tracked {
        // The acceptance notice and the objection window: accept, object, or ask the bureau to
        // hand the matter to another department (Art 23 para 3).
        Tracked::Statutory(D3 | D4) => &["accept", "object", "transfer"],
        // The handling result (Art 32–34): a reply, an agreement, a diversion after acceptance;
        // the one extension while the first period runs.
        Tracked::Statutory(D5) if reference == REMAND_REF => &["reply", "mediate", "divert"],
        Tracked::Statutory(D5) => &["reply", "mediate", "divert", "extend"],
        Tracked::Statutory(D6) => &["reply", "mediate", "divert"],
        Tracked::Statutory(D8 | D10) => &[DECIDE],
        Tracked::SupervisionResponse => &[RESPOND],
        Tracked::ConferenceTask => &[TASK_DONE],
        // D1 (the bureau disposes through intake and routing), D2 (a written notice served
        // outside the system), the petitioner's windows and the evaluation: nothing the organ
        // sends.
        _ => &[],
    }
}

/// What supervision's messages say about one organ on one case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrganNotice {
    pub deadlines: DeptDeadlines,
    pub actions: Vec<String>,
    pub action_routes: Vec<DeptActionRoute>,
}

/// The deadlines, actions and action routes for an organ whose clocks on `case_no` are
/// `clocks` (those that [`binds`] it), in a message about the clock `about` (`(deadline,
/// reference)`): that clock's actions first, then those of the other clocks, soonest due
/// first, each action once; `object` and `transfer` only while the objection window runs.
pub fn for_organ(
    case_no: &str,
    about: Option<(&str, &str)>,
    mut clocks: Vec<DeptClock>,
) -> OrganNotice {
    clocks.sort_by(|a, b| (a.due, &a.deadline).cmp(&(b.due, &b.deadline)));
    let mut deadlines = DeptDeadlines::default();
    let earliest = |slot: &mut Option<_>, due| {
        if slot.is_none_or(|d| due < d) {
            *slot = Some(due);
        }
    };
    for c in &clocks {
        use DeadlineKind::*;
        match c.deadline.parse::<Tracked>() {
            Ok(Tracked::Statutory(D3)) => earliest(&mut deadlines.accept_by, c.due),
            Ok(Tracked::Statutory(D4)) => earliest(&mut deadlines.object_by, c.due),
            Ok(Tracked::Statutory(D5 | D6)) => earliest(&mut deadlines.handle_by, c.due),
            Ok(Tracked::Statutory(D8 | D10)) => earliest(&mut deadlines.decide_by, c.due),
            Ok(Tracked::SupervisionResponse) => earliest(&mut deadlines.respond_by, c.due),
            _ => {}
        }
    }
    let mut actions: Vec<String> = Vec::new();
    let owed = clocks
        .iter()
        .map(|c| (c.deadline.as_str(), c.reference.as_str()));
    for (deadline, reference) in about.into_iter().chain(owed) {
        let Ok(t) = deadline.parse::<Tracked>() else {
            continue;
        };
        for a in discharged_by(t, reference) {
            if !actions.iter().any(|x| x == a) {
                actions.push((*a).to_owned());
            }
        }
    }
    // Objecting, and asking for a transfer, last only as long as the objection window (D4).
    let window_open = clocks
        .iter()
        .any(|c| c.deadline == DeadlineKind::D4.code() && c.state != state::FIRED);
    if !window_open {
        actions.retain(|a| a != "object" && a != "transfer");
    }
    // Each open 督办 is answered on its own id, the one the message is about first.
    let supervision = Tracked::SupervisionResponse.code();
    let mut supervisions: Vec<&str> = Vec::new();
    let owed = clocks
        .iter()
        .map(|c| (c.deadline.as_str(), c.reference.as_str()));
    for (deadline, reference) in about.into_iter().chain(owed) {
        if deadline == supervision && !reference.is_empty() && !supervisions.contains(&reference) {
            supervisions.push(reference);
        }
    }
    let mut action_routes = Vec::new();
    if actions.iter().any(|a| a == RESPOND) {
        action_routes.extend(supervisions.iter().map(|id| DeptActionRoute {
            action: RESPOND.to_owned(),
            service: "supervision".to_owned(),
            method: "POST".to_owned(),
            path: format!("/v1/supervisions/{id}/response"),
        }));
    }
    // Each open conference task is reported done on its own decision id.
    if actions.iter().any(|a| a == TASK_DONE) {
        let task = Tracked::ConferenceTask.code();
        let owed = clocks
            .iter()
            .map(|c| (c.deadline.as_str(), c.reference.as_str()));
        let mut tasks: Vec<&str> = Vec::new();
        for (deadline, reference) in about.into_iter().chain(owed) {
            if deadline == task && !reference.is_empty() && !tasks.contains(&reference) {
                tasks.push(reference);
            }
        }
        action_routes.extend(tasks.iter().map(|id| DeptActionRoute {
            action: TASK_DONE.to_owned(),
            service: "supervision".to_owned(),
            method: "POST".to_owned(),
            path: format!("/v1/conference-tasks/{id}/done"),
        }));
    }
    if actions.iter().any(|a| a == DECIDE) {
        action_routes.push(DeptActionRoute {
            action: DECIDE.to_owned(),
            service: "review".to_owned(),
            method: "POST".to_owned(),
            path: format!("/v1/reviews/{case_no}/decision"),
        });
    }
    deadlines.clocks = clocks;
    OrganNotice {
        deadlines,
        actions,
        action_routes,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    #[test]
    fn a_city_departments_duty_on_a_county_case_binds_the_city_organ() {
        let county = CountyCode::parse("411282").unwrap();
        let city = CountyCode::parse("411200").unwrap();
        let rsj = organ_bound(&county, "411200:rsj", "D3").unwrap();
        assert_eq!(rsj.county, city);
        assert_eq!(rsj.dept, "rsj");
        assert_eq!(organ_bound(&county, "rsj", "D5").unwrap().county, county);
        // A review organ's clock on the case county's copy names nobody (the organ county's
        // copy tells it).
        assert!(organ_bound(&county, "411200:gov", "D8").is_none());
        assert_eq!(organ_bound(&city, "411200:gov", "D8").unwrap().dept, "gov");
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 15, 59, 59).unwrap()
    }

    fn clock(deadline: &str, reference: &str, day: u32, clock_state: &str) -> DeptClock {
        DeptClock {
            deadline: deadline.into(),
            reference: reference.into(),
            due: at(day),
            state: clock_state.into(),
            provisional: false,
        }
    }

    #[test]
    fn a_fresh_assignment_is_accepted_objected_or_transferred() {
        let n = for_organ(
            "XF-411282-2026-000001",
            Some(("D4", "")),
            vec![
                clock("D3", "", 20, "pending"),
                clock("D4", "", 9, "pending"),
            ],
        );
        assert_eq!(n.deadlines.accept_by, Some(at(20)));
        assert_eq!(n.deadlines.object_by, Some(at(9)));
        assert_eq!(n.deadlines.handle_by, None);
        // Soonest first.
        assert_eq!(n.deadlines.clocks[0].deadline, "D4");
        assert_eq!(n.actions, ["accept", "object", "transfer"]);
        assert!(n.action_routes.is_empty());
    }

    #[test]
    fn a_supervision_is_answered_on_its_own_id_and_names_the_duty_that_passed() {
        let n = for_organ(
            "XF-411282-2026-000001",
            Some(("supervision", "s-2")),
            vec![
                clock("D3", "", 3, "fired"),
                clock("supervision", "s-1", 25, "pending"),
                clock("supervision", "s-2", 28, "pending"),
            ],
        );
        // D3 passed, and with it the objection window: the unit accepts, and answers the 督办.
        assert_eq!(n.actions, ["respond", "accept"]);
        assert_eq!(n.deadlines.respond_by, Some(at(25)));
        assert_eq!(n.deadlines.accept_by, Some(at(3)));
        let paths: Vec<&str> = n.action_routes.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1/supervisions/s-2/response",
                "/v1/supervisions/s-1/response"
            ]
        );
        assert!(
            n.action_routes
                .iter()
                .all(|r| r.service == "supervision" && r.method == "POST")
        );
    }

    #[test]
    fn a_conference_task_is_reported_done_on_its_own_decision() {
        let n = for_organ(
            "XF-411282-2026-000001",
            Some(("task", "d-2")),
            vec![
                clock("task", "d-1", 9, "pending"),
                clock("task", "d-2", 12, "fired"),
                clock("D5", "", 28, "pending"),
            ],
        );
        assert_eq!(
            n.actions,
            ["task_done", "reply", "mediate", "divert", "extend"]
        );
        let paths: Vec<&str> = n.action_routes.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1/conference-tasks/d-2/done",
                "/v1/conference-tasks/d-1/done"
            ]
        );
    }

    #[test]
    fn handling_periods_and_review_organs() {
        let n = for_organ(
            "XF-411282-2026-000001",
            Some(("D5", "")),
            vec![clock("D5", "", 30, "pending")],
        );
        assert_eq!(n.actions, ["reply", "mediate", "divert", "extend"]);
        assert_eq!(n.deadlines.handle_by, Some(at(30)));
        let remand = for_organ(
            "XF-411282-2026-000001",
            Some(("D5", REMAND_REF)),
            vec![clock("D5", REMAND_REF, 30, "pending")],
        );
        assert!(!remand.actions.iter().any(|a| a == "extend"));
        let review = for_organ(
            "XF-411282-2026-000001",
            Some(("D8", "")),
            vec![clock("D8", "", 30, "pending")],
        );
        assert_eq!(review.actions, [DECIDE]);
        assert_eq!(review.deadlines.decide_by, Some(at(30)));
        assert_eq!(
            review.action_routes[0].path,
            "/v1/reviews/XF-411282-2026-000001/decision"
        );
        // The bureau's D1 asks for nothing it sends as a department.
        let d1 = for_organ("c", Some(("D1", "")), vec![clock("D1", "", 5, "pending")]);
        assert!(d1.actions.is_empty());
        assert_eq!(d1.deadlines.clocks.len(), 1);
        // Every action named is a department command or one of the two routed ones.
        for t in [
            "D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9", "D10", "eval",
        ] {
            let tracked: Tracked = t.parse().unwrap();
            for a in discharged_by(tracked, "") {
                assert!(
                    [
                        "accept", "object", "transfer", "reply", "mediate", "divert", "extend",
                        DECIDE
                    ]
                    .contains(a),
                    "{t}: {a}"
                );
            }
        }
    }

    #[test]
    fn duties_bind_until_met_and_windows_only_while_they_run() {
        assert!(binds("D3", "pending", false));
        assert!(binds("D10", "paused", false));
        assert!(binds("D5", "fired", false));
        assert!(binds("supervision", "fired", false));
        assert!(!binds("D5", "fired", true));
        assert!(!binds("D5", "met", true));
        assert!(!binds("D3", "withdrawn", true));
        // The unit's objection window binds while it runs; once passed, the right lapsed.
        assert!(binds("D4", "pending", false));
        assert!(!binds("D4", "fired", false));
        // The petitioner's windows bind no organ.
        assert!(!binds("D7", "pending", false));
        assert!(!binds("eval", "pending", false));
        assert!(!binds("X9", "pending", false));
    }

    #[test]
    fn once_the_objection_window_passed_only_acceptance_is_left() {
        let n = for_organ(
            "XF-411282-2026-000001",
            Some(("D3", "")),
            vec![clock("D3", "", 20, "fired")],
        );
        assert_eq!(n.actions, ["accept"]);
    }

    #[test]
    fn organs_are_named_with_their_level() {
        let dir = Directory::from_toml_str(include_str!("../../../config/directory.toml"))
            .expect("the shipped directory loads");
        let city = dir.city().code.clone();
        let county = CountyCode::parse("411282").unwrap();
        let a = addressee(&dir, &OrganRef::new(city.clone(), "xfj"));
        assert_eq!(a.level, OrganLevel::City);
        assert_eq!(a.name, "三门峡市信访局");
        let b = organ_of(&county, "rsj").unwrap();
        assert_eq!(addressee(&dir, &b).level, OrganLevel::County);
        assert_eq!(
            organ_of(&city, &format!("{city}:gov")),
            Some(OrganRef::new(city.clone(), "gov"))
        );
        assert_eq!(organ_of(&county, &format!("{city}:gov")), None);
    }
}
