//! The refresher task: fetch each list with a `url` when it is due, hand the outcome to
//! control (which validates a fetched CRL exactly like an upload: issuer, signature, not older),
//! count and log failures, and report lists going stale. A failed fetch keeps the current CRL.
//!
//! When a fetch is due: at once for a list it has not fetched yet (or whose url changed), then
//! every `refresh` after a success but early enough to fetch a successor [`LEAD`] before the
//! nextUpdate, and every `min(refresh, RETRY)` after a failure or once the list is within
//! [`LEAD`] of going stale (a CA that publishes late is asked again, not hammered).
//!
//! It reads through control's read API only, and only what changed: every list once at start,
//! then, on each publish, the lists among the rows changed since the revision it last read.
//!
//! In a fleet sharing one store only one node fetches (see [`Refresher::fetch_when`]): every
//! node fetching would multiply the load on the CRL server by the fleet's size, and nodes that
//! see the URL differently (one cannot reach it, one reaches a server still serving the older
//! CRL) would keep overwriting each other's `last_fetch_error`. Every node still follows the
//! lists and judges staleness by itself: that is its own data plane's business.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use tokio::sync::watch;

use super::fetch::Fetcher;
use crate::control::change::RevocationFetch;
use crate::control::reads::{Reads, RevocationListQuery, Window};
use crate::control::StoreError;
use crate::control::{Change, Control, ControlError};
use crate::metrics::Metrics;
use crate::model::{Kind, Record, RevocationList, RowChange, Update};
use crate::shutdown::stopped;

/// How long before a list's nextUpdate its successor is fetched.
pub const LEAD: Duration = Duration::from_secs(300);
/// Shortest gap between two fetches of one list after a failure (capped by `refresh`).
pub const RETRY: Duration = Duration::from_secs(60);
/// Longest sleep: the schedule is recomputed at least this often (clock changes).
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// Whether this node fetches now (None: not known yet, so not now); asked at every round.
pub type FetchGate = Arc<dyn Fn() -> Option<bool> + Send + Sync>;

/// What the task remembers about one list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    /// The URL of the last attempt (a new URL is fetched at once).
    url: String,
    /// Unix milliseconds.
    last_attempt_ms: i64,
    last_ok: bool,
}

/// What the task knows of one list: what scheduling and reporting need, and a digest of the
/// CRL instead of the CRL (a fetched CRL equal to it is not written again).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    id: String,
    mutual_authentication_id: String,
    issuer: String,
    url: Option<String>,
    /// Unix seconds.
    next_update: i64,
    last_fetch_error: Option<String>,
    crl_sha256: Vec<u8>,
}

impl Known {
    fn of(l: &RevocationList) -> Known {
        Known {
            id: l.id.clone(),
            mutual_authentication_id: l.mutual_authentication_id.clone(),
            issuer: l.issuer.clone(),
            url: l.url.clone(),
            next_update: l.next_update,
            last_fetch_error: l.last_fetch_error.clone(),
            crl_sha256: sha256(&l.crl_pem),
        }
    }
}

