//! Resident identity number (公民身份号码), GB 11643-1999: 6-digit division code, 8-digit
//! birth date, 3-digit sequence, and an ISO 7064 MOD 11-2 check character.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

const FIELD: &str = "id_number";

/// Province-level prefixes in use: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71 (台湾),
/// 81 (香港), 82 (澳门).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for positions 1..=17.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK: &[u8; 11] = b"10X98765432";

/// A checked 18-character resident ID number, last character `0-9` or upper-case `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    value: String,
    birth_date: NaiveDate,
}

fn fail(rule: &'static str, message: &str) -> ValidationError {
    ValidationError::new(FIELD, rule, message)
}

/// The check character for the first 17 digits (ASCII).
fn check_char(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

impl IdNumber {
    /// Parses an ID number, tolerating surrounding whitespace and a lower-case `x`.
    /// `today` bounds the birth date (a clock is I/O, so the caller supplies it).
    pub fn parse(raw: &str, today: NaiveDate) -> Result<IdNumber, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() != 18 {
            return Err(fail("length", "must be 18 characters"));
        }
        let value = trimmed.to_ascii_uppercase();
        let b = value.as_bytes();
        let shape = b.len() == 18
            && b[..17].iter().all(u8::is_ascii_digit)
            && (b[17].is_ascii_digit() || b[17] == b'X');
        if !shape {
            return Err(fail("format", "must be 17 digits followed by a digit or X"));
        }
        let province = (b[0] - b'0') * 10 + (b[1] - b'0');
        if !PROVINCES.contains(&province) {
            return Err(fail(
                "region",
                "must start with a known province-level division code",
            ));
        }
        if check_char(&b[..17]) != b[17] {
            return Err(fail(
                "checksum",
                "check character does not match (GB 11643, ISO 7064 MOD 11-2)",
            ));
        }
        let birth_date = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d")
            .map_err(|_| fail("birth_date", "must contain a valid birth date"))?;
        if birth_date.year() < 1900 {
            return Err(fail("birth_date", "birth year must be 1900 or later"));
        }
        if birth_date > today {
            return Err(fail("birth_date", "birth date must not be in the future"));
        }
        Ok(IdNumber { value, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The 2-digit province-level code, e.g. `41` (河南).
    pub fn province_code(&self) -> &str {
        &self.value[..2]
    }

    /// The 6-digit division code of registration, e.g. `411282`.
    pub fn division_code(&self) -> &str {
        &self.value[..6]
    }

    /// For screens that must show which number is meant: `411282********7548`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.value[..6], &self.value[14..])
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdNumber(<redacted>)")
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    /// Stored values were checked at intake against that day; reading them back checks
    /// everything except "not in the future", which needs a clock.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        IdNumber::parse(&raw, NaiveDate::MAX).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The petitioners' numbers in /work/shared/data/petitions-dev.jsonl (invented, valid).
    const DEV_SET: &[&str] = &[
        "411203195202145284",
        "411202198707023263",
        "411282195610197548",
        "411221199906156994",
        "411282199608107230",
        "411281198606118111",
        "411202199110229415",
        "41122419530425394X",
        "411202195807286630",
        "411281195008277039",
        "411200199409207701",
        "411221196202075519",
        "411224198901039953",
        "411203197908164195",
        "411202195912181275",
        "411202199909117510",
        "411281200005163654",
        "411282196206075949",
        "411221197711111885",
        "411203198910167736",
        "411224196301093172",
        "411202199210276294",
        "411282195003062449",
        "411221198501082953",
        "411281198809078092",
        "411203195807045016",
        "411224196603153249",
        "411202197206038390",
        "411282198202049072",
        "411281197503186272",
        "411224199002263665",
        "411221198903026399",
        "411203197809222820",
        "411202196508047749",
        "411224197506029574",
        "411200196512101469",
        "411203195205074653",
    ];

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    /// Replaces the check character so that only the mutation under test can fail.
    fn with_valid_check(first17: &str) -> String {
        let c = check_char(first17.as_bytes()) as char;
        format!("{first17}{c}")
    }

    #[test]
    fn accepts_every_dev_set_number() {
        for raw in DEV_SET {
            let id = IdNumber::parse(raw, today()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(id.as_str(), *raw);
            assert_eq!(id.province_code(), "41");
            assert!(id.division_code().starts_with("4112"));
        }
        let id = IdNumber::parse("411282195610197548", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1956, 10, 19).unwrap()
        );
        assert_eq!(id.masked(), "411282********7548");
    }

    #[test]
    fn tolerates_whitespace_and_lower_case_x() {
        let id = IdNumber::parse(" 41122419530425394x\n", today()).unwrap();
        assert_eq!(id.as_str(), "41122419530425394X");
    }

    #[test]
    fn every_single_digit_change_breaks_the_checksum() {
        for raw in DEV_SET {
            for pos in 0..18 {
                let original = raw.as_bytes()[pos];
                for replacement in b"0123456789X" {
                    if *replacement == original || (pos < 17 && *replacement == b'X') {
                        continue;
                    }
                    let mut bytes = raw.as_bytes().to_vec();
                    bytes[pos] = *replacement;
                    let mutated = String::from_utf8(bytes).unwrap();
                    assert!(
                        IdNumber::parse(&mutated, today()).is_err(),
                        "mutation at {pos} accepted"
                    );
                }
            }
        }
        let e = IdNumber::parse("411282195610197549", today()).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("id_number", "checksum"));
    }

    #[test]
    fn swapping_adjacent_digits_is_caught() {
        for raw in DEV_SET {
            let b = raw.as_bytes();
            for pos in 0..16 {
                if b[pos] == b[pos + 1] {
                    continue;
                }
                let mut m = b.to_vec();
                m.swap(pos, pos + 1);
                let mutated = String::from_utf8(m).unwrap();
                assert!(IdNumber::parse(&mutated, today()).is_err());
            }
        }
    }

    #[test]
    fn rejects_wrong_length_and_format() {
        for (raw, rule) in [
            ("", "length"),
            ("41128219561019754", "length"),
            ("4112821956101975488", "length"),
            ("41128219561019754A", "format"),
            ("4112821956101X7548", "format"),
            ("４１１２８２１９５６１０１９７５４８", "format"),
        ] {
            let e = IdNumber::parse(raw, today()).unwrap_err();
            assert_eq!(e.rule, rule, "{raw:?}");
        }
    }

    #[test]
    fn rejects_unknown_provinces() {
        for prefix in [
            "00", "10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70", "72",
            "80", "83", "91", "99",
        ] {
            let raw = with_valid_check(&format!("{prefix}128219561019754"));
            let e = IdNumber::parse(&raw, today()).unwrap_err();
            assert_eq!(e.rule, "region", "{prefix}");
        }
        for prefix in ["11", "15", "23", "37", "46", "54", "65", "71", "81", "82"] {
            let raw = with_valid_check(&format!("{prefix}128219561019754"));
            assert!(IdNumber::parse(&raw, today()).is_ok(), "{prefix}");
        }
    }

    #[test]
    fn rejects_impossible_early_and_future_birth_dates() {
        for (birth, rule_msg) in [
            ("19560230", "valid birth date"),
            ("19561301", "valid birth date"),
            ("19560000", "valid birth date"),
            ("18991231", "1900"),
            ("20260602", "future"),
            ("20991231", "future"),
        ] {
            let raw = with_valid_check(&format!("411282{birth}754"));
            let e = IdNumber::parse(&raw, today()).unwrap_err();
            assert_eq!(e.rule, "birth_date", "{birth}");
            assert!(e.message.contains(rule_msg), "{birth}: {}", e.message);
        }
        // Born today is not in the future.
        assert!(IdNumber::parse(&with_valid_check("41128220260601754"), today()).is_ok());
        assert!(IdNumber::parse(&with_valid_check("41128219000101754"), today()).is_ok());
        // 2000 is a leap year, 1900 is not.
        assert!(IdNumber::parse(&with_valid_check("41128220000229754"), today()).is_ok());
        assert!(IdNumber::parse(&with_valid_check("41128219000229754"), today()).is_err());
    }

    #[test]
    fn errors_never_contain_the_input_and_debug_is_redacted() {
        let inputs = [
            "411282195610197549",
            "41128219561019754",
            "41128219561019754A",
            "991282195610197548",
            "411282209910197548",
        ];
        for raw in inputs {
            let e = IdNumber::parse(raw, today()).unwrap_err();
            let shown = format!("{e} {e:?} {}", serde_json::to_string(&e).unwrap());
            assert!(!shown.contains(raw), "{shown}");
            assert!(!shown.contains(&raw[6..14]), "{shown}");
        }
        let id = IdNumber::parse("411282195610197548", today()).unwrap();
        assert!(!format!("{id:?}").contains("4112"));
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"411282195610197548\""
        );
        let back: IdNumber = serde_json::from_str("\"411282195610197548\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<IdNumber>("\"411282195610197549\"").is_err());
        let nested = IdNumber::parse("1", today())
            .unwrap_err()
            .under("petitioner");
        assert_eq!(nested.field, "petitioner.id_number");
    }
}
