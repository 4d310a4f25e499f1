//! [`RedisStore`]: the [`SharedStore`] on Redis (one server, or a Redis Cluster).
//!
//! The connection is made on first use, not at start-up, so that a replica starting while Redis
//! is down starts and serves (through STS). After a failure the store waits
//! [`RETRY_AFTER`] before it tries to connect again, so that an outage costs each request
//! nothing but a quick miss.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client};

use super::shared::{SharedStore, StoreError, StoreFuture};

/// How long after a failed connection attempt the next one is made.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

enum Target {
    Single(Client),
    Cluster(ClusterClient),
}

#[derive(Clone)]
enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    last_failure: Option<Instant>,
    connecting: bool,
}

/// Redis as a [`SharedStore`]: `GET`, `SET key value PX ttl NX` and `DEL`, each bounded by the
/// cache's timeout (and by this store's own connect and response timeouts).
pub struct RedisStore {
    target: Target,
    timeout: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry a password.
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.target, Target::Cluster(_)))
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// One Redis server, `redis://[user:password@]host:port[/db]` (or `rediss://` with TLS if the
    /// `redis` crate is built with it). Nothing is contacted until first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(|e| StoreError(format!("Redis URL: {e}")))?;
        Ok(Self::with_target(Target::Single(client)))
    }

    /// A Redis Cluster, reached through any of `urls` (its seed nodes). Nothing is contacted
    /// until first use.
    pub fn cluster<I, U>(urls: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = U>,
        U: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        let timeout = Duration::from_millis(250);
        let client = redis::cluster::ClusterClientBuilder::new(urls)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(|e| StoreError(format!("Redis Cluster URLs: {e}")))?;
        Ok(Self::with_target(Target::Cluster(client)))
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            timeout: Duration::from_millis(250),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live connection, connecting if none and no attempt failed in the last
    /// [`RETRY_AFTER`]. One request connects at a time; the others miss meanwhile.
    async fn connection(&self) -> Result<Connection, StoreError> {
        {
            let mut state = self.state();
            if let Some(connection) = &state.connection {
                return Ok(connection.clone());
            }
            if state.connecting
                || state
                    .last_failure
                    .is_some_and(|at| at.elapsed() < RETRY_AFTER)
            {
                return Err(StoreError("not connected".to_owned()));
            }
            state.connecting = true;
        }
        let mut attempt = Attempt {
            store: self,
            finished: false,
        };
        let connected = tokio::time::timeout(self.timeout, self.connect()).await;
        attempt.finished = true;
        let mut state = self.state();
        state.connecting = false;
        match connected {
            Ok(Ok(connection)) => {
                state.connection = Some(connection.clone());
                state.last_failure = None;
                tracing::info!("shared cache: connected to Redis");
                Ok(connection)
            }
            Ok(Err(error)) => {
                state.last_failure = Some(Instant::now());
                tracing::warn!(%error, "shared cache: cannot connect to Redis");
                Err(error)
            }
            Err(_) => {
                state.last_failure = Some(Instant::now());
                tracing::warn!("shared cache: connecting to Redis timed out");
                Err(StoreError("connect timed out".to_owned()))
            }
        }
    }

    async fn connect(&self) -> Result<Connection, StoreError> {
        match &self.target {
            Target::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout);
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Connection::Single)
            }
            Target::Cluster(client) => client.get_async_connection().await.map(Connection::Cluster),
        }
        .map_err(|e| StoreError(e.to_string()))
    }

    /// Runs `command`; a failed connection is dropped, to be made again later.
    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        let result = match &mut connection {
            Connection::Single(c) => c.req_packed_command(&command).await,
            Connection::Cluster(c) => c.req_packed_command(&command).await,
        };
        let value = result.map_err(|e| {
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                let mut state = self.state();
                state.connection = None;
                state.last_failure = Some(Instant::now());
            }
            StoreError(e.to_string())
        })?;
        redis::from_redis_value(&value).map_err(|e| StoreError(e.to_string()))
    }
}

/// The one connection attempt under way. The request making it may stop waiting (the cache's
/// timeout, shorter than a cluster's connection, drops its future mid-connect): the attempt then
/// counts as failed, or `connecting` would stay set and no request would ever connect again.
struct Attempt<'a> {
    store: &'a RedisStore,
    finished: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.store.state();
            state.connecting = false;
            state.last_failure = Some(Instant::now());
            tracing::warn!("shared cache: connecting to Redis cut short by the cache's timeout");
        }
    }
}

impl SharedStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.run(redis::cmd("GET").arg(key).clone()).await })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Box::pin(async move {
            let mut command = redis::cmd("SET");
            command.arg(key).arg(value).arg("PX").arg(millis).arg("NX");
            // `nil` when the key holds a value already: another replica shared it first.
            self.run::<Option<String>>(command).await.map(drop)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.run::<i64>(redis::cmd("DEL").arg(key).clone())
                .await
                .map(drop)
        })
    }
}
