//! The state of one established connection as its requests see it: the snapshot it is judged
//! by now, its current verdict and the certificate headers that go with it, its wind-down
//! signal and its activity. Every request passes [`ConnState::admit_request`] first, so that
//! nothing is served on a connection that a swap, its certificate's expiry or a wind-down no
//! longer admits, whatever the client does and however late the connection's own task notices
//! (rule 5, docs/architecture.md). Its open tunnels are requests that never end: whenever its
//! view or verdict changes, each is routed again and closed if its route would now refuse the
//! connection.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use http::HeaderValue;
use rustls::pki_types::UnixTime;

use super::activity::Activity;
use super::cert_headers::cache::HeaderCache;
use super::cert_headers::{xfcc_value, CertHeaderOptions, PrebuiltCertHeaders};
use super::forwarding::ForwardFor;
use super::readmission::{readmit, Readmission};
use super::tunnel::Tunnels;
use super::wind_down::{Ending, WindDown};
use crate::acceptor::ConnInfo;
use crate::snapshot::entry::Snapshot;
use crate::snapshot::verdict::Verdict;
use crate::snapshot::verifier::ClientAuth;

/// The connection's verdict and what follows from it.
#[derive(Debug)]
pub struct Judged {
    /// None when the domain has no mutual authentication.
    pub verdict: Option<Verdict>,
    /// The client-certificate headers for this verdict (without XFCC, added per request).
    pub headers: PrebuiltCertHeaders,
    /// When the connection must be judged again: the next notAfter (unix seconds) of its
    /// leaf or a certificate that may be on its verified path.
    pub next_expiry: Option<i64>,
}

/// Per-connection state shared by the connection loop and every request.
pub struct ConnState {
    pub info: ConnInfo,
    /// The newest snapshot that still admits this connection (`proxy::readmission`); moved
    /// forward after each swap, so a kept connection follows other domains' policy changes
    /// and new routes instead of serving from the snapshot of its handshake forever.
    pub view: ArcSwap<Snapshot>,
    judged: ArcSwap<Judged>,
    /// The one point through which the connection is ended (see `wind_down`).
    pub wind_down: WindDown,
    pub activity: Arc<Activity>,
    /// Its open tunnels (WebSocket), which outlive hyper's view of the connection.
    pub tunnels: Tunnels,
    /// The XFCC element, built on first use (only when enabled and the verdict is `ok`).
    xfcc: OnceLock<Option<HeaderValue>>,
    /// The forwarding headers for the first authority its requests named.
    forward_for: OnceLock<ForwardFor>,
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

impl ConnState {
    /// State for a connection with no request yet, viewing the snapshot of its handshake;
    /// its `ok` headers come from `cache` when another connection of its certificate built
    /// them.
    pub fn new(info: ConnInfo, cache: &HeaderCache) -> ConnState {
        let next_expiry = info
            .identity
            .as_ref()
            .and_then(|id| id.expiries.first().copied());
        let ma = info.entry.mutual_authentication_id.as_ref();
        let headers = match (info.verdict, ma, &info.identity) {
            (Some(Verdict::Ok), Some(ma), Some(id)) => {
                cache.ok_headers(ma, id, || headers_for(&info, info.verdict))
            }
            _ => headers_for(&info, info.verdict),
        };
        let judged = Judged {
            verdict: info.verdict,
            headers,
            next_expiry,
        };
        ConnState {
            view: ArcSwap::new(info.snapshot.clone()),
            judged: ArcSwap::from_pointee(judged),
            info,
            wind_down: WindDown::default(),
            activity: Activity::new(),
            tunnels: Tunnels::default(),
            xfcc: OnceLock::new(),
            forward_for: OnceLock::new(),
        }
    }

    /// The connection's current verdict and headers.
    pub fn judged(&self) -> Arc<Judged> {
        self.judged.load_full()
    }

    /// Before a request is served: the snapshot to serve it by, or why it must not be served
    /// (the connection then winds down for that reason).
    pub fn admit_request(&self, live: &ArcSwap<Snapshot>) -> Result<Arc<Snapshot>, Ending> {
        if let Some(why) = self.wind_down.reason() {
            return Err(why);
        }
        let refusal = match self.follow(live) {
            false => Some(Ending::PolicyChanged),
            true => self.judge_time(unix_now()).err(),
        };
        if let Some(why) = refusal {
            self.wind_down.begin(why);
            return Err(self.wind_down.reason().unwrap_or(why));
        }
        Ok(self.view.load_full())
    }

    /// Move the connection's view to the live snapshot if that still admits it, with the
    /// verdict it gives now (a fail-open connection whose certificate was revoked since carries
    /// on as `revoked`); false when it does not (its view then stays where it was).
    pub fn follow(&self, live: &ArcSwap<Snapshot>) -> bool {
        let live = live.load();
        // The common case, on every request: no swap since the last look.
        if Arc::ptr_eq(&live, &self.view.load()) {
            return true;
        }
        let judged = self.judged.load();
        match readmit(&live, &self.info, judged.verdict) {
            Readmission::Refused => return false,
            Readmission::Same => {}
            Readmission::Rejudged(now) => {
                tracing::debug!(peer = %self.info.peer, verdict = now.as_str(), "connection judged again");
                self.judged.store(Arc::new(Judged {
                    verdict: Some(now),
                    headers: headers_for(&self.info, Some(now)),
                    next_expiry: judged.next_expiry,
                }));
            }
        }
        self.view.store(Arc::clone(&live));
        self.recheck_tunnels();
        true
    }

