//! 周研判 (issue #15 item 2): a generated week of cases — most registered through events, some
//! written straight into the projection — then the report's every figure against a direct
//! count of the generated data, its HTML and CSV, the HTTP API and who may read it, and the
//! scheduler's one report per county and week (one `report.weekly` event), also with two
//! instances at once.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::petition::{Channel, PetitionType};
use xinfang_domain::weekly_report::{CSV_HEADER, Figures, IsoWeek, Line, ReportEvent, parse_csv};
use xinfang_supervision::weekly::generate::{self, Context};

const CONFIG: &str =
    "timers_enabled = false\n[supervision.weekly_report]\nenabled = false\nhour = 0\n";

/// One generated matter.
#[derive(Debug, Clone)]
struct Gen {
    case_no: String,
    /// The registering organ (the envelope's county, the projection's `county`).
    by: CountyCode,
    /// The matter's county (differs from `by` for a leapfrog petition).
    of: CountyCode,
    at: DateTime<Utc>,
    channel: Channel,
    ptype: PetitionType,
    dept: &'static str,
    town: Option<&'static str>,
    source: &'static str,
    listed: bool,
    group: u32,
    key: String,
    repeat: bool,
    /// Its topic (the same words as every other matter of the topic), or noise.
    topic: Option<&'static str>,
    no_words: bool,
    via_event: bool,
}

impl Gen {
    fn leapfrog(&self) -> bool {
        self.by.is_city() && self.of != self.by
    }

    fn words(&self, n: usize) -> Option<BTreeMap<String, f32>> {
        if self.no_words {
            return None;
        }
        let list: Vec<(String, f32)> = match self.topic {
            Some("wages") => vec![
                ("包工头".into(), 2.0),
                ("拖欠".into(), 1.5),
                ("工资".into(), 1.2),
            ],
            Some("lift") => vec![
                ("电梯".into(), 2.0),
                ("物业".into(), 1.0),
                ("维修".into(), 1.0),
            ],
            Some("land") => vec![("征地".into(), 2.0), ("补偿".into(), 1.5)],
            Some("road") => vec![("道路".into(), 2.0), ("积水".into(), 1.5)],
            _ => vec![(format!("杂项{n}甲"), 1.0), (format!("杂项{n}乙"), 0.8)],
        };
        Some(list.into_iter().collect())
    }
}

const CHANNELS: [Channel; 6] = [
    Channel::Letter,
    Channel::Visit,
    Channel::Phone,
    Channel::Online,
    Channel::Visit,
    Channel::LeaderMailbox,
];
const TYPES: [PetitionType; 4] = [
    PetitionType::Grievance,
    PetitionType::Suggestion,
    PetitionType::Grievance,
    PetitionType::Accusation,
];
const DEPTS: [&str; 3] = ["rsj", "zjj", "gaj"];
const TOWNS: [Option<&str>; 3] = [Some("湖滨街道"), Some("崖底街道"), None];

