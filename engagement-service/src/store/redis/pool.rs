//! The links to Redis: one server, or a Redis Cluster whose node holding
//! the deployment's hash slot answers every command; and the pool of
//! connections that writes check out (a WATCH needs a connection of its
//! own).
//!
//! deadpool-redis checks every connection it hands out with a round trip
//! (UNWATCH and PING). Under load that is one round trip in three of an
//! ingest, for connections that answered a moment ago. Here a connection
//! used within the last second goes back out unchecked; one that failed
//! is not returned to the pool at all, so a Redis restart costs each
//! connection in use one failed request, and idle ones are checked as before.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleResult};
use deadpool_redis::redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use deadpool_redis::redis::cluster::ClusterClient;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use deadpool_redis::redis::{self, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// Longest a new connection to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections checked out less than this long ago go out unchecked.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// Where the deployment lives: one server, or the cluster node that holds
/// its hash slot.
#[derive(Clone)]
pub(super) enum Backend {
    Single(redis::Client),
    Cluster(Box<Cluster>),
}

/// A Redis Cluster holding the deployment.
#[derive(Clone)]
pub(super) struct Cluster {
    /// Writes' connections: a failed command is never retried on another
    /// node by the client (a transaction resent to a new primary would run
    /// without its WATCH); the store starts the whole step again instead.
    writes: ClusterClient,
    /// Reads' connections: redirects and failovers are followed.
    reads: ClusterClient,
    /// The deployment's hash slot, on its primary.
    route: Route,
}

impl Backend {
    /// `url` is one `redis://` URL, or several separated by commas: the
    /// nodes of a Redis Cluster to discover it from. `tag` is the
    /// deployment's hash tag.
    pub(super) fn new(url: &str, tag: &str) -> RedisResult<Backend> {
        let nodes: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if let [one] = nodes.as_slice() {
            return Ok(Backend::Single(redis::Client::open(*one)?));
        }
        let client = |retries: u32| {
            ClusterClient::builder(nodes.iter().copied())
                .retries(retries)
                .min_retry_wait(50)
                .max_retry_wait(500)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(super::OPERATION_TIMEOUT)
                .build()
        };
        Ok(Backend::Cluster(Box::new(Cluster {
            writes: client(0)?,
            reads: client(6)?,
            route: Route::with_key(tag, SlotAddr::Master),
        })))
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster(_))
    }

    /// A new connection of its own, for the write pool.
    async fn connect(&self) -> RedisResult<Link> {
        match self {
            Backend::Single(client) => {
                // As long as reads and cluster connections wait: a pipeline
                // of a replay's bulk writes may take Redis a while.
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(super::OPERATION_TIMEOUT));
                Ok(Link::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Backend::Cluster(cluster) => Ok(Link::Cluster(
                cluster.writes.get_async_connection().await?,
                cluster.route,
            )),
        }
    }

    /// A connection that reconnects by itself, shared by reads.
    pub(super) async fn reader(&self) -> RedisResult<Link> {
        match self {
            Backend::Single(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(super::OPERATION_TIMEOUT))
                    // Back within half a second of Redis.
                    .set_max_delay(Duration::from_millis(500));
                Ok(Link::Managed(
                    ConnectionManager::new_with_config(client.clone(), config).await?,
                ))
            }
            Backend::Cluster(cluster) => Ok(Link::Cluster(
                cluster.reads.get_async_connection().await?,
                cluster.route,
            )),
        }
    }
}

/// Waits before a read is sent again on a shared connection that lost
/// Redis: it reconnects by itself, and reads are safe to repeat.
const READ_RETRIES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
];

/// Sends a read, and sends it again after each [`READ_RETRIES`] wait while
/// the connection has lost Redis.
async fn again_if_lost<T, Sent>(
    conn: &ConnectionManager,
    send: impl Fn(ConnectionManager) -> Sent,
) -> RedisResult<T>
where
    Sent: Future<Output = RedisResult<T>>,
{
    let lost =
        |e: &RedisError| e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal();
    let mut waits = READ_RETRIES.iter();
    loop {
        // Each try sends on a handle of its own: the manager is a cheap clone.
        match (send(conn.clone()).await, waits.next()) {
            (Err(e), Some(wait)) if lost(&e) => tokio::time::sleep(*wait).await,
            (result, _) => return result,
        }
    }
}

/// One connection to where the deployment lives. On a cluster every
/// command and pipeline goes to the primary of the deployment's slot, keyless
/// ones (`WAIT`, `SCAN`, `UNWATCH`, `PING`) included: they concern this
/// deployment only, and must not depend on other shards being up.
#[derive(Clone)]
pub enum Link {
    Single(MultiplexedConnection),
    /// Shared by reads only: a read that met a lost connection is sent
    /// again once it is back.
    Managed(ConnectionManager),
    Cluster(ClusterConnection, Route),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(conn) => conn.req_packed_command(cmd),
            Link::Managed(conn) => Box::pin(again_if_lost(conn, move |mut c| async move {
                c.req_packed_command(cmd).await
            })),
            Link::Cluster(conn, route) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(*route));
                Box::pin(conn.route_command(cmd.clone(), routing))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Link::Managed(conn) => Box::pin(again_if_lost(conn, move |mut c| async move {
                c.req_packed_commands(pipeline, offset, count).await
            })),
            Link::Cluster(conn, route) => Box::pin(conn.route_pipeline(
                pipeline.clone(),
                offset,
                count,
                SingleNodeRoutingInfo::SpecificNode(*route),
            )),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(conn) => conn.get_db(),
            Link::Managed(conn) => conn.get_db(),
            Link::Cluster(..) => 0,
        }
    }
}

pub(super) struct Manager(Backend);

impl Manager {
    pub(super) fn new(backend: Backend) -> Manager {
        Manager(backend)
    }
}

impl managed::Manager for Manager {
    type Type = Link;
    type Error = RedisError;

    async fn create(&self) -> Result<Link, RedisError> {
        self.0.connect().await
    }

    async fn recycle(&self, conn: &mut Link, metrics: &Metrics) -> RecycleResult<RedisError> {
        if metrics.last_used() < TRUSTED_FOR {
            return Ok(());
        }
        // No WATCH left behind, and the server still answers.
        let () = redis::pipe()
            .cmd("UNWATCH")
            .ignore()
            .cmd("PING")
            .ignore()
            .query_async(conn)
            .await?;
        Ok(())
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
    fn inner(&mut self) -> &mut Link {
        match &mut self.conn {
            Some(conn) => conn,
            // Taken only in `drop`.
            None => unreachable!("a connection is used after it was dropped"),
        }
    }

    fn note<T>(&mut self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result
            && (e.is_unrecoverable_error()
                || e.is_io_error()
                || e.is_connection_dropped()
                || e.is_cluster_error()
                || e.is_timeout())
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
