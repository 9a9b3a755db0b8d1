//! `GET /kpi`: the KPI dashboard of a month and a county — supervision's `GET /v1/stats`
//! (及时受理率, 按期办结率, 参评率, 满意率, repeats) and the month's registrations by type,
//! department and county counted from intake's `GET /v1/cases.csv` — drawn as SVG bars.
//! `GET /kpi.csv` exports the same numbers.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use xinfang_domain::classify::Departments;

use super::county_param;
use crate::backend::{Service, enc};
use crate::chart;
use crate::pages::PageError;
use crate::pages::template_value;
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Session, Staff};
use crate::state::AppState;

const ROLES: [ConsoleRole; 3] = [
    ConsoleRole::Supervisor,
    ConsoleRole::Leader,
    ConsoleRole::Operator,
];

#[derive(Debug, Default, Deserialize)]
pub struct KpiQuery {
    month: Option<String>,
    county: Option<String>,
}

/// The month and county asked for, checked; a county-level user is held to the own county.
struct Selection {
    month: NaiveDate,
    county: Option<String>,
}

impl Selection {
    fn from(q: &KpiQuery, s: &Session) -> Self {
        let this_month = chrono::Utc::now()
            .with_timezone(&xinfang_domain::deadline::CST)
            .date_naive()
            .with_day(1);
        let month = q
            .month
            .as_deref()
            .and_then(|m| NaiveDate::parse_from_str(&format!("{}-01", m.trim()), "%Y-%m-%d").ok())
            .or(this_month)
            .unwrap_or_default();
        // Supervision's stats without a county cover every served county, so a county's user
        // always names its own.
        let county = if s.scope.is_city() {
            county_param(q.county.as_deref())
        } else {
            Some(s.scope.to_string())
        };
        Self { month, county }
    }

