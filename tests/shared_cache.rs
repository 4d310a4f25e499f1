//! The shared verification cache on a real Redis: replicas share one STS call per token; an entry
//! that is forged, altered, copied under another key or kept past its sealed expiry is refused
//! (and the proof goes to STS); Redis down is a miss, never a refusal.
//!
//! The same holds on a real three-node Redis Cluster (`RedisStore::cluster`): replicas that know
//! it through different seed nodes share one STS call per token, whichever node holds the key; a
//! node killed in the middle is a miss.
//!
//! Each test starts its own `redis-server` (or three, for a cluster) on free loopback ports (see
//! `tests/support/redis_server.rs`); `scripts/test.sh` installs it when missing. Without it the
//! tests fail, saying so.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::time::Duration;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis_server::{RedisCluster, RedisServer};
use support::*;
use tower_iam_auth::cache::{CacheSecret, RedisStore};
use tower_iam_auth::server::{IamAuthConfig, IamAuthConfigBuilder, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;

const SECRET: &[u8] = b"a secret the replicas share, 32+ bytes long";

/// One replica: `whoami_router()` behind a layer sharing `redis` with `secret`.
fn replica_with(
    sts: &LocalSts,
    redis_url: &str,
    secret: &[u8],
    configure: impl FnOnce(IamAuthConfigBuilder) -> IamAuthConfigBuilder,
) -> Router {
    replica_on(sts, RedisStore::new(redis_url).unwrap(), secret, configure)
}

/// One replica: `whoami_router()` behind a layer sharing `store` with `secret`.
fn replica_on(
    sts: &LocalSts,
    store: RedisStore,
    secret: &[u8],
    configure: impl FnOnce(IamAuthConfigBuilder) -> IamAuthConfigBuilder,
) -> Router {
    let builder = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allow_any_aws_account()
        .dangerous_sts_connect_to(sts.connect_to())
        .shared_cache(store, CacheSecret::new(secret).unwrap());
    whoami_router().layer(IamAuthLayer::new(configure(builder).build().unwrap()))
}

fn replica(sts: &LocalSts, redis: &RedisServer) -> Router {
    replica_with(sts, &redis.url(), SECRET, |b| b)
}

async fn keys(redis: &RedisServer) -> Vec<String> {
    let mut connection = redis.connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap()
}

async fn get(redis: &RedisServer, key: &str) -> Vec<u8> {
    let mut connection = redis.connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

async fn set(redis: &RedisServer, key: &str, value: &[u8]) {
    let mut connection = redis.connection().await.unwrap();
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
}

/// A sealed entry for Alice with her ARN swapped for Admin's, the seal kept as it was.
fn alice_made_admin(value: &[u8]) -> Vec<u8> {
    let (payload, tag) = value.split_at(value.iter().position(|&b| b == b'.').unwrap());
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let forged = payload.replace("user/alice", "user/admin");
    assert_ne!(forged, payload);
    [URL_SAFE_NO_PAD.encode(forged).as_bytes(), tag].concat()
}

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::123456789012:user/bob";

#[tokio::test]
async fn three_replicas_make_one_sts_call_for_one_token() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let replicas = [
        replica(&sts, &redis),
        replica(&sts, &redis),
        replica(&sts, &redis),
    ];
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    for app in &replicas {
        assert_serves(app, &token, ALICE).await;
        assert_serves(app, &token, ALICE).await;
    }
    assert_eq!(sts.calls(), 1);

    // Neither the key nor the value carries the token (a live credential) or any part of it.
    let keys = keys(&redis).await;
    assert_eq!(keys.len(), 1);
    let value = get(&redis, &keys[0]).await;
    let signature = param(&url_of(&token), "X-Amz-Signature");
    assert!(!keys[0].contains(&signature) && !keys[0].contains(&token[..20]));
    assert!(!String::from_utf8_lossy(&value).contains(&signature));
}

#[tokio::test]
async fn replicas_with_another_secret_share_nothing() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&replica(&sts, &redis), &token, ALICE).await;
    let other = replica_with(&sts, &redis.url(), &[b'x'; 32], |b| b);
    assert_serves(&other, &token, ALICE).await;
    assert_eq!(sts.calls(), 2);
    assert_eq!(keys(&redis).await.len(), 2);
}

#[tokio::test]
async fn a_forged_or_altered_entry_is_refused_and_the_proof_goes_to_sts() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    sts.create_user(ACCOUNT, "admin");
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&replica(&sts, &redis), &token, ALICE).await;
    let key = keys(&redis).await.remove(0);
    let value = get(&redis, &key).await;

    // Someone who can write to Redis swaps the principal for another, keeping the seal.
    set(&redis, &key, &alice_made_admin(&value)).await;
    let second = replica(&sts, &redis);
    assert_serves(&second, &token, ALICE).await;
    assert_eq!(sts.calls(), 2);
    // The refused entry was replaced by this replica's own.
    assert_eq!(get(&redis, &key).await, value);

    // A made-up value, without any seal.
    set(
        &redis,
        &key,
        br#"{"arn":"arn:aws:iam::123456789012:user/admin"}"#,
    )
    .await;
    assert_serves(&replica(&sts, &redis), &token, ALICE).await;
    assert_eq!(sts.calls(), 3);
}

