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
