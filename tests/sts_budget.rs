//! What cache misses may spend on STS: per client address, per access key id, overall. A flood
//! of made-up proofs is refused with `429 sts.rate_limited` before it reaches STS, while honest
//! clients from other addresses, and every cached token, keep getting in.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use http::StatusCode;
use support::*;

/// Serves `app` on 127.0.0.1 with the socket peer in the request extensions, as a real server
/// does (`into_make_service_with_connect_info`).
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// An HTTP client whose connections come from `local` (any 127.0.0.0/8 address is loopback).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

async fn get(
    client: &reqwest::Client,
    server: SocketAddr,
    token: &str,
) -> (StatusCode, String, Option<u64>) {
    let response = client
        .get(format!("http://{server}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.bytes().await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let reason = json["reason"].as_str().unwrap_or_default().to_owned();
    (status, reason, retry_after)
}

/// A proof that passes every local check but was signed by nobody STS knows: a made-up access
/// key id and signature on a well-formed URL. Each `n` gives a distinct token and key id, so
/// that neither the cache nor the per-key budget stops it.
fn made_up_proof(template: &str, n: usize) -> String {
    mutate(template, |url| {
        let credential = param(&url, "X-Amz-Credential");
        let key = credential.split_once("%2F").unwrap().0;
        let url = url.replacen(key, &format!("AKIAFLOOD{n:011}"), 1);
        set_param(&url, "X-Amz-Signature", &format!("{n:064x}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_made_up_proofs_stays_within_the_budget_and_honest_clients_get_in() {
    const FLOOD: usize = 3000;
    const PER_CLIENT: u32 = 20;
    let h = harness_with(|b| b.sts_budget_per_client(PER_CLIENT, Duration::from_secs(1))).await;
    let server = serve(h.app.clone()).await;
    let template = token_for(Credentials::new(
        "AKIATEMPLATE0000000",
        "made-up",
        None,
        None,
        "test",
    ))
    .await;
    let honest = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let started = Instant::now();
    let attacker = client_from("127.0.0.1");
    let done = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let attacker = attacker.clone();
        let template = template.clone();
        let done = done.clone();
        flood.spawn(async move {
            let mut answers = Vec::new();
            for n in (worker..FLOOD).step_by(32) {
                answers.push(get(&attacker, server, &made_up_proof(&template, n)).await);
                done.fetch_add(1, Ordering::Relaxed);
            }
            answers
        });
    }

    // The honest client arrives while the flood is on, from another address.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let honest_started = Instant::now();
    let (status, reason, _) = get(&client_from("127.0.0.2"), server, &honest).await;
    let honest_took = honest_started.elapsed();
    let flood_running = done.load(Ordering::Relaxed) < FLOOD;

    let mut limited = 0;
    let mut rejected = 0;
    while let Some(answers) = flood.join_next().await {
        for (status, reason, retry_after) in answers.unwrap() {
            match (status, reason.as_str()) {
                (StatusCode::TOO_MANY_REQUESTS, "sts.rate_limited") => {
                    assert!(
                        retry_after.is_some_and(|s| s >= 1),
                        "429 without Retry-After"
                    );
                    limited += 1;
                }
                (StatusCode::UNAUTHORIZED, "sts.rejected") => rejected += 1,
                other => panic!("a made-up proof got {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    assert_eq!((status, reason.as_str()), (StatusCode::OK, ""));
    assert!(
        flood_running,
        "the flood was over before the honest client came"
    );
    assert!(
        honest_took < Duration::from_secs(1),
        "the honest client waited {honest_took:?} during the flood"
    );
    assert_eq!(limited + rejected, FLOOD);
    // Only the budget reached STS: its burst, its refill over the flood, and the honest call.
    let budget = f64::from(PER_CLIENT) * (1.0 + elapsed) + 1.0;
    let calls = h.sts.calls();
    assert!(
        (calls as f64) <= budget,
        "{calls} STS calls in {elapsed:.1}s for a budget of {budget:.0}"
    );
    assert_eq!(calls, rejected + 1);
    assert!(
        limited > FLOOD / 2,
        "only {limited} of {FLOOD} were limited"
    );
}

#[tokio::test]
async fn cached_tokens_are_never_rate_limited() {
    let h = harness_with(|b| b.sts_budget_per_client(1, Duration::from_secs(60))).await;
    let server = serve(h.app.clone()).await;
    let client = client_from("127.0.0.1");
    let alice = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(h.sts.create_user(ACCOUNT, "bob")).await;

    for _ in 0..50 {
        assert_eq!(get(&client, server, &alice).await.0, StatusCode::OK);
    }
    // The one STS call of the budget went to alice's token; a new token must wait.
    let (status, reason, retry_after) = get(&client, server, &bob).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reason, "sts.rate_limited");
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );
    // Alice's token is still served from the cache, over budget or not.
    assert_eq!(get(&client, server, &alice).await.0, StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
    // Another address has its own budget.
    assert_eq!(
        get(&client_from("127.0.0.3"), server, &bob).await.0,
        StatusCode::OK
    );
    assert_eq!(h.sts.calls(), 2);
}

#[tokio::test]
async fn one_access_key_cannot_spend_more_than_its_budget_from_many_addresses() {
    let h = harness_with(|b| b.sts_budget_per_access_key(2, Duration::from_secs(60))).await;
    let server = serve(h.app.clone()).await;
    let alice = h.sts.create_user(ACCOUNT, "alice");
    let mut statuses = Vec::new();
    for n in 0..4 {
        // Distinct proofs of one key (signed at distinct seconds), from distinct addresses.
        let token = token_signed_at(
            alice.clone(),
            std::time::SystemTime::now() - Duration::from_secs(n),
            tower_iam_auth::proof::ProofFormat::IamV1,
        )
        .await;
        let (status, reason, _) =
            get(&client_from(&format!("127.0.0.{}", 10 + n)), server, &token).await;
        statuses.push((status.as_u16(), reason));
    }
    assert_eq!(statuses[..2], [(200, String::new()), (200, String::new())]);
    assert_eq!(
        statuses[2..],
        [
            (429, "sts.rate_limited".to_owned()),
            (429, "sts.rate_limited".to_owned())
        ]
    );
    assert_eq!(h.sts.calls(), 2);
}

#[tokio::test]
async fn the_overall_budget_binds_every_address_and_key() {
    let h = harness_with(|b| b.sts_budget_overall(1, Duration::from_secs(60))).await;
    let server = serve(h.app.clone()).await;
    let alice = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(h.sts.create_user(ACCOUNT, "bob")).await;
    assert_eq!(
        get(&client_from("127.0.0.1"), server, &alice).await.0,
        StatusCode::OK
    );
    let (status, reason, _) = get(&client_from("127.0.0.2"), server, &bob).await;
    assert_eq!(
        (status, reason.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "sts.rate_limited")
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
    use tower_iam_auth::policy::SourceIp;
    let h = harness_with(|b| {
        b.sts_budget_per_client(1, Duration::from_secs(60))
            .source_ip(SourceIp::TrustedProxyHeader {
                header: http::HeaderName::from_static("x-forwarded-for"),
                proxies: vec!["127.0.0.1".into()],
            })
    })
    .await;
    let server = serve(h.app.clone()).await;
    let send = |from: &'static str, forwarded: &'static str, token: String| async move {
        let response = client_from(from)
            .get(format!("http://{server}/whoami"))
            .bearer_auth(token)
            .header("x-forwarded-for", forwarded)
            .send()
            .await
            .unwrap();
        response.status()
    };
    let token = |name: &str| token_for(h.sts.create_user(ACCOUNT, name));
    // Behind the trusted proxy, two clients have two budgets.
    assert_eq!(
        send("127.0.0.1", "198.51.100.1", token("a").await).await,
        StatusCode::OK
    );
    assert_eq!(
        send("127.0.0.1", "198.51.100.2", token("b").await).await,
        StatusCode::OK
    );
    assert_eq!(
        send("127.0.0.1", "198.51.100.2", token("c").await).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An untrusted peer's header is ignored: its budget is its own address's.
    assert_eq!(
        send("127.0.0.9", "198.51.100.3", token("d").await).await,
        StatusCode::OK
    );
    assert_eq!(
        send("127.0.0.9", "198.51.100.4", token("e").await).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(h.sts.calls(), 3);
}

#[test]
fn budgets_of_zero_or_of_more_than_an_hour_are_refused_at_build() {
    use tower_iam_auth::server::{ConfigError, IamAuthConfig};
    let base = || {
        IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
    };
    let zero = base()
        .sts_budget_per_client(0, Duration::from_secs(1))
        .build();
    assert!(matches!(
        zero,
        Err(ConfigError::Zero("sts_budget_per_client"))
    ));
    let zero = base().sts_budget_overall(10, Duration::ZERO).build();
    assert!(matches!(zero, Err(ConfigError::Zero("sts_budget_overall"))));
    let long = base()
        .sts_budget_per_access_key(10, Duration::from_secs(7200))
        .build();
    assert!(matches!(
        long,
        Err(ConfigError::TooLong("sts_budget_per_access_key", _))
    ));
    // The largest values build, and do not overflow.
    assert!(
        base()
            .sts_budget_overall(u32::MAX, Duration::from_nanos(1))
            .sts_budget_per_client(u32::MAX, Duration::from_secs(3600))
            .build()
            .is_ok()
    );
}
