//! The PostgreSQL store's own tokio runtime, and the one way synchronous store calls run async
//! client work on it: spawn the future there and wait for its result, bounded by the store's
//! timeout. The runtime drives every connection (the pool's and the listener's), so a call
//! works from any thread — a blocking worker of the admin API, a test, or the start-up code —
//! and a slow or dead server costs the caller at most the timeout, never the process.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::store::StoreError;

pub struct Bridge {
    /// Taken on drop, to shut down without blocking (a store may be dropped on an async
    /// thread, where a blocking shutdown would panic).
    runtime: Option<Runtime>,
    handle: Handle,
    timeout: Duration,
}

impl Bridge {
    /// A runtime with one worker thread: the store's work is network-bound.
    pub fn new(timeout: Duration) -> Result<Bridge, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mtls-proxy-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Bridge {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            timeout,
        })
    }

    /// The per-operation deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Spawn a background task on the store's runtime.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }

    /// Run `work` on the store's runtime and wait for it; past the timeout the store is
    /// reported unavailable.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let timeout = self.timeout;
        self.handle.spawn(async move {
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                ))),
            };
            let _ = tx.send(result);
        });
        rx.recv()
            .map_err(|_| StoreError::Unavailable("the store's runtime has stopped".into()))?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
