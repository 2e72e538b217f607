//! Rotation of the session-ticket secret the fleet shares through the store.
//!
//! Generations are numbered. When the newest is due (its activation plus one period, minus a
//! lead), any node adds the next one — the store keeps the first node's and tells the others
//! theirs lost — created now and activated `lead` later, so every node has fetched it before
//! any ticket under it arrives. Each node issues tickets under the newest active generation and
//! accepts the pending one, the current one and the previous one (the grace period); older
//! ones are forgotten, so a ticket lives one to two periods.
//!
//! Without the store a node keeps what it has, but never past a bound: a shared secret no
//! longer rotated is replaced by a node-local one after two periods (tickets then resume only
//! on this node until the store is back), and a node-local secret is itself rotated each
//! period. The secrets are never logged: only generations and ids are.

use crate::model::timestamp::Millis;
use crate::snapshot::tickets::{SecretKey, TicketKeys};
use crate::store::{Store, StoreError, TicketKey, TicketSecret};

/// The node's rotation state.
pub struct Rotation {
    keys: TicketKeys,
    period_ms: Millis,
    lead_ms: Millis,
    /// The secret tickets are issued under, whether it is shared, and since when.
    current: Option<(SecretKey, bool, Millis)>,
    /// Generations installed (current first) with their secrets, to install only on change (a
    /// store restored from a backup may reuse a generation number with another secret).
    installed: Vec<(u64, [u8; 32])>,
}

/// The next generation when the newest stored one is due, else None.
pub fn due(stored: &[TicketKey], now: Millis, period_ms: Millis, lead_ms: Millis) -> Option<u64> {
    match stored.first() {
        None => Some(1),
        Some(newest) => {
            let due_at = newest
                .activates_at
                .saturating_add(period_ms)
                .saturating_sub(lead_ms);
            (now >= due_at).then(|| newest.generation.saturating_add(1))
        }
    }
}

/// The current generation (newest active) and every generation accepted with it: pending,
/// current, previous. None while no generation is active yet.
pub fn in_force(stored: &[TicketKey], now: Millis) -> Option<(&TicketKey, Vec<&TicketKey>)> {
    let current = stored.iter().find(|k| k.activates_at <= now)?;
    let accepted = stored
        .iter()
        .filter(|k| k.generation.saturating_add(1) >= current.generation)
        .collect();
    Some((current, accepted))
}

fn secret(key: &TicketKey) -> SecretKey {
    SecretKey::new(key.generation, key.secret.0)
}

impl Rotation {
    /// Rotation over `keys`, whose node-local secret (if any) counts from `now`.
    pub fn new(keys: TicketKeys, period_ms: Millis, lead_ms: Millis, now: Millis) -> Rotation {
        let current = keys.current().map(|k| (k, false, now));
        let mut r = Rotation {
            installed: Vec::new(),
            keys,
            period_ms: period_ms.max(1),
            lead_ms: lead_ms.clamp(0, period_ms.max(1) / 2),
            current,
        };
        if r.current.is_none() {
            r.install_local(now, None);
        }
        r
    }

