//! A petition as submitted for registration (Art 19, 21–22) and its validation. Parsing turns
//! the raw request into a [`ValidRegistration`] or the first [`ValidationError`], which names
//! the field and the rule but never echoes personal data.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::petition::Channel;
use crate::validation::{IdNumber, Mobile, PersonName, ValidationError};

/// Art 20 para 3: a group elects at most five representatives.
pub const MAX_REPRESENTATIVES: usize = 5;
pub const MAX_TEXT_CHARS: usize = 20_000;
pub const MAX_CO_PETITIONERS: usize = 200;
pub const MAX_GROUP_SIZE: u32 = 100_000;

/// A petitioner, co-petitioner or representative. The petitioner needs a mobile or ID number.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// 18-character resident ID number (checksum verified).
    #[serde(default)]
    #[schema(max_length = 18)]
    pub id_number: Option<String>,
    /// Mainland mobile number (11 digits, `+86` allowed).
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub address: Option<String>,
}

/// The registration request, as the API, the NATS command and `xinfang submit` take it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationInput {
    /// letter, visit, phone, online, fax or leader_mailbox (or 书信, 走访, 电话, 网上信访, 传真,
    /// 领导信箱).
    #[schema(example = "online")]
    pub channel: String,
    pub petitioner: PersonInput,
    #[serde(default)]
    #[schema(max_items = 200)]
    pub co_petitioners: Vec<PersonInput>,
    /// Number of people the petition speaks for (1 for an individual).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub group_size: Option<u32>,
    /// Elected by a group (Art 20 para 3): at most five.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub representatives: Vec<PersonInput>,
    /// The petition (at most `intake.max_text_chars`, 20,000 by default).
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    /// Division code of the registering organ, or "unknown" (→ the city bureau).
    #[schema(example = "411282")]
    pub county: String,
    /// When it was received (RFC 3339): not in the future, within the last year.
    pub received_at: DateTime<Utc>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub clerk_id: String,
    /// Major or urgent (Art 25): routed as 交办.
    #[serde(default)]
    pub urgent: bool,
    /// When an organ other than the 信访部门 registers a petition handed to it directly (Art 23
    /// para 1): its department code (e.g. `rsj`). That organ then owes the written notice within
    /// 15 days (D2, Art 23 para 2). Omit when the 信访部门 received the petition.
    #[serde(default)]
    pub received_by: Option<String>,
    /// Where the matter came from: `ordinary` (the default) or a configured source such as
    /// `central_inspection` (中央巡视移交) or `provincial_joint` (省联席办交办); a listed source
    /// makes it a listed matter (清单). `GET /v1/sources` lists the codes.
    #[serde(default)]
    #[schema(example = "ordinary", max_length = 40)]
    pub source: Option<String>,
}

/// A checked person. Only `Debug`-redacted newtypes hold personal data.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: PersonName,
    pub id_number: Option<IdNumber>,
    pub mobile: Option<Mobile>,
    pub email: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ValidRegistration {
    pub channel: Channel,
    pub petitioner: Person,
    pub co_petitioners: Vec<Person>,
    pub group_size: u32,
    pub representatives: Vec<Person>,
    pub text: String,
    pub county: CountyCode,
    pub received_at: DateTime<Utc>,
    pub clerk_id: String,
    pub urgent: bool,
    /// The organ other than the 信访部门 that received the petition directly (Art 23).
    pub received_by: Option<String>,
}

/// What validation needs from outside: the time, the deployment's city and counties.
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    pub city: &'a CountyCode,
    pub served: &'a [CountyCode],
    pub max_text_chars: usize,
}

fn err(field: &str, rule: &'static str, message: &str) -> ValidationError {
    ValidationError::new(field, rule, message)
}

fn person(
    p: &PersonInput,
    field: &str,
    now: DateTime<Utc>,
    need_contact: bool,
) -> Result<Person, ValidationError> {
    let name = PersonName::parse(&p.name).map_err(|e| e.under(field))?;
    let today = (now + Duration::hours(8)).date_naive();
    let id_number = match p
        .id_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => Some(IdNumber::parse(raw, today).map_err(|e| e.under(field))?),
        None => None,
    };
    let mobile = match p.mobile.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(Mobile::parse(raw).map_err(|e| e.under(field))?),
        None => None,
    };
    let email = match p.email.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(email(raw).map_err(|e| e.under(field))?),
        None => None,
    };
    let address = match p
        .address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(a) if a.chars().count() > 200 => {
            return Err(err(
                &format!("{field}.address"),
                "max_length",
                "must be at most 200 characters",
            ));
        }
        Some(a) if a.chars().any(|c| c.is_control()) => {
            return Err(err(
                &format!("{field}.address"),
                "control_characters",
                "must not contain control characters",
            ));
        }
        Some(a) => Some(a.to_owned()),
        None => None,
    };
    if need_contact && id_number.is_none() && mobile.is_none() {
        return Err(err(
            &format!("{field}.mobile"),
            "required",
            "a mobile number or an ID number is required so the petitioner can be told the result",
        ));
    }
    Ok(Person {
        name,
        id_number,
        mobile,
        email,
        address,
    })
}

