//! Number formatting shared by the progress line, the text summary and the plot.

/// A non-negative float rounded to the nearest integer, saturating: negative and NaN give 0,
/// anything above u64::MAX gives u64::MAX.
// `as` from float to integer saturates (and maps NaN to 0) since Rust 1.45, so the cast cannot
// truncate or wrap; the explicit bounds only make that visible.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn round_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        x.round() as u64
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in microseconds, in the unit that keeps three significant digits readable:
/// "812 µs", "1.23 ms", "45.6 ms", "1.50 s".
pub fn latency(us: u64) -> String {
    let v = us as f64;
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 10_000 {
        format!("{:.2} ms", v / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1} ms", v / 1e3)
    } else {
        format!("{:.2} s", v / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(latency(812), "812 µs");
        assert_eq!(latency(1_234), "1.23 ms");
        assert_eq!(latency(45_600), "45.6 ms");
        assert_eq!(latency(1_500_000), "1.50 s");
        assert_eq!(round_u64(2.5), 3);
        assert_eq!(round_u64(-1.0), 0);
        assert_eq!(round_u64(f64::NAN), 0);
        assert_eq!(round_u64(1e30), u64::MAX);
    }
}
