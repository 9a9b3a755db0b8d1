//! 县区对比: the city's counties side by side on the KPIs and on 导入法定途径, month by month,
//! each with its rank among them. Ranks are competition ranks (1, 2, 2, 4); a county with no
//! score for a figure (nothing was due) is not ranked on it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::stats::{self, Kpis, Period};

/// The figures compared, how they read in Chinese, and whether more is better.
pub const METRICS: [(&str, &str, bool); 7] = [
    ("timely_acceptance", "及时受理率", true),
    ("on_time_completion", "按期办结率", true),
    ("participation", "参评率", true),
    ("satisfaction", "满意率", true),
    ("repeat_rate", "重复信访率", false),
    ("diverted", "导入法定途径件数", true),
    ("registered", "登记件数", true),
];

/// One county in one month.
#[derive(Debug, Clone, Serialize)]
pub struct CountyMonth {
    pub county: String,
    /// `2026-11`
    pub month: String,
    pub registered: i64,
    pub timely_acceptance: Option<f64>,
    pub on_time_completion: Option<f64>,
    pub participation: Option<f64>,
    pub satisfaction: Option<f64>,
    pub repeat_rate: Option<f64>,
    pub diverted_at_intake: i64,
    pub diverted_after_acceptance: i64,
    /// Rank among the month's counties per metric of [`METRICS`] (absent: no score).
    pub ranks: std::collections::BTreeMap<String, usize>,
}

impl CountyMonth {
    fn from_kpis(county: &str, month: &str, k: &Kpis) -> Self {
        Self {
            county: county.to_owned(),
            month: month.to_owned(),
            registered: k.registered,
            // The bureau's timeliness (D1) and the units' completion (D5/D6).
            timely_acceptance: k.bureau.timely_acceptance.rate.rate,
            on_time_completion: k.unit.on_time_completion.rate.rate,
            participation: k.bureau.participation.rate,
            satisfaction: k.bureau.satisfaction.rate,
            repeat_rate: (k.registered > 0).then(|| k.repeats as f64 / k.registered as f64),
            diverted_at_intake: k.diversions.at_intake,
            diverted_after_acceptance: k.diversions.after_acceptance,
            ranks: Default::default(),
        }
    }

    fn value(&self, metric: &str) -> Option<f64> {
        match metric {
            "timely_acceptance" => self.timely_acceptance,
            "on_time_completion" => self.on_time_completion,
            "participation" => self.participation,
            "satisfaction" => self.satisfaction,
            "repeat_rate" => self.repeat_rate,
            "diverted" => Some((self.diverted_at_intake + self.diverted_after_acceptance) as f64),
            "registered" => Some(self.registered as f64),
            _ => None,
        }
    }
}

/// Competition ranks of `values` (1 = best); `None` values get no rank.
pub fn ranks(values: &[Option<f64>], higher_is_better: bool) -> Vec<Option<usize>> {
    values
        .iter()
        .map(|v| {
            let v = (*v)?;
            let better = values
                .iter()
                .flatten()
                .filter(|o| if higher_is_better { **o > v } else { **o < v })
                .count();
            Some(better + 1)
        })
        .collect()
}

/// The `n` calendar months ending with the one holding `last` (oldest first), as periods.
pub fn months(last: NaiveDate, n: u32) -> Vec<(String, NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut first = last.with_day(1).unwrap_or(last);
    for _ in 0..n {
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        let end = next.pred_opt().unwrap_or(first);
        out.push((first.format("%Y-%m").to_string(), first, end.min(last)));
        first = first
            .checked_sub_months(chrono::Months::new(1))
            .unwrap_or(first);
    }
    out.reverse();
    out
}

/// The comparison of `counties` over `periods`, ranked per month.
pub async fn compare(
    pool: &PgPool,
    counties: &[String],
    periods: &[(String, NaiveDate, NaiveDate)],
    now: DateTime<Utc>,
    basically_satisfied_counts: bool,
) -> sqlx::Result<Vec<CountyMonth>> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
        return Ok(out);
    };
    // One pass over the whole span, grouped by county and month, instead of a KPI computation
    // per cell (84 of them for a year of seven counties).
    let span = Period {
        county: None,
        dept: None,
        from: first.1,
        to: last.2,
        subset: Default::default(),
    };
    let mut cells = stats::compute_grouped(
        pool,
        &span,
        now,
        basically_satisfied_counts,
        stats::Grouping::CountyMonth,
    )
    .await?;
    for (month, from, to) in periods {
        let mut rows = Vec::new();
        for county in counties {
            let key = stats::Cell {
                county: county.clone(),
                month: month.clone(),
            };
            let k = cells.remove(&key).unwrap_or_default().kpis(
                Some(county.clone()),
                None,
                *from,
                *to,
                now,
            );
            rows.push(CountyMonth::from_kpis(county, month, &k));
        }
        for (metric, _, higher) in METRICS {
            let values: Vec<Option<f64>> = rows.iter().map(|r| r.value(metric)).collect();
            for (row, rank) in rows.iter_mut().zip(ranks(&values, higher)) {
                if let Some(r) = rank {
                    row.ranks.insert(metric.to_owned(), r);
                }
            }
        }
        out.extend(rows);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_a_rank_and_no_score_gets_none() {
        let v = [Some(0.9), Some(0.5), Some(0.9), None];
        assert_eq!(ranks(&v, true), [Some(1), Some(3), Some(1), None]);
        assert_eq!(ranks(&v, false), [Some(2), Some(1), Some(2), None]);
    }

    #[test]
    fn months_end_with_the_current_one_and_stop_at_today() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let m = months(today, 3);
        let names: Vec<&str> = m.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["2026-10", "2026-11", "2026-12"]);
        assert_eq!(m[1].1, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(m[1].2, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(m[2].2, today);
        let jan = months(NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(), 2);
        assert_eq!(jan[0].0, "2026-12");
    }
}
