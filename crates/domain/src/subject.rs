//! NATS subject names (design.md "Messaging"). Every token is lowercase ASCII; the builders
//! refuse anything else so a department code can never widen a subscription (`*`, `>`, `.`).

use std::fmt;

use crate::county::CountyCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subject token {token:?} in {field} must be lowercase ASCII letters, digits or '_'")]
pub struct SubjectError {
    pub field: &'static str,
    pub token: String,
}

/// A validated subject; `Display` gives the wire form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

impl Subject {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> String {
        s.0
    }
}

/// Checks one subject token: non-empty, at most 64 bytes, `[a-z0-9_]` only.
pub fn token(field: &'static str, raw: &str) -> Result<(), SubjectError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SubjectError {
            field,
            token: raw.to_owned(),
        })
    }
}

fn build(parts: &[(&'static str, &str)]) -> Result<Subject, SubjectError> {
    for (field, raw) in parts {
        token(field, raw)?;
    }
    let joined = parts.iter().map(|(_, p)| *p).collect::<Vec<_>>().join(".");
    Ok(Subject(joined))
}

/// `xf.<county>.case.<event>` — lifecycle facts.
pub fn case_event(county: &CountyCode, event: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "case"),
        ("event", event),
    ])
}

/// `xf.<county>.dept.<dept>.<event>` — what one department receives.
pub fn dept_event(county: &CountyCode, dept: &str, event: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "dept"),
        ("dept", dept),
        ("event", event),
    ])
}

/// `xf.<county>.deadline.<event>` — warning, overdue.
pub fn deadline_event(county: &CountyCode, event: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "deadline"),
        ("event", event),
    ])
}

/// `xf.<county>.review.<event>` — requested, accepted, decided.
pub fn review_event(county: &CountyCode, event: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "review"),
        ("event", event),
    ])
}

/// `xf.<county>.report.<report>` — reports supervision generates for the county (`weekly`:
/// the weekly analysis, 周研判); notify e-mails them to the configured leaders.
pub fn report_event(county: &CountyCode, report: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "report"),
        ("report", report),
    ])
}

/// `xf.<county>.cmd.<dept>.<action>` — department commands (request/reply).
pub fn command(county: &CountyCode, dept: &str, action: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "cmd"),
        ("dept", dept),
        ("action", action),
    ])
}

/// `xf.<county>.dlq.<consumer>` — dead letters of one durable consumer, kept in the county
/// stream so the CLI can list and replay them.
pub fn dead_letter(county: &CountyCode, consumer: &str) -> Result<Subject, SubjectError> {
    build(&[
        ("prefix", "xf"),
        ("county", county.as_str()),
        ("kind", "dlq"),
        ("consumer", consumer),
    ])
}

/// Event families kept in a county's stream. Commands (`cmd`) are request/reply and must stay
/// out of it: a stream binding them would answer requests with its publish-ack.
pub const STREAM_FAMILIES: [&str; 6] = ["case", "dept", "deadline", "review", "report", "dlq"];

/// The subjects the county's stream binds: `xf.<county>.<family>.>` for each event family.
pub fn stream_subjects(county: &CountyCode) -> Vec<String> {
    STREAM_FAMILIES
        .iter()
        .map(|f| format!("xf.{county}.{f}.>"))
        .collect()
}

/// `xf.<county>.<kind>.>` — consumer filter for one family (case, dept, deadline, review,
/// report, dlq).
pub fn family_filter(county: &CountyCode, kind: &str) -> Result<String, SubjectError> {
    token("kind", kind)?;
    Ok(format!("xf.{county}.{kind}.>"))
}

/// `XF_<county>` — the per-county JetStream stream name.
pub fn stream_name(county: &CountyCode) -> String {
    format!("XF_{county}")
}

/// The NATS user name of department `dept` of `county`: `411282_rsj`.
pub fn department_user(county: &CountyCode, dept: &str) -> String {
    format!("{county}_{dept}")
}

/// The reply inbox prefix of a NATS user: `_INBOX.<user>`. Every client of a deployment with
/// permissions (services and departments alike) uses its own, and the server lets it
/// subscribe only there, so nobody reads another's replies.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX.{user}")
}

/// The reply inbox prefix a department's client must use: `_INBOX.411282_rsj`.
pub fn department_inbox(county: &CountyCode, dept: &str) -> String {
    inbox_prefix(&department_user(county, dept))
}

