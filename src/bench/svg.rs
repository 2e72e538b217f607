//! `--histogram FILE.svg`: the latency distribution (log-scale bars with p50/p99/p99.9 marks)
//! and throughput over time, written as plain SVG text. Two simple charts do not justify a
//! plotting crate and its font and image dependencies.

use std::fmt::Write as _;

use super::format::{latency, round_u64, thousands};
use super::histogram::Histogram;
use super::progress::Point;

const WIDTH: f64 = 900.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 870.0;
const BINS: usize = 60;

/// A plotting area: x from LEFT to RIGHT, y from `top` (value max) to `bottom` (value 0).
struct Panel {
    top: f64,
    bottom: f64,
}

impl Panel {
    fn y(&self, share: f64) -> f64 {
        self.bottom - share.clamp(0.0, 1.0) * (self.bottom - self.top)
    }
}

const LATENCY_PANEL: Panel = Panel {
    top: 70.0,
    bottom: 300.0,
};
const RATE_PANEL: Panel = Panel {
    top: 390.0,
    bottom: 600.0,
};

/// The SVG document for a run.
pub fn render(title: &str, h: &Histogram, timeline: &[Point]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="650" viewBox="0 0 {WIDTH} 650" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    text(&mut s, WIDTH / 2.0, 22.0, "middle", 12, &escape(title));
    latency_chart(&mut s, h);
    rate_chart(&mut s, timeline);
    s.push_str("</svg>\n");
    s
}

fn latency_chart(s: &mut String, h: &Histogram) {
    let p = LATENCY_PANEL;
    let caption = format!(
        "Latency of {} completed operations (log scale)",
        thousands(h.count())
    );
    text(s, LEFT, p.top - 18.0, "start", 13, &caption);
    axes(s, &p);
    if h.count() == 0 {
        text(
            s,
            WIDTH / 2.0,
            (p.top + p.bottom) / 2.0,
            "middle",
            12,
            "no data",
        );
        return;
    }
    let scale = LogScale::new(h.min(), h.max());
    let mut bins = [0u64; BINS];
    for (low, high, count) in h.buckets() {
        let mid = low / 2 + high / 2;
        if let Some(b) = bins.get_mut(scale.bin(mid)) {
            *b += count;
        }
    }
    let tallest = bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let width = (RIGHT - LEFT) / BINS as f64;
    for (i, &count) in bins.iter().enumerate().filter(|(_, &c)| c > 0) {
        let x = LEFT + i as f64 * width;
        // At least one pixel, so that rare outliers stay visible.
        let y = p.y(count as f64 / tallest).min(p.bottom - 1.0);
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#4878a8"/>"##,
            (width - 1.0).max(1.0),
            p.bottom - y
        );
    }
    let marks = [
        (0.5, "p50", 0.0),
        (0.99, "p99", 14.0),
        (0.999, "p99.9", 28.0),
    ];
    for (q, label, drop) in marks {
        let v = h.quantile(q);
        let x = scale.x(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#c03030" stroke-dasharray="4 3"/>"##,
            p.top, p.bottom
        );
        let caption = format!("{label} {}", latency(v));
        text(s, x + 3.0, p.top + 12.0 + drop, "start", 11, &caption);
    }
    for tick in scale.ticks() {
        let x = scale.x(tick);
        tick_mark(s, x, p.bottom);
        text(s, x, p.bottom + 16.0, "middle", 11, &latency(tick));
    }
    let share = 100.0 * tallest / h.count() as f64;
    text(
        s,
        LEFT - 6.0,
        p.top + 4.0,
        "end",
        11,
        &format!("{share:.1}%"),
    );
    text(s, LEFT - 6.0, p.bottom, "end", 11, "0");
}