    fn last_day(&self) -> NaiveDate {
        let next = if self.month.month() == 12 {
            NaiveDate::from_ymd_opt(self.month.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.month.year(), self.month.month() + 1, 1)
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(self.month)
    }

    fn month_str(&self) -> String {
        self.month.format("%Y-%m").to_string()
    }
}

/// One rate: numerator, denominator, percent (none when nothing was due: 0/0 is no score).
#[derive(Debug, Serialize)]
struct RateRow {
    section: &'static str,
    name: &'static str,
    numerator: i64,
    denominator: i64,
    percent: Option<f64>,
    /// `75.0%`, or empty when there is no score.
    shown: String,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    registered: i64,
    repeats: i64,
    bureau_overdue_now: i64,
    unit_overdue_now: i64,
    average_handling_days: Option<f64>,
    average_days_shown: String,
    rates: Vec<RateRow>,
    by_type: Vec<(String, f64)>,
    by_dept: Vec<(String, f64)>,
    by_county: Vec<(String, f64)>,
    /// Intake's list could not be read: volumes unknown.
    volumes_missing: bool,
}

fn rate(section: &'static str, name: &'static str, v: &Value) -> RateRow {
    rate_row(
        section,
        name,
        v["numerator"].as_i64().unwrap_or(0),
        v["denominator"].as_i64().unwrap_or(0),
        v["rate"].as_f64().map(|r| r * 100.0),
    )
}

fn rate_row(
    section: &'static str,
    name: &'static str,
    numerator: i64,
    denominator: i64,
    percent: Option<f64>,
) -> RateRow {
    RateRow {
        section,
        name,
        numerator,
        denominator,
        percent,
        shown: percent.map(|p| format!("{p:.1}%")).unwrap_or_default(),
    }
}

async fn report(state: &AppState, s: &Session, sel: &Selection) -> Result<Report, PageError> {
    let county = sel
        .county
        .as_ref()
        .map(|c| format!("&county={}", enc(c)))
        .unwrap_or_default();
    let stats_path = format!("/v1/stats?from={}&to={}{county}", sel.month, sel.last_day());
    // Registered in the month, Beijing time: from its first instant to the next month's.
    let next = sel.last_day().succ_opt().unwrap_or(sel.month);
    let csv_path = format!(
        "/v1/cases.csv?from={}&to={}{county}",
        enc(&format!("{}T00:00:00+08:00", sel.month)),
        enc(&format!("{next}T00:00:00+08:00")),
    );
    let b = &state.backend;
    let token = Some(s.token.as_str());
    let (stats, cases) = tokio::join!(
        b.get(Service::Supervision, &stats_path, token),
        b.get_text(Service::Intake, &csv_path, token),
    );
    let k = stats?;
    let mut r = Report {
        registered: k["registered"].as_i64().unwrap_or(0),
        repeats: k["repeats"].as_i64().unwrap_or(0),
        bureau_overdue_now: k["bureau"]["overdue_now"].as_i64().unwrap_or(0),
        unit_overdue_now: k["unit"]["overdue_now"].as_i64().unwrap_or(0),
        average_handling_days: k["unit"]["average_handling_days"].as_f64(),
        ..Default::default()
    };
    r.average_days_shown = r
        .average_handling_days
        .map(|d| format!("{d:.1}"))
        .unwrap_or_default();
    let (b, u) = (&k["bureau"], &k["unit"]);
    r.rates = vec![
        rate("信访部门", "及时受理率", &b["timely_acceptance"]["rate"]),
        rate("责任单位", "及时受理率", &u["timely_acceptance"]["rate"]),
        rate("责任单位", "按期办结率", &u["on_time_completion"]["rate"]),
        rate("信访部门", "参评率", &b["participation"]),
        rate("责任单位", "参评率", &u["participation"]),
        rate("信访部门", "满意率", &b["satisfaction"]),
        rate("责任单位", "满意率", &u["satisfaction"]),
    ];
    let registered = r.registered;
    r.rates.push(rate_row(
        "信访部门",
        "重复信访率",
        r.repeats,
        registered,
        (registered > 0).then(|| r.repeats as f64 * 100.0 / registered as f64),
    ));
    match cases {
        Ok(text) => count_volumes(&text, &mut r),
        Err(e) => {
            tracing::warn!(status = e.status, "kpi: intake's case list unavailable");
            r.volumes_missing = true;
        }
    }
    Ok(r)
}

/// Registrations by type, department and county, from intake's CSV (one row per case).
fn count_volumes(text: &str, r: &mut Report) {
    let departments = Departments::embedded();
    let mut by_type: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_dept: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_county: BTreeMap<String, f64> = BTreeMap::new();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let Ok(headers) = rd.headers().cloned() else {
        r.volumes_missing = true;
        return;
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(t), Some(d), Some(c)) = (col("petition_type"), col("department"), col("county"))
    else {
        r.volumes_missing = true;
        return;
    };
    for rec in rd.records().flatten() {
        let ty = crate::words::petition_type_zh(rec.get(t).unwrap_or_default());
        *by_type.entry(ty).or_default() += 1.0;
        let code = rec.get(d).unwrap_or_default();
        let dept = if code.is_empty() {
            "未分配".to_owned()
        } else {
            departments.name_of(code).unwrap_or(code).to_owned()
        };
        *by_dept.entry(dept).or_default() += 1.0;
        *by_county
            .entry(rec.get(c).unwrap_or_default().to_owned())
            .or_default() += 1.0;
    }
    let sorted = |m: BTreeMap<String, f64>| {
        let mut v: Vec<(String, f64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    r.by_type = sorted(by_type);
    r.by_dept = sorted(by_dept);
    r.by_county = sorted(by_county);
}

pub async fn kpi(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<KpiQuery>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let sel = Selection::from(&q, &s);
    let r = report(&state, &s, &sel).await?;
    let rated: Vec<(String, f64)> = r
        .rates
        .iter()
        .filter_map(|x| Some((format!("{}（{}）", x.name, x.section), x.percent?)))
        .collect();
    let charts = [
        chart::bars("考核指标", &rated, "%"),
        chart::bars("登记件数（按类型）", &r.by_type, "件"),
        chart::bars("登记件数（按承办单位）", &r.by_dept, "件"),
    ];
    // By name on the page; the selector's values and the CSV keep the codes.
    let by_county_named: Vec<(String, f64)> = r
        .by_county
        .iter()
        .map(|(c, n)| (state.names.county(c), *n))
        .collect();
    let county_chart = (by_county_named.len() > 1)
        .then(|| chart::bars("登记件数（按县市区）", &by_county_named, "件"));
    let csv_query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("month", &sel.month_str())
        .append_pair("county", sel.county.as_deref().unwrap_or_default())
        .finish();
    let page = state.templates.page(
        "kpi.html",
        Some(&s),
        &csrf,
        context! {
            month => sel.month_str(),
            from => sel.month.to_string(),
            to => sel.last_day().to_string(),
            county => sel.county.clone().unwrap_or_default(),
            choose_county => s.scope.is_city(),
            counties => r.by_county.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
            report => template_value(&r),
            charts => charts.to_vec(),
            county_chart => county_chart,
            csv_query => csv_query,
        },
    )?;
    Ok(page.into_response())
}

pub async fn csv(
    State(state): State<AppState>,
    Staff(s): Staff,
    Query(q): Query<KpiQuery>,
) -> Result<Response, PageError> {
    s.require(&ROLES)?;
    let sel = Selection::from(&q, &s);
    let r = report(&state, &s, &sel).await?;
    let body = to_csv(&r).map_err(|e| {
        tracing::error!(error = %e, "kpi csv not written");
        PageError::Internal
    })?;
    let name = format!(
        "kpi-{}-{}.csv",
        sel.county.as_deref().unwrap_or(s.scope.as_str()),
        sel.month_str()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The dashboard's numbers, one per line. A byte-order mark first: spreadsheet programs in
/// Chinese locales read UTF-8 only with it.
fn to_csv(r: &Report) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    w.write_record(["指标类别", "指标", "分子", "分母", "数值"])?;
    for x in &r.rates {
        w.write_record([
            x.section,
            x.name,
            &x.numerator.to_string(),
            &x.denominator.to_string(),
            &x.shown,
        ])?;
    }
    for (name, v) in [
        ("登记件数", Some(r.registered as f64)),
        ("重复件", Some(r.repeats as f64)),
        ("信访部门超期未办", Some(r.bureau_overdue_now as f64)),
        ("责任单位超期未办", Some(r.unit_overdue_now as f64)),
        ("平均办理天数", r.average_handling_days),
    ] {
        let shown = v.map(|v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        });
        w.write_record(["总量", name, "", "", &shown.unwrap_or_default()])?;
    }
    for (section, rows) in [
        ("按类型", &r.by_type),
        ("按承办单位", &r.by_dept),
        ("按县（市、区）", &r.by_county),
    ] {
        for (label, n) in rows {
            w.write_record([section, label, "", "", &format!("{n:.0}")])?;
        }
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_counted_from_intake_csv_and_exported() {
        let mut r = Report::default();
        count_volumes(
            "case_no,county,channel,petition_type,department,status\n\
             XF-1,411282,letter,grievance,rsj,accepted\n\
             XF-2,411282,visit,grievance,,registered\n\
             XF-3,411202,online,suggestion,rsj,replied\n",
            &mut r,
        );
        assert_eq!(
            r.by_type,
            vec![("申诉求决".to_owned(), 2.0), ("建议意见".to_owned(), 1.0)]
        );
        assert_eq!(r.by_dept[0], ("人社局".to_owned(), 2.0));
        assert!(r.by_dept.contains(&("未分配".to_owned(), 1.0)));
        assert_eq!(r.by_county.len(), 2);
        r.rates.push(rate(
            "责任单位",
            "按期办结率",
            &serde_json::json!({"numerator": 3, "denominator": 4, "rate": 0.75}),
        ));
        let out = String::from_utf8(to_csv(&r).unwrap()).unwrap();
        let mut lines = out.trim_start_matches('\u{feff}').lines();
        assert_eq!(lines.next(), Some("指标类别,指标,分子,分母,数值"));
        assert!(out.contains("责任单位,按期办结率,3,4,75.0%"), "{out}");
        assert!(out.contains("按类型,申诉求决,,,2"), "{out}");
    }

    #[test]
    fn months_end_on_their_last_day() {
        let sel = Selection {
            month: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            county: None,
        };
        assert_eq!(sel.last_day().to_string(), "2026-02-28");
        let dec = Selection {
            month: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            county: None,
        };
        assert_eq!(dec.last_day().to_string(), "2026-12-31");
    }
}
