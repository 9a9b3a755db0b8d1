//! Notice templates: zh-CN minijinja files `<dir>/<channel>/<notice>.txt.j2`, one per notice
//! and channel. Loaded and checked at start-up: every file present, no variable outside the
//! notice's declared set, every template renders (strict undefined) with the sample context,
//! every SMS fits the configured number of segments, every e-mail has a subject line.
//!
//! SMS: lines are joined without separators (Chinese needs none), so long templates may wrap.
//! E-mail: the first line is the subject, then one blank line, then the body.

use std::collections::BTreeSet;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::notice::{Channel, Notice, Vars};

/// SMS length settings (`[notify.sms]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLimits {
    /// Longest SMS, in concatenated segments.
    pub max_segments: u32,
    /// Characters the provider adds (e.g. the 【签名】 prefix), counted against the limit.
    pub reserve_chars: usize,
    /// Every text variable (reasons, guidance, names) is clipped to this many characters in SMS.
    pub max_field_chars: usize,
}

impl Default for SmsLimits {
    fn default() -> Self {
        Self {
            max_segments: 3,
            reserve_chars: 10,
            max_field_chars: 60,
        }
    }
}

/// One rendered notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// E-mail subject; None for SMS.
    pub subject: Option<String>,
    pub body: String,
    /// SMS segments the body takes (with the reserve); 0 for e-mail.
    pub segments: u32,
    /// True when an SMS was cut to fit `max_segments` (the template check should prevent it).
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("templates in {dir}: {problems:?}")]
    Invalid { dir: String, problems: Vec<String> },
    #[error("template {name}: {message}")]
    Render { name: String, message: String },
}

/// What a successful check found (for the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateReport {
    pub templates: usize,
    /// Longest SMS of the samples, in segments.
    pub max_sms_segments: u32,
}

pub struct Templates {
    env: Environment<'static>,
    limits: SmsLimits,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// File name of a notice's template for a channel, relative to the template directory.
pub fn template_name(notice: Notice, channel: Channel) -> String {
    format!("{}/{}.txt.j2", channel.as_str(), notice.name())
}

impl Templates {
    /// Loads every template from `dir` and checks them all; the error lists every problem.
    pub fn load(dir: &Path, limits: SmsLimits) -> Result<Self, TemplateError> {
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        for notice in Notice::ALL {
            for channel in Channel::ALL {
                let name = template_name(*notice, channel);
                match std::fs::read_to_string(dir.join(&name)) {
                    Ok(src) => sources.push((name, src)),
                    Err(e) => problems.push(format!("{name}: cannot read ({e})")),
                }
            }
        }
        let templates = match Self::from_sources(sources, limits) {
            Ok(t) if problems.is_empty() => t,
            Ok(_) => {
                return Err(TemplateError::Invalid {
                    dir: dir.display().to_string(),
                    problems,
                });
            }
            Err(p) => {
                problems.extend(p);
                return Err(TemplateError::Invalid {
                    dir: dir.display().to_string(),
                    problems,
                });
            }
        };
        templates
            .check()
            .map_err(|problems| TemplateError::Invalid {
                dir: dir.display().to_string(),
                problems,
            })?;
        Ok(templates)
    }

    /// Builds from `(name, source)` pairs without checking (see [`Self::check`]).
    pub fn from_sources(
        sources: Vec<(String, String)>,
        limits: SmsLimits,
    ) -> Result<Self, Vec<String>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("clip", clip);
        let mut problems = Vec::new();
        for (name, src) in sources {
            if let Err(e) = env.add_template_owned(name.clone(), src) {
                problems.push(format!("{name}: {e}"));
            }
        }
        if problems.is_empty() {
            Ok(Self { env, limits })
        } else {
            Err(problems)
        }
    }

    pub fn limits(&self) -> SmsLimits {
        self.limits
    }

