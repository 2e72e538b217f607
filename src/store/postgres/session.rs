//! One pooled connection with a transaction open on it, queried synchronously through the
//! bridge. Statements are prepared once per connection (the pool's statement cache). A session
//! that lost its server, or whose query timed out, is never handed back to the pool: its
//! connection is closed, which also ends its transaction on the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::bridge::Bridge;
use super::error;
use crate::store::StoreError;

/// An owned query parameter.
pub type Param = Box<dyn ToSql + Send + Sync>;

/// Owned parameters from a list of values.
#[macro_export]
#[doc(hidden)]
macro_rules! pg_params {
    ($($p:expr),* $(,)?) => {
        vec![$(Box::new($p) as $crate::store::postgres::session::Param),*]
    };
}

pub use pg_params as params;

/// How a session's transaction starts.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// A consistent read-only view: every query sees the same commit.
    ReadView,
    /// The write transaction of a change (read committed: once the revision row is locked,
    /// every later statement sees every commit before it).
    Write,
    /// No transaction: each statement commits on its own.
    Autocommit,
}

pub struct Session {
    client: Option<Arc<Object>>,
    bridge: Arc<Bridge>,
    broken: AtomicBool,
    in_transaction: AtomicBool,
}

impl Session {
    /// A connection from the pool, with its transaction begun.
    pub fn open(pool: &Pool, bridge: &Arc<Bridge>, begin: Begin) -> Result<Session, StoreError> {
        let pool = pool.clone();
        let client = bridge.run(async move { pool.get().await.map_err(error::pool) })?;
        let session = Session {
            client: Some(Arc::new(client)),
            bridge: bridge.clone(),
            broken: AtomicBool::new(false),
            in_transaction: AtomicBool::new(false),
        };
        let sql = match begin {
            Begin::ReadView => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Begin::Write => "BEGIN ISOLATION LEVEL READ COMMITTED",
            Begin::Autocommit => return Ok(session),
        };
        session.batch(sql)?;
        session.in_transaction.store(true, Ordering::Relaxed);
        Ok(session)
    }

    fn client(&self) -> Result<Arc<Object>, StoreError> {
        self.client
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the connection was closed".into()))
    }

    fn note<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Unavailable(_)) = &result {
            self.broken.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Every row of a query.
    pub fn query(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let sql = sql.to_string();
        self.note(self.bridge.run(async move {
            let stmt = client.prepare_cached(&sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(client.query(&stmt, &refs).await?)
        }))
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, params: Vec<Param>) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query that always returns one.
    pub fn query_one(&self, sql: &str, params: Vec<Param>) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or(StoreError::Corrupt(
            "a query that returns one row returned none",
        ))
    }

    /// Run a statement; returns the rows it affected.
    pub fn execute(&self, sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
        let client = self.client()?;
        let sql = sql.to_string();
        self.note(self.bridge.run(async move {
            let stmt = client.prepare_cached(&sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(client.execute(&stmt, &refs).await?)
        }))
    }

    /// Run statements without parameters (simple query protocol).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        let sql = sql.to_string();
        self.note(
            self.bridge
                .run(async move { Ok(client.batch_execute(&sql).await?) }),
        )
    }

    /// End the transaction with `sql` (`COMMIT`, possibly preceded by a notification).
    /// A commit whose answer was lost may or may not have happened: the error says so.
    pub fn finish(&self, sql: &str) -> Result<(), StoreError> {
        let result = self.batch(sql);
        self.in_transaction.store(false, Ordering::Relaxed);
        result.map_err(|e| match e {
            StoreError::Unavailable(why) => StoreError::Unavailable(format!(
                "{why} while committing; the change may or may not have been stored (the \
                 nodes catch up to whatever was committed)"
            )),
            other => other,
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let open = self.in_transaction.load(Ordering::Relaxed);
        if open && !self.broken.load(Ordering::Relaxed) && self.batch("ROLLBACK").is_ok() {
            return;
        }
        if open || self.broken.load(Ordering::Relaxed) {
            // Never hand back a connection in an unknown state: close it instead.
            if let Some(client) = self.client.take().and_then(|c| Arc::try_unwrap(c).ok()) {
                drop(Object::take(client));
            }
        }
    }
}
