//! What every department message says about its addressee (#17 item 4): the organ it is for
//! (county, department, county or city level), and the actions it may take now, derived from
//! the case's lifecycle.

use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::events::{DeptOrgan, DeptRole};
use xinfang_domain::lifecycle::{CaseState, allowed_commands};

use crate::store::status;

/// The organ a department message is addressed to (the one rule, shared with supervision's
/// messages: [`xinfang_domain::dept_notice::addressee`]).
pub fn addressee(directory: &Directory, organ: &OrganRef) -> DeptOrgan {
    xinfang_domain::dept_notice::addressee(directory, organ)
}

/// The department actions (`crate::actions::ACTIONS`, the bureau's own excepted) the organ may
/// send now: for the lead, those whose lifecycle command the case's state admits (before the
/// guards); an assisting department acknowledges (`accept`) and reports its part (`reply`)
/// while its own assignment is open.
pub fn available_actions(
    state: CaseState,
    role: DeptRole,
    assignment_status: &str,
    report_required: bool,
) -> Vec<String> {
    let list: &[&str] = match role {
        DeptRole::Assisting => match assignment_status {
            status::ASSIGNED => &["accept", "reply"],
            status::ACCEPTED => &["reply"],
            _ => &[],
        },
        DeptRole::Lead => {
            let allowed = allowed_commands(state);
            let admits = |c: &str| allowed.contains(&c);
            return [
                ("accept", admits("accept")),
                // A transfer is asked for while the matter may still be objected to.
                ("object", admits("object")),
                ("transfer", admits("object")),
                ("extend", admits("extend")),
                ("mediate", admits("mediate")),
                ("reply", admits("reply") || admits("issue_opinion")),
                ("divert", admits("divert")),
                ("report", report_required && admits("submit_for_check")),
            ]
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(a, _)| a.to_owned())
            .collect();
        }
    };
    list.iter().map(|a| (*a).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_assignment_may_be_accepted_objected_or_transferred() {
        assert_eq!(
            available_actions(CaseState::Assigned, DeptRole::Lead, status::ASSIGNED, false),
            ["accept", "object", "transfer"]
        );
        assert_eq!(
            available_actions(
                CaseState::Assigned,
                DeptRole::Assisting,
                status::ASSIGNED,
                false
            ),
            ["accept", "reply"]
        );
        assert!(
            available_actions(CaseState::Terminated, DeptRole::Lead, status::CLOSED, true)
                .is_empty()
        );
        for a in available_actions(CaseState::Replied, DeptRole::Lead, status::REPLIED, true) {
            assert!(crate::actions::ACTIONS.contains(&a.as_str()), "{a}");
        }
        assert_eq!(
            available_actions(CaseState::Replied, DeptRole::Lead, status::REPLIED, true),
            ["report"]
        );
    }
}

#[cfg(test)]
mod addressee_tests {
    use super::*;
    use xinfang_domain::county::CountyCode;
    use xinfang_domain::events::OrganLevel;

    #[test]
    fn the_city_code_makes_a_city_organ() {
        let dir = Directory::from_toml_str(include_str!("../../../config/directory.toml"))
            .expect("the shipped directory loads");
        let city = dir.city().code.clone();
        let a = addressee(&dir, &OrganRef::new(city.clone(), "xfj"));
        assert_eq!((a.level, a.department.as_str()), (OrganLevel::City, "xfj"));
        assert_eq!(a.county, city);
        assert_eq!(a.name, "三门峡市信访局");
        let county = CountyCode::parse("411282").expect("a county code");
        assert_ne!(county, city);
        let b = addressee(&dir, &OrganRef::new(county, "rsj"));
        assert_eq!(b.level, OrganLevel::County);
    }
}