    fn lifetime_secs(&self) -> u32 {
        u32::try_from(self.period_ms / 1000)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    fn install_local(&mut self, now: Millis, previous: Option<SecretKey>) {
        let Some(fresh) = SecretKey::local() else {
            return;
        };
        self.keys.install(
            fresh.clone(),
            previous.into_iter().collect(),
            self.lifetime_secs(),
        );
        self.installed = Vec::new();
        self.current = Some((fresh, false, now));
    }

    /// One step: fetch the shared generations, add the next when due, install what is in
    /// force. On a store error the node keeps its secrets within the bounds above.
    pub fn tick(&mut self, store: &dyn Store, now: Millis) -> Result<(), StoreError> {
        let result = self.sync(store, now);
        if result.is_err() {
            self.without_store(now);
        }
        result
    }

    fn sync(&mut self, store: &dyn Store, now: Millis) -> Result<(), StoreError> {
        let mut stored = store.ticket_keys()?;
        if let Some(generation) = due(&stored, now, self.period_ms, self.lead_ms) {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes)
                .map_err(|_| StoreError::Backend("no randomness for a ticket key".into()))?;
            let key = TicketKey {
                generation,
                secret: TicketSecret(bytes),
                created_at: now,
                activates_at: now.saturating_add(self.lead_ms),
            };
            if store.add_ticket_key(&key)? {
                tracing::info!(generation, "session-ticket key rotated");
            }
            stored = store.ticket_keys()?;
        }
        let Some((current, accepted)) = in_force(&stored, now) else {
            // The first generation is not active yet: keep the local secret meanwhile.
            return Ok(());
        };
        let generations: Vec<(u64, [u8; 32])> = std::iter::once(current)
            .chain(
                accepted
                    .iter()
                    .copied()
                    .filter(|k| k.generation != current.generation),
            )
            .map(|k| (k.generation, k.secret.0))
            .collect();
        if generations != self.installed {
            let mut previous: Vec<SecretKey> = accepted.iter().map(|k| secret(k)).collect();
            // Tickets issued under the local secret stay good through the switch.
            if let Some((local, false, _)) = &self.current {
                previous.push(local.clone());
            }
            self.keys
                .install(secret(current), previous, self.lifetime_secs());
            self.installed = generations;
            self.current = Some((secret(current), true, current.activates_at));
        }
        Ok(())
    }

    fn without_store(&mut self, now: Millis) {
        let Some((current, shared, since)) = self.current.clone() else {
            return self.install_local(now, None);
        };
        let limit = if shared {
            self.period_ms.saturating_mul(2)
        } else {
            self.period_ms
        };
        if now.saturating_sub(since) >= limit {
            tracing::info!(
                "session-ticket key replaced by a node-local one (the store is unreachable)"
            );
            self.install_local(now, Some(current));
        }
    }

