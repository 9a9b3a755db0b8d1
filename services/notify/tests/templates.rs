//! The shipped templates (config/templates): every notice renders on every channel, uses only
//! declared variables, and every SMS stays within the segment limit even with long reasons.

use std::path::PathBuf;

use xinfang_notify::notice::{Audience, Channel, Notice, Var};
use xinfang_notify::templates::{SmsLimits, Templates, sms_segments, template_name};

fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/templates"
    ))
}

fn load() -> Templates {
    Templates::load(&dir(), SmsLimits::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_notice_renders_on_every_channel() {
    let t = load();
    let report = t.check().unwrap();
    assert_eq!(report.templates, Notice::ALL.len() * 2);
    for n in Notice::ALL {
        let vars = n.sample();
        let sms = t.render(*n, Channel::Sms, &vars).unwrap();
        assert!(!sms.truncated, "{n}: {}", sms.body);
        assert!(sms.segments <= 3, "{n}: {} segments", sms.segments);
        assert!(
            sms.body.contains("XF-411202-2026-000123"),
            "{n} sms names the case: {}",
            sms.body
        );
        assert!(!sms.body.contains('\n'), "{n}: SMS is one line");
        assert!(
            !sms.body.contains("{{") && !sms.body.contains("{%"),
            "{n}: {}",
            sms.body
        );
        let mail = t.render(*n, Channel::Email, &vars).unwrap();
        let subject = mail.subject.clone().unwrap();
        assert!(
            subject.contains("XF-411202-2026-000123"),
            "{n} subject: {subject}"
        );
        assert!(
            mail.body.contains("XF-411202-2026-000123"),
            "{n} email body"
        );
        assert!(!mail.body.contains("{{"), "{n}: {}", mail.body);
        println!(
            "--- {n} ({} SMS segments)\n{}\n{subject}\n{}",
            sms.segments, sms.body, mail.body
        );
    }
}

#[test]
fn notices_show_what_they_must() {
    let t = load();
    let sms = |n: Notice| t.render(n, Channel::Sms, &n.sample()).unwrap().body;
    assert!(
        sms(Notice::Receipt).contains("7Q4K9M2X"),
        "receipt has the query code"
    );
    assert!(
        sms(Notice::Diverted).contains("劳动人事争议仲裁"),
        "diversion names the channel"
    );
    assert!(
        sms(Notice::Diverted).contains("仲裁委员会"),
        "and the organ"
    );
    assert!(
        sms(Notice::NotAccepted).contains("理由"),
        "refusal gives the reason"
    );
    assert!(
        sms(Notice::NotAccepted).contains("立案庭"),
        "and where to go"
    );
    assert!(
        sms(Notice::Extended).contains("30日"),
        "extension says how long"
    );
    assert!(sms(Notice::Extended).contains("经核查"), "and why");
    assert!(
        sms(Notice::Replied).contains("申请复查"),
        "an appealable reply names the review"
    );
    assert!(sms(Notice::ReviewDecided).contains("复核"));
    assert!(sms(Notice::Evaluation).contains("评价"));
    assert!(sms(Notice::Supervision).contains("文书督办"));
    let mut not_appealable = Notice::Replied.sample();
    not_appealable.insert("appealable".into(), Var::Bool(false));
    let body = t
        .render(Notice::Replied, Channel::Sms, &not_appealable)
        .unwrap()
        .body;
    assert!(!body.contains("复查"), "{body}");
}

/// Issue #20: a decision that revoked or changed the opinion offers no 复核 (nor announces the
/// end of the matter); it says the matter went back, and that the new opinion may be reviewed.
#[test]
fn a_decision_that_sent_the_matter_back_offers_no_rereview() {
    let t = load();
    for n in [Notice::ReviewDecided, Notice::RereviewDecided] {
        let mut vars = n.sample();
        vars.insert("sent_back".into(), Var::Bool(true));
        for c in Channel::ALL {
            let body = t.render(n, c, &vars).unwrap().body;
            assert!(body.contains("发回原办理机关重新办理"), "{n} {c}: {body}");
            assert!(
                !body.contains("申请复核") && !body.contains("请求复核"),
                "{n} {c}: {body}"
            );
            assert!(!body.contains("不再受理"), "{n} {c}: {body}");
        }
    }
    let body = t
        .render(
            Notice::RereviewDecided,
            Channel::Sms,
            &Notice::RereviewDecided.sample(),
        )
        .unwrap()
        .body;
    assert!(body.contains("不再受理"), "{body}");
}

#[test]
fn long_free_text_still_fits_the_sms_limit() {
    let t = load();
    for n in Notice::ALL {
        let mut vars = n.sample();
        for (k, v) in vars.iter_mut() {
            if let Var::Text(s) = v
                && !["case_no", "query_code", "bureau"].contains(&k.as_str())
            {
                *s = "很长的内容".repeat(40);
            }
        }
        let r = t.render(*n, Channel::Sms, &vars).unwrap();
        assert!(
            sms_segments(&r.body, SmsLimits::default().reserve_chars) <= 3,
            "{n}: {}",
            r.body
        );
        if n.audience() == Audience::Petitioner {
            assert!(
                r.body.contains("XF-411202-2026-000123"),
                "{n}: the case number survives: {}",
                r.body
            );
        }
    }
}

#[test]
fn a_template_using_an_undeclared_variable_fails_the_startup_check() {
    let tmp = std::env::temp_dir().join(format!("xf-notify-tmpl-{}", uuid::Uuid::now_v7()));
    for n in Notice::ALL {
        for c in Channel::ALL {
            let name = template_name(*n, c);
            let src = std::fs::read_to_string(dir().join(&name)).unwrap();
            let path = tmp.join(&name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let src = if *n == Notice::Warning && c == Channel::Sms {
                format!("{src}{{{{ petitioner_mobile }}}}")
            } else {
                src
            };
            std::fs::write(path, src).unwrap();
        }
    }
    let err = Templates::load(&tmp, SmsLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sms/warning.txt.j2") && err.contains("petitioner_mobile"),
        "{err}"
    );
    std::fs::remove_file(tmp.join("email/terminated.txt.j2")).unwrap();
    let err = Templates::load(&tmp, SmsLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("email/terminated.txt.j2"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
