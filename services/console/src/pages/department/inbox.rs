//! `GET /dept`: the cases intake lists for the signed-in department (a department token
//! lists only its own cases), each with its nearest running deadline from supervision.

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::deadlines::{self, Clock};
use crate::backend::Service;
use crate::pages::PageError;
use crate::pages::template_value;
use crate::role::ConsoleRole;
use crate::session::{CsrfToken, Staff};
use crate::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    page: Option<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    case_no: String,
    status: String,
    petition_type: String,
    registered_at: String,
    overdue: bool,
    /// The nearest running deadline this department owes.
    next: Option<Clock>,
    /// Further running deadlines of the department.
    more: usize,
    /// Supervision could not say (not yet informed of the case, or unavailable).
    unknown: bool,
}

pub async fn inbox(
    State(state): State<AppState>,
    Staff(s): Staff,
    csrf: CsrfToken,
    Query(q): Query<InboxQuery>,
) -> Result<Html<String>, PageError> {
    s.require(&[ConsoleRole::Department, ConsoleRole::Operator])?;
    let page = q
        .page
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let list = state
        .backend
        .get(
            Service::Intake,
            &format!("/v1/cases?per_page={PER_PAGE}&page={page}"),
            Some(&s.token),
        )
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let case_nos: Vec<String> = items
        .iter()
        .filter_map(|c| c["case_no"].as_str().map(str::to_owned))
        .collect();
    let mut clocks = deadlines::of_listed_cases(&state, &s.token, &case_nos).await;
    let mut rows: Vec<Row> = items
        .iter()
        .filter_map(|c| {
            let case_no = c["case_no"].as_str()?.to_owned();
            let (mine, unknown) = match clocks.remove(&case_no) {
                Some(Ok(all)) => (
                    all.into_iter()
                        .filter(|k| match &s.department {
                            Some(d) => k.dept_code.as_deref() == Some(d.as_str()),
                            // An operator sees every organ's duties.
                            None => k.duty,
                        })
                        .collect::<Vec<_>>(),
                    false,
                ),
                _ => (Vec::new(), true),
            };
            let more = mine.len().saturating_sub(1);
            Some(Row {
                status: c["status"].as_str().unwrap_or_default().to_owned(),
                petition_type: c["petition_type"].as_str().unwrap_or_default().to_owned(),
                registered_at: c["registered_at"].as_str().unwrap_or_default().to_owned(),
                overdue: c["overdue"].as_bool().unwrap_or(false),
                next: mine.into_iter().next(),
                more,
                unknown,
                case_no,
            })
        })
        .collect();
    // What is due first comes first; cases with nothing running keep intake's order.
    rows.sort_by(|a, b| match (&a.next, &b.next) {
        (Some(x), Some(y)) => x.due_at.cmp(&y.due_at),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let total = list["total"].as_i64().unwrap_or(0);
    state.templates.page(
        "dept_inbox.html",
        Some(&s),
        &csrf,
        context! {
            live => true,
            rows => template_value(&rows),
            total => total,
            page => page,
            prev_page => (page > 1).then_some(page - 1),
            next_page => (page * PER_PAGE < total).then_some(page + 1),
            soon_days => deadlines::SOON_DAYS,
        },
    )
}
