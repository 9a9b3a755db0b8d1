//! The county comparison computes a year of KPIs for every county and month in one grouped
//! pass (`stats::compute_grouped`); each of its cells must equal the KPIs computed for that
//! county and month alone (`stats::compute`, what `GET /v1/stats` answers), on a year of
//! synthetic history with every kind of fact (the `xinfang bench stats` generator).

mod common;

use chrono::{TimeDelta, Utc};
use common::Harness;
use xinfang_supervision::bench_stats::{Shape, load_history};
use xinfang_supervision::comparison::{compare, months};
use xinfang_supervision::stats::{Period, compute};

#[tokio::test]
async fn every_cell_of_the_comparison_equals_the_kpis_of_its_county_and_month() {
    let h = Harness::start("").await;
    let pool = h.pool();
    let now = Utc::now();
    let counties = vec![h.env.city.to_string(), h.county().to_string()];
    let shape = Shape {
        n: 6000,
        counties: counties.clone(),
        departments: vec!["rsj".into(), "zjj".into(), "gaj".into()],
        start: now - TimeDelta::days(365),
        end: now,
    };
    let (cases, deadlines) = load_history(pool, &shape).await.expect("history loads");
    assert_eq!(cases, 6000);
    assert!(deadlines > cases, "{deadlines}");

    let today = (now + TimeDelta::hours(8)).date_naive();
    let periods = months(today, 12);
    let rows = compare(pool, &counties, &periods, now, true)
        .await
        .expect("comparison");
    assert_eq!(rows.len(), 12 * counties.len());
    let mut busy_cells = 0;
    for row in &rows {
        let (_, from, to) = periods
            .iter()
            .find(|(m, _, _)| *m == row.month)
            .expect("a month of the comparison");
        let p = Period {
            county: Some(row.county.clone()),
            dept: None,
            from: *from,
            to: *to,
            subset: Default::default(),
        };
        let k = compute(pool, &p, now, true).await.expect("kpis");
        let cell = format!("{} {}", row.county, row.month);
        assert_eq!(row.registered, k.registered, "{cell}");
        assert_eq!(
            row.timely_acceptance, k.bureau.timely_acceptance.rate.rate,
            "{cell}"
        );
        assert_eq!(
            row.on_time_completion, k.unit.on_time_completion.rate.rate,
            "{cell}"
        );
        assert_eq!(row.participation, k.bureau.participation.rate, "{cell}");
        assert_eq!(row.satisfaction, k.bureau.satisfaction.rate, "{cell}");
        assert_eq!(
            (row.diverted_at_intake, row.diverted_after_acceptance),
            (k.diversions.at_intake, k.diversions.after_acceptance),
            "{cell}"
        );
        if k.registered > 0 && k.diversions.at_intake > 0 && k.bureau.satisfaction.rate.is_some() {
            busy_cells += 1;
        }
    }
    assert!(
        busy_cells >= 20,
        "the history fills most cells with every kind of fact: {busy_cells}"
    );
}
