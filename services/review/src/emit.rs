//! Writing events to the outbox (the only way review publishes a state change).
//!
//! Review events go to the subjects of the county whose organ handles the appeal (design.md:
//! "a county's review request goes to `xf.411200.review.requested`"). When that is not the
//! case's own county, a copy goes to the case county's subjects as well, so the case's home
//! deployment (its registry, its supervision of the petitioner's windows, its 终结库) learns
//! of it. In a deployment serving both counties the copies are two events; the consumers
//! are idempotent on (case, level), so the second changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xinfang_domain::appeal::EXTERNAL_PREFIX;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::ReviewEvent;
use xinfang_domain::subject;
use xinfang_platform::outbox;

pub use xinfang_platform::outbox::EventRef;

/// `xf.<county>.case.<kind>`.
pub async fn case_event<T: Serialize>(
    conn: &mut PgConnection,
    county: &CountyCode,
    kind: &str,
    case_no: &str,
    at: DateTime<Utc>,
    data: &T,
) -> anyhow::Result<EventRef> {
    let subject = subject::case_event(county, kind)?;
    outbox::emit(conn, &subject, county, kind, case_no, at, data).await
}

/// The county whose subjects carry an appeal handled by `organ`: the organ's county, or the
/// case's county for an organ outside the system (recorded there by hand).
pub fn organ_county(organ: &str, case_county: &CountyCode) -> CountyCode {
    if organ.starts_with(EXTERNAL_PREFIX) {
        return case_county.clone();
    }
    OrganRef::parse(organ)
        .map(|o| o.county)
        .unwrap_or_else(|_| case_county.clone())
}

/// `xf.<organ county>.review.<kind>`, plus a copy on the case county's subjects when those
/// differ. Returns the events written.
pub async fn review_event(
    conn: &mut PgConnection,
    kind: &str,
    data: &ReviewEvent,
) -> anyhow::Result<Vec<EventRef>> {
    let upper = organ_county(&data.organ, &data.case_county);
    let mut counties = vec![upper.clone()];
    if upper != data.case_county {
        counties.push(data.case_county.clone());
    }
    let mut out = Vec::with_capacity(counties.len());
    for county in counties {
        let subject = subject::review_event(&county, kind)?;
        out.push(outbox::emit(conn, &subject, &county, kind, &data.case_no, data.at, data).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_organs_stay_with_the_case() {
        let c = CountyCode::parse("411282").unwrap();
        assert_eq!(organ_county("411200:gov", &c).as_str(), "411200");
        assert_eq!(
            organ_county("external:河南省人民政府", &c).as_str(),
            "411282"
        );
    }
}
