//! Who may see and do what (issue: access control). Plain rules over a principal's role and
//! scope; the HTTP layer only asks these questions.
//!
//! Scope is a division code: a city code (`xxxx00`) covers the city's counties, a county code
//! covers that county. Departments are further limited to cases they handle.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::county::CountyCode;
use crate::directory::OrganRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registers petitions and corrects classifications in their county.
    Clerk,
    /// A handling unit: sees and acts on its own cases only.
    Department,
    /// Chases deadlines and issues 督办 in their county or, at city level, all counties.
    Supervisor,
    /// Handles 复查/复核 in their scope.
    Reviewer,
    /// Runs the system: everything in scope.
    Operator,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Clerk,
        Role::Department,
        Role::Supervisor,
        Role::Reviewer,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Department => "department",
            Role::Supervisor => "supervisor",
            Role::Reviewer => "reviewer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Token id (never the token): recorded in the audit log.
    pub id: String,
    pub role: Role,
    pub scope: CountyCode,
    /// The department code, for `Role::Department`.
    pub department: Option<String>,
}

/// Why access was refused; names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub &'static str);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// True when `scope` covers `county`: itself, or a city covering its counties.
pub fn covers(scope: &CountyCode, county: &CountyCode) -> bool {
    scope == county || (scope.is_city() && county.city() == *scope)
}

/// What a case-level decision needs to know about the case.
#[derive(Debug, Clone, Copy)]
pub struct CaseScope<'a> {
    pub county: &'a CountyCode,
    /// Departments handling it (lead and assisting), if routed.
    pub departments: &'a [String],
}

/// Reading a case, personal data included (the caller audits the read).
pub fn view_case(p: &Principal, case: CaseScope<'_>) -> Result<(), Denied> {
    if !covers(&p.scope, case.county) {
        return Err(Denied("the case is outside the caller's county"));
    }
    match p.role {
        Role::Department => match &p.department {
            Some(d) if case.departments.iter().any(|c| c == d) => Ok(()),
            _ => Err(Denied("a department sees only the cases assigned to it")),
        },
        _ => Ok(()),
    }
}

/// Registering a petition for `county`.
pub fn register(p: &Principal, county: &CountyCode) -> Result<(), Denied> {
    match p.role {
        Role::Clerk | Role::Operator if covers(&p.scope, county) => Ok(()),
        Role::Clerk | Role::Operator => Err(Denied("the county is outside the caller's scope")),
        _ => Err(Denied("only clerks register petitions")),
    }
}

/// Correcting a classification.
pub fn reclassify(p: &Principal, county: &CountyCode) -> Result<(), Denied> {
    register(p, county)
}

/// Listing cases: the filter the caller is held to. `None` department means any.
pub fn list_filter(p: &Principal) -> (CountyCode, Option<String>) {
    let dept = match p.role {
        Role::Department => p.department.clone(),
        _ => None,
    };
    (p.scope.clone(), dept)
}

/// Issuing 督办 or reading KPIs.
pub fn supervise(p: &Principal, county: &CountyCode) -> Result<(), Denied> {
    match p.role {
        Role::Supervisor | Role::Operator if covers(&p.scope, county) => Ok(()),
        Role::Supervisor | Role::Operator => {
            Err(Denied("the county is outside the caller's scope"))
        }
        _ => Err(Denied("only supervisors issue 督办")),
    }
}

/// Acting as department `dept` of `county`.
pub fn act_as_department(p: &Principal, county: &CountyCode, dept: &str) -> Result<(), Denied> {
    match p.role {
        Role::Department if p.scope == *county && p.department.as_deref() == Some(dept) => Ok(()),
        Role::Department => Err(Denied("a department acts only for itself")),
        Role::Operator if covers(&p.scope, county) => Ok(()),
        _ => Err(Denied("only the department itself acts on its cases")),
    }
}

/// Recording review requests and decisions.
pub fn review(p: &Principal, county: &CountyCode) -> Result<(), Denied> {
    match p.role {
        Role::Reviewer | Role::Clerk | Role::Operator if covers(&p.scope, county) => Ok(()),
        Role::Reviewer | Role::Clerk | Role::Operator => {
            Err(Denied("the county is outside the caller's scope"))
        }
        _ => Err(Denied("only reviewers and clerks record reviews")),
    }
}

/// Acting as the review organ `organ` (`<county>:<dept>` of the directory): its 复查 or 复核
/// decision, its hearings (Art 35-36). Only a principal of that organ acts for it:
///
/// - a reviewer whose scope is the organ's county acts for that county's review organs (its
///   people's government and its departments, as the directory names them — e.g. the city's
///   police reviewing a county police opinion); a city reviewer does not act for a county's
///   organs, nor a county reviewer for the city's;
/// - an operator acts in its scope (it runs the system; what it records says so);
/// - a clerk never decides (clerks record requests), nor does a department's handling token or
///   a supervisor.
pub fn act_for_review_organ(p: &Principal, organ: &OrganRef) -> Result<(), Denied> {
    match p.role {
        Role::Reviewer if p.scope == organ.county => Ok(()),
        Role::Reviewer => Err(Denied(
            "a reviewer acts only for the review organs of its own county (its token's scope); this decision belongs to another county's organ (Art 35-36)",
        )),
        Role::Operator if covers(&p.scope, &organ.county) => Ok(()),
        Role::Operator => Err(Denied("the organ's county is outside the caller's scope")),
        Role::Clerk | Role::Supervisor | Role::Department => Err(Denied(
            "only the review organ decides (Art 35-36): a reviewer scoped to the organ's county; a clerk records requests",
        )),
    }
}

