//! Charts drawn on the server as inline SVG: no script, no external service, printable.

use minijinja::HtmlEscape;

/// A horizontal bar chart of `(label, value)`; `unit` follows each value ("%", "件").
/// Values are drawn against the largest one (or against 100 when `unit` is "%").
pub fn bars(title: &str, rows: &[(String, f64)], unit: &str) -> String {
    let row_h = 26.0;
    let label_w = 150.0;
    let bar_w = 260.0;
    let width = label_w + bar_w + 80.0;
    let height = 30.0 + row_h * rows.len() as f64;
    let max = if unit == "%" {
        100.0
    } else {
        rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1.0)
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" aria-label=\"{t}\">\
         <title>{t}</title><text x=\"0\" y=\"16\" class=\"chart-title\">{t}</text>",
        t = HtmlEscape(title)
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 26.0 + row_h * i as f64;
        let w = if value.is_finite() && *value > 0.0 {
            (value / max).min(1.0) * bar_w
        } else {
            0.0
        };
        let shown = if unit == "%" {
            format!("{value:.1}%")
        } else {
            format!("{value:.0}{unit}")
        };
        out += &format!(
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" class=\"bar\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{shown}</text>",
            lx = label_w - 6.0,
            ty = y + 14.0,
            vx = label_w + w + 6.0,
            label = HtmlEscape(label),
        );
    }
    out + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = bars("件数", &[("a<b".into(), 10.0), ("c".into(), 5.0)], "件");
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("width=\"260.0\""), "{svg}");
        assert!(svg.contains("width=\"130.0\""), "{svg}");
        let pct = bars("率", &[("x".into(), 50.0)], "%");
        assert!(
            pct.contains("width=\"130.0\"") && pct.contains("50.0%"),
            "{pct}"
        );
    }
}
