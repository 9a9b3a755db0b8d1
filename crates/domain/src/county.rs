//! Administrative division codes (行政区划代码) that name a deployment's counties.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::validation::ValidationError;

/// A 6-digit administrative division code, e.g. `411282` (灵宝市) or `411200` (三门峡市本级).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountyCode(String);

impl CountyCode {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "county",
                "division_code",
                "must be a 6-digit administrative division code such as 411282",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefecture-level (city) code this county belongs to: `411282` -> `411200`.
    pub fn city(&self) -> CountyCode {
        CountyCode(format!("{}00", &self.0[..4]))
    }

    /// True for a city's own code (`xxxx00`).
    pub fn is_city(&self) -> bool {
        self.0.ends_with("00")
    }
}

impl fmt::Display for CountyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CountyCode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CountyCode {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountyCode> for String {
    fn from(value: CountyCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_six_digits_only() {
        assert!(CountyCode::parse("411282").is_ok());
        for bad in ["41128", "4112820", "41128a", "", "011282", "４１１２８２"] {
            assert!(CountyCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn city_of_county() {
        let c = CountyCode::parse("411282").unwrap();
        assert_eq!(c.city().as_str(), "411200");
        assert!(!c.is_city());
        assert!(c.city().is_city());
    }
}