#[tokio::test]
async fn an_entry_copied_to_another_key_is_refused() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let first = replica(&sts, &redis);
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    assert_serves(&first, &alice, ALICE).await;
    let alice_key = keys(&redis).await.remove(0);
    assert_serves(&first, &bob, BOB).await;
    let bob_key = keys(&redis)
        .await
        .into_iter()
        .find(|k| *k != alice_key)
        .unwrap();
    assert_eq!(sts.calls(), 2);

    // Alice's sealed entry put under Bob's key: another replica must not take Bob for Alice.
    let alice_value = get(&redis, &alice_key).await;
    set(&redis, &bob_key, &alice_value).await;
    assert_serves(&replica(&sts, &redis), &bob, BOB).await;
    assert_eq!(sts.calls(), 3);
}

#[tokio::test]
async fn an_entry_kept_past_its_sealed_expiry_is_refused() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    // The first replica caches for 30 seconds: its entry is sealed to expire then.
    let first = replica_with(&sts, &redis.url(), SECRET, |b| {
        b.cache_max_ttl(Duration::from_secs(30))
    });
    assert_serves(&first, &token, ALICE).await;
    let key = keys(&redis).await.remove(0);

    // Someone removes the entry's time to live in Redis; a replica 60 seconds later (its proof
    // window still open) finds it, sealed to an expiry that has passed.
    let mut connection = redis.connection().await.unwrap();
    redis::cmd("PERSIST")
        .arg(&key)
        .query_async::<i64>(&mut connection)
        .await
        .unwrap();
    let clock = TestClock::default();
    clock.advance(Duration::from_secs(60));
    let later = replica_with(&sts, &redis.url(), SECRET, |b| b.clock(clock.as_fn()));
    assert_serves(&later, &token, ALICE).await;
    assert_eq!(sts.calls(), 2);
}

#[tokio::test]
async fn redis_stopped_in_the_middle_is_a_miss_not_a_refusal() {
    let mut redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let (first, second) = (replica(&sts, &redis), replica(&sts, &redis));
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&first, &alice, ALICE).await;
    assert_serves(&second, &alice, ALICE).await;
    assert_eq!(sts.calls(), 1);

    redis.stop();
    // Each replica's own cache still serves what it has...
    assert_serves(&first, &alice, ALICE).await;
    assert_serves(&second, &alice, ALICE).await;
    assert_eq!(sts.calls(), 1);
    // ...and a new token goes to STS, once per replica now.
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    assert_serves(&first, &bob, BOB).await;
    assert_serves(&second, &bob, BOB).await;
    assert_eq!(sts.calls(), 3);
}

#[tokio::test]
async fn a_replica_started_while_redis_is_down_serves_and_shares_once_it_is_back() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let sts = LocalSts::start().await.unwrap();
    let (first, second) = (replica(&sts, &redis), replica(&sts, &redis));
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&first, &alice, ALICE).await;
    assert_serves(&second, &alice, ALICE).await;
    assert_eq!(sts.calls(), 2);

    // Redis comes back: after the retry delay the replicas connect and share again.
    redis.restart().await;
    tokio::time::sleep(tower_iam_auth::cache::RETRY_AFTER + Duration::from_millis(100)).await;
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    assert_serves(&first, &bob, BOB).await;
    assert_serves(&second, &bob, BOB).await;
    assert_eq!(sts.calls(), 3);
}

#[tokio::test]
async fn a_slow_redis_is_a_miss_within_the_timeout() {
    let redis = RedisServer::start().await;
    let sts = LocalSts::start().await.unwrap();
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    // Redis busy for a second (DEBUG SLEEP blocks the server): the replica does not wait for it.
    let app = replica_with(&sts, &redis.url(), SECRET, |b| {
        b.shared_cache_timeout(Duration::from_millis(100))
    });
    let blocked = redis.block_for(1.0).await;
    let started = std::time::Instant::now();
    assert_serves(&app, &token, ALICE).await;
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "waited {:?} for a sleeping Redis",
        started.elapsed()
    );
    assert_eq!(sts.calls(), 1);
    blocked.await.unwrap();
}

/// One replica knowing the cluster through `seeds` only.
fn cluster_replica(sts: &LocalSts, seeds: &[&RedisServer]) -> Router {
    let store = RedisStore::cluster(seeds.iter().map(|node| node.url())).unwrap();
    replica_on(sts, store, SECRET, |b| b)
}

/// A real cluster, a LocalSts, and three replicas: the first knowing the cluster through its
/// first node only, the second through its second, the third through its third.
async fn cluster_fleet() -> (RedisCluster, LocalSts, [Router; 3]) {
    let cluster = RedisCluster::start().await;
    let sts = LocalSts::start().await.unwrap();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!("three nodes")
    };
    let replicas = [
        cluster_replica(&sts, &[a]),
        cluster_replica(&sts, &[b]),
        cluster_replica(&sts, &[c]),
    ];
    (cluster, sts, replicas)
}

