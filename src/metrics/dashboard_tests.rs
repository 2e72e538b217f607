//! config/grafana-dashboard.json against the real registry: valid dashboard JSON whose queries
//! name only metrics this process exports, and every exported metric is on some panel.

use std::collections::HashSet;
use std::time::Duration;

use super::Metrics;

const DASHBOARD: &str = include_str!("../../config/grafana-dashboard.json");

/// Every metric name the process exports, with one series in every family.
fn exported() -> HashSet<String> {
    let m = Metrics::new().unwrap();
    let d = m.domain("a.example");
    d.handshake(0);
    d.resumed();
    d.fail_open(1);
    d.misdirected();
    d.forbidden();
    m.crl.replace(vec![super::crl::CrlSample {
        id: "r".into(),
        mutual_authentication_id: "m".into(),
        next_update: 1,
        revoked: 1,
    }]);
    d.request(200);
    d.origin_error("connect");
    m.set_certificate_expiry([("c", "a.example", 1)]);
    m.set_client_ca_expiry([("m", "CN=x", 1)]);
    m.observe_build(Duration::ZERO, true);
    m.render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The `mtls_proxy_*` names in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    expr.match_indices("mtls_proxy_")
        .map(|(i, _)| {
            expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[test]
fn dashboard_queries_exported_metrics_and_covers_them_all() {
    let dash: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(!dash["title"].as_str().unwrap().is_empty());
    let exported = exported();
    let mut used = HashSet::new();
    for p in dash["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel without query: {}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            for name in names_in(expr) {
                assert!(
                    exported.contains(&name),
                    "{name} (in {expr}) is not exported"
                );
                used.insert(family(&name).to_string());
            }
        }
    }
    for name in &exported {
        assert!(used.contains(family(name)), "{name} is on no panel");
    }
}
