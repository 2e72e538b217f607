//! The status page: `GET /` (server-rendered HTML whose inline script re-renders it every two
//! seconds) and the JSON it polls, `GET /status/data`. No key is needed, so neither shows
//! anything secret: domains, ids, names, flags, dates and counts only — never key material,
//! bundles, certificates or the admin token.

mod chart;
mod html;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::fleet_status::FleetStatus;
use super::AdminState;
use crate::metrics::history::{self, Reading, Sample};
use crate::metrics::labels::{HANDSHAKE_ERROR_REASONS, VERDICTS};
use crate::model::timestamp::{format_ms, format_secs};
use crate::snapshot::inventory::{ActivationInfo, Inventory, RevocationListInfo};

/// Activations listed on the page (the rest are counted): the page must stay small with
/// 10,000 domains.
pub const MAX_LISTED: usize = 500;

/// Everything the page shows, read once per request.
pub struct StatusView {
    pub applied_revision: u64,
    pub stored_revision: Option<u64>,
    pub last_swap_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    pub now_ms: i64,
    pub inventory: Arc<Inventory>,
    /// Counts since start.
    pub totals: Reading,
    pub connections_active: i64,
    /// Oldest first, one per `history::PERIOD`.
    pub history: Vec<Sample>,
    /// The store, the nodes and the local cache.
    pub fleet: FleetStatus,
}

impl StatusView {
    /// Read the publisher, the store revision and the metrics.
    pub async fn gather(s: &AdminState) -> StatusView {
        let fleet = FleetStatus::gather(s).await;
        let p = s.publisher.status();
        StatusView {
            applied_revision: p.applied_revision,
            stored_revision: fleet.stored_revision,
            fleet,
            last_swap_ms: p.last_swap_ms,
            last_error: p.last_error,
            last_error_ms: p.last_error_ms,
            now_ms: history::now_ms(),
            inventory: Arc::new(s.publisher.inventory(MAX_LISTED)),
            totals: s.metrics.reading(),
            connections_active: s.metrics.connections_active.get(),
            history: s.metrics.history(),
        }
    }

    /// Whether a revocation list with this nextUpdate (Unix seconds) is stale now.
    pub fn is_stale(&self, next_update: i64) -> bool {
        next_update.saturating_mul(1000) <= self.now_ms
    }

    /// Whole days from now until `not_after` (Unix seconds); negative once past.
    pub fn days_left(&self, not_after: i64) -> i64 {
        (not_after.saturating_mul(1000) - self.now_ms).div_euclid(86_400_000)
    }

    /// The JSON document of `GET /status/data`.
    pub fn to_json(&self) -> Value {
        let mut doc = self.base_json();
        self.fleet.extend(&mut doc);
        doc
    }

    fn base_json(&self) -> Value {
        json!({
            "applied_revision": self.applied_revision,
            "stored_revision": self.stored_revision,
            "last_swap": self.last_swap_ms.map(format_ms),
            "last_error": self.last_error,
            "last_error_at": self.last_error_ms.map(format_ms),
            "now": format_ms(self.now_ms),
            "activations_total": self.inventory.total,
            "activations": self.inventory.activations.iter().take(MAX_LISTED)
                .map(|a| self.activation_json(a)).collect::<Vec<_>>(),
            "revocation_lists_total": self.inventory.revocation_lists_total,
            "revocation_lists": self.inventory.revocation_lists.iter()
                .map(|l| self.revocation_list_json(l)).collect::<Vec<_>>(),
            "totals": self.totals_json(),
            "history": self.history_json(),
        })
    }

    fn activation_json(&self, a: &ActivationInfo) -> Value {
        json!({
            "domain": a.domain,
            "certificate": {
                "id": a.certificate_id,
                "name": a.certificate_name,
                "not_after": format_secs(a.certificate_not_after),
                "days_left": self.days_left(a.certificate_not_after),
            },
            "mutual_authentication": a.mutual_authentication.as_ref().map(|m| json!({
                "id": m.id, "name": m.name, "enforced": m.enforced,
            })),
        })
    }

    fn revocation_list_json(&self, l: &RevocationListInfo) -> Value {
        json!({
            "id": l.id,
            "name": l.name,
            "mutual_authentication": l.mutual_authentication_id,
            "issuer": l.issuer,
            "this_update": format_secs(l.this_update),
            "next_update": format_secs(l.next_update),
            "stale": self.is_stale(l.next_update),
            "revoked_count": l.revoked_count,
            "refreshed": l.refreshed,
            "last_fetch_error": l.last_fetch_error,
        })
    }

    fn totals_json(&self) -> Value {
        let t = &self.totals;
        json!({
            "handshakes": labelled(&VERDICTS, &t.handshakes),
            "handshake_errors": labelled(&HANDSHAKE_ERROR_REASONS, &t.handshake_errors),
            "fail_open": t.fail_open,
            "misdirected": t.misdirected,
            "requests": t.requests,
            "connections_active": self.connections_active,
        })
    }

