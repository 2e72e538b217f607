//! Per-domain counters. Each activated domain gets one [`DomainMetrics`] when a snapshot is
//! built; it keeps its series handles, so the hot path bumps an `IntCounter` (one atomic add)
//! and never calls prometheus' `with_label_values`, which hashes the labels and allocates.
//!
//! A series is resolved the first time it is used, not at build time: exporting every
//! (domain, verdict, status class, origin error) combination up front would be ~30 always-zero
//! series per domain, 300,000 for 10,000 domains. Only series that happened are exported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::labels::{slot_of, status_class, ORIGIN_ERROR_KINDS, STATUS_CLASSES, VERDICTS};

/// Process-wide sums the status page samples (the per-domain series are not summed at read
/// time: that would walk every domain every second).
#[derive(Debug, Default)]
pub struct Totals {
    /// Handshakes by verdict slot ([`VERDICTS`]).
    pub handshakes: [AtomicU64; VERDICTS.len()],
    /// Requests served on a fail-open domain with a verdict other than `ok`.
    pub fail_open: AtomicU64,
    /// 421 answers.
    pub misdirected: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
}

/// The labelled families every [`DomainMetrics`] resolves its series from.
pub struct Families {
    handshakes: IntCounterVec,
    resumed: IntCounterVec,
    fail_open: IntCounterVec,
    misdirected: IntCounterVec,
    forbidden: IntCounterVec,
    requests: IntCounterVec,
    origin_errors: IntCounterVec,
    /// Sums over all domains.
    pub totals: Totals,
}

fn family(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

impl Families {
    /// Register the per-domain families.
    pub fn register(r: &Registry) -> Result<Families, prometheus::Error> {
        Ok(Families {
            handshakes: family(
                r,
                "mtls_proxy_tls_handshakes_total",
                "TLS handshakes that reached a domain (completed, or refused for the client certificate), by client-certificate verdict",
                &["domain", "verdict"],
            )?,
            resumed: family(
                r,
                "mtls_proxy_tls_resumed_total",
                "Completed handshakes that resumed a session",
                &["domain"],
            )?,
            fail_open: family(
                r,
                "mtls_proxy_fail_open_requests_total",
                "Requests passed to the origin on a fail-open domain with a verdict other than ok",
                &["domain", "verdict"],
            )?,
            misdirected: family(
                r,
                "mtls_proxy_misdirected_requests_total",
                "Requests answered 421 (SNI/Host binding), by the domain the request asked for",
                &["domain"],
            )?,
            forbidden: family(
                r,
                "mtls_proxy_forbidden_requests_total",
                "Requests answered 403 because the route's identity rules did not admit the client certificate, by the domain the request asked for",
                &["domain"],
            )?,
            requests: family(
                r,
                "mtls_proxy_requests_total",
                "Requests answered, by the domain the request asked for and status class",
                &["domain", "status_class"],
            )?,
            origin_errors: family(
                r,
                "mtls_proxy_origin_errors_total",
                "Requests the origin could not answer (the proxy answered 502/504), by kind",
                &["domain", "kind"],
            )?,
            totals: Totals::default(),
        })
    }
}

/// Which family a series belongs to, and the label list of its second label (if any).
#[derive(Debug, Clone, Copy)]
enum Family {
    Handshakes,
    Resumed,
    FailOpen,
    Misdirected,
    Forbidden,
    Requests,
    OriginErrors,
}

impl Family {
    const ALL: [Family; 7] = [
        Family::Handshakes,
        Family::Resumed,
        Family::FailOpen,
        Family::Misdirected,
        Family::Forbidden,
        Family::Requests,
        Family::OriginErrors,
    ];

    fn vec(self, f: &Families) -> &IntCounterVec {
        match self {
            Family::Handshakes => &f.handshakes,
            Family::Resumed => &f.resumed,
            Family::FailOpen => &f.fail_open,
            Family::Misdirected => &f.misdirected,
            Family::Forbidden => &f.forbidden,
            Family::Requests => &f.requests,
            Family::OriginErrors => &f.origin_errors,
        }
    }

    fn second_label(self, slot: usize) -> Option<&'static str> {
        let list: &[&'static str] = match self {
            Family::Handshakes | Family::FailOpen => &VERDICTS,
            Family::Requests => &STATUS_CLASSES,
            Family::OriginErrors => &ORIGIN_ERROR_KINDS,
            Family::Resumed | Family::Misdirected | Family::Forbidden => return None,
        };
        list.get(slot).copied()
    }
}

type Cell = OnceLock<IntCounter>;

