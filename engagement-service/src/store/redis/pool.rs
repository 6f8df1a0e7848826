//! The pool of connections that writes check out (a WATCH needs a
//! connection of its own).
//!
//! deadpool-redis checks every connection it hands out with a round trip
//! (UNWATCH and PING). Under load that is one round trip in three of an
//! ingest, for connections that answered a moment ago. Here a connection
//! used within the last second goes back out unchecked; one that failed
//! is not returned to the pool at all, so a Redis restart costs each
//! connection in use one failed request, and idle ones are checked as before.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleResult};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// Connections checked out less than this long ago go out unchecked.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

pub(super) struct Manager(deadpool_redis::Manager);

impl Manager {
    pub(super) fn new(url: &str) -> RedisResult<Manager> {
        deadpool_redis::Manager::new(url).map(Manager)
    }
}

impl managed::Manager for Manager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if metrics.last_used() < TRUSTED_FOR {
            return Ok(());
        }
        self.0.recycle(conn, metrics).await
    }
}

pub(super) type Pool = managed::Pool<Manager, Connection>;

/// A pooled connection that leaves the pool for good once it has failed.
pub struct Connection {
    conn: Option<Object<Manager>>,
    failed: bool,
}

impl From<Object<Manager>> for Connection {
    fn from(conn: Object<Manager>) -> Connection {
        Connection {
            conn: Some(conn),
            failed: false,
        }
    }
}

impl Connection {
    fn inner(&mut self) -> &mut MultiplexedConnection {
        match &mut self.conn {
            Some(conn) => conn,
            // Taken only in `drop`.
            None => unreachable!("a connection is used after it was dropped"),
        }
    }

    fn note<T>(&mut self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result
            && (e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped())
        {
            self.failed = true;
        }
        result
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner().req_packed_command(cmd).await;
            self.note(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .inner()
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.note(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.as_ref().map_or(0, |c| c.get_db())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.failed
            && let Some(conn) = self.conn.take()
        {
            drop(Object::take(conn));
        }
    }
}
