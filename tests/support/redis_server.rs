//! A real `redis-server` (Debian's package, installed by `scripts/test.sh`), started by the test
//! on a free loopback port and killed when dropped; and a real three-node Redis Cluster of them.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Slots of a Redis Cluster (`CLUSTER KEYSLOT` is CRC16 of the key modulo this).
const CLUSTER_SLOTS: u16 = 16384;

pub struct RedisServer {
    pub port: u16,
    /// `None` for a standalone server.
    cluster: Option<ClusterNode>,
    child: Option<Child>,
}

/// What a cluster node has of its own besides its port.
struct ClusterNode {
    /// Its directory, for its `nodes.conf`.
    dir: PathBuf,
    /// The port of its cluster bus, chosen free too: the default, the port + 10000, may be taken
    /// or beyond 65535.
    bus_port: u16,
}

impl RedisServer {
    /// Starts a standalone server on a free port and waits until it answers.
    pub async fn start() -> RedisServer {
        Self::start_with(None).await
    }

    /// Starts a cluster node (`--cluster-enabled yes`, no slots yet) in a directory of its own.
    async fn start_cluster_node() -> RedisServer {
        let bus_port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "tower-iam-auth-redis-{}-{bus_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_with(Some(ClusterNode { dir, bus_port })).await
    }

    async fn start_with(cluster: Option<ClusterNode>) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            cluster,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on its port, with nothing persisted.
    pub async fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
            ]);
        if let Some(node) = &self.cluster {
            command
                .arg("--dir")
                .arg(&node.dir)
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-port", &node.bus_port.to_string()])
                // The default (15 s) makes a forming cluster wait up to 5 s more before it
                // reports `ok`.
                .args(["--cluster-node-timeout", "2000"]);
        }
        let child = command.stdout(Stdio::null()).spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run redis-server ({e}): run the tests with scripts/test.sh, which \
                 installs it (Debian package redis-server)"
            )
        });
        self.child = Some(child);
        let what = format!("redis-server answering on port {}", self.port);
        wait_until(&what, async || match self.connection().await {
            Ok(mut connection) => redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .is_ok(),
            Err(_) => false,
        })
        .await;
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection of the test's own, to read and tamper with entries. On a cluster node it
    /// reaches the keys of that node's slots only.
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    /// Blocks the server for `seconds` (`DEBUG SLEEP`, sent from a task of its own, given time to
    /// arrive); the task ends when the server answers again.
    pub async fn block_for(&self, seconds: f64) -> tokio::task::JoinHandle<()> {
        let mut connection = self.connection().await.unwrap();
        let blocked = tokio::spawn(async move {
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .query_async::<()>(&mut connection)
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        blocked
    }

    /// Runs `command` on this server alone.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let mut connection = self.connection().await.unwrap();
        command.query_async(&mut connection).await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(node) = &self.cluster {
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}

/// Polls `ready` until it holds; fails the test, saying `what` it waited for, after 10 seconds.
async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !ready().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free loopback port (the listener is closed before the port is used).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis Cluster of three masters (no replicas) on loopback, each node a [`RedisServer`].
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, gives each a third of the slots, makes them meet, and waits until
    /// every node reports `cluster_state:ok`.
    pub async fn start() -> RedisCluster {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_cluster_node().await);
        }
        let share = CLUSTER_SLOTS / 3;
        for (i, node) in (0u16..).zip(&nodes) {
            let last = if i == 2 {
                CLUSTER_SLOTS - 1
            } else {
                (i + 1) * share - 1
            };
            node.query::<()>(
                redis::cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE")
                    .arg(i * share)
                    .arg(last),
            )
            .await;
            // Distinct epochs, as `redis-cli --cluster create` sets them.
            node.query::<()>(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))
                .await;
        }
        for other in &nodes[1..] {
            nodes[0]
                .query::<()>(
                    redis::cmd("CLUSTER")
                        .arg("MEET")
                        .arg("127.0.0.1")
                        .arg(other.port)
                        .arg(other.cluster.as_ref().unwrap().bus_port),
                )
                .await;
        }
        for node in &nodes {
            let what = format!("cluster_state:ok on the node on port {}", node.port);
            wait_until(&what, async || {
                let info: String = node.query(redis::cmd("CLUSTER").arg("INFO")).await;
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            })
            .await;
        }
        RedisCluster { nodes }
    }

    /// The keys each node holds, in the order of `nodes`.
    pub async fn keys_by_node(&self) -> Vec<Vec<String>> {
        let mut keys = Vec::new();
        for node in &self.nodes {
            keys.push(node.query(redis::cmd("KEYS").arg("*")).await);
        }
        keys
    }

    /// The node that holds `key`.
    pub async fn holder_of(&self, key: &str) -> &RedisServer {
        let keys = self.keys_by_node().await;
        let i = keys
            .iter()
            .position(|keys| keys.iter().any(|k| k == key))
            .unwrap_or_else(|| panic!("no node holds {key}"));
        &self.nodes[i]
    }
}
