//! The page's small line charts as inline SVG (no script needed for the first render; the
//! page's script draws the same markup from the JSON afterwards).

use std::fmt::Write as _;

/// Chart size in SVG user units (scaled to the page width by CSS).
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 150;

/// Colours per verdict, in `VERDICTS` order.
pub const VERDICT_COLORS: [&str; 8] = [
    "#2e7d32", "#f9a825", "#6d4c41", "#ef6c00", "#8e24aa", "#c62828", "#546e7a", "#1e88e5",
];

/// Colours per handshake failure reason, in `HANDSHAKE_ERROR_REASONS` order.
pub const ERROR_COLORS: [&str; 7] = [
    "#6a1b9a", "#90a4ae", "#455a64", "#d84315", "#00838f", "#1565c0", "#c62828",
];

/// One line: its label, colour and per-period values (oldest first).
pub struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub values: Vec<u64>,
}

impl Series<'_> {
    /// Sum over the window.
    pub fn total(&self) -> u64 {
        self.values.iter().sum()
    }
}

/// The highest per-period value of any series (at least 1: the chart's scale).
pub fn peak(series: &[Series<'_>]) -> u64 {
    series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1)
}

/// An SVG with one polyline per series that has any count, right-aligned in a window of
/// `capacity` periods; `title` is its accessible name.
pub fn svg(series: &[Series<'_>], capacity: usize, title: &str) -> String {
    let peak = peak(series);
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" aria-label="{}"><line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>"#,
        super::html::esc(title)
    );
    for s in series.iter().filter(|s| s.total() > 0) {
        let _ = write!(
            out,
            r#"<polyline data-series="{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            super::html::esc(s.label),
            super::html::esc(s.color),
            points(&s.values, capacity, peak)
        );
    }
    out.push_str("</svg>");
    out
}

/// Polyline points: x by period slot, y scaled so `peak` nearly fills the height.
fn points(values: &[u64], capacity: usize, peak: u64) -> String {
    let slots = capacity.max(2) - 1;
    let offset = capacity.saturating_sub(values.len());
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = (offset + i) as f64 * f64::from(WIDTH) / slots as f64;
        let y = f64::from(HEIGHT) - (*v as f64) * f64::from(HEIGHT - 10) / peak as f64;
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_series_with_counts_are_drawn_right_aligned() {
        let series = [
            Series {
                label: "ok",
                color: "#2e7d32",
                values: vec![0, 2, 4],
            },
            Series {
                label: "missing",
                color: "#f9a825",
                values: vec![0, 0, 0],
            },
        ];
        let svg = svg(&series, 5, "verdicts");
        assert!(svg.contains(r#"data-series="ok""#), "{svg}");
        assert!(!svg.contains("missing"), "{svg}");
        // Slots 2..4 of 5 over 600 units; 4 is the peak (10 units of headroom).
        assert!(
            svg.contains(r#"points="300.0,150.0 450.0,80.0 600.0,10.0""#),
            "{svg}"
        );
    }

    #[test]
    fn empty_history_is_an_empty_chart() {
        let svg = svg(&[], 300, "x");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("polyline"));
    }
}
