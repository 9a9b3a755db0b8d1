//! Free text (petition text, reasons) and person names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// Checks free text and returns it trimmed, with line breaks normalised to `\n`.
///
/// Rules: not empty after trimming; at most `max_chars` characters (Unicode scalar values,
/// so 一 counts as one); no control characters except newline and tab. Web forms submit
/// textarea line breaks as CRLF, so `\r\n` and a lone `\r` become `\n` rather than errors.
pub fn text(field: &str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let normalised = raw.replace("\r\n", "\n").replace('\r', "\n");
    let value = normalised.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "required", "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            "max_length",
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "control_characters",
            "must not contain control characters other than newline and tab",
        ));
    }
    Ok(value.to_owned())
}

/// [`text`] for raw bytes, which must be UTF-8.
pub fn text_from_bytes(
    field: &str,
    raw: &[u8],
    max_chars: usize,
) -> Result<String, ValidationError> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| ValidationError::new(field, "utf8", "must be valid UTF-8"))?;
    text(field, s, max_chars)
}

/// A person's name: 1 to 50 characters on one line (minority names such as 阿依古丽·买买提
/// and foreign names with spaces are fine).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<PersonName, ValidationError> {
        let value = text("name", raw, Self::MAX_CHARS)?;
        if value.contains(['\n', '\t']) {
            return Err(ValidationError::new(
                "name",
                "control_characters",
                "must be a single line without tabs",
            ));
        }
        Ok(PersonName(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

impl Serialize for PersonName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        PersonName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_normalises_line_breaks() {
        assert_eq!(
            text("text", "  第一行\r\n第二行\r第三行\t结束 \n", 100).unwrap(),
            "第一行\n第二行\n第三行\t结束"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let five = "信访事项五";
        assert_eq!(text("text", five, 5).unwrap(), five);
        let e = text("text", "信访事项六个", 5).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("text", "max_length"));
        assert!(e.message.contains('5'));
        // Trailing whitespace does not count toward the limit.
        assert!(text("text", "信访事项五   ", 5).is_ok());
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        for raw in ["", "   ", "\n\t\r\n"] {
            assert_eq!(text("reason", raw, 10).unwrap_err().rule, "required");
        }
        for raw in [
            "a\u{0}b",
            "a\u{7}b",
            "a\u{1b}[31mb",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{b}b",
        ] {
            let e = text("reason", raw, 10).unwrap_err();
            assert_eq!(e.rule, "control_characters", "{raw:?}");
            assert!(!e.to_string().contains(raw), "{e}");
        }
    }

    #[test]
    fn bytes_must_be_utf8() {
        assert_eq!(
            text_from_bytes("text", "信访".as_bytes(), 10).unwrap(),
            "信访"
        );
        let e = text_from_bytes("text", &[0xe4, 0xbf], 10).unwrap_err();
        assert_eq!(e.rule, "utf8");
        let e = text_from_bytes("text", &[0xff, b'a'], 10).unwrap_err();
        assert_eq!(e.rule, "utf8");
    }

    #[test]
    fn person_names() {
        for ok in ["徐志强", "阿依古丽·买买提", "Li Na", "王"] {
            assert_eq!(PersonName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(PersonName::parse(" 张丽华 ").unwrap().as_str(), "张丽华");
        let fifty = "张".repeat(50);
        assert!(PersonName::parse(&fifty).is_ok());
        let e = PersonName::parse(&"张".repeat(51)).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("name", "max_length"));
        assert_eq!(PersonName::parse("").unwrap_err().rule, "required");
        assert_eq!(
            PersonName::parse("张\n三").unwrap_err().rule,
            "control_characters"
        );
        assert_eq!(
            PersonName::parse("张\t三").unwrap_err().rule,
            "control_characters"
        );
        let e = PersonName::parse("李\u{0}红霞").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("红霞"));
        assert!(!format!("{:?}", PersonName::parse("李红霞").unwrap()).contains("红霞"));
        let back: PersonName = serde_json::from_str("\"李红霞\"").unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), "\"李红霞\"");
        assert!(serde_json::from_str::<PersonName>("\"\"").is_err());
    }
}
