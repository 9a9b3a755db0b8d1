//! `GET /compare`: 县区对比 — the counties in the user's scope side by side, month by month, on
//! the KPIs and on 导入法定途径, each with its rank (supervision's
//! `GET /v1/stats/comparison`). For the city's supervisors and leaders; a county's user sees
//! its own county's months.

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{Service, enc};
use crate::chart;
use crate::pages::{PageError, template_value};
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Staff};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    to: Option<String>,
    months: Option<String>,
    metric: Option<String>,
}

/// One county's row for the chosen metric: its value and rank in each month.
#[derive(Debug, Serialize)]
struct MetricRow {
    county: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct Cell {
    shown: String,
    rank: Option<u64>,
}

/// How a figure reads: rates as percentages, counts as numbers, no score as "—".
fn shown(v: &Value, metric: &str) -> (String, Option<f64>) {
    let x = match metric {
        "diverted" => Some(
            v["diverted_at_intake"].as_f64().unwrap_or(0.0)
                + v["diverted_after_acceptance"].as_f64().unwrap_or(0.0),
        ),
        m => v[m].as_f64(),
    };
    match (metric, x) {
        (_, None) => ("—".to_owned(), None),
        ("diverted" | "registered", Some(n)) => (format!("{n:.0}"), Some(n)),
        (_, Some(r)) => (format!("{:.1}%", r * 100.0), Some(r * 100.0)),
    }
}

pub async fn compare(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<CompareQuery>,
) -> Result<Html<String>, PageError> {
    s.require(&[
        ConsoleRole::Supervisor,
        ConsoleRole::Leader,
        ConsoleRole::Operator,
    ])?;
    let months = q
        .months
        .as_deref()
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| (1..=12).contains(m))
        .unwrap_or(6);
    let mut path = format!("/v1/stats/comparison?months={months}");
    let to =
        q.to.as_deref()
            .map(str::trim)
            .filter(|t| t.len() == 7 && t.as_bytes()[4] == b'-')
            .map(str::to_owned);
    if let Some(t) = &to {
        path += &format!("&to={}", enc(t));
    }
    let v = state
        .backend
        .get(Service::Supervision, &path, Some(&s.token))
        .await?;
    let metrics: Vec<(String, String, bool)> = v["metrics"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            Some((
                m["key"].as_str()?.to_owned(),
                m["name"].as_str()?.to_owned(),
                m["higher_is_better"].as_bool().unwrap_or(true),
            ))
        })
        .collect();
    let metric = q
        .metric
        .as_deref()
        .filter(|m| metrics.iter().any(|(k, _, _)| k == m))
        .unwrap_or("timely_acceptance")
        .to_owned();
    let month_names: Vec<String> = v["months"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    let counties: Vec<String> = v["counties"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    let find = |county: &str, month: &str| {
        rows.iter()
            .find(|r| r["county"] == county && r["month"] == month)
    };
    // The chosen metric, county by month.
    let mut by_month: Vec<MetricRow> = counties
        .iter()
        .map(|c| MetricRow {
            county: c.clone(),
            cells: month_names
                .iter()
                .map(|m| match find(c, m) {
                    Some(r) => Cell {
                        shown: shown(r, &metric).0,
                        rank: r["ranks"][&metric].as_u64(),
                    },
                    None => Cell {
                        shown: "—".into(),
                        rank: None,
                    },
                })
                .collect(),
        })
        .collect();
    // Best first in the last month.
    by_month.sort_by_key(|r| r.cells.last().and_then(|c| c.rank).unwrap_or(u64::MAX));
    // The last month on every metric.
    let last = month_names.last().cloned().unwrap_or_default();
    let latest: Vec<Value> = by_month
        .iter()
        .filter_map(|r| find(&r.county, &last))
        .map(|r| {
            let figures: Vec<Value> = metrics
                .iter()
                .map(|(k, _, _)| serde_json::json!({"shown": shown(r, k).0, "rank": r["ranks"][k]}))
                .collect();
            serde_json::json!({"county": r["county"], "figures": figures})
        })
        .collect();
    let name = metrics
        .iter()
        .find(|(k, _, _)| *k == metric)
        .map(|(_, n, _)| n.clone())
        .unwrap_or_default();
    let unit = if matches!(metric.as_str(), "diverted" | "registered") {
        "件"
    } else {
        "%"
    };
    let bars: Vec<(String, f64)> = by_month
        .iter()
        .filter_map(|r| {
            let row = find(&r.county, &last)?;
            Some((r.county.clone(), shown(row, &metric).1?))
        })
        .collect();
    let chart = chart::bars(&format!("{last} {name}"), &bars, unit);
    let page = state.templates.page(
        "compare.html",
        Some(&s),
        &csrf,
        context! {
            months => month_names,
            n_months => months,
            to => to.unwrap_or_default(),
            metric => metric,
            metric_name => name,
            metrics => template_value(&metrics),
            by_month => template_value(&by_month),
            latest => template_value(&latest),
            last => last,
            chart => chart,
        },
    )?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_percentages_counts_as_numbers_and_no_score_as_a_dash() {
        let v = serde_json::json!({"timely_acceptance": 0.875, "registered": 12,
            "diverted_at_intake": 2, "diverted_after_acceptance": 1, "satisfaction": null});
        assert_eq!(shown(&v, "timely_acceptance").0, "87.5%");
        assert_eq!(shown(&v, "registered").0, "12");
        assert_eq!(shown(&v, "diverted").0, "3");
        assert_eq!(shown(&v, "satisfaction").0, "—");
    }
}