/// The durable JetStream consumer of a department's feed on its county's stream:
/// `dept_rsj` (filtered to [`department_feed`]).
pub fn department_consumer(dept: &str) -> String {
    format!("dept_{dept}")
}

/// Everything published for department `dept` of `county`: `xf.411282.dept.rsj.>`.
pub fn department_feed(county: &CountyCode, dept: &str) -> String {
    format!("xf.{county}.dept.{dept}.>")
}

/// Is `reply` a concrete subject under the inbox `prefix` (`<prefix>.<token>[.<token>…]`)?
/// Request handlers answer only there: a reply subject is chosen by the sender, and a
/// service answering wherever it is told publishes with the service's rights (a forged event,
/// another department's feed, a JetStream API call).
pub fn is_reply_under(reply: &str, prefix: &str) -> bool {
    let Some(rest) = reply.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    reply.len() <= 256
        && rest.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// Is `reply` some client's inbox (`_INBOX.…`), concrete (no wildcard) and short? For
/// handlers whose subject does not name the caller (registration by channels).
pub fn is_inbox(reply: &str) -> bool {
    is_reply_under(reply, "_INBOX")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_go_only_under_the_callers_inbox() {
        let c = CountyCode::parse("411282").unwrap();
        let own = department_inbox(&c, "rsj");
        assert_eq!(own, "_INBOX.411282_rsj");
        assert!(is_reply_under("_INBOX.411282_rsj.AbC123.7", &own));
        for bad in [
            "xf.411282.dept.zjj.assigned",
            "xf.411282.case.accepted",
            "$JS.API.STREAM.PURGE.XF_411282",
            "_INBOX.411282_zjj.x",
            "_INBOX.411282_rsjx.y",
            "_INBOX.411282_rsj",
            "_INBOX.411282_rsj.",
            "_INBOX.411282_rsj.*",
            "_INBOX.411282_rsj.>",
            "_INBOX.411282_rsj..x",
            "_INBOX.411282_rsj.a b",
        ] {
            assert!(!is_reply_under(bad, &own), "{bad}");
        }
        assert!(is_inbox("_INBOX.svc_portal.x1"));
        assert!(is_inbox("_INBOX.AbCdEf"));
        assert!(!is_inbox("$JS.API.STREAM.PURGE.XF_411282"));
        assert!(!is_inbox("_INBOX.>"));
        assert!(!is_inbox(&format!("_INBOX.{}", "a".repeat(300))));
    }

    fn c() -> CountyCode {
        CountyCode::parse("411282").unwrap()
    }

    #[test]
    fn builds_every_family() {
        assert_eq!(
            case_event(&c(), "registered").unwrap().as_str(),
            "xf.411282.case.registered"
        );
        assert_eq!(
            dept_event(&c(), "rsj", "assigned").unwrap().as_str(),
            "xf.411282.dept.rsj.assigned"
        );
        assert_eq!(
            deadline_event(&c(), "overdue").unwrap().as_str(),
            "xf.411282.deadline.overdue"
        );
        assert_eq!(
            review_event(&c(), "requested").unwrap().as_str(),
            "xf.411282.review.requested"
        );
        assert_eq!(
            command(&c(), "rsj", "accept").unwrap().as_str(),
            "xf.411282.cmd.rsj.accept"
        );
        assert_eq!(
            dead_letter(&c(), "routing_case").unwrap().as_str(),
            "xf.411282.dlq.routing_case"
        );
        assert_eq!(
            report_event(&c(), "weekly").unwrap().as_str(),
            "xf.411282.report.weekly"
        );
        assert_eq!(family_filter(&c(), "case").unwrap(), "xf.411282.case.>");
        assert_eq!(stream_name(&c()), "XF_411282");
        let bound = stream_subjects(&c());
        assert!(bound.contains(&"xf.411282.case.>".to_owned()));
        assert!(bound.contains(&"xf.411282.report.>".to_owned()));
        assert!(
            !bound.iter().any(|s| s.contains(".cmd.")),
            "commands stay out of streams"
        );
    }

    #[test]
    fn rejects_tokens_that_are_not_lowercase_ascii() {
        for bad in ["RSJ", "r.sj", "*", ">", "", "人社局", "rs j", "rsj-1"] {
            let err = dept_event(&c(), bad, "assigned").unwrap_err();
            assert_eq!(err.field, "dept", "{bad:?}");
            assert!(command(&c(), bad, "accept").is_err());
        }
        assert_eq!(case_event(&c(), "Registered").unwrap_err().field, "event");
    }
}
