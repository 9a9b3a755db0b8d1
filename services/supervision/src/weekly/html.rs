//! The weekly report as one self-contained HTML page: tables and inline SVG bar charts (no
//! script, no external resource), readable in the console, a browser and most mail clients.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use xinfang_domain::deadline::CST;
use xinfang_domain::weekly_report::{
    Count3, Figures, Labels, Line, deadline_name, supervision_form_name,
};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const COLOURS: [&str; 3] = ["#c0392b", "#7f8c8d", "#bdc3c7"];
const SERIES: [&str; 3] = ["本周", "上周", "去年同期"];

/// A horizontal bar chart with up to three bars per row (this week, previous week, the same
/// week last year), drawn against the largest value.
pub fn grouped_bars(title: &str, rows: &[(String, [i64; 3])], series: usize) -> String {
    let series = series.clamp(1, 3);
    let bar_h = 12.0;
    let row_h = bar_h * series as f64 + 10.0;
    let label_w = 170.0;
    let bar_w = 300.0;
    let width = label_w + bar_w + 70.0;
    let top = 44.0;
    let height = top + row_h * rows.len() as f64 + 6.0;
    let max = rows
        .iter()
        .flat_map(|r| r.1.iter().take(series))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\" aria-label=\"{t}\">\
         <title>{t}</title><text x=\"0\" y=\"15\" font-weight=\"bold\">{t}</text>",
        t = esc(title)
    );
    for (i, name) in SERIES.iter().take(series).enumerate() {
        let x = label_w + 90.0 * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"24\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text x=\"{tx}\" y=\"33\">{name}</text>",
            c = COLOURS[i],
            tx = x + 14.0,
        );
    }
    for (i, (label, values)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>",
            lx = label_w - 6.0,
            ty = y + row_h / 2.0,
            label = esc(label),
        );
        for (s, v) in values.iter().take(series).enumerate() {
            let w = (*v.max(&0) as f64 / max) * bar_w;
            let by = y + bar_h * s as f64;
            let _ = write!(
                out,
                "<rect x=\"{label_w}\" y=\"{by}\" width=\"{w:.1}\" height=\"{h}\" \
                 fill=\"{c}\" class=\"bar s{s}\"/>\
                 <text x=\"{vx:.1}\" y=\"{vy}\" font-size=\"10\">{v}</text>",
                h = bar_h - 1.0,
                c = COLOURS[s],
                vx = label_w + w + 4.0,
                vy = by + bar_h - 2.0,
            );
        }
    }
    out + "</svg>"
}

fn pct(change: Option<f64>) -> String {
    match change {
        Some(c) => format!("{:+.1}%", c * 100.0),
        None => "—".into(),
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.with_timezone(&CST).format("%m-%d").to_string()
}

fn minute(at: DateTime<Utc>) -> String {
    at.with_timezone(&CST).format("%Y-%m-%d %H:%M").to_string()
}

fn count_row(out: &mut String, name: &str, c: &Count3) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(name),
        c.this_week,
        c.previous_week,
        pct(c.vs_previous()),
        c.same_week_last_year,
        pct(c.vs_last_year()),
    );
}

const COUNT_HEAD: &str =
    "<tr><th></th><th>本周</th><th>上周</th><th>环比</th><th>去年同期</th><th>同比</th></tr>";

/// A breakdown: chart (the first `chart_rows` lines) and table (the first `max_rows`).
fn breakdown(
    out: &mut String,
    title: &str,
    section: &str,
    lines: &[Line],
    labels: &Labels,
    max_rows: usize,
) {
    let _ = write!(out, "<h3>{}</h3>", esc(title));
    if lines.is_empty() {
        out.push_str("<p class=\"none\">无</p>");
        return;
    }
    let chart_rows: Vec<(String, [i64; 3])> = lines
        .iter()
        .take(15)
        .map(|l| {
            (
                labels.name(section, &l.key),
                [
                    l.count.this_week,
                    l.count.previous_week,
                    l.count.same_week_last_year,
                ],
            )
        })
        .collect();
    out.push_str(&grouped_bars(title, &chart_rows, 3));
    out.push_str("<table>");
    out.push_str(COUNT_HEAD);
    for l in lines.iter().take(max_rows) {
        count_row(out, &labels.name(section, &l.key), &l.count);
    }
    out.push_str("</table>");
    more(out, lines.len(), max_rows);
}

fn more(out: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = write!(
            out,
            "<p class=\"more\">另有 {} 项未列出，见 CSV 附件。</p>",
            total - shown
        );
    }
}