fn sha256(text: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

/// What a read brought: every list, or the lists changed since the last read.
enum Read {
    All(u64, Vec<Known>),
    Changed(u64, Vec<Result<Known, String>>),
}

/// The lists as of `since` (None: every list), read on one consistent view.
fn read_lists(r: &dyn Reads, since: Option<u64>) -> Result<Read, StoreError> {
    let all = |revision, lists: &[RevocationList]| {
        Read::All(revision, lists.iter().map(Known::of).collect())
    };
    let Some(since) = since else {
        let revision = r.revision()?;
        let lists = r.list_revocation_lists(&RevocationListQuery::default(), Window::ALL)?;
        return Ok(all(revision, &lists.items));
    };
    Ok(match r.changes_since(since)? {
        Update::Full(state) => all(state.revision, &state.revocation_lists),
        Update::Delta(delta) => {
            let changed = delta
                .rows
                .iter()
                .filter_map(|row| match row {
                    RowChange::Put(Record::RevocationList(l)) => Some(Ok(Known::of(l))),
                    RowChange::Removed(Kind::RevocationList, id) => Some(Err(id.clone())),
                    _ => None,
                })
                .collect();
            Read::Changed(delta.to, changed)
        }
    })
}

/// The task's state.
pub struct Refresher {
    control: Arc<Control>,
    fetcher: Fetcher,
    metrics: Arc<Metrics>,
    refresh: Duration,
    /// The lists, by id, as of `revision`.
    lists: HashMap<String, Known>,
    /// The store revision `lists` reflects (None before the first read).
    revision: Option<u64>,
    tracked: HashMap<String, Tracked>,
    /// Lists known to be stale (warned about once per stale period).
    stale: HashMap<String, i64>,
    /// Whether this node fetches, and how often a node that does not asks again.
    gate: Option<(FetchGate, Duration)>,
    /// Whether the last round fetched (to log the hand-overs).
    fetching: Option<bool>,
}

impl Refresher {
    /// A refresher fetching with `fetcher` at least every `refresh`.
    pub fn new(
        control: Arc<Control>,
        fetcher: Fetcher,
        metrics: Arc<Metrics>,
        refresh: Duration,
    ) -> Refresher {
        Refresher {
            control,
            fetcher,
            metrics,
            refresh,
            lists: HashMap::new(),
            revision: None,
            tracked: HashMap::new(),
            stale: HashMap::new(),
            gate: None,
            fetching: None,
        }
    }

    /// Fetch only while `gate` says so, asking again at least every `recheck` (a fleet elects
    /// one fetching node; without a gate this node always fetches). Fetch results still reach
    /// the store through control, validated as an upload, so two nodes briefly both fetching
    /// (while the fleet's list of nodes settles) cannot put an older or foreign CRL in place.
    pub fn fetch_when(mut self, gate: FetchGate, recheck: Duration) -> Refresher {
        self.gate = Some((gate, recheck));
        self
    }

    /// Whether this round fetches; logs when that changes (once it is known).
    fn fetches_now(&mut self) -> bool {
        let Some(now) = self.gate.as_ref().map_or(Some(true), |(gate, _)| gate()) else {
            return false;
        };
        if self.gate.is_some() && self.fetching != Some(now) {
            match now {
                true => {
                    tracing::info!("this node fetches the fleet's revocation lists from their URLs")
                }
                false => tracing::info!(
                    "another node fetches the fleet's revocation lists; this one follows them"
                ),
            }
        }
        self.fetching = Some(now);
        now
    }

    /// Run until `shutdown`; `changes` (the publisher's swap notifications) wakes it when lists
    /// are created, replaced or given another url.
    pub async fn run(
        mut self,
        mut changes: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let wake = match self.round(&mut shutdown).await {
                Some(wake) => wake,
                None => return,
            };
            tokio::select! {
                _ = tokio::time::sleep(wake) => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = stopped(&mut shutdown) => return,
            }
        }
    }

    /// One pass over the lists; how long to sleep after it (None: shutting down).
    async fn round(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<Duration> {
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "cannot read the revocation lists; retrying");
            return Some(RETRY);
        }
        let mut lists: Vec<Known> = self.lists.values().cloned().collect();
        lists.sort_by(|a, b| a.id.cmp(&b.id));
        self.tracked.retain(|id, _| self.lists.contains_key(id));
        self.note_staleness(&lists, now_ms()).await;
        if !self.fetches_now() {
            return Some(self.next_wake(&lists, now_ms(), false));
        }
        for list in &lists {
            let Some(url) = list.url.as_deref() else {
                continue;
            };
            if due_ms(
                self.tracked.get(&list.id),
                url,
                list.next_update,
                self.refresh,
            ) > now_ms()
            {
                continue;
            }
            tokio::select! {
                _ = self.refresh_one(list, url) => {}
                _ = stopped(shutdown) => return None,
            }
        }
        Some(self.next_wake(&lists, now_ms(), true))
    }

    /// Bring `lists` up to the store: every list the first time (or when the change log no
    /// longer reaches back), then only the lists changed since the last read.
    async fn sync(&mut self) -> Result<(), String> {
        let control = self.control.clone();
        let since = self.revision;
        let read = tokio::task::spawn_blocking(move || control.read(|r| read_lists(r, since)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        match read {
            Read::All(revision, lists) => {
                self.lists = lists.into_iter().map(|l| (l.id.clone(), l)).collect();
                self.revision = Some(revision);
            }
            Read::Changed(revision, changed) => {
                for change in changed {
                    match change {
                        Ok(l) => {
                            self.lists.insert(l.id.clone(), l);
                        }
                        Err(id) => {
                            self.lists.remove(&id);
                        }
                    }
                }
                self.revision = Some(revision);
            }
        }
        Ok(())
    }

    /// Warn once when a list goes stale (its revocations still apply; under `require_fresh`
    /// it now fails the chains it covers), and have control hand the data plane an empty
    /// update so that it re-places the policies whose lists went stale (a policy's identity
    /// includes which of its lists are stale when fresh lists are required) and open
    /// connections are judged under them: O(their activations), not a rebuild.
    async fn note_staleness(&mut self, lists: &[Known], now: i64) {
        self.stale.retain(|id, _| lists.iter().any(|l| &l.id == id));
        let mut went_stale = false;
        for l in lists {
            let is_stale = now >= l.next_update.saturating_mul(1000);
            match (is_stale, self.stale.get(&l.id)) {
                (true, Some(next)) if *next == l.next_update => {}
                (true, _) => {
                    tracing::warn!(
                        revocation_list = %l.id,
                        mutual_authentication = %l.mutual_authentication_id,
                        issuer = %l.issuer,
                        next_update = %crate::model::timestamp::format_secs(l.next_update),
                        "revocation list is stale (past its nextUpdate); its revocations still apply"
                    );
                    self.stale.insert(l.id.clone(), l.next_update);
                    went_stale = true;
                }
                (false, _) => {
                    self.stale.remove(&l.id);
                }
            }
        }
        if went_stale {
            let control = self.control.clone();
            let published = tokio::task::spawn_blocking(move || control.reevaluate()).await;
            if let Ok(Err(e)) = published {
                tracing::warn!(error = %e, "re-judging after a list went stale failed");
            }
        }
    }

    /// Fetch one list and hand the outcome to control.
    async fn refresh_one(&mut self, list: &Known, url: &str) {
        let outcome = self.fetcher.fetch(url).await.map_err(|e| e.to_string());
        let unchanged = match &outcome {
            Ok(pem) => sha256(pem) == list.crl_sha256 && list.last_fetch_error.is_none(),
            Err(e) => list.last_fetch_error.as_deref() == Some(e.as_str()),
        };
        let recorded = match unchanged {
            true => Ok(list.last_fetch_error.clone()),
            false => self.record(list, url, outcome.clone()).await,
        };
        let failure = match (&outcome, recorded) {
            (Err(e), _) => Some(e.clone()),
            (Ok(_), Ok(error)) => error,
            (Ok(_), Err(e)) => Some(e),
        };
        self.metrics.crl.fetched(failure.is_none());
        match &failure {
            Some(error) => tracing::warn!(
                revocation_list = %list.id, url, %error,
                "revocation list fetch failed; its current CRL stays"
            ),
            None if !unchanged => {
                tracing::info!(revocation_list = %list.id, url, "revocation list refreshed")
            }
            None => tracing::debug!(revocation_list = %list.id, url, "revocation list unchanged"),
        }
        self.tracked.insert(
            list.id.clone(),
            Tracked {
                url: url.to_string(),
                last_attempt_ms: now_ms(),
                last_ok: failure.is_none(),
            },
        );
    }

    /// Apply the fetch through control; the list's `last_fetch_error` after it.
    async fn record(
        &self,
        list: &Known,
        url: &str,
        outcome: Result<String, String>,
    ) -> Result<Option<String>, String> {
        let control = self.control.clone();
        let change = Change::RecordRevocationFetch(RevocationFetch {
            id: list.id.clone(),
            url: url.to_string(),
            outcome,
        });
        let id = list.id.clone();
        let applied = tokio::task::spawn_blocking(move || {
            control.apply(change)?;
            let after = control.read(|r| r.revocation_list(&id))?;
            Ok::<_, ControlError>(after.and_then(|l| l.last_fetch_error))
        })
        .await;
        match applied {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Until the next fetch is due (when this node fetches), a list goes stale, or a node that
    /// does not fetch asks its gate again.
    fn next_wake(&self, lists: &[Known], now: i64, fetching: bool) -> Duration {
        let mut at = now.saturating_add(millis(MAX_SLEEP));
        if let Some((_, recheck)) = self.gate.as_ref().filter(|_| !fetching) {
            at = at.min(now.saturating_add(millis(*recheck)));
        }
        for l in lists {
            if let Some(url) = l.url.as_deref().filter(|_| fetching) {
                at = at.min(due_ms(
                    self.tracked.get(&l.id),
                    url,
                    l.next_update,
                    self.refresh,
                ));
            }
            let stale_at = l.next_update.saturating_mul(1000);
            if stale_at > now {
                at = at.min(stale_at);
            }
        }
        Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
    }
}

/// When a list is next due (Unix milliseconds); see the module documentation.
fn due_ms(tracked: Option<&Tracked>, url: &str, next_update: i64, refresh: Duration) -> i64 {
    let Some(t) = tracked.filter(|t| t.url == url) else {
        return i64::MIN;
    };
    let retry = t.last_attempt_ms.saturating_add(millis(refresh.min(RETRY)));
    if !t.last_ok {
        return retry;
    }
    let regular = t.last_attempt_ms.saturating_add(millis(refresh));
    let before_stale = next_update
        .saturating_mul(1000)
        .saturating_sub(millis(LEAD));
    regular.min(before_stale.max(retry))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    crate::model::timestamp::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn tracked(at: i64, ok: bool) -> Tracked {
        Tracked {
            url: "u".into(),
            last_attempt_ms: at,
            last_ok: ok,
        }
    }

    #[test]
    fn schedule() {
        let far = 10_000_000; // nextUpdate, seconds
                              // Never fetched, or the url changed: now.
        assert_eq!(due_ms(None, "u", far, HOUR), i64::MIN);
        assert_eq!(due_ms(Some(&tracked(0, true)), "v", far, HOUR), i64::MIN);
        // After a success: every refresh.
        assert_eq!(
            due_ms(Some(&tracked(1000, true)), "u", far, HOUR),
            1000 + 3_600_000
        );
        // After a failure: sooner (RETRY), never later than refresh.
        assert_eq!(
            due_ms(Some(&tracked(1000, false)), "u", far, HOUR),
            1000 + 60_000
        );
        let short = Duration::from_secs(1);
        assert_eq!(due_ms(Some(&tracked(1000, false)), "u", far, short), 2000);
        // Close to nextUpdate: LEAD before it, then every RETRY while late.
        let next = 3000; // seconds
        assert_eq!(
            due_ms(Some(&tracked(0, true)), "u", next, HOUR),
            3_000_000 - 300_000
        );
        let late = 3_000_000;
        assert_eq!(
            due_ms(Some(&tracked(late, true)), "u", next, HOUR),
            late + 60_000
        );
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;
    use crate::control::change::{MutualAuthenticationFields, RevocationListFields};
    use crate::devpki::Ca;
    use crate::store::{SqliteStore, Store};

    fn control() -> (Control, Ca, String) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let control = Control::without_data_plane(store);
        let root = Ca::new("root").unwrap();
        let ma = control
            .apply(Change::CreateMutualAuthentication(
                MutualAuthenticationFields {
                    cert_bundle: Some(root.cert().cert_pem.clone()),
                    ..MutualAuthenticationFields::default()
                },
            ))
            .unwrap()
            .id;
        (control, root, ma)
    }

    fn crl(ca: &Ca) -> String {
        let now = time::OffsetDateTime::now_utc();
        ca.crl(
            &[],
            1,
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        )
        .unwrap()
    }

    fn read(control: &Control, since: Option<u64>) -> Read {
        control.read(|r| read_lists(r, since)).unwrap()
    }

    #[test]
    fn after_the_first_read_only_changed_lists_are_read() {
        let (control, root, ma) = control();
        let list = |ma: &str, pem: String| {
            Change::CreateRevocationList(RevocationListFields {
                crl: Some(pem),
                mutual_authentication: Some(ma.to_string()),
                ..RevocationListFields::default()
            })
        };
        let first = control.apply(list(&ma, crl(&root))).unwrap();
        let Read::All(at, all) = read(&control, None) else {
            panic!("the first read takes every list");
        };
        assert_eq!(at, first.revision);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].crl_sha256, sha256(&crl_pem(&control, &first.id)));

        // An unrelated change and a new list: only the list is read back.
        let other = Ca::new("other").unwrap();
        let second_ma = control
            .apply(Change::CreateMutualAuthentication(
                MutualAuthenticationFields {
                    cert_bundle: Some(other.cert().cert_pem.clone()),
                    ..MutualAuthenticationFields::default()
                },
            ))
            .unwrap()
            .id;
        let second = control.apply(list(&second_ma, crl(&other))).unwrap();
        match read(&control, Some(at)) {
            Read::Changed(to, changed) => {
                assert_eq!(to, second.revision);
                let ids: Vec<_> = changed.iter().map(|c| c.as_ref().map(|k| &k.id)).collect();
                assert_eq!(ids, [Ok(&second.id)]);
            }
            Read::All(..) => panic!("the change log covers it: only the changes are read"),
        }
        // Deleted with its mutual authentication: a removal.
        control
            .apply(Change::DeleteMutualAuthentication { id: ma })
            .unwrap();
        match read(&control, Some(second.revision)) {
            Read::Changed(_, changed) => assert_eq!(changed, [Err(first.id.clone())]),
            Read::All(..) => panic!("the change log covers it"),
        }
        // Nothing new: nothing read.
        let now = control.stored_revision().unwrap();
        assert!(
            matches!(read(&control, Some(now)), Read::Changed(to, c) if to == now && c.is_empty())
        );
    }

    fn crl_pem(control: &Control, id: &str) -> String {
        control
            .read(|r| -> Result<_, StoreError> { r.revocation_list(id) })
            .unwrap()
            .unwrap()
            .crl_pem
    }

    #[tokio::test]
    async fn only_a_node_its_gate_elects_fetches_and_the_others_do_not_spin() {
        use std::sync::atomic::{AtomicU8, Ordering};
        let (control, root, ma) = control();
        // Nothing listens on port 1: a fetch fails at once, and says so in last_fetch_error.
        let url = "http://127.0.0.1:1/root.crl".to_string();
        let id = control
            .apply(Change::CreateRevocationList(RevocationListFields {
                crl: Some(crl(&root)),
                url: Some(Some(url.clone())),
                mutual_authentication: Some(ma),
                ..RevocationListFields::default()
            }))
            .unwrap()
            .id;
        let control = Arc::new(control);
        let fetch_error = || {
            control
                .read(|r| -> Result<_, StoreError> { r.revocation_list(&id) })
                .unwrap()
                .unwrap()
                .last_fetch_error
        };
        // 0: not known yet, 1: another node fetches, 2: this one does.
        let elected = Arc::new(AtomicU8::new(0));
        let gate = elected.clone();
        let recheck = Duration::from_secs(30);
        let mut refresher = Refresher::new(
            control.clone(),
            Fetcher::new(Duration::from_secs(5), None).unwrap(),
            Arc::new(Metrics::new().unwrap()),
            Duration::from_secs(3600),
        )
        .fetch_when(
            Arc::new(move || match gate.load(Ordering::SeqCst) {
                0 => None,
                n => Some(n == 2),
            }),
            recheck,
        );
        let (_stop, mut shutdown) = watch::channel(false);
        for state in [0, 1] {
            elected.store(state, Ordering::SeqCst);
            let wake = refresher.round(&mut shutdown).await.unwrap();
            assert_eq!(fetch_error(), None, "gate {state}: nothing fetched");
            // The list was never fetched (due at once for a fetching node): a node that does
            // not fetch sleeps until it asks its gate again, not zero.
            assert!(
                wake <= recheck && wake > recheck / 2,
                "gate {state}: {wake:?}"
            );
        }
        elected.store(2, Ordering::SeqCst);
        refresher.round(&mut shutdown).await.unwrap();
        let error = fetch_error().expect("the elected node fetched");
        assert!(error.contains(&url), "{error}");
    }
}
