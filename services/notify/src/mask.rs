//! Masking of phone numbers and e-mail addresses for logs, traces, alerts and the delivery
//! log's display column. Addresses themselves are only ever stored sealed.

/// `13800138000` → `138****8000`; `+86 138-0013-8000` → `138****8000`; short numbers keep
/// only their last two digits.
pub fn phone(raw: &str) -> String {
    let digits: Vec<char> = raw.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = match digits.len() {
        13 if digits.starts_with(&['8', '6']) => &digits[2..],
        _ => &digits[..],
    };
    let n = digits.len();
    if n >= 7 {
        let head: String = digits[..3].iter().collect();
        let tail: String = digits[n - 4..].iter().collect();
        format!("{head}****{tail}")
    } else if n >= 3 {
        let tail: String = digits[n - 2..].iter().collect();
        format!("****{tail}")
    } else {
        "****".to_owned()
    }
}

/// `zhangsan@example.com` → `z***@example.com`; anything without `@` is masked whole.
pub fn email(raw: &str) -> String {
    match raw.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// Masks an address of either kind (an `@` makes it an e-mail address).
pub fn address(raw: &str) -> String {
    if raw.contains('@') {
        email(raw)
    } else {
        phone(raw)
    }
}

/// Masks every e-mail address and every run of 7 or more digits (phone numbers, ID numbers)
/// inside free text, e.g. a provider's error message that echoes the recipient.
pub fn scrub(text: &str) -> String {
    let words: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    let mut out = String::with_capacity(text.len());
    for w in words {
        let trimmed = w.trim_end();
        let ws = &w[trimmed.len()..];
        if let Some(at) = trimmed.find('@') {
            // Keep surrounding punctuation such as quotes or brackets.
            let start = trimmed[..at]
                .rfind(|c: char| !(c.is_alphanumeric() || "._%+-".contains(c)))
                .map(|i| i + 1)
                .unwrap_or(0);
            let end = trimmed[at..]
                .find(|c: char| !(c.is_alphanumeric() || ".-".contains(c) || c == '@'))
                .map(|i| at + i)
                .unwrap_or(trimmed.len());
            out.push_str(&trimmed[..start]);
            out.push_str(&email(&trimmed[start..end]));
            out.push_str(&scrub_digits(&trimmed[end..]));
        } else {
            out.push_str(&scrub_digits(trimmed));
        }
        out.push_str(ws);
    }
    out
}

fn scrub_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= 7 {
            out.push_str(&phone(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Wraps an address so that formatting it (in `tracing` fields, errors) shows it masked.
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl std::fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&address(self.0))
    }
}

impl std::fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_prefix_and_last_four() {
        assert_eq!(phone("13800138000"), "138****8000");
        assert_eq!(phone("+86 138-0013-8000"), "138****8000");
        assert_eq!(phone("8613800138000"), "138****8000");
        assert_eq!(phone("0398-2812345"), "039****2345");
        assert_eq!(phone("12345"), "****45");
        assert_eq!(phone("1"), "****");
        assert!(!phone("13800138000").contains("0013"));
    }

    #[test]
    fn emails_keep_first_letter_and_domain() {
        assert_eq!(email("zhangsan@example.com"), "z***@example.com");
        assert_eq!(email("张三@例子.中国"), "张***@例子.中国");
        assert_eq!(email("nobody"), "***");
        assert_eq!(email("@example.com"), "***");
        assert_eq!(address("a@b.cn"), "a***@b.cn");
        assert_eq!(address("13800138000"), "138****8000");
        assert_eq!(format!("{}", Masked("13800138000")), "138****8000");
        assert_eq!(format!("{:?}", Masked("li@x.org")), "l***@x.org");
    }

    #[test]
    fn scrub_masks_addresses_inside_text() {
        let s =
            scrub("550 <zhangsan@example.com>: mailbox unavailable; mobile=13800138000, code 404");
        assert!(!s.contains("zhangsan"), "{s}");
        assert!(!s.contains("13800138000"), "{s}");
        assert!(s.contains("z***@example.com"), "{s}");
        assert!(s.contains("138****8000"), "{s}");
        assert!(s.contains("code 404"), "{s}");
        assert!(s.starts_with("550 <"), "{s}");
        assert_eq!(
            scrub("isv.MOBILE_NUMBER_ILLEGAL"),
            "isv.MOBILE_NUMBER_ILLEGAL"
        );
        let id = scrub("身份证411202199001011234有误");
        assert!(!id.contains("199001011234"), "{id}");
    }
}