fn email(raw: &str) -> Result<String, ValidationError> {
    let bad = || {
        err(
            "email",
            "format",
            "must be an email address like name@example.cn",
        )
    };
    if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = raw.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || local.contains('@')
    {
        return Err(bad());
    }
    Ok(raw.to_owned())
}

impl RegistrationInput {
    pub fn validate(&self, cx: &Context<'_>) -> Result<ValidRegistration, ValidationError> {
        let channel = Channel::parse(self.channel.trim())?;
        let petitioner = person(&self.petitioner, "petitioner", cx.now, true)?;
        if self.co_petitioners.len() > MAX_CO_PETITIONERS {
            return Err(err(
                "co_petitioners",
                "max_items",
                "at most 200 co-petitioners; use group_size for larger groups",
            ));
        }
        let co_petitioners = self
            .co_petitioners
            .iter()
            .enumerate()
            .map(|(i, p)| person(p, &format!("co_petitioners[{i}]"), cx.now, false))
            .collect::<Result<Vec<_>, _>>()?;
        let named = 1 + co_petitioners.len() as u32;
        let group_size = self.group_size.unwrap_or(named);
        if group_size == 0 || group_size > MAX_GROUP_SIZE {
            return Err(err("group_size", "range", "must be between 1 and 100000"));
        }
        if group_size < named {
            return Err(err(
                "group_size",
                "consistency",
                "must be at least the number of named petitioners",
            ));
        }
        if self.representatives.len() > MAX_REPRESENTATIVES {
            return Err(err(
                "representatives",
                "max_items",
                "a group elects at most 5 representatives (Art 20 para 3)",
            ));
        }
        if channel == Channel::Visit && group_size > 1 && self.representatives.is_empty() {
            return Err(err(
                "representatives",
                "required",
                "a group visit must name its representatives, at most 5 (Art 20 para 3)",
            ));
        }
        let representatives = self
            .representatives
            .iter()
            .enumerate()
            .map(|(i, p)| person(p, &format!("representatives[{i}]"), cx.now, false))
            .collect::<Result<Vec<_>, _>>()?;
        let text = self.text.trim();
        if text.is_empty() {
            return Err(err("text", "required", "must not be empty"));
        }
        if text.chars().count() > cx.max_text_chars {
            return Err(ValidationError::new(
                "text",
                "max_length",
                format!("must be at most {} characters", cx.max_text_chars),
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(err(
                "text",
                "control_characters",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        let county = match self.county.trim() {
            "unknown" | "" => cx.city.clone(),
            raw => CountyCode::parse(raw)?,
        };
        if !cx.served.contains(&county) {
            return Err(err(
                "county",
                "not_served",
                "is not a county this deployment serves",
            ));
        }
        if self.received_at > cx.now + Duration::minutes(5) {
            return Err(err(
                "received_at",
                "not_in_future",
                "must not be in the future",
            ));
        }
        if self.received_at < cx.now - Duration::days(366) {
            return Err(err(
                "received_at",
                "too_old",
                "must be within the last year",
            ));
        }
        let clerk = self.clerk_id.trim();
        if clerk.is_empty()
            || clerk.len() > 64
            || !clerk
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(err(
                "clerk_id",
                "format",
                "must be 1–64 ASCII letters, digits, '-', '_' or '.'",
            ));
        }
        let received_by = match self
            .received_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(code) => {
                crate::subject::token("received_by", code).map_err(|_| {
                    err(
                        "received_by",
                        "department_code",
                        "must be the department code of the receiving organ, e.g. rsj",
                    )
                })?;
                Some(code.to_owned())
            }
            None => None,
        };
        Ok(ValidRegistration {
            received_by,
            channel,
            petitioner,
            co_petitioners,
            group_size,
            representatives,
            text: text.to_owned(),
            county,
            received_at: self.received_at,
            clerk_id: clerk.to_owned(),
            urgent: self.urgent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A valid ID number from the invented dev set (check character correct).
    const ID: &str = "411203195202145284";

    fn input() -> RegistrationInput {
        RegistrationInput {
            source: None,
            channel: "letter".into(),
            petitioner: PersonInput {
                name: "王某".into(),
                id_number: Some(ID.into()),
                mobile: Some("13800138000".into()),
                ..Default::default()
            },
            co_petitioners: vec![],
            group_size: None,
            representatives: vec![],
            text: "村里拖欠工资三个月".into(),
            county: "411282".into(),
            received_at: Utc::now(),
            clerk_id: "clerk-1".into(),
            urgent: false,
            received_by: None,
        }
    }

    fn check(i: &RegistrationInput) -> Result<ValidRegistration, ValidationError> {
        let city = CountyCode::parse("411200").unwrap();
        let served = [city.clone(), CountyCode::parse("411282").unwrap()];
        i.validate(&Context {
            now: Utc::now(),
            city: &city,
            served: &served,
            max_text_chars: MAX_TEXT_CHARS,
        })
    }

    fn field_of(i: RegistrationInput) -> (String, &'static str) {
        let e = check(&i).unwrap_err();
        (e.field, e.rule)
    }

    #[test]
    fn a_good_petition_passes_with_defaults() {
        let v = check(&input()).unwrap();
        assert_eq!(v.group_size, 1);
        assert_eq!(v.county.as_str(), "411282");
        let mut i = input();
        i.county = "unknown".into();
        assert_eq!(check(&i).unwrap().county.as_str(), "411200");
    }

    #[test]
    fn every_rule_names_its_field() {
        let mut i = input();
        i.channel = "pigeon".into();
        assert_eq!(field_of(i).0, "channel");
        let mut i = input();
        i.petitioner.id_number = Some("411203195202145285".into());
        assert_eq!(field_of(i).0, "petitioner.id_number");
        let mut i = input();
        i.petitioner.mobile = Some("12345".into());
        assert_eq!(field_of(i).0, "petitioner.mobile");
        let mut i = input();
        i.petitioner.id_number = None;
        i.petitioner.mobile = None;
        assert_eq!(field_of(i), ("petitioner.mobile".into(), "required"));
        let mut i = input();
        i.petitioner.email = Some("nobody".into());
        assert_eq!(field_of(i).0, "petitioner.email");
        let mut i = input();
        i.text = "字".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(field_of(i), ("text".into(), "max_length"));
        let mut i = input();
        i.text = "  ".into();
        assert_eq!(field_of(i), ("text".into(), "required"));
        let mut i = input();
        i.text = "abc\u{0007}".into();
        assert_eq!(field_of(i), ("text".into(), "control_characters"));
        let mut i = input();
        i.county = "411221".into();
        assert_eq!(field_of(i), ("county".into(), "not_served"));
        let mut i = input();
        i.received_at = Utc::now() + Duration::days(1);
        assert_eq!(field_of(i).0, "received_at");
        let mut i = input();
        i.clerk_id = "clerk 1".into();
        assert_eq!(field_of(i).0, "clerk_id");
        let mut i = input();
        i.representatives = vec![
            PersonInput {
                name: "代表".into(),
                ..Default::default()
            };
            6
        ];
        assert_eq!(field_of(i), ("representatives".into(), "max_items"));
        let mut i = input();
        i.channel = "visit".into();
        i.group_size = Some(30);
        assert_eq!(field_of(i), ("representatives".into(), "required"));
        let mut i = input();
        i.co_petitioners = vec![PersonInput {
            name: "甲".into(),
            ..Default::default()
        }];
        i.group_size = Some(1);
        assert_eq!(field_of(i), ("group_size".into(), "consistency"));
        let mut i = input();
        i.co_petitioners = vec![PersonInput {
            name: "甲".into(),
            mobile: Some("1".into()),
            ..Default::default()
        }];
        assert_eq!(field_of(i).0, "co_petitioners[0].mobile");
    }

    #[test]
    fn the_receiving_organ_is_a_department_code() {
        assert_eq!(check(&input()).unwrap().received_by, None);
        let mut i = input();
        i.received_by = Some(" rsj ".into());
        assert_eq!(check(&i).unwrap().received_by.as_deref(), Some("rsj"));
        let mut i = input();
        i.received_by = Some("人社局".into());
        assert_eq!(field_of(i), ("received_by".into(), "department_code"));
        // Older inputs without the field still parse.
        let json = r#"{"channel":"letter","petitioner":{"name":"a","mobile":"13800138000"},"text":"x","county":"411282","received_at":"2026-01-01T00:00:00Z","clerk_id":"c"}"#;
        assert!(
            serde_json::from_str::<RegistrationInput>(json)
                .unwrap()
                .received_by
                .is_none()
        );
    }

    #[test]
    fn errors_never_echo_personal_data() {
        let mut i = input();
        i.petitioner.id_number = Some("411203195202145285".into());
        let e = check(&i).unwrap_err();
        assert!(!e.to_string().contains("4112031952"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"channel":"letter","petitioner":{"name":"a","mobile":"13800138000"},"text":"x","county":"411282","received_at":"2026-01-01T00:00:00Z","clerk_id":"c","colour":"red"}"#;
        let e = serde_json::from_str::<RegistrationInput>(json).unwrap_err();
        assert!(e.to_string().contains("colour"));
    }
}
