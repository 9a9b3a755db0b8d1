//! The KPIs read whole past months from monthly rollups kept by triggers (migration 0012); they
//! must equal the KPIs counted from the rows, for any period, county and department, before the
//! deltas are folded, after, and after the rows change (late replies, ratings, transfers,
//! deadlines met or withdrawn, rows deleted) — on two years of synthetic history.

mod common;

use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use common::Harness;
use xinfang_supervision::bench_stats::{Shape, load_history};
use xinfang_supervision::stats::{self, Counting, Period, compute_counted};

/// The periods a dashboard asks for: calendar years, this year to date, ragged ranges, single
/// months, a day; for the city, a county, a department, and both.
fn periods(today: NaiveDate, county: &str) -> Vec<Period> {
    let y = today.year();
    let d = |y: i32, m: u32, day: u32| NaiveDate::from_ymd_opt(y, m, day).expect("date");
    let ranges = [
        (d(y - 1, 1, 1), d(y - 1, 12, 31)),
        (d(y, 1, 1), today),
        (d(y - 2, 11, 17), d(y - 1, 3, 9)),
        (d(y - 1, 6, 1), d(y - 1, 6, 30)),
        (d(y - 1, 2, 1), d(y - 1, 2, 14)),
        (today - TimeDelta::days(400), today),
        (today, today),
    ];
    let mut out = Vec::new();
    for (from, to) in ranges {
        for (county, dept) in [
            (None, None),
            (Some(county), None),
            (None, Some("rsj")),
            (Some(county), Some("zjj")),
        ] {
            out.push(Period {
                county: county.map(str::to_owned),
                dept: dept.map(str::to_owned),
                from,
                to,
                subset: Default::default(),
            });
        }
    }
    out
}

async fn assert_rollups_equal_rows(pool: &sqlx::PgPool, counties: &[String], when: &str) {
    let now = Utc::now();
    let today = (now + TimeDelta::hours(8)).date_naive();
    let mut with_cases = 0;
    for p in periods(today, &counties[1]) {
        let rolled = compute_counted(pool, &p, now, true, Counting::Rollups)
            .await
            .expect("kpis from the rollups");
        let rows = compute_counted(pool, &p, now, true, Counting::Rows)
            .await
            .expect("kpis from the rows");
        assert_eq!(
            rolled, rows,
            "{when}: {:?} {:?} {}..{}",
            p.county, p.dept, p.from, p.to
        );
        let strict = compute_counted(pool, &p, now, false, Counting::Rollups)
            .await
            .expect("kpis, 基本满意 not counted");
        let strict_rows = compute_counted(pool, &p, now, false, Counting::Rows)
            .await
            .expect("kpis from the rows");
        assert_eq!(strict, strict_rows, "{when}: strict satisfaction");
        if rows.registered > 0 && !rows.deadlines.is_empty() {
            with_cases += 1;
        }
    }
    assert!(
        with_cases >= 12,
        "{when}: the periods hold cases: {with_cases}"
    );
    // The county comparison's table (county × month) against the rows, month by month.
    let periods = xinfang_supervision::comparison::months(today, 12);
    let table = xinfang_supervision::comparison::compare(pool, counties, &periods, now, true)
        .await
        .expect("comparison");
    for row in table {
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
        let k = compute_counted(pool, &p, now, true, Counting::Rows)
            .await
            .expect("kpis");
        assert_eq!(
            row.registered, k.registered,
            "{when}: {} {}",
            row.county, row.month
        );
        assert_eq!(
            row.timely_acceptance, k.bureau.timely_acceptance.rate.rate,
            "{when}: {} {}",
            row.county, row.month
        );
        assert_eq!(row.satisfaction, k.bureau.satisfaction.rate, "{when}");
    }
}

/// Deltas written and not yet folded.
async fn pending_deltas(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from kpi_deltas")
        .fetch_one(pool)
        .await
        .expect("deltas")
}