fn generate_week(county: &CountyCode, city: &CountyCode, w: IsoWeek) -> Vec<Gen> {
    let mut out = Vec::new();
    let mut n = 0usize;
    let mut add = |by: &CountyCode,
                   of: &CountyCode,
                   at: DateTime<Utc>,
                   topic: Option<&'static str>,
                   key: &str,
                   via_event: bool| {
        n += 1;
        let year = at.with_timezone(&xinfang_domain::deadline::CST).year();
        out.push(Gen {
            case_no: format!("XF-{by}-{year}-{:06}", 100 + n),
            by: by.clone(),
            of: of.clone(),
            at,
            channel: CHANNELS[n % 6],
            ptype: TYPES[n % 4],
            dept: DEPTS[n % 3],
            town: TOWNS[n % 3],
            source: "ordinary",
            listed: false,
            group: 1,
            key: key.to_owned(),
            repeat: false,
            topic,
            no_words: false,
            via_event,
        });
    };
    let this = |h: i64| w.start() + TimeDelta::hours(h);
    let prev = |h: i64| w.previous().start() + TimeDelta::hours(h);
    let last_year = |h: i64| w.same_week_last_year().start() + TimeDelta::hours(h);
    let c = county;
    // This week.
    for (h, key) in [(10, "pk-01"), (20, "pk-02"), (30, "pk-03"), (40, "pk-01")] {
        add(c, c, this(h), Some("wages"), key, true);
    }
    add(c, c, this(50), Some("lift"), "pk-04", true);
    add(c, c, this(60), Some("lift"), "pk-05", true);
    add(c, c, this(70), Some("lift"), "pk-06", false);
    for h in [80, 90, 100] {
        add(c, c, this(h), Some("land"), "pk-07", true);
    }
    add(c, c, this(110), Some("road"), "pk-08", true);
    add(c, c, this(120), Some("road"), "pk-09", true);
    for i in 0..8 {
        add(
            c,
            c,
            this(125 + i * 4),
            None,
            &format!("pk-1{i}"),
            i % 3 != 2,
        );
    }
    // Listed matters from a superior (written straight into the projection).
    add(c, c, this(130), None, "pk-40", false);
    add(c, c, this(131), None, "pk-41", false);
    // Sunday 23:30 China time is still the week; Monday 00:00 is not.
    add(
        c,
        c,
        this(167) + TimeDelta::minutes(30),
        None,
        "pk-42",
        true,
    );
    add(c, c, this(168), None, "pk-43", true);
    // Leapfrog: the city registered two of the county's matters; and one of its own.
    add(city, c, this(33), None, "pk-20", true);
    add(city, c, this(34), None, "pk-21", true);
    add(city, city, this(35), None, "pk-22", true);
    // The previous week.
    for (h, key) in [(10, "pk-30"), (20, "pk-31")] {
        add(c, c, prev(h), Some("wages"), key, true);
    }
    for (h, key) in [(30, "pk-32"), (40, "pk-33"), (50, "pk-34")] {
        add(c, c, prev(h), Some("lift"), key, true);
    }
    for h in [60, 70, 80] {
        add(c, c, prev(h), None, &format!("pk-p{h}"), true);
    }
    add(city, c, prev(90), None, "pk-23", true);
    // The same week last year.
    for h in [10, 30, 50, 70, 90] {
        add(c, c, last_year(h), None, &format!("pk-y{h}"), false);
    }
    // Groups, repeats, listed, a matter without words.
    let find =
        |out: &mut Vec<Gen>, key: &str| -> usize { out.iter().position(|g| g.key == key).unwrap() };
    let i = find(&mut out, "pk-11");
    out[i].group = 8;
    let i = find(&mut out, "pk-14");
    out[i].group = 5;
    let i = find(&mut out, "pk-16");
    out[i].group = 4;
    let i = find(&mut out, "pk-20");
    out[i].group = 30;
    let i = find(&mut out, "pk-p60");
    out[i].group = 6;
    for key in ["pk-12", "pk-13", "pk-y30"] {
        let i = find(&mut out, key);
        out[i].repeat = true;
    }
    for key in ["pk-40", "pk-41"] {
        let i = find(&mut out, key);
        out[i].source = "superior";
        out[i].listed = true;
    }
    let i = find(&mut out, "pk-15");
    out[i].no_words = true;
    out
}

async fn register(h: &Harness, g: &Gen, n: usize) {
    let words = g.words(n);
    if g.via_event {
        let mut r = registered(&g.case_no, &g.of, g.at, g.dept, g.repeat);
        r.channel = g.channel;
        r.petition_type = g.ptype;
        r.group_size = g.group;
        r.petitioner_key = g.key.clone();
        r.town = g.town.map(str::to_owned);
        r.matter_words = words;
        r.source = Some(g.source.to_owned());
        r.listed = g.listed;
        h.env
            .publish_case(&g.by, "registered", &g.case_no, &r)
            .await;
    } else {
        sqlx::query(
            "insert into cases (case_no, county, department, petition_type, received_at,
                                registered_at, is_repeat, channel, source, listed, town,
                                group_size, petitioner_key, registered_by, leapfrog, matter_words)
             values ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $2, $13, $14)",
        )
        .bind(&g.case_no)
        .bind(g.by.as_str())
        .bind(g.dept)
        .bind(g.ptype.as_str())
        .bind(g.at)
        .bind(g.repeat)
        .bind(g.channel.as_str())
        .bind(g.source)
        .bind(g.listed)
        .bind(g.town)
        .bind(g.group as i32)
        .bind(&g.key)
        .bind(g.leapfrog())
        .bind(words.map(|w| serde_json::to_value(w).unwrap()))
        .execute(h.pool())
        .await
        .unwrap();
    }
}

/// What the report must say, counted straight from the generated matters and rows.
struct Expected {
    this: Vec<Gen>,
    previous: Vec<Gen>,
    last_year: Vec<Gen>,
    whole: bool,
}

