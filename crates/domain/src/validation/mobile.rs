//! Mainland China mobile numbers: 11 digits `1[3-9]xxxxxxxxx`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

const FIELD: &str = "mobile";

/// A mobile number normalised to its 11 digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mobile(String);

impl Mobile {
    /// Accepts the number as people write it: spaces and dashes anywhere, and an optional
    /// `+86` or `86` country code in front (`+86 139-1234-5678`).
    pub fn parse(raw: &str) -> Result<Mobile, ValidationError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let national = if let Some(rest) = compact.strip_prefix("+86") {
            rest
        } else if compact.len() == 13 && compact.starts_with("86") {
            &compact[2..]
        } else {
            compact.as_str()
        };
        let b = national.as_bytes();
        let ok = b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]);
        if ok {
            Ok(Mobile(national.to_owned()))
        } else {
            Err(ValidationError::new(
                FIELD,
                "format",
                "must be an 11-digit mainland mobile number starting 13-19, optionally after +86",
            ))
        }
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For screens: `139****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mobile(<redacted>)")
    }
}

impl Serialize for Mobile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Mobile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Mobile::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_common_spellings() {
        for raw in [
            "13912345678",
            " 13912345678 ",
            "139 1234 5678",
            "139-1234-5678",
            "+8613912345678",
            "+86 139 1234 5678",
            "+86-139-1234-5678",
            "8613912345678",
            "86 13912345678",
        ] {
            assert_eq!(
                Mobile::parse(raw).unwrap().as_str(),
                "13912345678",
                "{raw:?}"
            );
        }
    }

    #[test]
    fn accepts_the_dev_set_numbers() {
        for raw in [
            "15018159083",
            "13860913909",
            "18650752917",
            "13144024264",
            "18514026140",
        ] {
            assert_eq!(Mobile::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn rejects_what_is_not_a_mainland_mobile() {
        for raw in [
            "",
            "1391234567",
            "139123456789",
            "12912345678",
            "10912345678",
            "23912345678",
            "1391234567a",
            "+8513912345678",
            "+86139123456789",
            "008613912345678",
            "861391234567",
            "(139)12345678",
            "１３９１２３４５６７８",
            "139.1234.5678",
            "0371-12345678",
        ] {
            let e = Mobile::parse(raw).unwrap_err();
            assert_eq!((e.field.as_str(), e.rule), ("mobile", "format"), "{raw:?}");
        }
    }

    #[test]
    fn never_shows_the_number() {
        let bad = "1291234567";
        let e = Mobile::parse(bad).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(bad) && !shown.contains("1234"), "{shown}");
        let m = Mobile::parse("13912345678").unwrap();
        assert!(!format!("{m:?}").contains("139"));
        assert_eq!(m.masked(), "139****5678");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"13912345678\"");
        assert_eq!(
            serde_json::from_str::<Mobile>("\"+86 139-1234-5678\"").unwrap(),
            m
        );
    }
}
