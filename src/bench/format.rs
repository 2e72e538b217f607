//! Number formatting shared by the progress line, the text summary and the plot.

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
    }
}
