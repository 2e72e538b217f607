//! The one point where an established connection is told to end: whatever the reason (process
//! shutdown, a swap that no longer admits it, its certificate's expiry, its maximum age, a
//! timeout), [`WindDown::begin`] records the first reason, and everything that serves the
//! connection reacts to it: the request service answers new requests 421 and the connection
//! loop closes gracefully (HTTP/1.1 `Connection: close`, HTTP/2 GOAWAY) within its bound.
//! Long-lived work on a connection (a WebSocket tunnel) holds its [`WindDown::token`] and closes
//! at once when it fires: unlike a request it would otherwise never finish.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why a connection ends, as logged in its `end` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed it, or it failed.
    Closed,
    /// The process is stopping.
    Shutdown,
    /// A swap no longer admits it as it was admitted (rule 5, docs/architecture.md).
    PolicyChanged,
    /// A certificate of its verified chain expired (enforced mutual authentication).
    CertificateExpired,
    /// It reached `proxy.max_connection_age`.
    MaxAge,
    /// No complete request head within `proxy.request_header_timeout`.
    RequestHeaderTimeout,
    /// No request in flight for `proxy.idle_timeout`.
    IdleTimeout,
}

impl Ending {
    /// The log form.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Shutdown => "shutdown",
            Ending::PolicyChanged => "policy_changed",
            Ending::CertificateExpired => "certificate_expired",
            Ending::MaxAge => "max_age",
            Ending::RequestHeaderTimeout => "request_header_timeout",
            Ending::IdleTimeout => "idle_timeout",
        }
    }

    /// Whether requests may be in flight when this happens, so that they get the drain (or
    /// shutdown) bound to finish; the timeouts fire only on connections with none.
    pub fn drains(self) -> bool {
        !matches!(
            self,
            Ending::Closed | Ending::RequestHeaderTimeout | Ending::IdleTimeout
        )
    }
}

/// One connection's wind-down signal.
#[derive(Debug)]
pub struct WindDown {
    reason: watch::Sender<Option<Ending>>,
    /// Cancelled when winding down starts, for tunnels.
    token: CancellationToken,
}

impl Default for WindDown {
    fn default() -> Self {
        WindDown {
            reason: watch::Sender::new(None),
            token: CancellationToken::new(),
        }
    }
}

impl WindDown {
    /// Start winding down for `why`. Only the first reason counts; returns whether this call
    /// was the first.
    pub fn begin(&self, why: Ending) -> bool {
        let first = self.reason.send_if_modified(|reason| match reason {
            Some(_) => false,
            None => {
                *reason = Some(why);
                true
            }
        });
        self.token.cancel();
        first
    }

    /// A token cancelled when winding down starts (for a tunnel, which ends at once).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Why the connection is winding down, if it is.
    pub fn reason(&self) -> Option<Ending> {
        *self.reason.borrow()
    }

    /// A receiver that sees the reason once winding down starts (for work that outlives a
    /// request, such as a tunnel).
    pub fn subscribe(&self) -> watch::Receiver<Option<Ending>> {
        self.reason.subscribe()
    }

    /// Resolves with the reason once winding down has started (at once if it has).
    pub async fn started(&self) -> Ending {
        let mut rx = self.reason.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => *reason,
            // The sender lives in `self`: it cannot be gone while we borrow it.
            Err(_) => None,
        };
        reason.unwrap_or(Ending::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_every_listener_sees_it() {
        let w = WindDown::default();
        assert_eq!(w.reason(), None);
        let tunnel = w.subscribe();
        let waiting = tokio::spawn({
            let mut rx = w.subscribe();
            async move { *rx.wait_for(Option::is_some).await.unwrap() }
        });
        let tunnel_token = w.token();
        assert!(!tunnel_token.is_cancelled());
        assert!(w.begin(Ending::CertificateExpired));
        assert!(tunnel_token.is_cancelled());
        assert!(!w.begin(Ending::Shutdown));
        assert_eq!(w.reason(), Some(Ending::CertificateExpired));
        assert_eq!(w.started().await, Ending::CertificateExpired);
        assert_eq!(waiting.await.unwrap(), Some(Ending::CertificateExpired));
        assert!(tunnel.has_changed().unwrap());
    }

    #[test]
    fn endings_are_logged_by_name() {
        assert_eq!(Ending::PolicyChanged.as_str(), "policy_changed");
        assert_eq!(
            Ending::RequestHeaderTimeout.as_str(),
            "request_header_timeout"
        );
        assert!(Ending::MaxAge.drains() && !Ending::IdleTimeout.drains());
    }
}
