//! One confidentiality rule for 检举控告 (Art 30 para 3, Art 46(5)): who may learn who the
//! informant is, and the text a department that may not gets instead.
//!
//! Every exit (HTTP case views, NATS department messages, notices, delivery logs) asks
//! [`discloses_informant`] and, when the answer is no, shows [`redact_text`]'s output and no
//! petitioner. The handling department still needs the matter to act on it; contact with the
//! informant goes through the bureau.

/// Whether a petition is confidential from its registration on (Art 30 para 3): read as an
/// accusation or as naming an official, or linked as a repeat of a confidential matter
/// (`repeats`). A follow-up ("上回反映的账，钱到底去哪了") may say too little to be read as an
/// accusation, yet names the same informant; such a one is also held for a clerk, and its reasons
/// say which matter it follows.
pub fn at_registration(c: &mut crate::classify::Classification, repeats: Option<&str>) -> bool {
    if c.accuses_official || c.petition_type == crate::petition::PetitionType::Accusation {
        return true;
    }
    let Some(of) = repeats else {
        return false;
    };
    c.needs_triage = true;
    c.reasons.push(format!(
        "与此前保密事项 {of} 为同一事项：对信访人信息保密（第三十条），需人工分类"
    ));
    true
}

/// What the registration knows that identifies the informant (and anyone else it names:
/// co-petitioners, representatives). Only used to find them inside the text.
#[derive(Default, Clone)]
pub struct Identifiers {
    pub names: Vec<String>,
    pub phones: Vec<String>,
    pub id_numbers: Vec<String>,
    pub emails: Vec<String>,
    pub addresses: Vec<String>,
}

impl std::fmt::Debug for Identifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identifiers(***)")
    }
}

impl Identifiers {
    /// Everything the registration holds about the people it names.
    pub fn of_people<'a>(
        people: impl IntoIterator<Item = &'a crate::registration::Person>,
    ) -> Self {
        let mut ids = Identifiers::default();
        for p in people {
            ids.names.push(p.name.as_str().to_owned());
            if let Some(i) = &p.id_number {
                ids.id_numbers.push(i.as_str().to_owned());
            }
            if let Some(m) = &p.mobile {
                ids.phones.push(m.as_str().to_owned());
            }
            if let Some(e) = &p.email {
                ids.emails.push(e.clone());
            }
            if let Some(a) = &p.address {
                ids.addresses.push(a.clone());
            }
        }
        ids
    }
}

impl From<Option<crate::events::Contact>> for Identifiers {
    /// What a sealed contact holds: for texts registered before intake stored its own masked
    /// copy.
    fn from(contact: Option<crate::events::Contact>) -> Self {
        let mut ids = Identifiers::default();
        if let Some(c) = contact {
            ids.names.push(c.name);
            ids.phones.extend(c.mobile);
            ids.emails.extend(c.email);
        }
        ids
    }
}

pub const NAME_MASK: &str = "〔姓名已隐去〕";
pub const PHONE_MASK: &str = "〔电话已隐去〕";
pub const ID_MASK: &str = "〔证件号已隐去〕";
pub const EMAIL_MASK: &str = "〔邮箱已隐去〕";
pub const ADDRESS_MASK: &str = "〔地址已隐去〕";

/// The text with the masks of [`redact_text`] taken out (a comma in their place): what was
/// masked is not a word of the matter, and the masks' own words would make any two redacted
/// texts look alike.
pub fn without_masks(text: &str) -> String {
    let mut out = text.to_owned();
    for mask in [NAME_MASK, PHONE_MASK, ID_MASK, EMAIL_MASK, ADDRESS_MASK] {
        if out.contains(mask) {
            out = out.replace(mask, "，");
        }
    }
    out
}

/// Said to a department in place of the informant's identity.
pub const CONTACT_VIA_BUREAU: &str = "检举控告件：检举人身份依法保密，如需联系检举人请通过信访局。";