/// Recording the decision of an organ outside the directory (e.g. the provincial government),
/// which the bureau of the case's county records by hand: a reviewer of that county, or an
/// operator covering it. A clerk does not.
pub fn record_external_decision(p: &Principal, case_county: &CountyCode) -> Result<(), Denied> {
    match p.role {
        Role::Reviewer if p.scope == *case_county => Ok(()),
        Role::Operator if covers(&p.scope, case_county) => Ok(()),
        Role::Reviewer | Role::Operator => {
            Err(Denied("the case's county is outside the caller's scope"))
        }
        _ => Err(Denied(
            "a decision of an organ outside the system is recorded by a reviewer of the case's county (Art 35-36)",
        )),
    }
}

/// How a principal is recorded as the one who acted: `<role>:<token id>`.
pub fn recorded_as(p: &Principal) -> String {
    format!("{}:{}", p.role.as_str(), p.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
    }

    fn p(role: Role, scope: &str, dept: Option<&str>) -> Principal {
        Principal {
            id: "t1".into(),
            role,
            scope: c(scope),
            department: dept.map(str::to_owned),
        }
    }

    #[test]
    fn the_city_covers_its_counties_and_a_county_only_itself() {
        assert!(covers(&c("411200"), &c("411282")));
        assert!(covers(&c("411282"), &c("411282")));
        assert!(!covers(&c("411282"), &c("411281")));
        assert!(!covers(&c("411282"), &c("411200")));
        assert!(!covers(&c("411200"), &c("410102")));
    }

    #[test]
    fn departments_see_only_their_cases() {
        let rsj = p(Role::Department, "411282", Some("rsj"));
        let depts = ["rsj".to_owned()];
        let county = c("411282");
        assert!(
            view_case(
                &rsj,
                CaseScope {
                    county: &county,
                    departments: &depts
                }
            )
            .is_ok()
        );
        let other = ["zjj".to_owned()];
        assert!(
            view_case(
                &rsj,
                CaseScope {
                    county: &county,
                    departments: &other
                }
            )
            .is_err()
        );
        assert!(
            view_case(
                &rsj,
                CaseScope {
                    county: &county,
                    departments: &[]
                }
            )
            .is_err()
        );
        let elsewhere = c("411281");
        assert!(
            view_case(
                &rsj,
                CaseScope {
                    county: &elsewhere,
                    departments: &depts
                }
            )
            .is_err()
        );
        assert_eq!(list_filter(&rsj).1.as_deref(), Some("rsj"));
    }

    #[test]
    fn roles_and_scopes_for_actions() {
        let county = c("411282");
        assert!(register(&p(Role::Clerk, "411282", None), &county).is_ok());
        assert!(register(&p(Role::Clerk, "411200", None), &county).is_ok());
        assert!(register(&p(Role::Clerk, "411281", None), &county).is_err());
        assert!(register(&p(Role::Department, "411282", Some("rsj")), &county).is_err());
        assert!(supervise(&p(Role::Supervisor, "411200", None), &county).is_ok());
        assert!(supervise(&p(Role::Clerk, "411282", None), &county).is_err());
        assert!(
            act_as_department(&p(Role::Department, "411282", Some("rsj")), &county, "rsj").is_ok()
        );
        assert!(
            act_as_department(&p(Role::Department, "411282", Some("rsj")), &county, "zjj").is_err()
        );
        assert!(review(&p(Role::Reviewer, "411200", None), &county).is_ok());
        assert!(review(&p(Role::Department, "411282", Some("rsj")), &county).is_err());
        assert_eq!(Role::parse("clerk"), Some(Role::Clerk));
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn only_a_principal_of_the_review_organ_decides() {
        let city_gov = OrganRef::parse("411200:gov").unwrap();
        let county_gov = OrganRef::parse("411282:gov").unwrap();
        let city_gaj = OrganRef::parse("411200:gaj").unwrap();
        // Issue #20: a county reviewer or clerk recorded the city government's 复核.
        assert!(act_for_review_organ(&p(Role::Reviewer, "411282", None), &city_gov).is_err());
        assert!(act_for_review_organ(&p(Role::Clerk, "411282", None), &city_gov).is_err());
        assert!(act_for_review_organ(&p(Role::Clerk, "411200", None), &city_gov).is_err());
        assert!(act_for_review_organ(&p(Role::Supervisor, "411200", None), &city_gov).is_err());
        assert!(act_for_review_organ(&p(Role::Reviewer, "411200", None), &city_gov).is_ok());
        assert!(act_for_review_organ(&p(Role::Reviewer, "411200", None), &city_gaj).is_ok());
        // The city's reviewer is not the county government's.
        assert!(act_for_review_organ(&p(Role::Reviewer, "411200", None), &county_gov).is_err());
        assert!(act_for_review_organ(&p(Role::Reviewer, "411282", None), &county_gov).is_ok());
        // A department's handling token decides no appeal, not even its own organ's.
        assert!(
            act_for_review_organ(&p(Role::Department, "411200", Some("gaj")), &city_gaj).is_err()
        );
        // Operators within their scope.
        assert!(act_for_review_organ(&p(Role::Operator, "411200", None), &county_gov).is_ok());
        assert!(act_for_review_organ(&p(Role::Operator, "411282", None), &city_gov).is_err());
        // Outside the directory: the case county's reviewer records it by hand.
        let county = c("411282");
        assert!(record_external_decision(&p(Role::Reviewer, "411282", None), &county).is_ok());
        assert!(record_external_decision(&p(Role::Reviewer, "411281", None), &county).is_err());
        assert!(record_external_decision(&p(Role::Clerk, "411282", None), &county).is_err());
        assert_eq!(
            recorded_as(&p(Role::Reviewer, "411200", None)),
            "reviewer:t1"
        );
    }
}
