//! Server-side rendering of the status page: the template (`page.html`, with its CSS and the
//! script that re-renders the same parts from `/status/data`) filled with escaped HTML.

use std::fmt::Write as _;

use super::chart::{self, Series, ERROR_COLORS, VERDICT_COLORS};
use super::{StatusView, MAX_LISTED};
use crate::metrics::history::SAMPLES;
use crate::metrics::labels::{HANDSHAKE_ERROR_REASONS, NOT_REQUESTED, OK, VERDICTS};
use crate::model::timestamp::{format_ms, format_secs};
use crate::snapshot::inventory::ActivationInfo;

const TEMPLATE: &str = include_str!("page.html");

/// Escape text for HTML content and attribute values. Braces are escaped too, so no value can
/// look like a template placeholder.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(v: &StatusView) -> String {
    let parts = [
        ("summary", summary(v)),
        ("fleet", fleet(v)),
        ("tiles", tiles(v)),
        ("chart_verdicts", verdict_chart(v)),
        ("chart_errors", error_chart(v)),
        ("counts", counts(v)),
        ("activations", activations(v)),
        ("revocation_lists", revocation_lists(v)),
        ("updated", esc(&format_ms(v.now_ms))),
        ("colors", colors_json()),
    ];
    fill(TEMPLATE, &parts)
}

