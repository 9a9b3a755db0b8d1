//! The shape of a case number, `XF-<county>-<year>-<seq>` (intake writes them): checked before
//! a number reaches a query, a URL or a stored record.

use crate::county::CountyCode;

/// The county a well-formed case number names; `None` for anything else.
pub fn county_of(raw: &str) -> Option<CountyCode> {
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match raw.split('-').collect::<Vec<_>>().as_slice() {
        ["XF", county, year, seq] if digits(year, 4..=4) && digits(seq, 1..=12) => {
            CountyCode::parse(county).ok()
        }
        _ => None,
    }
}

/// Whether `raw` is a well-formed case number.
pub fn is_case_no(raw: &str) -> bool {
    county_of(raw).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_written_shape_passes() {
        assert_eq!(
            county_of("XF-411282-2026-000001").map(|c| c.to_string()),
            Some("411282".to_owned())
        );
        for bad in [
            "",
            "XF-",
            "XF-4112'--",
            "YF-411282-2026-000001",
            "XF-411282-26-1",
            "XF-901201-2026-1/../x",
        ] {
            assert!(!is_case_no(bad), "{bad}");
        }
    }
}
