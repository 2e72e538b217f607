//! The closed label sets of the metrics: every label value the proxy can export is listed here,
//! so the number of series stays bounded whatever clients send.

/// Client-certificate verdicts (Fastly's set, in `Verdict::index` order) plus `not_requested`
/// for domains without a mutual authentication (no CertificateRequest is sent).
pub const VERDICTS: [&str; 8] = [
    "ok",
    "missing",
    "bad",
    "expired",
    "revoked",
    "unknown_ca",
    "unknown",
    "not_requested",
];

/// Slot of `ok` in [`VERDICTS`].
pub const OK: usize = 0;

/// Slot of `not_requested` in [`VERDICTS`].
pub const NOT_REQUESTED: usize = 7;

/// Why a handshake did not complete (`HandshakeError::reason`).
pub const HANDSHAKE_ERROR_REASONS: [&str; 7] = [
    "timeout",
    "eof",
    "io",
    "protocol",
    "no_sni",
    "unknown_sni",
    "client_cert_rejected",
];

/// Origin failure kinds (`OriginError::kind`), plus `other` for a kind this list misses.
pub const ORIGIN_ERROR_KINDS: [&str; 7] = [
    "connect",
    "timeout",
    "protocol",
    "tls",
    "invalid_request",
    "config",
    "other",
];

/// Response status classes.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The `domain` label of everything not tied to an activated domain: handshakes served by the
/// default domain for an unknown or missing SNI, requests for hosts that are not activated.
pub const OTHER_DOMAIN: &str = "other";

/// Slot of an HTTP status in [`STATUS_CLASSES`] (codes outside 100..=599 count as 5xx).
pub fn status_class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// Slot of a label in a closed list; `fallback` when absent.
pub fn slot_of(list: &[&str], label: &str, fallback: usize) -> usize {
    list.iter().position(|l| *l == label).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(STATUS_CLASSES[status_class(101)], "1xx");
        assert_eq!(STATUS_CLASSES[status_class(200)], "2xx");
        assert_eq!(STATUS_CLASSES[status_class(308)], "3xx");
        assert_eq!(STATUS_CLASSES[status_class(421)], "4xx");
        assert_eq!(STATUS_CLASSES[status_class(504)], "5xx");
        assert_eq!(STATUS_CLASSES[status_class(999)], "5xx");
    }

    #[test]
    fn slots() {
        assert_eq!(VERDICTS[OK], "ok");
        assert_eq!(VERDICTS[NOT_REQUESTED], "not_requested");
        assert_eq!(slot_of(&ORIGIN_ERROR_KINDS, "tls", 6), 3);
        assert_eq!(slot_of(&ORIGIN_ERROR_KINDS, "nope", 6), 6);
    }
}