/// Replace each `{{key}}` in one pass (inserted text is never scanned again).
fn fill(template: &str, parts: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let key = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match parts.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn summary(v: &StatusView) -> String {
    let mut out = format!(
        r#"<span>Revision <b id="applied-revision">{}</b> applied</span>"#,
        v.applied_revision
    );
    if let Some(stored) = v.stored_revision {
        let _ = write!(
            out,
            r#" <span id="stored-revision">(stored {stored})</span>"#
        );
    }
    if let Some(ms) = v.last_swap_ms {
        let _ = write!(out, " <span>· last swap {}</span>", esc(&format_ms(ms)));
    }
    match (&v.last_error, v.last_error_ms) {
        (Some(e), at) => {
            let at = at.map(format_ms).unwrap_or_default();
            let _ = write!(
                out,
                r#"<p id="last-error" class="error">Last reload error ({}): {}</p>"#,
                esc(&at),
                esc(e)
            );
        }
        (None, _) => out.push_str(r#"<p id="last-error" class="fine">No reload error.</p>"#),
    }
    out
}

/// The store (reachable or since when not, and why), the lag, the cache, and the nodes.
fn fleet(v: &StatusView) -> String {
    let f = &v.fleet;
    let h = &f.health;
    let mut out = format!(
        r#"<p id="store-state" data-reachable="{}">Store <b>{}</b>: "#,
        match h.reachable {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        },
        esc(&f.backend)
    );
    match (h.reachable, h.down_since_ms) {
        (Some(false), since) => {
            let _ = write!(
                out,
                r#"<span class="error">unreachable since {}: {}</span> — serving the last good snapshot; writes are refused"#,
                esc(&since.map(format_ms).unwrap_or_default()),
                esc(h.error.as_deref().unwrap_or(""))
            );
        }
        _ => {
            let _ = write!(
                out,
                r#"<span class="fine">reachable</span> <small>last contact {}</small>"#,
                esc(&h.last_contact_ms.map(format_ms).unwrap_or_default())
            );
        }
    }
    if let Some(lag) = f.revision_lag() {
        let _ = write!(out, r#" · revision lag <b id="revision-lag">{lag}</b>"#);
    }
    out.push_str("</p>");
    if let Some(c) = &f.cache {
        let _ = write!(
            out,
            r#"<p id="cache-state">Local cache {}: revision {}{}</p>"#,
            esc(&c.path.display().to_string()),
            c.revision
                .map(|r| r.to_string())
                .unwrap_or_else(|| "none yet".into()),
            c.error
                .as_deref()
                .map(|e| format!(r#" <span class="error">{}</span>"#, esc(e)))
                .unwrap_or_default()
        );
    }
    let Some(nodes) = &f.nodes else {
        return out;
    };
    out.push_str(
        r#"<table id="nodes"><thead><tr><th>Node</th><th>Proxy</th><th>Admin</th><th>Applied revision</th><th>Lag</th><th>Last seen</th></tr></thead><tbody>"#,
    );
    for n in &nodes.nodes {
        let ago = nodes.now.saturating_sub(n.last_seen).max(0);
        let lag = f
            .stored_revision
            .map(|s| s.saturating_sub(n.applied_revision).to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr data-node="{0}"><td>{0}{1}</td><td>{2}</td><td>{3}</td><td class="num">{4}</td><td class="num">{5}</td><td class="{6}">{7} <small>{8} s ago</small></td></tr>"#,
            esc(&n.id),
            if n.id == f.node_id {
                " <small>(this node)</small>"
            } else {
                ""
            },
            esc(&n.proxy_listen),
            esc(&n.admin_listen),
            n.applied_revision,
            lag,
            if ago > f.stale_after_ms { "soon" } else { "" },
            esc(&format_ms(n.last_seen)),
            ago / 1000
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn tile(id: &str, label: &str, value: u64) -> String {
    format!(
        r#"<div class="tile"><span>{label}</span><b id="{id}" data-value="{value}">{value}</b></div>"#
    )
}

fn tiles(v: &StatusView) -> String {
    let t = &v.totals;
    let other: u64 = (0..VERDICTS.len())
        .filter(|i| *i != OK && *i != NOT_REQUESTED)
        .filter_map(|i| t.handshakes.get(i))
        .sum();
    [
        tile("tile-ok", "Handshakes, verdict ok", t.handshakes[OK]),
        tile("tile-not-ok", "Handshakes, other verdicts", other),
        tile(
            "tile-failed",
            "Failed handshakes",
            t.handshake_errors.iter().sum(),
        ),
        tile("tile-fail-open", "Fail-open passes", t.fail_open),
        tile("tile-misdirected", "421 misdirected", t.misdirected),
        tile("tile-requests", "Requests", t.requests),
        tile(
            "tile-connections",
            "Open connections",
            u64::try_from(v.connections_active).unwrap_or(0),
        ),
    ]
    .concat()
}

/// Legend (series with counts in the window, with their sums) and chart.
fn chart_block(series: &[Series<'_>], title: &str, empty: &str) -> String {
    let mut legend = String::new();
    for s in series.iter().filter(|s| s.total() > 0) {
        let _ = write!(
            legend,
            r#"<span class="key" data-series="{0}"><i style="background:{1}"></i>{0} <b>{2}</b></span>"#,
            esc(s.label),
            esc(s.color),
            s.total()
        );
    }
    if legend.is_empty() {
        legend = format!(r#"<span class="empty">{}</span>"#, esc(empty));
    } else {
        let _ = write!(
            legend,
            r#"<span class="peak">peak {}/s</span>"#,
            chart::peak(series)
        );
    }
    format!(
        r#"<div class="legend">{legend}</div>{}"#,
        chart::svg(series, SAMPLES, title)
    )
}

fn verdict_chart(v: &StatusView) -> String {
    let series: Vec<Series<'_>> = VERDICTS
        .iter()
        .zip(VERDICT_COLORS)
        .enumerate()
        .map(|(i, (label, color))| Series {
            label,
            color,
            values: v
                .history
                .iter()
                .map(|s| s.counts.handshakes.get(i).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    chart_block(
        &series,
        "Handshakes per second by verdict",
        "No handshakes in the window.",
    )
}

fn error_chart(v: &StatusView) -> String {
    let series: Vec<Series<'_>> = HANDSHAKE_ERROR_REASONS
        .iter()
        .zip(ERROR_COLORS)
        .enumerate()
        .map(|(i, (label, color))| Series {
            label,
            color,
            values: v
                .history
                .iter()
                .map(|s| s.counts.handshake_errors.get(i).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    chart_block(
        &series,
        "Failed handshakes per second by reason",
        "No failed handshakes in the window.",
    )
}

fn count_table(id: &str, head: &str, labels: &[&str], colors: &[&str], counts: &[u64]) -> String {
    let mut out = format!(r#"<table id="{id}"><tr><th>{head}</th><th>since start</th></tr>"#);
    for ((label, color), n) in labels.iter().zip(colors).zip(counts) {
        let _ = write!(
            out,
            r#"<tr data-label="{label}"><td><i style="background:{color}"></i>{label}</td><td class="num">{n}</td></tr>"#
        );
    }
    out.push_str("</table>");
    out
}

fn counts(v: &StatusView) -> String {
    let t = &v.totals;
    count_table(
        "verdict-counts",
        "Handshakes by verdict",
        &VERDICTS,
        &VERDICT_COLORS,
        &t.handshakes,
    ) + &count_table(
        "reason-counts",
        "Failed handshakes by reason",
        &HANDSHAKE_ERROR_REASONS,
        &ERROR_COLORS,
        &t.handshake_errors,
    )
}

fn expiry_cell(v: &StatusView, not_after: i64) -> String {
    let days = v.days_left(not_after);
    let (class, note) = match days {
        d if d < 0 => ("expired", format!("expired {} days ago", -d)),
        d if d < 30 => ("soon", format!("in {d} days")),
        d => ("", format!("in {d} days")),
    };
    format!(
        r#"<td class="{class}">{} <small>{note}</small></td>"#,
        esc(&format_secs(not_after))
    )
}

fn activation_row(v: &StatusView, a: &ActivationInfo) -> String {
    let (ma, enforced) = match &a.mutual_authentication {
        Some(m) => (
            format!("{} <small>{}</small>", esc(&m.name), esc(&m.id)),
            if m.enforced { "yes" } else { "no (fail open)" },
        ),
        None => ("—".to_string(), "—"),
    };
    format!(
        r#"<tr data-domain="{0}"><td>{0}</td><td>{1} <small>{2}</small></td>{3}<td>{4}</td><td>{5}</td></tr>"#,
        esc(&a.domain),
        esc(&a.certificate_name),
        esc(&a.certificate_id),
        expiry_cell(v, a.certificate_not_after),
        ma,
        enforced
    )
}

fn activations(v: &StatusView) -> String {
    let all = &v.inventory.activations;
    let total = v.inventory.total;
    let mut out = String::from(
        r#"<table id="activations"><thead><tr><th>Domain</th><th>Certificate</th><th>Expires</th><th>Mutual authentication</th><th>Enforced</th></tr></thead><tbody>"#,
    );
    for a in all.iter().take(MAX_LISTED) {
        out.push_str(&activation_row(v, a));
    }
    out.push_str("</tbody></table>");
    if all.is_empty() {
        out.push_str(r#"<p class="empty">No activations.</p>"#);
    } else if total > MAX_LISTED {
        let _ = write!(
            out,
            r#"<p class="empty">and {} more (see /tls/activations)</p>"#,
            total - MAX_LISTED
        );
    }
    out
}

/// The revocation lists with their freshness (stale: past nextUpdate).
fn revocation_lists(v: &StatusView) -> String {
    let lists = &v.inventory.revocation_lists;
    if lists.is_empty() {
        return r#"<p class="empty">No revocation lists.</p>"#.to_string();
    }
    let mut out = String::from(
        r#"<table id="revocation-lists"><thead><tr><th>Revocation list</th><th>Mutual authentication</th><th>Issuer</th><th>Next update</th><th>Revoked</th><th>Refresh</th></tr></thead><tbody>"#,
    );
    for l in lists {
        let next = esc(&format_secs(l.next_update));
        let fresh = match v.is_stale(l.next_update) {
            true => format!(r#"<td class="expired">{next} <small>stale</small></td>"#),
            false => format!("<td>{next} <small>fresh</small></td>"),
        };
        let refresh = match (l.refreshed, &l.last_fetch_error) {
            (false, _) => "—".to_string(),
            (true, Some(e)) => format!(
                r#"<span class="error">last fetch failed: {}</span>"#,
                esc(e)
            ),
            (true, None) => "from its url".to_string(),
        };
        let _ = write!(
            out,
            r#"<tr data-list="{0}"><td>{1} <small>{0}</small></td><td>{2}</td><td>{3}</td>{fresh}<td class="num">{4}</td><td>{refresh}</td></tr>"#,
            esc(&l.id),
            esc(&l.name),
            esc(&l.mutual_authentication_id),
            esc(&l.issuer),
            l.revoked_count
        );
    }
    out.push_str("</tbody></table>");
    let total = v.inventory.revocation_lists_total;
    if total > lists.len() {
        let _ = write!(
            out,
            r#"<p class="empty">and {} more (see /tls/revocation_lists)</p>"#,
            total - lists.len()
        );
    }
    out
}

/// The labels in display order with their colours, for the script (arrays: JSON objects
/// would not keep the order).
fn colors_json() -> String {
    let pairs = |labels: &[&str], colors: &[&str]| -> serde_json::Value {
        labels
            .iter()
            .zip(colors)
            .map(|(l, c)| serde_json::json!([l, c]))
            .collect()
    };
    serde_json::json!({
        "handshakes": pairs(&VERDICTS, &VERDICT_COLORS),
        "handshake_errors": pairs(&HANDSHAKE_ERROR_REASONS, &ERROR_COLORS),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::tests::view;
    use super::*;

    #[test]
    fn escapes_markup_and_placeholders() {
        assert_eq!(
            esc(r#"<a href="x">&'{{"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&#123;&#123;"
        );
    }

    #[test]
    fn fill_is_single_pass() {
        let parts = [("a", "{{b}}".to_string()), ("b", "B".to_string())];
        assert_eq!(fill("x{{a}}y{{b}}z{{c}}", &parts), "x{{b}}yBz{{c}}");
        assert_eq!(fill("open {{ only", &parts), "open {{ only");
    }

    #[test]
    fn page_shows_activations_counts_and_escaped_error() {
        let page = render(&view());
        for needle in [
            r#"<tr data-domain="api.example.com"><td>api.example.com</td>"#,
            "partners &lt;&amp;&gt; <small>ma1</small>",
            "<td>yes</td>",
            r#"class="soon""#,
            r#"<b id="tile-ok" data-value="7">7</b>"#,
            r#"<b id="tile-fail-open" data-value="3">3</b>"#,
            r#"<b id="tile-misdirected" data-value="1">1</b>"#,
            r#"<b id="tile-failed" data-value="2">2</b>"#,
            r#"<polyline data-series="ok""#,
            r#"<span class="peak">peak 4/s</span>"#,
            "Last reload error (1970-01-12T13:46:40.000Z): TLS activation x: &lt;bad&gt;",
            r#"<b id="applied-revision">5</b>"#,
            r#"<p id="store-state" data-reachable="false">Store <b>PostgreSQL app@db:5432/proxy</b>: <span class="error">unreachable since 1970-01-01T00:00:02.000Z: the store is unavailable: connection refused</span>"#,
            r#"revision lag <b id="revision-lag">2</b>"#,
            r#"<tr data-node="a"><td>a <small>(this node)</small></td>"#,
            r#"<td class="soon">1970-01-01T00:00:10.000Z <small>50 s ago</small></td>"#,
            r#"<tr data-list="r1"><td>partner CRL &lt;x&gt; <small>r1</small></td>"#,
            r#"<td class="expired">1970-01-12T13:46:39.000Z <small>stale</small></td><td class="num">4</td><td><span class="error">last fetch failed: HTTP 503</span></td>"#,
            "<small>fresh</small>",
        ] {
            assert!(page.contains(needle), "{needle} missing");
        }
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(!page.contains("<bad>"));
    }
}
