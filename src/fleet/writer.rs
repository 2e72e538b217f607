//! Writes the local cache off the request path: control hands every applied update to a
//! channel (after publishing it), and one thread writes them in order, several per transaction
//! when they queue up. A failed write leaves the cache at its last good revision and asks for
//! the whole state, which the follower reads from the store when it can. Finishing flushes
//! what is queued.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::cache::{Cache, CacheError, CacheStatus};
use crate::model::timestamp::now_ms;
use crate::model::Update;

pub struct CacheWriter {
    sender: Mutex<Option<mpsc::Sender<Update>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

struct Shared {
    status: Mutex<CacheStatus>,
    /// Set when a write failed: the next write must be a whole state.
    needs_full: std::sync::atomic::AtomicBool,
}

impl CacheWriter {
    /// Start writing to `cache`.
    pub fn start(cache: Cache) -> Arc<CacheWriter> {
        let (revision, written_ms) = match cache.revision() {
            Ok(Some((r, at))) => (Some(r), Some(at)),
            _ => (None, None),
        };
        let shared = Arc::new(Shared {
            status: Mutex::new(CacheStatus {
                path: cache.path().to_path_buf(),
                revision,
                written_ms,
                error: None,
            }),
            needs_full: std::sync::atomic::AtomicBool::new(false),
        });
        let (sender, receiver) = mpsc::channel();
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mtls-proxy-cache".into())
            .spawn(move || write_loop(cache, receiver, worker))
            .ok();
        Arc::new(CacheWriter {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(thread),
            shared,
        })
    }

    /// Queue an applied update.
    pub fn send(&self, update: Update) {
        if let Some(sender) = &*self.sender.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = sender.send(update);
        }
    }

    /// What the cache holds.
    pub fn status(&self) -> CacheStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the next write must be a whole state (a write failed).
    pub fn needs_full(&self) -> bool {
        self.shared
            .needs_full
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Write what is queued and stop (blocks until done).
    pub fn finish(&self) {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn write_loop(cache: Cache, receiver: mpsc::Receiver<Update>, shared: Arc<Shared>) {
    use std::sync::atomic::Ordering;
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter());
        if shared.needs_full.load(Ordering::Acquire) {
            // Only a whole state repairs the cache: skip deltas until one comes.
            let Some(full) = batch.iter().rposition(|u| matches!(u, Update::Full(_))) else {
                continue;
            };
            batch.drain(..full);
        }
        let result = cache.apply(&batch, now_ms());
        let mut status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(revision) => {
                status.revision = Some(revision);
                status.written_ms = Some(now_ms());
                status.error = None;
                shared.needs_full.store(false, Ordering::Release);
            }
            Err(e) => {
                if !matches!(e, CacheError::Gap { .. }) || status.error.is_none() {
                    tracing::warn!(error = %e, "the local cache was not written; it keeps its last good revision");
                }
                status.error = Some(e.to_string());
                shared.needs_full.store(true, Ordering::Release);
            }
        }
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Delta, State};

    fn wait_for(writer: &CacheWriter, done: impl Fn(&CacheStatus) -> bool) -> CacheStatus {
        for _ in 0..2000 {
            let status = writer.status();
            if done(&status) {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the writer never got there: {:?}", writer.status());
    }

    #[test]
    fn a_gap_asks_for_the_whole_state_and_a_whole_state_repairs_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let writer = CacheWriter::start(Cache::open(&path).unwrap());
        let state = |revision| State {
            revision,
            ..State::default()
        };
        writer.send(Update::Full(state(3)));
        wait_for(&writer, |s| s.revision == Some(3));
        // Revisions 4..6 never arrived: the delta from 6 cannot be applied.
        writer.send(Update::Delta(Delta {
            from: 6,
            to: 7,
            rows: vec![],
        }));
        let status = wait_for(&writer, |s| s.error.is_some());
        assert_eq!(
            status.revision,
            Some(3),
            "the cache keeps its last good revision"
        );
        assert!(writer.needs_full());
        // Deltas are skipped until a whole state comes.
        writer.send(Update::Delta(Delta {
            from: 7,
            to: 8,
            rows: vec![],
        }));
        writer.send(Update::Full(state(8)));
        let status = wait_for(&writer, |s| s.revision == Some(8));
        assert!(status.error.is_none() && !writer.needs_full());
        writer.finish();
        assert_eq!(
            Cache::open(&path)
                .unwrap()
                .load()
                .unwrap()
                .unwrap()
                .revision,
            8
        );
    }
}