/// May a department `viewer` learn who the petitioner is? Always on ordinary matters; on a
/// confidential one only when the viewer is the lead and is the discipline organ (纪委监委):
/// an assisting unit, or a competent organ handling an accusation against a company, gets
/// the redacted text only.
pub fn discloses_informant(
    confidential: bool,
    viewer_dept: &str,
    lead_dept: Option<&str>,
    discipline_dept: &str,
) -> bool {
    !confidential || (lead_dept == Some(viewer_dept) && viewer_dept == discipline_dept)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn normalise_digits(s: &str) -> String {
    s.chars()
        .map(|c| {
            if ('０'..='９').contains(&c) {
                char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Replaces every occurrence of `needle` (at least 2 characters) in `text` with `mask`.
fn mask_exact(text: &str, needle: &str, mask: &str) -> String {
    let needle = needle.trim();
    if needle.chars().count() < 2 {
        return text.to_owned();
    }
    text.replace(needle, mask)
}

/// Masks long digit runs: mobiles (11 digits from 1), ID numbers (15, or 17 + digit/X), and
/// any run of 11 or more digits (bank cards, other IDs). Full-width digits count as digits;
/// a landline `0xxx-xxxxxxx` is one run.
fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = 0;
        let mut j = i;
        // Digits, with single hyphens or spaces inside (phone numbers are written 0398-1234567
        // or 138 1234 5678).
        while j < chars.len() {
            if is_digit(chars[j]) {
                digits += 1;
                j += 1;
            } else if matches!(chars[j], '-' | ' ' | '－')
                && j + 1 < chars.len()
                && is_digit(chars[j + 1])
                && digits > 0
            {
                j += 1;
            } else {
                break;
            }
        }
        let id_check = j < chars.len() && matches!(chars[j], 'X' | 'x' | 'Ｘ') && digits == 17;
        if id_check {
            j += 1;
        }
        let run: String = chars[start..j].iter().collect();
        let first = normalise_digits(&run).chars().next().unwrap_or('0');
        if id_check || digits == 15 || digits == 18 {
            out.push_str(ID_MASK);
        } else if digits >= 11
            || (first == '0' && digits >= 10)
            || (digits >= 7 && run.contains('-'))
        {
            out.push_str(PHONE_MASK);
        } else {
            out.push_str(&run);
        }
        i = j;
    }
    out
}

/// Masks e-mail addresses (`local@domain.tld`).
fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut s = i;
            while s > 0 && ok(chars[s - 1]) {
                s -= 1;
            }
            let mut e = i + 1;
            while e < chars.len() && ok(chars[e]) {
                e += 1;
            }
            let domain: String = chars[i + 1..e].iter().collect();
            let local_len = i - s;
            if local_len > 0 && domain.contains('.') {
                // Drop the local part already copied.
                for _ in 0..local_len {
                    out.pop();
                }
                out.push_str(EMAIL_MASK);
                i = e;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Masks "我叫XXX" / "本人XXX" self-introductions: the informant often names themself in words
/// the registration does not hold (a nickname, a relative speaking for them).
fn mask_self_introductions(text: &str) -> String {
    const CUES: [&str; 5] = ["我叫", "我的名字叫", "本人姓名", "本人名叫", "我名叫"];
    let mut out = text.to_owned();
    for cue in CUES {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(pos) = rest.find(cue) {
            result.push_str(&rest[..pos + cue.len()]);
            let after = &rest[pos + cue.len()..];
            let after = after.strip_prefix(['：', ':', '是']).unwrap_or(after);
            let name_len: usize = after
                .chars()
                .take_while(|c| ('\u{4e00}'..='\u{9fff}').contains(c) || *c == '·')
                .take(4)
                .map(char::len_utf8)
                .sum();
            if name_len > 0 {
                result.push_str(NAME_MASK);
            }
            rest = &after[name_len..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// The text with the informant's identifiers found and masked: every name, phone number,
/// ID number, e-mail and address the registration holds (an address also by any trailing
/// part of at least six characters, as people leave out the province), then any number
/// that looks like a phone or ID number, any e-mail, and self-introductions.
pub fn redact_text(text: &str, ids: &Identifiers) -> String {
    let mut out = text.to_owned();
    for a in &ids.addresses {
        let chars: Vec<char> = a.trim().chars().collect();
        for start in 0..chars.len() {
            if chars.len() - start < 6 {
                break;
            }
            let suffix: String = chars[start..].iter().collect();
            if out.contains(&suffix) {
                out = out.replace(&suffix, ADDRESS_MASK);
                break;
            }
        }
    }
    for id in &ids.id_numbers {
        out = mask_exact(&out, id, ID_MASK);
        out = mask_exact(&out, &id.to_lowercase(), ID_MASK);
    }
    for p in &ids.phones {
        out = mask_exact(&out, p, PHONE_MASK);
    }
    for e in &ids.emails {
        out = mask_exact(&out, e, EMAIL_MASK);
    }
    // Longer names first, so 王小明 is masked whole before a co-petitioner 王小.
    let mut names: Vec<&String> = ids.names.iter().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
    for n in names {
        out = mask_exact(&out, n, NAME_MASK);
    }
    let out = mask_emails(&out);
    let out = mask_digit_runs(&out);
    mask_self_introductions(&out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_follow_up_of_a_confidential_matter_is_confidential_and_held() {
        use crate::petition::PetitionType;
        let grievance = crate::classify::Classification {
            petition_type: PetitionType::Grievance,
            branch: None,
            diversion: None,
            department: "xzzf".to_owned(),
            county: None,
            accuses_official: false,
            confidence: 0.9,
            needs_triage: false,
            reasons: Vec::new(),
        };
        let mut c = grievance.clone();
        assert!(!super::at_registration(&mut c, None));
        assert_eq!(c, grievance);
        assert!(super::at_registration(
            &mut c,
            Some("XF-411282-2026-000001")
        ));
        assert!(c.needs_triage);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("XF-411282-2026-000001"))
        );
        // An accusation is confidential on its own: nothing to add.
        let mut c = crate::classify::Classification {
            petition_type: PetitionType::Accusation,
            ..grievance
        };
        assert!(super::at_registration(
            &mut c,
            Some("XF-411282-2026-000001")
        ));
        assert!(!c.needs_triage && c.reasons.is_empty());
    }

    use super::*;

    fn ids() -> Identifiers {
        Identifiers {
            names: vec!["王小明".into(), "李四".into()],
            phones: vec!["13812345678".into()],
            id_numbers: vec!["41128219800101123X".into()],
            emails: vec!["wxm@example.com".into()],
            addresses: vec!["河南省灵宝市城关镇东关村五组".into()],
        }
    }

    #[test]
    fn what_the_registration_holds_is_masked_inside_the_text() {
        let text = "我是王小明，身份证41128219800101123x，电话13812345678，邮箱wxm@example.com，\
                    住城关镇东关村五组。和李四一起举报村支书把低保名额给了亲戚。请为我保密。";
        let r = redact_text(text, &ids());
        for leaked in [
            "王小明",
            "李四",
            "41128219800101123",
            "13812345678",
            "wxm@",
            "东关村五组",
        ] {
            assert!(!r.contains(leaked), "{leaked} in {r}");
        }
        // The matter itself stays readable.
        assert!(r.contains("举报村支书把低保名额给了亲戚"), "{r}");
        assert!(r.contains(NAME_MASK) && r.contains(ID_MASK) && r.contains(ADDRESS_MASK));
    }

    #[test]
    fn numbers_and_addresses_the_registration_does_not_hold_are_masked_too() {
        let r = redact_text(
            "另一个号码１３９００００１１１１，座机0398-8123456，卡号6222020200112233445，\
             邮件 a.b@qq.com。我叫张三丰，拖欠工资12000元，2026年3月5日。",
            &Identifiers::default(),
        );
        for leaked in [
            "１３９",
            "8123456",
            "6222020200112233445",
            "a.b@qq.com",
            "张三丰",
        ] {
            assert!(!r.contains(leaked), "{leaked} in {r}");
        }
        assert!(r.contains("12000元") && r.contains("2026年3月5日"), "{r}");
    }

    #[test]
    fn only_the_lead_discipline_organ_learns_who_informed() {
        assert!(discloses_informant(false, "rsj", Some("rsj"), "jwjw"));
        assert!(discloses_informant(true, "jwjw", Some("jwjw"), "jwjw"));
        // An assisting 纪委监委 or a competent organ handling a company's wrongdoing: no.
        assert!(!discloses_informant(true, "jwjw", Some("hbj"), "jwjw"));
        assert!(!discloses_informant(true, "hbj", Some("hbj"), "jwjw"));
        assert!(!discloses_informant(true, "gaj", None, "jwjw"));
    }

    #[test]
    fn debug_never_prints_identifiers() {
        assert_eq!(format!("{:?}", ids()), "Identifiers(***)");
    }
}