fn rate_chart(s: &mut String, timeline: &[Point]) {
    let p = RATE_PANEL;
    text(
        s,
        LEFT,
        p.top - 18.0,
        "start",
        13,
        "Completed (blue) and failed (red) per second",
    );
    axes(s, &p);
    let t_max = timeline.last().map_or(0.0, |pt| pt.t_s).max(1e-9);
    let peak = timeline
        .iter()
        .map(|pt| pt.per_second.max(pt.failed as f64))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let x = |t: f64| LEFT + (t / t_max).clamp(0.0, 1.0) * (RIGHT - LEFT);
    let mut prev_t = 0.0;
    let (mut ok, mut bad) = (String::new(), String::new());
    for pt in timeline {
        let secs = (pt.t_s - prev_t).max(1e-9);
        for (line, value) in [
            (&mut ok, pt.per_second),
            (&mut bad, pt.failed as f64 / secs),
        ] {
            let y = p.y(value / peak);
            let _ = write!(line, "{:.1},{y:.1} {:.1},{y:.1} ", x(prev_t), x(pt.t_s));
        }
        prev_t = pt.t_s;
    }
    for (points, colour) in [(ok, "#4878a8"), (bad, "#c03030")] {
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.trim_end()
        );
    }
    for i in 0..=5 {
        let value = peak * f64::from(i) / 5.0;
        let y = p.y(f64::from(i) / 5.0);
        text(
            s,
            LEFT - 6.0,
            y + 4.0,
            "end",
            11,
            &thousands(round_u64(value)),
        );
    }
    for i in 0..=10 {
        let t = t_max * f64::from(i) / 10.0;
        tick_mark(s, x(t), p.bottom);
        text(s, x(t), p.bottom + 16.0, "middle", 11, &format!("{t:.1} s"));
    }
}

/// A log-scale x axis from `low` to `high` microseconds.
struct LogScale {
    low: f64,
    high: f64,
}

impl LogScale {
    fn new(min: u64, max: u64) -> LogScale {
        let low = (min.max(1) as f64).log10();
        let high = ((max.max(min) + 1) as f64).log10().max(low + 0.1);
        LogScale { low, high }
    }

    fn fraction(&self, v: u64) -> f64 {
        (((v.max(1) as f64).log10() - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }

    fn x(&self, v: u64) -> f64 {
        LEFT + self.fraction(v) * (RIGHT - LEFT)
    }

    fn bin(&self, v: u64) -> usize {
        let bin = round_u64((self.fraction(v) * BINS as f64).floor());
        usize::try_from(bin).map_or(BINS - 1, |b| b.min(BINS - 1))
    }

    /// 1, 2, 5 × powers of ten inside the range.
    fn ticks(&self) -> Vec<u64> {
        let mut ticks = Vec::new();
        let mut decade = 1u64;
        while decade <= 100_000_000_000 {
            for m in [1, 2, 5] {
                let v = decade * m;
                let l = (v as f64).log10();
                if l >= self.low && l <= self.high {
                    ticks.push(v);
                }
            }
            decade *= 10;
        }
        ticks
    }
}

fn axes(s: &mut String, p: &Panel) {
    let _ = writeln!(
        s,
        r##"<polyline points="{LEFT},{} {LEFT},{} {RIGHT},{}" fill="none" stroke="#333"/>"##,
        p.top, p.bottom, p.bottom
    );
}

fn tick_mark(s: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        s,
        r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#333"/>"##,
        y + 4.0
    );
}

fn text(s: &mut String, x: f64, y: f64, anchor: &str, size: u32, body: &str) {
    let _ = writeln!(
        s,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}">{body}</text>"#
    );
}

fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t_s: f64, completed: u64, failed: u64) -> Point {
        Point {
            t_s,
            completed,
            failed,
            per_second: completed as f64,
            p99_us: 500,
        }
    }

    #[test]
    fn draws_bars_marks_and_lines() {
        let mut h = Histogram::default();
        for v in 100..2_000 {
            h.record(v);
        }
        let svg = render("a <b> & c", &h, &[point(1.0, 900, 0), point(2.0, 1_000, 3)]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.matches("<rect").count() > 20, "histogram bars");
        assert!(svg.contains(">p99 "), "p99 mark");
        assert_eq!(svg.matches("<polyline").count(), 4, "two axes, two lines");
        assert!(svg.contains(">1.00 ms<"), "a 1-2-5 tick inside the range");
    }

    #[test]
    fn empty_runs_still_make_a_document() {
        let svg = render("t", &Histogram::default(), &[]);
        assert!(svg.contains("no data"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn one_value_does_not_divide_by_zero() {
        let mut h = Histogram::default();
        h.record(0);
        let svg = render("t", &h, &[point(0.0, 1, 0)]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