/// Folds until no delta is left, waiting while the service's own compactor holds the lock
/// (it may be mid-round: "busy" is not "empty").
async fn fold_everything(pool: &sqlx::PgPool, limit: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match stats::rollup::compact(pool, limit).await.expect("fold") {
            Some(0) => return,
            Some(_) => {}
            None => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the compactor lock was never free"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn rolled_up_months_equal_the_rows_before_and_after_folding_and_after_changes() {
    let h = Harness::start("").await;
    let pool = h.pool();
    let now = Utc::now();
    let counties = vec![h.env.city.to_string(), h.county().to_string()];
    let shape = Shape {
        n: 5000,
        counties: counties.clone(),
        departments: vec!["rsj".into(), "zjj".into(), "gaj".into()],
        start: now - TimeDelta::days(2 * 365),
        end: now,
    };
    load_history(pool, &shape).await.expect("history loads");

    // The load's deltas may or may not have been folded by the service's compactor yet.
    assert_rollups_equal_rows(pool, &counties, "after the load").await;
    fold_everything(pool, 10_000).await;
    let pending = pending_deltas(pool).await;
    assert_eq!(pending, 0, "everything folded");
    assert_rollups_equal_rows(pool, &counties, "folded").await;

    // Facts arrive late and rows move: replies and ratings, transfers, a reopened disposal,
    // deadlines met, missed and withdrawn, rows deleted.
    let changes = [
        "update cases set replied_at = coalesce(replied_at, accepted_at + interval '20 days'),
                served_on = coalesce(served_on, (accepted_at + interval '21 days')::date),
                bureau_rating = 'basically_satisfied'
         where accepted_at is not null and case_no in (select case_no from cases order by case_no limit 400)",
        "update cases set department = case department when 'rsj' then 'zjj' else 'rsj' end
         where case_no in (select case_no from cases order by case_no desc limit 300)",
        "update cases set disposed_at = null
         where case_no in (select case_no from cases order by registered_at limit 150)",
        "update cases set is_repeat = not is_repeat, unit_rating = 'unsatisfied'
         where case_no in (select case_no from cases order by d1_due limit 200)",
        "update deadlines set state = 'met', closed_at = due_at - interval '1 hour'
         where id in (select id from deadlines where state in ('pending', 'fired') order by id limit 500)",
        "update deadlines set state = 'withdrawn'
         where id in (select id from deadlines where state = 'met' order by id desc limit 200)",
        "update deadlines set trigger_at = trigger_at - interval '40 days'
         where id in (select id from deadlines order by due_at limit 100)",
        "delete from deadlines where id in (select id from deadlines order by trigger_at desc limit 100)",
        "delete from cases where case_no in (select case_no from cases order by replied_at limit 50)",
    ];
    for sql in changes {
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected();
        assert!(n > 0, "{sql} changed nothing");
    }
    assert_rollups_equal_rows(pool, &counties, "changed, not folded").await;
    fold_everything(pool, 777).await;
    assert_rollups_equal_rows(pool, &counties, "changed and folded").await;

    // What the triggers kept is what a rebuild from the tables computes.
    let rollups = async || -> Vec<(NaiveDate, String, String, String, i64, f64)> {
        sqlx::query_as(
            "select month, county, department, fact, n, days from kpi_months where n <> 0
             order by 1, 2, 3, 4",
        )
        .fetch_all(pool)
        .await
        .expect("rollups")
    };
    let kept = rollups().await;
    stats::rollup::rebuild(pool).await.expect("rebuild");
    let rebuilt = rollups().await;
    assert!(kept.len() > 500, "{}", kept.len());
    assert_eq!(kept, rebuilt);
}

#[tokio::test]
async fn a_compactor_that_finds_another_folding_says_so_instead_of_nothing_left() {
    let h = Harness::start("").await;
    let pool = h.pool();
    let county = h.county().to_string();
    // Another compactor's round: it holds the lock (after the service's own round, if one is
    // under way), so the delta written next stays unfolded until it lets go.
    let mut other = pool.begin().await.expect("tx");
    sqlx::query("select pg_advisory_xact_lock(hashtext(current_schema() || '.kpi'))")
        .execute(&mut *other)
        .await
        .expect("lock");
    sqlx::query(
        "insert into kpi_deltas (month, county, department, fact, n)
         values (date '2026-01-01', $1, '', 'registered', 1)",
    )
    .bind(&county)
    .execute(pool)
    .await
    .expect("a delta");
    let pending = pending_deltas(pool).await;
    assert!(pending > 0);
    assert_eq!(
        stats::rollup::compact(pool, 10_000).await.expect("fold"),
        None,
        "busy is not 'nothing left'"
    );
    other.rollback().await.expect("release");
    fold_everything(pool, 10_000).await;
    let pending = pending_deltas(pool).await;
    assert_eq!(pending, 0);
    let n: i64 = sqlx::query_scalar(
        "select n from kpi_months
         where month = date '2026-01-01' and county = $1 and fact = 'registered'",
    )
    .bind(&county)
    .fetch_one(pool)
    .await
    .expect("folded");
    assert_eq!(n, 1);
}