    /// Close the open tunnels whose route the connection's current view and verdict no longer
    /// admit: a fail-open connection judged `revoked` or `expired` since it opened a tunnel on
    /// a route with identity rules, or rules reloaded that its certificate no longer matches.
    /// A new request there gets 403; a tunnel there must not carry on either (rule 5, docs/architecture.md).
    /// Tunnels on routes that still admit it carry on.
    fn recheck_tunnels(&self) {
        if self.tunnels.count() == 0 {
            return;
        }
        let view = self.view.load();
        let verdict = self.judged.load().verdict;
        let identity = self.info.identity.as_deref();
        let closed = self.tunnels.close_where(|scope| {
            match view.routing(&scope.host, &scope.path) {
                Ok((routing, _)) => routing.route.is_some_and(|r| !r.admits(verdict, identity)),
                // It was routed by this path once: now unroutable, it is refused.
                Err(_) => true,
            }
        });
        if closed > 0 {
            tracing::debug!(
                peer = %self.info.peer,
                closed,
                verdict = verdict.map(Verdict::as_str),
                "tunnels closed: their route no longer admits the connection"
            );
        }
    }

    /// The policy the connection is under now: its domain's in the current view.
    fn client_auth(&self) -> Option<Arc<ClientAuth>> {
        let view = self.view.load();
        let serving = view.serving(self.info.sni.as_deref(), self.info.fallback);
        match serving {
            Some(entry) => entry.client_auth.clone(),
            None => self.info.entry.client_auth.clone(),
        }
    }

    /// Judge the connection again once `now` (unix seconds) has reached its next expiry:
    /// `Err` when its enforced policy no longer admits it; on a fail-open domain the verdict
    /// and headers of the following requests change (to `expired`). A certificate counts as
    /// expired from its notAfter on (whole seconds, as X.509 has them), never later.
    pub fn judge_time(&self, now: i64) -> Result<(), Ending> {
        let judged = self.judged.load();
        let Some(due) = judged.next_expiry.filter(|due| now >= *due) else {
            return Ok(());
        };
        let (Some(auth), Some(identity)) = (self.client_auth(), &self.info.identity) else {
            // Nothing to judge (no policy or no certificate): never due again.
            self.judged.store(Arc::new(Judged {
                verdict: judged.verdict,
                headers: judged.headers.clone(),
                next_expiry: None,
            }));
            return Ok(());
        };
        // As of the first second past `due` (or now, if later).
        let at = now.max(due.saturating_add(1));
        let at_time =
            UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or_default()));
        let verdict = auth.verdict_at(Some(&identity.chain()), at_time);
        if !auth.admits(verdict) {
            return Err(Ending::CertificateExpired);
        }
        let next_expiry = identity.expiries.iter().copied().find(|t| *t >= at);
        let verdict = Some(verdict);
        let changed = verdict != judged.verdict;
        let headers = match changed {
            false => judged.headers.clone(),
            true => headers_for(&self.info, verdict),
        };
        self.judged.store(Arc::new(Judged {
            verdict,
            headers,
            next_expiry,
        }));
        if changed {
            self.recheck_tunnels();
        }
        Ok(())
    }

    /// The forwarding headers' values for a request naming `authority`: built once for the
    /// first authority the connection's requests name, per request for any other.
    pub fn forward_for(&self, authority: &str) -> Cow<'_, ForwardFor> {
        let peer = self.info.peer.ip();
        let first = self
            .forward_for
            .get_or_init(|| ForwardFor::new(peer, authority));
        match first.names(authority) {
            true => Cow::Borrowed(first),
            false => Cow::Owned(ForwardFor::new(peer, authority)),
        }
    }

    /// The XFCC header value for this connection's certificate, when `view` enables XFCC and
    /// the current verdict is `ok` (XFCC has no verdict field: never for anything else).
    pub fn xfcc(&self, view: &Snapshot, judged: &Judged) -> Option<&HeaderValue> {
        if !view.xfcc || judged.verdict != Some(Verdict::Ok) {
            return None;
        }
        self.xfcc
            .get_or_init(|| {
                let identity = self.info.identity.as_ref()?;
                xfcc_value(identity, None)
            })
            .as_ref()
    }
}

/// The client-certificate headers of a connection with `verdict` (without XFCC).
fn headers_for(info: &ConnInfo, verdict: Option<Verdict>) -> PrebuiltCertHeaders {
    let (Some(verdict), Some(ma)) = (verdict, info.entry.mutual_authentication_id.as_deref())
    else {
        return PrebuiltCertHeaders::default();
    };
    PrebuiltCertHeaders::new(
        Some(ma),
        verdict.as_str(),
        info.identity.as_deref(),
        &CertHeaderOptions { xfcc: false },
        None,
    )
}