    /// The id of the secret tickets are issued under (a generation, or a local id).
    pub fn current_id(&self) -> Option<u64> {
        self.keys.current_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tickets::LOCAL_KEY;
    use crate::store::{Fleet, SqliteStore};
    use rustls::server::ProducesTickets;

    const PERIOD: Millis = 60_000;
    const LEAD: Millis = 2_000;

    fn node(store: &SqliteStore, now: Millis) -> (TicketKeys, Rotation) {
        let keys = TicketKeys::default();
        let mut r = Rotation::new(keys.clone(), PERIOD, LEAD, now);
        r.tick(store, now).unwrap();
        (keys, r)
    }

    #[test]
    fn the_first_node_creates_generation_one_and_everyone_uses_it_once_active() {
        let store = SqliteStore::in_memory().unwrap();
        let (a_keys, mut a) = node(&store, 1_000);
        let (b_keys, mut b) = node(&store, 1_500);
        assert_eq!(
            store.ticket_keys().unwrap().len(),
            1,
            "one generation for the fleet"
        );
        // Pending for `LEAD`: both still issue under their local secrets.
        assert_ne!(a.current_id().unwrap() & LOCAL_KEY, 0);
        a.tick(&store, 3_000).unwrap();
        b.tick(&store, 3_100).unwrap();
        assert_eq!((a.current_id(), b.current_id()), (Some(1), Some(1)));
        let ticket = a_keys.ticketer(b"P").encrypt(b"s").unwrap();
        assert_eq!(b_keys.ticketer(b"P").decrypt(&ticket).unwrap(), b"s");
    }

    #[test]
    fn rotation_keeps_the_previous_generation_for_a_grace_period() {
        let store = SqliteStore::in_memory().unwrap();
        let (keys, mut r) = node(&store, 0);
        r.tick(&store, LEAD).unwrap();
        let t = keys.ticketer(b"P");
        let under_1 = t.encrypt(b"one").unwrap();
        // Due at activation + period - lead: generation 2 is added, pending.
        let due = LEAD + PERIOD - LEAD;
        r.tick(&store, due).unwrap();
        assert_eq!(store.ticket_keys().unwrap().first().unwrap().generation, 2);
        assert_eq!(r.current_id(), Some(1), "pending until its activation");
        r.tick(&store, due + LEAD).unwrap();
        assert_eq!(r.current_id(), Some(2));
        assert_eq!(
            t.decrypt(&under_1).unwrap(),
            b"one",
            "previous still accepted"
        );
        // Generation 3 becomes current: generation 1 is retired.
        r.tick(&store, due + PERIOD).unwrap();
        r.tick(&store, due + PERIOD + LEAD).unwrap();
        assert_eq!(r.current_id(), Some(3));
        assert!(t.decrypt(&under_1).is_none(), "retired");
    }

    #[test]
    fn a_generation_reused_with_another_secret_is_installed() {
        // A store restored from a backup may hand out generation 1 again with a new secret.
        let store = SqliteStore::in_memory().unwrap();
        let (keys, mut r) = node(&store, 0);
        r.tick(&store, LEAD).unwrap();
        let before = keys.ticketer(b"P").encrypt(b"x").unwrap();
        let restored = SqliteStore::in_memory().unwrap();
        restored
            .add_ticket_key(&TicketKey {
                generation: 1,
                secret: TicketSecret([9; 32]),
                created_at: 0,
                activates_at: 0,
            })
            .unwrap();
        r.tick(&restored, LEAD + 1).unwrap();
        assert_eq!(r.current_id(), Some(1));
        let fresh = TicketKeys::default();
        fresh.install(SecretKey::new(1, [9; 32]), vec![], 60);
        let under_restored = fresh.ticketer(b"P").encrypt(b"y").unwrap();
        assert_eq!(keys.ticketer(b"P").decrypt(&under_restored).unwrap(), b"y");
        assert!(
            keys.ticketer(b"P").decrypt(&before).is_none(),
            "the lost secret is gone"
        );
    }

    #[test]
    fn nodes_following_one_store_agree_on_each_generation() {
        let store = SqliteStore::in_memory().unwrap();
        let (a_keys, mut a) = node(&store, 0);
        let (b_keys, mut b) = node(&store, 0);
        for now in [LEAD, PERIOD, PERIOD + LEAD] {
            a.tick(&store, now).unwrap();
            b.tick(&store, now).unwrap();
        }
        assert_eq!(a.current_id(), b.current_id());
        let ticket = b_keys.ticketer(b"P").encrypt(b"x").unwrap();
        assert_eq!(a_keys.ticketer(b"P").decrypt(&ticket).unwrap(), b"x");
    }

    /// A store that is down.
    struct Down;

    impl crate::store::Fleet for Down {
        fn heartbeat(&self, _: &crate::store::NodeBeat) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn nodes(&self) -> Result<crate::store::Nodes, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn ticket_keys(&self) -> Result<Vec<TicketKey>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn add_ticket_key(&self, _: &TicketKey) -> Result<bool, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
    }

    impl Store for Down {
        fn begin(&self) -> Result<Box<dyn crate::store::WriteTx + '_>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn read(&self) -> Result<Box<dyn crate::store::Reads + '_>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        fn describe(&self) -> String {
            "down".into()
        }
        fn mark_demo(&self, _: crate::store::DemoKind, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
    }

    #[test]
    fn without_the_store_a_secret_is_not_kept_past_its_bound() {
        let store = SqliteStore::in_memory().unwrap();
        let (keys, mut r) = node(&store, 0);
        r.tick(&store, LEAD).unwrap();
        let t = keys.ticketer(b"P");
        let shared = t.encrypt(b"s").unwrap();
        assert!(r.tick(&Down, LEAD + PERIOD).is_err());
        assert_eq!(r.current_id(), Some(1), "kept while within two periods");
        let _ = r.tick(&Down, LEAD + 2 * PERIOD);
        let local = r.current_id().unwrap();
        assert_ne!(local & LOCAL_KEY, 0, "replaced by a local secret");
        assert_eq!(
            t.decrypt(&shared).unwrap(),
            b"s",
            "the shared one still accepted once"
        );
        let _ = r.tick(&Down, LEAD + 3 * PERIOD);
        assert_ne!(
            r.current_id(),
            Some(local),
            "a local secret rotates each period"
        );
        assert!(t.decrypt(&shared).is_none());
    }
}
