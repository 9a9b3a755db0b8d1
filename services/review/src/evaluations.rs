//! Satisfaction evaluation (满意度评价, Decisions 5): with the query code, once the reply is
//! served and within the configured window, the petitioner rates the bureau (信访部门) and the
//! handling unit (责任单位) separately; 不满意 needs a reason. Emits `case.evaluated`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use xinfang_domain::appeal::check_evaluation;
use xinfang_domain::deadline::CST;
use xinfang_domain::events::{Evaluated, kind};
use xinfang_domain::petition::Rating;
use xinfang_domain::validation::ValidationError;

use crate::appeals::query_code;
use crate::context::Ctx;
use crate::emit::{self, EventRef};
use crate::error::ReviewError;
use crate::store;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationInput {
    pub query_code: String,
    /// 满意 / 基本满意 / 不满意 (or satisfied / basically_satisfied / dissatisfied).
    pub bureau: String,
    pub unit: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReceipt {
    pub case_no: String,
    pub bureau: Rating,
    pub unit: Rating,
    pub department: String,
    pub evaluated_at: DateTime<Utc>,
    pub event: EventRef,
}

fn rating(field: &'static str, raw: &str) -> Result<Rating, ValidationError> {
    Rating::parse(raw.trim()).map_err(|e| ValidationError {
        field: field.into(),
        ..e
    })
}

pub async fn evaluate(
    ctx: &Ctx,
    input: &EvaluationInput,
) -> Result<EvaluationReceipt, ReviewError> {
    let code = query_code(&input.query_code)?;
    let bureau = rating("bureau", &input.bureau)?;
    let unit = rating("unit", &input.unit)?;
    let now = ctx.clock.now();
    let mut tx = ctx.pool.begin().await?;
    let case = store::case_by_query_code(&mut tx, &code)
        .await?
        .ok_or(ReviewError::NotFound("case"))?;
    let already = store::evaluated(&mut tx, &case.case_no).await?;
    let reason = check_evaluation(
        case.served_on,
        already,
        bureau,
        unit,
        input.reason.as_deref(),
        now.with_timezone(&CST),
        &ctx.policy().get(),
    )?;
    let department = case
        .reply_department
        .clone()
        .unwrap_or_else(|| case.department.clone());
    let data = Evaluated {
        case_no: case.case_no.clone(),
        bureau,
        unit,
        department: department.clone(),
        reason: reason.clone(),
        at: now,
    };
    let event = emit::case_event(
        &mut tx,
        &case.home_county,
        kind::EVALUATED,
        &case.case_no,
        now,
        &data,
    )
    .await?;
    let inserted = sqlx::query(
        "insert into evaluations (case_no, bureau, unit, department, reason, evaluated_at, event_id)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (case_no) do nothing",
    )
    .bind(&case.case_no)
    .bind(bureau.as_str())
    .bind(unit.as_str())
    .bind(&department)
    .bind(&reason)
    .bind(now)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Err(xinfang_domain::appeal::EvaluationError::AlreadyEvaluated.into());
    }
    tx.commit().await?;
    metrics::counter!("xf_evaluations_total", "bureau" => bureau.as_str(), "unit" => unit.as_str())
        .increment(1);
    tracing::info!(case_no = %case.case_no, bureau = bureau.as_str(), unit = unit.as_str(), "evaluated");
    Ok(EvaluationReceipt {
        case_no: case.case_no,
        bureau,
        unit,
        department,
        evaluated_at: now,
        event,
    })
}