/// One domain's series handles (the `domain` label is fixed per instance).
pub struct DomainMetrics {
    name: Arc<str>,
    /// None: detached (snapshots built without metrics, e.g. in tests); records nothing.
    families: Option<Arc<Families>>,
    /// Set when the domain left the configuration and its series were removed; serialises the
    /// first use of a series with that removal so a removed series never comes back.
    retired: Mutex<bool>,
    handshakes: [Cell; VERDICTS.len()],
    resumed: Cell,
    fail_open: [Cell; VERDICTS.len()],
    misdirected: Cell,
    forbidden: Cell,
    requests: [Cell; STATUS_CLASSES.len()],
    origin_errors: [Cell; ORIGIN_ERROR_KINDS.len()],
}

impl std::fmt::Debug for DomainMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainMetrics")
            .field("name", &self.name)
            .field("attached", &self.families.is_some())
            .finish_non_exhaustive()
    }
}

impl DomainMetrics {
    /// Handles for `name` resolved from `families`.
    pub fn new(name: &str, families: Arc<Families>) -> DomainMetrics {
        Self::with(name, Some(families))
    }

    /// Handles that record nothing.
    pub fn detached(name: &str) -> DomainMetrics {
        Self::with(name, None)
    }

    fn with(name: &str, families: Option<Arc<Families>>) -> DomainMetrics {
        DomainMetrics {
            name: Arc::from(name),
            families,
            retired: Mutex::new(false),
            handshakes: Default::default(),
            resumed: Cell::new(),
            fail_open: Default::default(),
            misdirected: Cell::new(),
            forbidden: Cell::new(),
            requests: Default::default(),
            origin_errors: Default::default(),
        }
    }

    /// The `domain` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One handshake with the verdict in slot `verdict` of [`VERDICTS`].
    pub fn handshake(&self, verdict: usize) {
        self.bump(Family::Handshakes, verdict);
        self.total(|t| t.handshakes.get(verdict));
    }

    /// One resumed handshake.
    pub fn resumed(&self) {
        self.bump(Family::Resumed, 0);
    }

    /// One request passed on a fail-open domain with the (non-ok) verdict in slot `verdict`.
    pub fn fail_open(&self, verdict: usize) {
        self.bump(Family::FailOpen, verdict);
        self.total(|t| Some(&t.fail_open));
    }

    /// One 421 answer.
    pub fn misdirected(&self) {
        self.bump(Family::Misdirected, 0);
        self.total(|t| Some(&t.misdirected));
    }

    /// One 403 from a route's identity rules.
    pub fn forbidden(&self) {
        self.bump(Family::Forbidden, 0);
    }

    /// One answered request with `status`.
    pub fn request(&self, status: u16) {
        self.bump(Family::Requests, status_class(status));
        self.total(|t| Some(&t.requests));
    }

    /// One origin failure of `kind` (`OriginError::kind`).
    pub fn origin_error(&self, kind: &str) {
        let other = ORIGIN_ERROR_KINDS.len() - 1;
        self.bump(
            Family::OriginErrors,
            slot_of(&ORIGIN_ERROR_KINDS, kind, other),
        );
    }