impl Expected {
    fn new(gens: &[Gen], w: IsoWeek, county: Option<&CountyCode>) -> Self {
        let scope: Vec<Gen> = gens
            .iter()
            .filter(|g| county.is_none_or(|c| &g.by == c))
            .cloned()
            .collect();
        let of = |week: IsoWeek| -> Vec<Gen> {
            scope
                .iter()
                .filter(|g| g.at >= week.start() && g.at < week.end())
                .cloned()
                .collect()
        };
        Self {
            this: of(w),
            previous: of(w.previous()),
            last_year: of(w.same_week_last_year()),
            whole: county.is_none(),
        }
    }

    fn count(&self, f: impl Fn(&Gen) -> bool) -> [i64; 3] {
        [&self.this, &self.previous, &self.last_year]
            .map(|v| v.iter().filter(|g| f(g)).count() as i64)
    }

    fn breakdown(&self, key: impl Fn(&Gen) -> String) -> BTreeMap<String, [i64; 3]> {
        let mut m: BTreeMap<String, [i64; 3]> = BTreeMap::new();
        for (i, v) in [&self.this, &self.previous, &self.last_year]
            .into_iter()
            .enumerate()
        {
            for g in v {
                m.entry(key(g)).or_default()[i] += 1;
            }
        }
        m
    }

    fn dept(&self, g: &Gen) -> String {
        if self.whole {
            format!("{}:{}", g.by, g.dept)
        } else {
            g.dept.to_owned()
        }
    }
}

fn lines(l: &[Line]) -> BTreeMap<String, [i64; 3]> {
    // Busiest first.
    assert!(
        l.windows(2)
            .all(|p| p[0].count.this_week >= p[1].count.this_week),
        "{l:?}"
    );
    l.iter()
        .map(|x| {
            (
                x.key.clone(),
                [
                    x.count.this_week,
                    x.count.previous_week,
                    x.count.same_week_last_year,
                ],
            )
        })
        .collect()
}

fn c3(c: &xinfang_domain::weekly_report::Count3) -> [i64; 3] {
    [c.this_week, c.previous_week, c.same_week_last_year]
}

/// Checks the matters' figures.
fn check_cases(f: &Figures, e: &Expected) {
    assert_eq!(c3(&f.total), e.count(|_| true), "total");
    assert_eq!(
        lines(&f.by_channel),
        e.breakdown(|g| g.channel.as_str().to_owned()),
        "by channel"
    );
    assert_eq!(
        lines(&f.by_type),
        e.breakdown(|g| g.ptype.as_str().to_owned()),
        "by type"
    );
    assert_eq!(
        lines(&f.by_department),
        e.breakdown(|g| e.dept(g)),
        "by department"
    );
    assert_eq!(
        lines(&f.by_town),
        e.breakdown(|g| g.town.unwrap_or("unknown").to_owned()),
        "by town"
    );
    assert_eq!(
        lines(&f.by_source),
        e.breakdown(|g| g.source.to_owned()),
        "by source"
    );
    assert_eq!(c3(&f.listed_registered), e.count(|g| g.listed), "listed");
    // Groups.
    assert_eq!(c3(&f.groups.cases), e.count(|g| g.group >= 5), "groups");
    let groups: Vec<&Gen> = e.this.iter().filter(|g| g.group >= 5).collect();
    assert_eq!(
        f.groups.people,
        groups.iter().map(|g| i64::from(g.group)).sum::<i64>()
    );
    assert_eq!(
        f.groups
            .list
            .iter()
            .map(|g| g.case_no.clone())
            .collect::<BTreeSet<_>>(),
        groups.iter().map(|g| g.case_no.clone()).collect()
    );
    // Repeats.
    assert_eq!(
        c3(&f.repeats.repeat_cases),
        e.count(|g| g.repeat),
        "repeats"
    );
    let mut by_key: BTreeMap<&str, Vec<&Gen>> = BTreeMap::new();
    for g in &e.this {
        by_key.entry(&g.key).or_default().push(g);
    }
    let want: BTreeMap<String, (usize, usize)> = by_key
        .iter()
        .filter(|(_, v)| v.len() >= 2 || v.iter().any(|g| g.repeat))
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                (v.len(), v.iter().filter(|g| g.repeat).count()),
            )
        })
        .collect();
    let got: BTreeMap<String, (usize, usize)> = f
        .repeats
        .petitioners
        .iter()
        .map(|p| (p.petitioner.clone(), (p.cases.len(), p.linked)))
        .collect();
    assert_eq!(got, want, "repeat petitioners");
    // Leapfrog.
    assert_eq!(c3(&f.leapfrog.cases), e.count(Gen::leapfrog), "leapfrog");
    assert_eq!(
        f.leapfrog.list.len(),
        e.this.iter().filter(|g| g.leapfrog()).count()
    );
    // Topics: every matter of a topic has the same words and topics share none, so a topic
    // is its matters; kept with 3 or more of 2 or more petitioners.
    let mut topics: BTreeMap<&str, Vec<&Gen>> = BTreeMap::new();
    for g in e.this.iter().filter(|g| !g.no_words) {
        if let Some(t) = g.topic {
            topics.entry(t).or_default().push(g);
        }
    }
    let mut want: Vec<(usize, usize, usize, bool, BTreeSet<String>)> = topics
        .iter()
        .filter(|(_, v)| {
            v.len() >= 3 && v.iter().map(|g| &g.key).collect::<BTreeSet<_>>().len() >= 2
        })
        .map(|(t, v)| {
            let prev = e
                .previous
                .iter()
                .filter(|g| g.topic == Some(*t) && !g.no_words)
                .count();
            (
                v.len(),
                v.iter().map(|g| &g.key).collect::<BTreeSet<_>>().len(),
                prev,
                v.len() > prev,
                v.iter().map(|g| g.case_no.clone()).collect(),
            )
        })
        .collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let got: Vec<(usize, usize, usize, bool, BTreeSet<String>)> = f
        .topics
        .iter()
        .map(|t| {
            (
                t.size,
                t.petitioners,
                t.previous_week_similar,
                t.rising,
                t.cases.iter().cloned().collect(),
            )
        })
        .collect();
    assert_eq!(got, want, "topics");
    assert_eq!(f.topics[0].words[0], "包工头");
}

