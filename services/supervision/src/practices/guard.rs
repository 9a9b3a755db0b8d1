//! Who may keep and read the practices' records. The bureau's staff (clerks, supervisors,
//! operators) of the county keep them; reviewers may read rosters; a department reads only the
//! cases it handles and marks only its own tasks done.

use sqlx::PgPool;
use xinfang_domain::access::{self, Denied, Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::validation::ValidationError;

use crate::error::ApiError;

pub(super) fn forbid(d: Denied) -> ApiError {
    ApiError::Forbidden(d.to_string())
}

/// Writing the bureau's records for `county`: a clerk, supervisor or operator whose scope
/// covers it (the city's staff cover its counties).
pub(super) fn bureau_staff(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    match who.role {
        Role::Clerk | Role::Supervisor | Role::Operator if access::covers(&who.scope, county) => {
            Ok(())
        }
        Role::Clerk | Role::Supervisor | Role::Operator => {
            Err(forbid(Denied("the county is outside the caller's scope")))
        }
        _ => Err(forbid(Denied(
            "only the bureau's clerks, supervisors and operators keep these records",
        ))),
    }
}

/// Reading the bureau's rosters (leaders, advisers, reception days, a leader's cases) of
/// `county`: its staff and reviewers; not departments.
pub(super) fn read_roster(who: &Principal, county: &CountyCode) -> Result<(), ApiError> {
    roster_role(who)?;
    if access::covers(&who.scope, county) {
        Ok(())
    } else {
        Err(forbid(Denied("the county is outside the caller's scope")))
    }
}

/// The role part of [`read_roster`].
pub(super) fn roster_role(who: &Principal) -> Result<(), ApiError> {
    match who.role {
        Role::Department => Err(forbid(Denied(
            "the bureau's rosters are not for departments",
        ))),
        _ => Ok(()),
    }
}

/// The served counties a listing covers: `county` if given (it must be served and in the
/// caller's scope), else every served county in the caller's scope (403 when none).
pub(super) fn listing_counties(
    served: &[String],
    who: &Principal,
    county: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    roster_role(who)?;
    match county.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            let c = CountyCode::parse(c)?;
            if !served.iter().any(|s| s == c.as_str()) {
                return Err(ValidationError::new(
                    "county",
                    "not_served",
                    "is not a county this deployment serves",
                )
                .into());
            }
            read_roster(who, &c)?;
            Ok(vec![c.to_string()])
        }
        None => {
            let counties: Vec<String> = served
                .iter()
                .filter_map(|c| CountyCode::parse(c).ok())
                .filter(|c| access::covers(&who.scope, c))
                .map(|c| c.to_string())
                .collect();
            if counties.is_empty() {
                return Err(forbid(Denied(
                    "no county of this deployment is in the caller's scope",
                )));
            }
            Ok(counties)
        }
    }
}

/// Reading a case's practice records (conferences, advice): `access::view_case` with the
/// case's county and the departments supervision knows handle it — its clocks, its 督办, its
/// lead unit once assigned, and the departments its conferences named or tasked. A clock of
/// another county's organ (`411200:rsj`) counts for that organ's callers only.
pub(super) async fn read_case(
    pool: &PgPool,
    who: &Principal,
    case_no: &str,
    county: &CountyCode,
) -> Result<(), ApiError> {
    let departments: Vec<String> = if who.role == Role::Department {
        sqlx::query_scalar(
            "select department from deadlines where case_no = $1 and department is not null
             union select department from supervisions where case_no = $1
             union select department from cases
                   where case_no = $1 and department is not null and assigned_at is not null
             union select d.department from conference_decisions d
                   join conferences c on c.id = d.conference
                   where c.case_no = $1 and d.department is not null
             union select p.ref from conference_participants p
                   join conferences c on c.id = p.conference
                   where c.case_no = $1 and p.role = 'department'",
        )
        .bind(case_no)
        .fetch_all(pool)
        .await?
    } else {
        Vec::new()
    };
    let departments: Vec<String> = departments
        .into_iter()
        .filter_map(|d| match d.split_once(':') {
            Some((c, code)) => (c == who.scope.as_str()).then(|| code.to_owned()),
            None => (&who.scope == county).then_some(d),
        })
        .collect();
    access::view_case(
        who,
        access::CaseScope {
            county,
            departments: &departments,
        },
    )
    .map_err(forbid)
}

/// Whether supervision knows the case (its projection has a row); 404 otherwise.
pub(super) async fn known_case(
    conn: &mut sqlx::PgConnection,
    case_no: &str,
) -> Result<(), crate::error::ApiError> {
    let known: bool = sqlx::query_scalar("select exists(select 1 from cases where case_no = $1)")
        .bind(case_no)
        .fetch_one(&mut *conn)
        .await?;
    if known {
        Ok(())
    } else {
        Err(crate::error::ApiError::NotFound("case"))
    }
}