/// The page. `max_rows` bounds every list and table (the CSV has them all).
pub fn render(f: &Figures, labels: &Labels, title: &str, max_rows: usize) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>\
         body{{font-family:sans-serif;font-size:14px;color:#222;max-width:900px;margin:1em auto;padding:0 1em}}\
         h1{{font-size:20px}}h2{{font-size:17px;border-bottom:1px solid #ccc;margin-top:1.6em}}h3{{font-size:15px}}\
         table{{border-collapse:collapse;margin:.5em 0}}th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
         td{{text-align:right}}td.t{{text-align:left}}.meta,.more,.none{{color:#666}}.rising{{color:#c0392b;font-weight:bold}}\
         </style></head><body class=\"weekly-report\"><h1>{t}</h1>",
        t = esc(title)
    );
    let _ = write!(
        o,
        "<p class=\"meta\">统计周期：{} 至 {}（{}，北京时间）；对比上周（{}）与去年同期（{}）；生成于 {}。{}</p>",
        f.from,
        f.to,
        f.week,
        f.previous_week,
        f.same_week_last_year,
        minute(f.generated_at),
        if f.complete {
            ""
        } else {
            "<strong>本周尚未结束，数据不完整。</strong>"
        }
    );

    o.push_str("<h2>一、总体情况</h2><table>");
    o.push_str(COUNT_HEAD);
    count_row(&mut o, "登记信访事项", &f.total);
    count_row(&mut o, "集体访（件）", &f.groups.cases);
    count_row(&mut o, "重复件", &f.repeats.repeat_cases);
    count_row(&mut o, "越级访", &f.leapfrog.cases);
    count_row(&mut o, "清单事项", &f.listed_registered);
    o.push_str("</table>");
    let _ = write!(
        o,
        "<p>本周集体访 {} 件、涉及 {} 人；重复信访人 {} 人；上升苗头 {} 个；超期未办 {} 件；本周督办 {} 件，未答复督办 {} 件。</p>",
        f.groups.cases.this_week,
        f.groups.people,
        f.repeats.petitioners.len(),
        f.topics.iter().filter(|t| t.rising).count(),
        f.overdue.len(),
        f.supervisions.issued,
        f.supervisions.open,
    );

    o.push_str("<h2>二、分布情况</h2>");
    breakdown(&mut o, "按渠道", "channel", &f.by_channel, labels, max_rows);
    breakdown(&mut o, "按类型", "type", &f.by_type, labels, max_rows);
    breakdown(
        &mut o,
        "按责任单位",
        "department",
        &f.by_department,
        labels,
        max_rows,
    );
    breakdown(
        &mut o,
        "按乡镇（街道）",
        "town",
        &f.by_town,
        labels,
        max_rows,
    );
    breakdown(&mut o, "按来源", "source", &f.by_source, labels, max_rows);

    o.push_str("<h2>三、上升苗头（不同信访人反映的相似事项）</h2>");
    if f.topics.is_empty() {
        o.push_str("<p class=\"none\">无</p>");
    } else {
        let rows: Vec<(String, [i64; 3])> = f
            .topics
            .iter()
            .map(|t| {
                (
                    t.words
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("、"),
                    [t.size as i64, t.previous_week_similar as i64, 0],
                )
            })
            .collect();
        o.push_str(&grouped_bars("相似事项：本周与上周", &rows, 2));
        o.push_str(
            "<table><tr><th>主题词</th><th>本周件数</th><th>信访人数</th><th>上周相似</th><th>趋势</th><th>事项</th></tr>",
        );
        for t in f.topics.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"t{}\">{}</td><td class=\"t\">{}</td></tr>",
                esc(&t.words.join("、")),
                t.size,
                t.petitioners,
                t.previous_week_similar,
                if t.rising { " rising" } else { "" },
                if t.rising {
                    "上升"
                } else {
                    "持平或下降"
                },
                esc(&t.cases.join(" ")),
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>四、集体访（5人以上）</h2>");
    if f.groups.list.is_empty() {
        o.push_str("<p class=\"none\">无</p>");
    } else {
        o.push_str("<table><tr><th>事项</th><th>人数</th><th>责任单位</th><th>乡镇（街道）</th><th>登记</th></tr>");
        for g in f.groups.list.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(&g.case_no),
                g.group_size,
                esc(&labels.department(g.department.as_deref())),
                esc(g.town.as_deref().unwrap_or("")),
                day(g.registered_at),
            );
        }
        o.push_str("</table>");
        more(&mut o, f.groups.list.len(), max_rows);
    }

    o.push_str("<h2>五、重复信访人</h2>");
    if f.repeats.petitioners.is_empty() {
        o.push_str("<p class=\"none\">无</p>");
    } else {
        o.push_str(
            "<table><tr><th>信访人（编号）</th><th>本周件数</th><th>关联前事项</th><th>事项</th></tr>",
        );
        for p in f.repeats.petitioners.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td class=\"t\">{}</td></tr>",
                esc(&p.petitioner),
                p.cases.len(),
                p.linked,
                esc(&p.cases.join(" ")),
            );
        }
        o.push_str("</table>");
        more(&mut o, f.repeats.petitioners.len(), max_rows);
    }

    o.push_str("<h2>六、越级访</h2>");
    if f.leapfrog.list.is_empty() {
        o.push_str("<p class=\"none\">无</p>");
    } else {
        o.push_str(
            "<table><tr><th>事项</th><th>责任单位</th><th>乡镇（街道）</th><th>登记</th></tr>",
        );
        for c in f.leapfrog.list.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(&c.case_no),
                esc(&labels.department(c.department.as_deref())),
                esc(c.town.as_deref().unwrap_or("")),
                day(c.registered_at),
            );
        }
        o.push_str("</table>");
        more(&mut o, f.leapfrog.list.len(), max_rows);
    }

    o.push_str("<h2>七、超期未办</h2>");
    if f.overdue.is_empty() {
        o.push_str("<p class=\"none\">无</p>");
    } else {
        o.push_str(
            "<table><tr><th>事项</th><th>期限</th><th>责任单位</th><th>到期</th><th>超期天数</th></tr>",
        );
        for d in f.overdue.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.case_no),
                esc(deadline_name(&d.kind)),
                esc(&labels.department(d.department.as_deref())),
                minute(d.due_at),
                d.days_over,
            );
        }
        o.push_str("</table>");
        more(&mut o, f.overdue.len(), max_rows);
    }

    let _ = write!(
        o,
        "<h2>八、督办</h2><p>本周督办 {} 件，未答复 {} 件。</p>",
        f.supervisions.issued, f.supervisions.open
    );
    if !f.supervisions.list.is_empty() {
        o.push_str("<table><tr><th>事项</th><th>方式</th><th>责任单位</th><th>督办时间</th><th>答复期限</th><th>状态</th></tr>");
        for s in f.supervisions.list.iter().take(max_rows) {
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td><td class=\"t\">{}</td></tr>",
                esc(&s.case_no),
                esc(supervision_form_name(&s.form)),
                esc(&labels.department(Some(&s.department))),
                minute(s.created_at),
                minute(s.respond_by),
                if s.responded {
                    "已答复"
                } else {
                    "未答复"
                },
            );
        }
        o.push_str("</table>");
        more(&mut o, f.supervisions.list.len(), max_rows);
    }

    let l = &f.listed;
    let _ = write!(
        o,
        "<h2>九、清单事项进展</h2><p>在办 {} 件，本周办结 {} 件，节点逾期 {} 件，本周报送进展 {} 件。</p>",
        l.open, l.closed_in_week, l.with_overdue_milestones, l.reported
    );
    if !l.list.is_empty() {
        o.push_str("<table><tr><th>事项</th><th>来源</th><th>标题</th><th>节点</th><th>逾期节点</th><th>下一节点</th><th>本周进展</th></tr>");
        for m in l.list.iter().take(max_rows) {
            let next = m
                .next_milestone
                .as_ref()
                .map(|(n, due)| format!("{n}（{}）", day(*due)))
                .unwrap_or_else(|| {
                    if m.closed {
                        "已办结".into()
                    } else {
                        "—".into()
                    }
                });
            let progress = m
                .progress
                .as_ref()
                .map(|p| format!("{}；下一步：{}", p.done, p.next_step))
                .unwrap_or_else(|| "未报送".into());
            let _ = write!(
                o,
                "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}/{}</td><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td></tr>",
                esc(&m.case_no),
                esc(&labels.name("source", &m.source)),
                esc(&m.title),
                m.milestones_done,
                m.milestones,
                m.milestones_overdue,
                esc(&next),
                esc(&progress),
            );
        }
        o.push_str("</table>");
        more(&mut o, l.list.len(), max_rows);
    }

    let a = &f.advisers;
    let _ = write!(
        o,
        "<h2>十、律师、心理咨询师参与</h2><table>\
         <tr><th>律师参与（人次）</th><td>{}</td></tr>\
         <tr><th>心理咨询师参与（人次）</th><td>{}</td></tr>\
         <tr><th>书面意见（份）</th><td>{}</td></tr>\
         <tr><th>会审（次）</th><td>{}</td></tr></table>",
        a.lawyers_participations,
        a.counsellors_participations,
        a.advice_entries,
        a.conferences_held
    );
    o.push_str("</body></html>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = grouped_bars("件数", &[("a<b".into(), [10, 5, 0])], 3);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("width=\"300.0\""), "{svg}");
        assert!(svg.contains("width=\"150.0\""), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(esc("\"x\" & 'y'"), "&quot;x&quot; &amp; &#39;y&#39;");
    }
}