/// Rows written straight into supervision's other tables: overdue clocks, 督办, listed
/// matters, advisers' work. Returns the expected (county, city) figures.
struct Rows {
    overdue: BTreeMap<String, usize>,
    issued: BTreeMap<String, i64>,
    open: BTreeMap<String, i64>,
    listed: usize,
}

async fn write_rows(h: &Harness, w: IsoWeek, county: &CountyCode, city: &CountyCode) -> Rows {
    let pool = h.pool();
    let at = |hours: i64| w.start() + TimeDelta::hours(hours);
    let c = county.as_str();
    // Overdue: fired and not closed. A closed one, a pending one and a cancelled one are not.
    for (i, (cty, state, closed)) in [
        (c, "fired", false),
        (c, "fired", false),
        (c, "fired", false),
        (c, "fired", true),
        (c, "pending", false),
        (city.as_str(), "fired", false),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "insert into deadlines (id, case_no, county, department, kind, ref, trigger_at, due_at,
                                    state, fired_at, closed_at, indexed)
             values ($1, $2, $3, 'rsj', 'D3', $4, $5, $6, $7, $8, $9, true)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("XF-{cty}-2026-9000{i}"))
        .bind(cty)
        .bind(format!("t{i}"))
        .bind(at(-200))
        .bind(at(10 + i as i64))
        .bind(state)
        .bind((state == "fired").then(|| at(10 + i as i64)))
        .bind(closed.then(|| at(50)))
        .execute(pool)
        .await
        .unwrap();
    }
    // 督办: issued in the week (open / answered), earlier and open, earlier and answered,
    // after the week; one of the city's.
    for (i, (cty, created, responded)) in [
        (c, at(24), None),
        (c, at(48), Some(at(72))),
        (c, at(-240), None),
        (c, at(-240), Some(at(-200))),
        (c, w.end() + TimeDelta::seconds(1), None),
        (city.as_str(), at(30), None),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "insert into supervisions (id, case_no, county, department, form, issuer, note,
                                       respond_by, responded_at, response, created_at)
             values ($1, $2, $3, 'zjj', 'written_notice', 'sup', '请报告', $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("XF-{cty}-2026-8000{i}"))
        .bind(cty)
        .bind(created + TimeDelta::days(5))
        .bind(responded)
        .bind(responded.map(|_| "已办"))
        .bind(created)
        .execute(pool)
        .await
        .unwrap();
    }
    // Listed matters: one open with a done, an overdue and a future milestone and this week's
    // progress; one closed in the week; one open since before; one closed before (left out).
    let later = h.now() + TimeDelta::days(10);
    for (i, (listed_at, closed, milestones, progress)) in [
        (
            at(24),
            None,
            vec![(at(48), Some(at(47))), (at(96), None), (later, None)],
            true,
        ),
        (at(48), Some(at(120)), vec![(at(72), Some(at(70)))], false),
        (at(-480), None, vec![], false),
        (at(-480), Some(at(-72)), vec![], false),
    ]
    .into_iter()
    .enumerate()
    {
        let case_no = format!("XF-{c}-2026-7000{i}");
        sqlx::query(
            "insert into listed_matters (case_no, county, source, title, listed_at, listed_by,
                                         closed_at)
             values ($1, $2, 'superior', $3, $4, 'test', $5)",
        )
        .bind(&case_no)
        .bind(c)
        .bind(format!("清单事项{i}"))
        .bind(listed_at)
        .bind(closed)
        .execute(pool)
        .await
        .unwrap();
        for (p, (due, done)) in milestones.into_iter().enumerate() {
            sqlx::query(
                "insert into listed_milestones (id, case_no, position, name, due_at, done_at)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::now_v7())
            .bind(&case_no)
            .bind(p as i32)
            .bind(format!("节点{p}"))
            .bind(due)
            .bind(done)
            .execute(pool)
            .await
            .unwrap();
        }
        if progress {
            sqlx::query(
                "insert into listed_progress (id, case_no, week, who, done, next_step, at)
                 values ($1, $2, $3, '张科长', '已约谈', '现场核查', $4)",
            )
            .bind(Uuid::now_v7())
            .bind(&case_no)
            .bind(w.to_string())
            .bind(at(100))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    // Advisers: a lawyer assigned to a case and both at a conference held in the week; two
    // advice entries in the week, one before.
    let (lawyer, counsellor) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, kind) in [(lawyer, "lawyer"), (counsellor, "counsellor")] {
        sqlx::query(
            "insert into advisers (id, kind, name, organisation, county) values ($1, $2, 'x', 'y', $3)",
        )
        .bind(id)
        .bind(kind)
        .bind(c)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "insert into adviser_assignments (id, adviser, county, case_no, assigned_by, at)
         values ($1, $2, $3, $4, 'test', $5)",
    )
    .bind(Uuid::now_v7())
    .bind(lawyer)
    .bind(c)
    .bind(format!("XF-{c}-2026-000101"))
    .bind(at(30))
    .execute(pool)
    .await
    .unwrap();
    for when in [at(30), at(40), at(-100)] {
        sqlx::query(
            "insert into advice (id, case_no, county, adviser, text, recorded_by, at)
             values ($1, $2, $3, $4, '意见', 'test', $5)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("XF-{c}-2026-000101"))
        .bind(c)
        .bind(lawyer)
        .bind(when)
        .execute(pool)
        .await
        .unwrap();
    }
    let conf = Uuid::now_v7();
    sqlx::query(
        "insert into conferences (id, case_no, county, kind, scheduled_at, place, state, held_at,
                                  scheduled_by)
         values ($1, $2, $3, 'difficult_case', $4, '会议室', 'held', $4, 'test')",
    )
    .bind(conf)
    .bind(format!("XF-{c}-2026-000101"))
    .bind(c)
    .bind(at(50))
    .execute(pool)
    .await
    .unwrap();
    for (role, id) in [("lawyer", lawyer), ("counsellor", counsellor)] {
        sqlx::query(
            "insert into conference_participants (conference, role, ref) values ($1, $2, $3)",
        )
        .bind(conf)
        .bind(role)
        .bind(id.to_string())
        .execute(pool)
        .await
        .unwrap();
    }
    Rows {
        overdue: [(c.to_owned(), 3), (city.to_string(), 4)].into(),
        issued: [(c.to_owned(), 2), (city.to_string(), 3)].into(),
        open: [(c.to_owned(), 2), (city.to_string(), 3)].into(),
        listed: 3,
    }
}

