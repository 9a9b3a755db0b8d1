//! Checks of request fields: every error names the field and the rule, never echoes the value.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline_plan::organ_code;
use xinfang_domain::directory::Directory;
use xinfang_domain::validation::ValidationError;

pub(super) use crate::api::required;

/// A case number `XF-<county>-<yyyy>-<serial>` of a county this deployment serves; returns
/// the county.
pub(super) fn case_no(raw: &str, served: &[String]) -> Result<CountyCode, ValidationError> {
    let bad = || {
        ValidationError::new(
            "case_no",
            "case_number",
            "must be a case number such as XF-411282-2026-000001",
        )
    };
    if raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad());
    }
    let mut parts = raw.split('-');
    if parts.next() != Some("XF") {
        return Err(bad());
    }
    let county = parts
        .next()
        .and_then(|c| CountyCode::parse(c).ok())
        .ok_or_else(bad)?;
    if !served.iter().any(|s| s == county.as_str()) {
        return Err(ValidationError::new(
            "case_no",
            "not_served",
            "names a county this deployment does not serve",
        ));
    }
    Ok(county)
}

/// The county a case number names, without checking the rest (for access checks that come
/// before validation).
pub(super) fn county_of_case(raw: Option<&str>) -> Option<CountyCode> {
    raw?.trim()
        .split('-')
        .nth(1)
        .and_then(|c| CountyCode::parse(c).ok())
}

/// A served county given in `field`, or the caller's scope when absent.
pub(super) fn served_county(
    field: &str,
    raw: Option<&str>,
    default: &CountyCode,
    served: &[String],
) -> Result<CountyCode, ValidationError> {
    let county = match raw.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => CountyCode::parse(c).map_err(|e| ValidationError {
            field: field.to_owned(),
            ..e
        })?,
        None => default.clone(),
    };
    if !served.iter().any(|s| s == county.as_str()) {
        return Err(ValidationError::new(
            field,
            "not_served",
            "is not a county this deployment serves",
        ));
    }
    Ok(county)
}

/// An RFC 3339 time.
pub(super) fn time(field: &str, raw: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ValidationError::new(
                field,
                "datetime",
                "must be an RFC 3339 time such as 2026-05-01T09:00:00+08:00",
            )
        })
}

/// A time within a year of `now`, either side.
pub(super) fn time_near(
    field: &str,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let t = time(field, raw)?;
    if t < now - TimeDelta::days(366) || t > now + TimeDelta::days(366) {
        return Err(ValidationError::new(
            field,
            "range",
            "must be within a year of today",
        ));
    }
    Ok(t)
}

/// A due time: after `now`, within a year.
pub(super) fn due_time(
    field: &str,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    let t = time(field, raw)?;
    if t <= now {
        return Err(ValidationError::new(
            field,
            "in_past",
            "must be in the future",
        ));
    }
    if t > now + TimeDelta::days(366) {
        return Err(ValidationError::new(
            field,
            "too_far",
            "must be within a year",
        ));
    }
    Ok(t)
}

/// A date `YYYY-MM-DD`.
pub(super) fn date(field: &str, raw: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ValidationError::new(field, "date", "must be a date as YYYY-MM-DD"))
}

/// A UUID.
pub(super) fn uuid(field: &str, raw: &str) -> Result<Uuid, ValidationError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ValidationError::new(field, "uuid", "must be an id (UUID)"))
}

/// A department of the directory for a matter of `county`: the county's own, else the city's
/// (属地管理 with the city as the fallback). Returns the code as clocks record it
/// (`<county>:<code>` for another county's organ).
pub(super) fn department(
    field: &str,
    raw: &str,
    county: &CountyCode,
    directory: &Directory,
) -> Result<String, ValidationError> {
    let code = raw.trim();
    xinfang_domain::subject::token("department", code).map_err(|_| {
        ValidationError::new(
            field,
            "department_code",
            "must be a department code: lowercase ASCII letters, digits or '_'",
        )
    })?;
    let organ = directory.resolve(county, code).ok_or_else(|| {
        ValidationError::new(
            field,
            "unknown_department",
            "is not a department of the directory",
        )
    })?;
    let other = (&organ.county != county).then(|| organ.county.to_string());
    Ok(organ_code(code, other.as_deref()))
}