    fn history_json(&self) -> Value {
        let h = &self.history;
        let column =
            |f: &dyn Fn(&Reading) -> u64| h.iter().map(|s| f(&s.counts)).collect::<Vec<u64>>();
        let columns = |labels: &[&str], f: &dyn Fn(&Reading, usize) -> u64| {
            let mut m = Map::new();
            for (i, label) in labels.iter().enumerate() {
                let v: Vec<u64> = h.iter().map(|s| f(&s.counts, i)).collect();
                m.insert((*label).to_string(), json!(v));
            }
            Value::Object(m)
        };
        json!({
            "period_seconds": history::PERIOD.as_secs(),
            "capacity": history::SAMPLES,
            "end": h.last().map(|s| format_ms(s.at_ms)),
            "handshakes": columns(&VERDICTS, &|r, i| r.handshakes.get(i).copied().unwrap_or(0)),
            "handshake_errors": columns(&HANDSHAKE_ERROR_REASONS, &|r, i| {
                r.handshake_errors.get(i).copied().unwrap_or(0)
            }),
            "fail_open": column(&|r| r.fail_open),
            "misdirected": column(&|r| r.misdirected),
        })
    }
}

/// `{"label": count, …}` in label order.
fn labelled(labels: &[&str], counts: &[u64]) -> Value {
    let m: Map<String, Value> = labels
        .iter()
        .zip(counts)
        .map(|(l, c)| ((*l).to_string(), json!(c)))
        .collect();
    Value::Object(m)
}

/// `GET /`.
pub async fn page(State(s): State<AdminState>) -> Response {
    let view = StatusView::gather(&s).await;
    let mut resp = Html(html::render(&view)).into_response();
    no_store(&mut resp);
    resp
}

/// `GET /status/data`.
pub async fn data(State(s): State<AdminState>) -> Response {
    let view = StatusView::gather(&s).await;
    let mut resp = crate::admin::document::json(StatusCode::OK, &view.to_json());
    no_store(&mut resp);
    resp
}

fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::inventory::MutualAuthInfo;

    pub(super) fn view() -> StatusView {
        let mut totals = Reading::default();
        totals.handshakes[0] = 7;
        totals.handshake_errors[6] = 2;
        totals.fail_open = 3;
        totals.misdirected = 1;
        let mut counts = Reading::default();
        counts.handshakes[0] = 4;
        let ma = Arc::new(MutualAuthInfo {
            id: "ma1".into(),
            name: "partners <&>".into(),
            enforced: true,
        });
        let activation = ActivationInfo {
            id: "a1".into(),
            domain: "api.example.com".into(),
            certificate_id: "c1".into(),
            certificate_name: "api cert".into(),
            certificate_not_after: 1_000_000 + 10 * 86_400,
            mutual_authentication: Some(ma),
        };
        StatusView {
            applied_revision: 5,
            stored_revision: Some(5),
            last_swap_ms: Some(1_000_000_000),
            last_error: Some("TLS activation x: <bad>".into()),
            last_error_ms: Some(1_000_000_000),
            now_ms: 1_000_000_000,
            inventory: Arc::new(Inventory {
                activations: vec![activation],
                total: 1,
                revocation_lists: vec![
                    RevocationListInfo {
                        id: "r1".into(),
                        name: "partner CRL <x>".into(),
                        mutual_authentication_id: "ma1".into(),
                        issuer: "CN=Partner CA".into(),
                        this_update: 999_000,
                        next_update: 999_999,
                        revoked_count: 4,
                        refreshed: true,
                        last_fetch_error: Some("HTTP 503".into()),
                    },
                    RevocationListInfo {
                        id: "r2".into(),
                        name: "fresh".into(),
                        mutual_authentication_id: "ma1".into(),
                        issuer: "CN=Other CA".into(),
                        this_update: 999_000,
                        next_update: 2_000_000,
                        revoked_count: 0,
                        refreshed: false,
                        last_fetch_error: None,
                    },
                ],
                revocation_lists_total: 2,
            }),
            totals,
            connections_active: 2,
            history: vec![Sample {
                at_ms: 999_000_000,
                counts,
            }],
            fleet: crate::admin::fleet_status::tests::status(),
        }
    }

    #[test]
    fn json_has_activations_totals_and_history() {
        let v = view().to_json();
        assert_eq!(v["applied_revision"], 5);
        assert_eq!(v["activations"][0]["domain"], "api.example.com");
        assert_eq!(v["activations"][0]["certificate"]["days_left"], 10);
        assert_eq!(
            v["activations"][0]["mutual_authentication"]["enforced"],
            true
        );
        assert_eq!(v["totals"]["handshakes"]["ok"], 7);
        assert_eq!(v["totals"]["handshake_errors"]["client_cert_rejected"], 2);
        assert_eq!(v["totals"]["fail_open"], 3);
        assert_eq!(v["history"]["handshakes"]["ok"], json!([4]));
        assert_eq!(v["history"]["misdirected"], json!([0]));
        assert_eq!(v["last_error"], "TLS activation x: <bad>");
        assert_eq!(v["store"]["reachable"], false);
        assert_eq!(v["nodes"][1]["id"], "b");
        assert_eq!(v["revocation_lists"][0]["stale"], true);
        assert_eq!(v["revocation_lists"][0]["last_fetch_error"], "HTTP 503");
        assert_eq!(v["revocation_lists"][1]["stale"], false);
        assert_eq!(v["revocation_lists"][1]["revoked_count"], 0);
        assert_eq!(v["revocation_lists_total"], 2);
    }

    #[test]
    fn days_left_rounds_down_and_goes_negative() {
        let v = view();
        assert_eq!(v.days_left(1_000_000 + 86_399), 0);
        assert_eq!(v.days_left(1_000_000 - 1), -1);
    }
}
