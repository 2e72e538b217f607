//! WAL checkpoints off the write path. By default SQLite checkpoints inside the commit that
//! crosses 1,000 WAL pages: that commit copies the pages into the database and syncs it, and its
//! caller (an API write) waits for all of it. Here the writer never checkpoints; a thread with
//! its own connection runs a PASSIVE checkpoint (it never waits for, nor blocks, readers and
//! writers) every [`PERIOD`], so the WAL stays small and no write pays for the copy.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
pub const PERIOD: Duration = Duration::from_millis(250);

/// The checkpoint thread; stopped (after a last checkpoint) when dropped.
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` on a connection of its own.
    pub fn start(path: PathBuf) -> std::io::Result<Checkpointer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &flag))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(path: &PathBuf, stop: &(Mutex<bool>, Condvar)) {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            // Without this thread the WAL still gets checkpointed: the last connection to close
            // does it, and a reopened store replays it. Only the write latency suffers.
            tracing::warn!(error = %e, "cannot open the checkpoint connection; the WAL grows until restart");
            return;
        }
    };
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let (guard, _) = wake
            .wait_timeout(stopped, PERIOD)
            .unwrap_or_else(PoisonError::into_inner);
        stopped = guard;
        // Busy (another process holds a lock) is normal: the next round catches up.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "WAL checkpoint skipped");
        }
        if *stopped {
            return;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