/// Each of `users` (token, ARN) served by each of `replicas`.
async fn assert_all_serve(replicas: &[Router], users: &[(String, String)]) {
    for (token, arn) in users {
        for app in replicas {
            assert_serves(app, token, arn).await;
        }
    }
}

/// `count` tokens of as many users, with the ARN each is served as.
async fn users(sts: &LocalSts, prefix: &str, count: usize) -> Vec<(String, String)> {
    let mut users = Vec::new();
    for i in 0..count {
        let name = format!("{prefix}{i}");
        let token = token_for(sts.create_user(ACCOUNT, &name)).await;
        users.push((token, format!("arn:aws:iam::{ACCOUNT}:user/{name}")));
    }
    users
}

#[tokio::test]
async fn replicas_on_a_cluster_make_one_sts_call_for_one_token() {
    let (cluster, sts, replicas) = cluster_fleet().await;
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    for app in &replicas {
        assert_serves(app, &token, ALICE).await;
        assert_serves(app, &token, ALICE).await;
    }
    assert_eq!(sts.calls(), 1);
    let keys = cluster.keys_by_node().await;
    assert_eq!(keys.concat().len(), 1, "{keys:?}");
}

#[tokio::test]
async fn tokens_whose_keys_live_on_different_cluster_nodes_cost_one_sts_call_each() {
    let (cluster, sts, replicas) = cluster_fleet().await;
    // Twelve keys on three nodes: all on one node by chance once in 100,000 runs.
    let users = users(&sts, "user", 12).await;
    assert_all_serve(&replicas, &users).await;
    assert_eq!(sts.calls(), users.len());

    // Each replica reached every node, not only its seed: the keys are spread over the nodes.
    let keys = cluster.keys_by_node().await;
    assert_eq!(keys.concat().len(), users.len(), "{keys:?}");
    let holding = keys.iter().filter(|keys| !keys.is_empty()).count();
    assert!(holding >= 2, "all keys on one node: {keys:?}");
}

#[tokio::test]
async fn a_tampered_entry_on_a_cluster_node_is_refused_and_the_proof_goes_to_sts() {
    let (cluster, sts, [first, second, third]) = cluster_fleet().await;
    sts.create_user(ACCOUNT, "admin");
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&first, &token, ALICE).await;
    let key = cluster.keys_by_node().await.concat().remove(0);
    let holder = cluster.holder_of(&key).await;
    let value = get(holder, &key).await;

    // Someone who can write to the node holding the entry swaps the principal for another.
    set(holder, &key, &alice_made_admin(&value)).await;
    assert_serves(&second, &token, ALICE).await;
    assert_eq!(sts.calls(), 2);
    // The refused entry was replaced by the second replica's own, which the third takes.
    assert_eq!(get(holder, &key).await, value);
    assert_serves(&third, &token, ALICE).await;
    assert_eq!(sts.calls(), 2);
}

#[tokio::test]
async fn a_cluster_node_killed_in_the_middle_is_a_miss_not_a_refusal() {
    let (mut cluster, sts, replicas) = cluster_fleet().await;
    let before = users(&sts, "before", 6).await;
    assert_all_serve(&replicas, &before).await;
    assert_eq!(sts.calls(), before.len());

    cluster.nodes[2].stop();
    // Every request is served, promptly: what a replica has it serves itself, the rest goes to
    // STS (the keys on the killed node cannot be shared).
    let after = users(&sts, "after", 6).await;
    for (token, arn) in before.iter().chain(&after) {
        for app in &replicas {
            let started = std::time::Instant::now();
            assert_serves(app, token, arn).await;
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "waited {:?} with a cluster node down",
                started.elapsed()
            );
        }
    }
    let calls = sts.calls() - before.len();
    assert!(
        (after.len()..=3 * after.len()).contains(&calls),
        "{calls} STS calls for {} new tokens on three replicas",
        after.len()
    );
}

#[tokio::test]
async fn a_cluster_connection_cut_short_by_the_timeout_is_made_again() {
    let (cluster, sts, [first, second, _]) = cluster_fleet().await;
    // The first replica's seed node busy (DEBUG SLEEP blocks it) while the replica connects: its
    // first request stops waiting at the cache's timeout, in the middle of connecting.
    let blocked = cluster.nodes[0].block_for(0.5).await;
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    assert_serves(&first, &alice, ALICE).await;
    blocked.await.unwrap();

    // After the retry delay the replica connects again and shares.
    tokio::time::sleep(tower_iam_auth::cache::RETRY_AFTER + Duration::from_millis(100)).await;
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    assert_serves(&second, &bob, BOB).await;
    assert_serves(&first, &bob, BOB).await;
    assert_eq!(sts.calls(), 2);
}

#[test]
fn a_secret_shorter_than_32_bytes_is_refused() {
    assert!(CacheSecret::new([1u8; 31]).is_err());
    assert!(CacheSecret::from_file_contents(b"  short secret\n").is_err());
    assert!(CacheSecret::from_file_contents(&[b'k'; 32]).is_ok());
}