    fn total(&self, pick: impl Fn(&Totals) -> Option<&AtomicU64>) {
        if let Some(t) = self.families.as_ref().and_then(|f| pick(&f.totals)) {
            t.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn cells(&self, family: Family) -> &[Cell] {
        match family {
            Family::Handshakes => &self.handshakes,
            Family::Resumed => std::slice::from_ref(&self.resumed),
            Family::FailOpen => &self.fail_open,
            Family::Misdirected => std::slice::from_ref(&self.misdirected),
            Family::Forbidden => std::slice::from_ref(&self.forbidden),
            Family::Requests => &self.requests,
            Family::OriginErrors => &self.origin_errors,
        }
    }

    /// The hot path: one atomic add once the series is resolved.
    #[inline]
    fn bump(&self, family: Family, slot: usize) {
        let Some(cell) = self.cells(family).get(slot) else {
            return;
        };
        match cell.get() {
            Some(counter) => counter.inc(),
            None => self.bump_first(family, slot, cell),
        }
    }

    /// First use of a series: resolve it (unless the domain was retired meanwhile).
    #[cold]
    fn bump_first(&self, family: Family, slot: usize, cell: &Cell) {
        let Some(families) = &self.families else {
            return;
        };
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        if *retired {
            return;
        }
        if cell.get().is_none() {
            let resolved = with_labels(&self.name, family, slot, |labels| {
                family.vec(families).get_metric_with_label_values(labels)
            });
            match resolved {
                Ok(counter) => {
                    let _ = cell.set(counter);
                }
                Err(e) => {
                    tracing::warn!(domain = %self.name, error = %e, "cannot create a metric series");
                    return;
                }
            }
        }
        if let Some(counter) = cell.get() {
            counter.inc();
        }
    }

    /// Remove this domain's series from the export (the domain is no longer configured).
    /// Connections still open under it keep recording into the process totals only.
    pub fn retire(&self) {
        let Some(families) = &self.families else {
            return;
        };
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        *retired = true;
        for family in Family::ALL {
            for (slot, cell) in self.cells(family).iter().enumerate() {
                if cell.get().is_some() {
                    let _ = with_labels(&self.name, family, slot, |labels| {
                        family.vec(families).remove_label_values(labels)
                    });
                }
            }
        }
    }
}

/// Call `f` with the label values of one series: `[domain]` or `[domain, label]`.
fn with_labels<T>(domain: &str, family: Family, slot: usize, f: impl Fn(&[&str]) -> T) -> T {
    match family.second_label(slot) {
        Some(label) => f(&[domain, label]),
        None => f(&[domain]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Registry, Arc<Families>) {
        let r = Registry::new();
        let f = Arc::new(Families::register(&r).unwrap());
        (r, f)
    }

    fn text(r: &Registry) -> String {
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn series_appear_on_first_use_only() {
        let (r, f) = setup();
        let d = DomainMetrics::new("a.example", f.clone());
        assert!(!text(&r).contains("a.example"));
        d.handshake(0);
        d.handshake(0);
        d.handshake(7);
        d.request(421);
        d.misdirected();
        d.forbidden();
        d.fail_open(1);
        d.origin_error("connect");
        d.origin_error("something new");
        d.resumed();
        let t = text(&r);
        for line in [
            r#"mtls_proxy_tls_handshakes_total{domain="a.example",verdict="ok"} 2"#,
            r#"mtls_proxy_tls_handshakes_total{domain="a.example",verdict="not_requested"} 1"#,
            r#"mtls_proxy_requests_total{domain="a.example",status_class="4xx"} 1"#,
            r#"mtls_proxy_misdirected_requests_total{domain="a.example"} 1"#,
            r#"mtls_proxy_forbidden_requests_total{domain="a.example"} 1"#,
            r#"mtls_proxy_fail_open_requests_total{domain="a.example",verdict="missing"} 1"#,
            r#"mtls_proxy_origin_errors_total{domain="a.example",kind="connect"} 1"#,
            r#"mtls_proxy_origin_errors_total{domain="a.example",kind="other"} 1"#,
            r#"mtls_proxy_tls_resumed_total{domain="a.example"} 1"#,
        ] {
            assert!(t.contains(line), "{line} missing in\n{t}");
        }
        assert!(!t.contains(r#"verdict="expired""#), "{t}");
        assert_eq!(f.totals.handshakes[0].load(Ordering::Relaxed), 2);
        assert_eq!(f.totals.misdirected.load(Ordering::Relaxed), 1);
        assert_eq!(f.totals.fail_open.load(Ordering::Relaxed), 1);
        assert_eq!(f.totals.requests.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn two_handles_for_one_name_share_series() {
        let (r, f) = setup();
        DomainMetrics::new("a.example", f.clone()).handshake(0);
        DomainMetrics::new("a.example", f).handshake(0);
        assert!(text(&r)
            .contains(r#"mtls_proxy_tls_handshakes_total{domain="a.example",verdict="ok"} 2"#));
    }

    #[test]
    fn retired_series_are_removed_and_stay_removed() {
        let (r, f) = setup();
        let d = DomainMetrics::new("gone.example", f.clone());
        d.handshake(0);
        d.retire();
        assert!(!text(&r).contains("gone.example"));
        d.handshake(0);
        d.handshake(3);
        assert!(!text(&r).contains("gone.example"));
        // Totals still count what happened on connections that outlived the domain.
        assert_eq!(f.totals.handshakes[0].load(Ordering::Relaxed), 2);
    }

    #[test]
    fn out_of_range_slots_and_detached_handles_record_nothing() {
        let (r, f) = setup();
        let d = DomainMetrics::new("a.example", f);
        d.handshake(99);
        d.fail_open(99);
        assert!(!text(&r).contains("a.example"));
        let detached = DomainMetrics::detached("x");
        detached.handshake(0);
        detached.retire();
        assert_eq!(detached.name(), "x");
    }
}