fn check_rows(f: &Figures, rows: &Rows, key: &str) {
    assert_eq!(f.overdue.len(), rows.overdue[key], "overdue");
    assert!(f.overdue.iter().all(|o| o.kind == "D3" && o.days_over >= 0));
    assert_eq!(f.supervisions.issued, rows.issued[key], "督办 issued");
    assert_eq!(f.supervisions.open, rows.open[key], "督办 open");
    assert_eq!(f.listed.list.len(), rows.listed, "listed");
    assert_eq!(f.listed.open, 2);
    assert_eq!(f.listed.closed_in_week, 1);
    assert_eq!(f.listed.with_overdue_milestones, 1);
    assert_eq!(f.listed.reported, 1);
    let first = &f.listed.list[0];
    assert_eq!(
        (
            first.milestones,
            first.milestones_done,
            first.milestones_overdue
        ),
        (3, 1, 1)
    );
    assert_eq!(first.next_milestone.as_ref().unwrap().0, "节点1");
    let a = f.advisers;
    assert_eq!(
        (
            a.lawyers_participations,
            a.counsellors_participations,
            a.advice_entries,
            a.conferences_held
        ),
        (2, 1, 2, 1)
    );
}

async fn report_events(h: &Harness, county: &CountyCode) -> Vec<Envelope> {
    h.env
        .read(county, &format!("xf.{county}.report.>"))
        .await
        .into_iter()
        .map(|m| Envelope::from_bytes(&m.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn the_weekly_report_counts_what_a_direct_count_finds_and_is_sent_once() {
    let h = Harness::start_configured(CONFIG, |p| p.security.auth_required = true).await;
    let (county, city) = (h.county(), h.env.city.clone());
    let w = IsoWeek::last_complete(h.now());
    let gens = generate_week(&county, &city, w);
    for (n, g) in gens.iter().enumerate() {
        register(&h, g, n).await;
    }
    let total = gens.len() as i64;
    h.env
        .wait_for("the projection of every generated matter", 30, async || {
            let n: i64 = sqlx::query_scalar("select count(*) from cases")
                .fetch_one(h.pool())
                .await
                .unwrap();
            n == total
        })
        .await;
    // Events filled the new projection columns.
    let (channel, key, words): (Option<String>, Option<String>, Option<Value>) = sqlx::query_as(
        "select channel, petitioner_key, matter_words from cases where case_no = $1",
    )
    .bind(&gens[0].case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(channel.as_deref(), Some(gens[0].channel.as_str()));
    assert_eq!(key.as_deref(), Some("pk-01"));
    assert!(words.is_some_and(|w| w["包工头"] == json!(2.0)));
    let rows = write_rows(&h, w, &county, &city).await;

    let store = h.sup.started.host.auth.store().expect("auth on").clone();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let token = async |role: Role, scope: &CountyCode, dept: Option<&str>| {
        store.create(role, scope, dept, "t").await.unwrap().token
    };
    let supervisor = token(Role::Supervisor, &county, None).await;
    let clerk = token(Role::Clerk, &county, None).await;
    let city_clerk = token(Role::Clerk, &city, None).await;
    let department = token(Role::Department, &county, Some("rsj")).await;
    let outsider = token(Role::Supervisor, &neighbour, None).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", h.sup.started.http);
    let get = async |query: &str, t: &str| {
        let r = http
            .get(format!("{base}/v1/reports/weekly?{query}"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, r.text().await.unwrap())
    };

    // The county's report, computed on the fly (nothing stored yet).
    let (s, _, body) = get(&format!("county={county}&week={w}"), &supervisor).await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stored"], false);
    assert_eq!(v["complete"], true);
    let f: Figures = serde_json::from_value(v["figures"].clone()).unwrap();
    assert_eq!(f.week, w);
    assert!(
        f.total.this_week >= 20 && f.topics.len() == 2,
        "{:?}",
        f.total
    );
    check_cases(&f, &Expected::new(&gens, w, Some(&county)));
    check_rows(&f, &rows, county.as_str());
    assert_eq!(f.leapfrog.cases.this_week, 0, "the county registered none");

    // The city's: the whole deployment, departments named with their county.
    let (s, _, body) = get(&format!("county={city}&week={w}"), &city_clerk).await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let fc: Figures = serde_json::from_value(v["figures"].clone()).unwrap();
    check_cases(&fc, &Expected::new(&gens, w, None));
    check_rows(&fc, &rows, city.as_str());
    assert_eq!(fc.leapfrog.cases.this_week, 2);

    // Who may read: staff of the county's scope; not another county's, not a department.
    assert_eq!(get(&format!("county={county}"), &clerk).await.0, 200);
    assert_eq!(get(&format!("county={county}"), &city_clerk).await.0, 200);
    assert_eq!(get(&format!("county={county}"), &outsider).await.0, 403);
    assert_eq!(get("", &outsider).await.0, 403);
    assert_eq!(get(&format!("county={county}"), &department).await.0, 403);
    assert_eq!(get(&format!("county={city}"), &clerk).await.0, 403);
    let r = http
        .get(format!("{base}/v1/reports/weekly?county={county}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    for (q, field) in [
        ("week=2026-W99", "week"),
        ("week=soon", "week"),
        ("format=pdf", "format"),
    ] {
        let (s, _, body) = get(q, &supervisor).await;
        assert_eq!(s, 422, "{q}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"]["field"], field, "{body}");
    }
    let next = IsoWeek::containing(h.now()).next();
    assert_eq!(get(&format!("week={next}"), &supervisor).await.0, 422);

    // HTML with its charts; CSV that parses and says the same.
    let (s, ct, page) = get(&format!("week={w}&format=html"), &supervisor).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(page.matches("<svg").count() >= 5, "charts in the page");
    for text in [
        "按渠道",
        "按责任单位",
        "上升苗头",
        "集体访",
        "越级访",
        "督办",
        "清单事项进展",
        "包工头",
    ] {
        assert!(page.contains(text), "{text}");
    }
    let (s, ct, csv) = get(&format!("week={w}&format=csv"), &supervisor).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let table = parse_csv(&csv).unwrap();
    assert_eq!(table[0].join(","), CSV_HEADER);
    assert!(table.iter().all(|r| r.len() == 7));
    let cell = |section: &str, key: &str| {
        table
            .iter()
            .find(|r| r[0] == section && r[1] == key)
            .unwrap_or_else(|| panic!("{section} {key}"))[3..6]
            .to_vec()
    };
    assert_eq!(
        cell("total", "registered"),
        c3(&f.total).map(|n| n.to_string()).to_vec()
    );
    for l in &f.by_channel {
        assert_eq!(cell("channel", &l.key)[0], l.count.this_week.to_string());
    }
    assert_eq!(
        table.iter().filter(|r| r[0] == "topic").count(),
        f.topics.len()
    );
    assert_eq!(
        table.iter().filter(|r| r[0] == "overdue").count(),
        f.overdue.len()
    );

    // Generating: supervisors and operators only; stored, and sent once.
    let post = async |body: Value, t: &str| {
        let r = http
            .post(format!("{base}/v1/reports/weekly"))
            .bearer_auth(t)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or_default())
    };
    assert_eq!(post(json!({"week": w.to_string()}), &clerk).await.0, 403);
    assert_eq!(
        post(
            json!({"week": w.to_string(), "county": city.to_string()}),
            &supervisor
        )
        .await
        .0,
        403
    );
    let (s, v) = post(json!({"week": w.to_string()}), &supervisor).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["stored"], true);
    assert!(v["sent_at"].is_string(), "{v}");
    let stored: Figures = serde_json::from_value(v["figures"].clone()).unwrap();
    check_cases(&stored, &Expected::new(&gens, w, Some(&county)));
    let (_, _, body) = get(&format!("week={w}"), &clerk).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stored"], true);
    h.env
        .wait_for("the county's report event", 15, async || {
            report_events(&h, &county).await.len() == 1
        })
        .await;
    let env = &report_events(&h, &county).await[0];
    assert_eq!(env.kind, "weekly");
    assert!(env.to_bytes().unwrap().len() < 256 * 1024);
    let e: ReportEvent = env.data_as().unwrap();
    assert_eq!((e.county.as_str(), e.week), (county.as_str(), w));
    assert!(e.html.contains("<svg") && e.title.contains(&w.to_string()));
    assert_eq!(parse_csv(&e.csv).unwrap(), table);
    assert_eq!(e.csv_name, format!("weekly-{county}-{w}.csv"));
    // Regenerating sends nothing more unless asked to.
    assert_eq!(
        post(json!({"week": w.to_string()}), &supervisor).await.0,
        201
    );

    // The scheduler in two instances at once: the city's report is written and sent once,
    // the county's (already complete) is left alone.
    let ctx = Context {
        pool: h.pool().clone(),
        clock: h.sup.clock.clone(),
        rules: h.sup.rules.clone(),
    };
    let second = h.second_instance().await;
    let ctx2 = Context {
        pool: second.started.host.pool.clone(),
        clock: second.clock.clone(),
        rules: second.rules.clone(),
    };
    let counties = vec![county.clone(), city.clone()];
    let (a, b) = tokio::join!(
        generate::run_once(&ctx, &counties),
        generate::run_once(&ctx2, &counties)
    );
    let mut written = a.unwrap();
    written.extend(b.unwrap());
    assert_eq!(
        written,
        vec![city.to_string()],
        "one instance wrote the city's"
    );
    assert!(
        generate::run_once(&ctx, &counties)
            .await
            .unwrap()
            .is_empty()
    );
    h.env
        .wait_for("the city's report event", 15, async || {
            report_events(&h, &city).await.len() == 1
        })
        .await;
    let e: ReportEvent = report_events(&h, &city).await[0].data_as().unwrap();
    assert_eq!(e.county, city.as_str());
    assert!(e.title.contains("测试市"), "{}", e.title);

    // Asked to, it is sent again.
    let (s, _) = post(json!({"week": w.to_string(), "resend": true}), &supervisor).await;
    assert_eq!(s, 201);
    h.env
        .wait_for("the resent report", 15, async || {
            report_events(&h, &county).await.len() == 2
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(report_events(&h, &county).await.len(), 2);
    assert_eq!(report_events(&h, &city).await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_report_of_the_running_week_is_partial_and_monday_replaces_it() {
    let h = Harness::start(CONFIG).await;
    let county = h.county();
    let ctx = Context {
        pool: h.pool().clone(),
        clock: h.sup.clock.clone(),
        rules: h.sup.rules.clone(),
    };
    let now = h.now();
    let running = IsoWeek::containing(now);
    let case = h.case_no(1);
    let mut r = registered(&case, &county, now - TimeDelta::minutes(1), "rsj", false);
    r.town = Some("湖滨街道".into());
    h.case_event("registered", &case, r).await;
    h.env
        .wait_for("the projection", 15, async || {
            let n: i64 = sqlx::query_scalar("select count(*) from cases")
                .fetch_one(h.pool())
                .await
                .unwrap();
            n == 1
        })
        .await;
    let early = if running.contains(now - TimeDelta::minutes(1)) {
        1
    } else {
        0
    };
    let s = generate::generate(
        &ctx,
        &county,
        running,
        generate::Mode::OnDemand { resend: false },
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!s.complete);
    assert!(s.sent_at.is_none(), "a partial report is not e-mailed");
    assert!(s.html.contains("本周尚未结束"));
    assert_eq!(s.figures["total"]["this_week"], early);
    // A week later the scheduler replaces it with the complete one and sends that.
    h.advance_to(running.end() + TimeDelta::hours(1));
    let written = generate::run_once(&ctx, std::slice::from_ref(&county))
        .await
        .unwrap();
    assert_eq!(written, vec![county.to_string()]);
    let s = generate::find(h.pool(), county.as_str(), running)
        .await
        .unwrap()
        .unwrap();
    assert!(s.complete && s.sent_at.is_some());
    h.env
        .wait_for("the report event", 15, async || {
            report_events(&h, &county).await.len() == 1
        })
        .await;
    h.stop().await;
}

/// The route walk of tests/access.rs, on the report routes alone: 401 without a token, 403/404
/// for another county's operator and for departments, through for the county's operator.
#[tokio::test]
async fn the_report_routes_refuse_other_counties_and_departments() {
    use xinfang_platform::route_probe::{self, Probe, ProbeRequest};

    let h = Harness::start_configured(CONFIG, |p| p.security.auth_required = true).await;
    let store = h.sup.started.host.auth.store().expect("auth on").clone();
    let county = h.county();
    let neighbour = CountyCode::parse(&format!("{}02", &county.as_str()[..4])).unwrap();
    let token = async |role: Role, scope: &CountyCode, dept: Option<&str>| {
        store
            .create(role, scope, dept, "probe")
            .await
            .unwrap()
            .token
    };
    let operator = token(Role::Operator, &county, None).await;
    let outsiders = [
        (
            "an operator of another county",
            token(Role::Operator, &neighbour, None).await,
        ),
        (
            "the same department of another county",
            token(Role::Department, &neighbour, Some("rsj")).await,
        ),
        (
            "a department of the county",
            token(Role::Department, &county, Some("zjj")).await,
        ),
    ];
    let routes: Vec<_> = xinfang_supervision::api::routes()
        .routes()
        .iter()
        .filter(|r| r.path.starts_with("/v1/reports"))
        .cloned()
        .collect();
    assert_eq!(routes.len(), 2);
    let base = format!("http://{}", h.sup.started.http);
    route_probe::assert_staff_routes_guarded(
        &Probe::new(&base),
        &routes,
        |_| ProbeRequest {
            insider: operator.clone(),
            ..Default::default()
        },
        &outsiders,
    )
    .await;
    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all: Vec<_> = xinfang_supervision::api::routes().routes().to_vec();
    let ours: Vec<String> = xinfang_platform::api_doc::mismatches(&doc, &all)
        .into_iter()
        .filter(|m| m.contains("/v1/reports"))
        .collect();
    assert_eq!(ours, Vec::<String>::new());
    assert!(doc["paths"]["/v1/reports/weekly"]["post"].is_object());
    h.stop().await;
}