    /// Checks every notice × channel: present, only declared variables, renders with the
    /// sample, SMS within the segment limit without cutting, e-mail with a subject.
    pub fn check(&self) -> Result<TemplateReport, Vec<String>> {
        let mut problems = Vec::new();
        let mut count = 0;
        let mut max_segments = 0;
        for notice in Notice::ALL {
            let declared: BTreeSet<&str> = notice.declared().into_iter().collect();
            for channel in Channel::ALL {
                let name = template_name(*notice, channel);
                let tmpl = match self.env.get_template(&name) {
                    Ok(t) => t,
                    Err(_) => {
                        problems.push(format!("{name}: missing"));
                        continue;
                    }
                };
                count += 1;
                let mut unknown: Vec<String> = tmpl
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !declared.contains(v.as_str()))
                    .collect();
                unknown.sort();
                if !unknown.is_empty() {
                    problems.push(format!(
                        "{name}: unknown variables {unknown:?} (declared: {declared:?})"
                    ));
                    continue;
                }
                // Both truth values of every flag must render.
                let sample = notice.sample();
                let mut variants = vec![sample.clone()];
                for (k, v) in &sample {
                    if let crate::notice::Var::Bool(b) = v {
                        let mut alt = sample.clone();
                        alt.insert(k.clone(), crate::notice::Var::Bool(!b));
                        variants.push(alt);
                    }
                }
                for vars in variants {
                    match self.render(*notice, channel, &vars) {
                        Ok(r) if r.truncated => problems.push(format!(
                            "{name}: the sample SMS needs more than {} segments; shorten the template",
                            self.limits.max_segments
                        )),
                        Ok(r) => max_segments = max_segments.max(r.segments),
                        Err(e) => problems.push(e.to_string()),
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(TemplateReport {
                templates: count,
                max_sms_segments: max_segments,
            })
        } else {
            Err(problems)
        }
    }

    /// Renders a notice for a channel. SMS text variables are clipped first and the text is
    /// cut (with `…`) as a last resort if it still exceeds the segment limit.
    pub fn render(
        &self,
        notice: Notice,
        channel: Channel,
        vars: &Vars,
    ) -> Result<Rendered, TemplateError> {
        let name = template_name(notice, channel);
        let err = |message: String| TemplateError::Render {
            name: name.clone(),
            message,
        };
        let missing: Vec<&str> = notice
            .declared()
            .into_iter()
            .filter(|k| !vars.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(err(format!("missing variables {missing:?}")));
        }
        let tmpl = self
            .env
            .get_template(&name)
            .map_err(|e| err(e.to_string()))?;
        let ctx: std::collections::BTreeMap<String, minijinja::Value> = vars
            .iter()
            .map(|(k, v)| {
                let v = match (channel, v) {
                    (Channel::Sms, crate::notice::Var::Text(s)) => {
                        minijinja::Value::from(clip_chars(s, self.limits.max_field_chars))
                    }
                    _ => minijinja::Value::from(v),
                };
                (k.clone(), v)
            })
            .collect();
        let text = tmpl.render(ctx).map_err(|e| err(format!("{e:#}")))?;
        match channel {
            Channel::Sms => {
                let body: String = text.lines().map(str::trim).collect::<Vec<_>>().concat();
                if body.is_empty() {
                    return Err(err("renders to an empty SMS".into()));
                }
                let (body, truncated) = fit_sms(&body, &self.limits);
                Ok(Rendered {
                    segments: sms_segments(&body, self.limits.reserve_chars),
                    subject: None,
                    body,
                    truncated,
                })
            }
            Channel::Email => {
                let mut lines = text.lines();
                let subject = lines.next().unwrap_or_default().trim().to_owned();
                if subject.is_empty() {
                    return Err(err("the first line (the subject) is empty".into()));
                }
                if lines.next().is_some_and(|l| !l.trim().is_empty()) {
                    return Err(err("the subject must be followed by a blank line".into()));
                }
                let body = lines.collect::<Vec<_>>().join("\n").trim().to_owned() + "\n";
                if body.trim().is_empty() {
                    return Err(err("the body is empty".into()));
                }
                Ok(Rendered {
                    subject: Some(subject),
                    body,
                    segments: 0,
                    truncated: false,
                })
            }
        }
    }
}

/// `{{ x | clip(20) }}`: at most n characters, `…` marking a cut.
fn clip(value: String, n: usize) -> String {
    clip_chars(&value, n)
}

fn clip_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// GSM 03.38 basic set (7-bit); a text with any other character is sent as UCS-2.
const GSM7: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the GSM extension table: two septets each.
const GSM7_EXT: &str = "^{}\\[~]|€\u{c}";

fn is_gsm7(text: &str) -> bool {
    text.chars()
        .all(|c| GSM7.contains(c) || GSM7_EXT.contains(c))
}

/// (units, single-segment capacity, per-segment capacity when concatenated)
fn sms_units(text: &str, reserve: usize) -> (usize, usize, usize) {
    if is_gsm7(text) {
        let n: usize = text
            .chars()
            .map(|c| if GSM7_EXT.contains(c) { 2 } else { 1 })
            .sum();
        (n + reserve, 160, 153)
    } else {
        (text.encode_utf16().count() + reserve, 70, 67)
    }
}

/// Segments an SMS takes: GSM-7 160 / 153 per part; UCS-2 (any Chinese) 70 / 67 per part
/// (UTF-16 code units); `reserve` characters are added for the provider's signature.
pub fn sms_segments(text: &str, reserve: usize) -> u32 {
    let (units, single, multi) = sms_units(text, reserve);
    if units <= single {
        1
    } else {
        units.div_ceil(multi) as u32
    }
}

/// Cuts `text` to fit `max_segments` (ending in `…`); returns whether it cut.
fn fit_sms(text: &str, limits: &SmsLimits) -> (String, bool) {
    if sms_segments(text, limits.reserve_chars) <= limits.max_segments {
        return (text.to_owned(), false);
    }
    let mut out = String::new();
    for c in text.chars() {
        let candidate = format!("{out}{c}…");
        if sms_segments(&candidate, limits.reserve_chars) > limits.max_segments {
            break;
        }
        out.push(c);
    }
    out.push('…');
    (out, true)
}

/// Checks the templates in `dir` with the given limits (for `xinfang check-templates`).
pub fn check_dir(dir: &Path, limits: SmsLimits) -> Result<TemplateReport, TemplateError> {
    let t = Templates::load(dir, limits)?;
    t.check().map_err(|problems| TemplateError::Invalid {
        dir: dir.display().to_string(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::Var;

    #[test]
    fn segments_follow_gsm7_and_ucs2_rules() {
        assert_eq!(sms_segments(&"a".repeat(160), 0), 1);
        assert_eq!(sms_segments(&"a".repeat(161), 0), 2);
        assert_eq!(sms_segments(&"a".repeat(306), 0), 2);
        assert_eq!(sms_segments(&"a".repeat(307), 0), 3);
        assert_eq!(sms_segments(&"{".repeat(80), 0), 1);
        assert_eq!(sms_segments(&"{".repeat(81), 0), 2);
        assert_eq!(sms_segments(&"信".repeat(70), 0), 1);
        assert_eq!(sms_segments(&"信".repeat(71), 0), 2);
        assert_eq!(sms_segments(&"信".repeat(134), 0), 2);
        assert_eq!(sms_segments(&"信".repeat(135), 0), 3);
        assert_eq!(sms_segments(&"信".repeat(60), 10), 1);
        assert_eq!(sms_segments(&"信".repeat(61), 10), 2);
        // An emoji is two UTF-16 units.
        assert_eq!(sms_segments(&"😀".repeat(35), 0), 1);
        assert_eq!(sms_segments(&"😀".repeat(36), 0), 2);
    }

    #[test]
    fn fitting_cuts_with_an_ellipsis_within_the_limit() {
        let limits = SmsLimits {
            max_segments: 2,
            reserve_chars: 10,
            max_field_chars: 60,
        };
        let (s, cut) = fit_sms(&"信".repeat(500), &limits);
        assert!(cut);
        assert!(s.ends_with('…'));
        assert_eq!(sms_segments(&s, 10), 2);
        assert_eq!(s.chars().count(), 134 - 10);
        let (s, cut) = fit_sms("短", &limits);
        assert!(!cut);
        assert_eq!(s, "短");
    }

    fn one(notice: Notice, sms: &str, email: &str) -> Templates {
        let mut sources = Vec::new();
        for n in Notice::ALL {
            let (s, e) = if *n == notice {
                (sms.to_owned(), email.to_owned())
            } else {
                (
                    "{{ case_no }}".to_owned(),
                    "主题 {{ case_no }}\n\n正文".to_owned(),
                )
            };
            sources.push((template_name(*n, Channel::Sms), s));
            sources.push((template_name(*n, Channel::Email), e));
        }
        Templates::from_sources(sources, SmsLimits::default()).unwrap()
    }

    #[test]
    fn unknown_variables_and_missing_subjects_are_reported() {
        let t = one(
            Notice::Receipt,
            "{{ case_no }}{{ phone }}",
            "主题\n\n{{ case_no }}",
        );
        let p = t.check().unwrap_err();
        assert!(
            p.iter()
                .any(|m| m.contains("sms/receipt.txt.j2") && m.contains("phone")),
            "{p:?}"
        );
        let t = one(Notice::Receipt, "{{ case_no }}", "\n\n正文");
        let p = t.check().unwrap_err();
        assert!(
            p.iter()
                .any(|m| m.contains("email/receipt.txt.j2") && m.contains("subject")),
            "{p:?}"
        );
        let t = one(Notice::Receipt, "{{ case_no }}", "主题\n正文紧跟");
        assert!(t.check().is_err());
    }

    #[test]
    fn an_sms_template_too_long_for_the_limit_is_refused() {
        let t = one(
            Notice::Receipt,
            &"很长".repeat(200),
            "主题\n\n{{ case_no }}",
        );
        let p = t.check().unwrap_err();
        assert!(p.iter().any(|m| m.contains("segments")), "{p:?}");
    }

    #[test]
    fn free_text_is_clipped_in_sms_not_in_email() {
        let t = one(
            Notice::NotAccepted,
            "{{ reason }}",
            "主题\n\n{{ reason }}{{ where_to_go }}{{ rule }}",
        );
        let mut vars = Notice::NotAccepted.sample();
        vars.insert("reason".into(), Var::text("理".repeat(100)));
        let sms = t.render(Notice::NotAccepted, Channel::Sms, &vars).unwrap();
        assert_eq!(sms.body.chars().count(), 60);
        assert!(sms.body.ends_with('…'));
        let mail = t
            .render(Notice::NotAccepted, Channel::Email, &vars)
            .unwrap();
        assert!(mail.body.contains(&"理".repeat(100)));
        vars.remove("reason");
        assert!(t.render(Notice::NotAccepted, Channel::Sms, &vars).is_err());
    }

    #[test]
    fn the_clip_filter_and_line_joining() {
        let t = one(
            Notice::Receipt,
            "您的件\n  {{ case_no | clip(5) }}\n已登记",
            "主题\n\n正文",
        );
        let r = t
            .render(Notice::Receipt, Channel::Sms, &Notice::Receipt.sample())
            .unwrap();
        assert_eq!(r.body, "您的件XF-4…已登记");
    }
}
