//! `examples/whoami_server.rs` as a black box: started as a process, configured by environment.

mod support;

use support::examples::{example, start_with_sts};
use support::*;

#[tokio::test]
async fn serves_health_whoami_and_login_as_configured_by_environment() {
    let sts = tower_iam_auth::testing::LocalSts::start().await.unwrap();
    let server = start_with_sts(
        "whoami_server",
        &sts,
        &[
            ("IAM_AUTH_FORMATS", "iam-v1,k8s-aws-v1"),
            ("IAM_AUTH_VAULT_AUDIENCE_HEADER", "X-APP-ID"),
        ],
    );

    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), 200);

    let anonymous = server.get("/whoami", None).await;
    assert_eq!(anonymous.status(), 401);

    let role = sts.assume_role(ACCOUNT, "deployer", "black-box");
    let token = signer_for(role, AUDIENCE, tower_iam_auth::proof::ProofFormat::K8sAwsV1)
        .token()
        .await
        .unwrap();
    let whoami = server.get("/whoami", Some(token.as_str())).await;
    assert_eq!(whoami.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(&whoami.bytes().await.unwrap()).unwrap();
    for key in [
        "arn",
        "raw_arn",
        "account",
        "kind",
        "name",
        "session_name",
        "principal_id",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:role/deployer");
    assert_eq!(json["session_name"], "black-box");

    // `/ping` answers what `/healthz` answers, behind the layer.
    assert_eq!(server.get("/ping", None).await.status(), 401);
    let pong = server.get("/ping", Some(token.as_str())).await;
    assert_eq!(pong.status(), 200);
    let health = server.get("/healthz", None).await;
    assert_eq!(
        pong.headers()["content-type"],
        health.headers()["content-type"]
    );
    assert_eq!(pong.bytes().await.unwrap(), health.bytes().await.unwrap());

    let alice = sts.create_user(ACCOUNT, "alice");
    let body = support::vault::Login::new("X-APP-ID", AUDIENCE).body_json(&alice);
    let login = server
        .post("/login", serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(login.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(&login.bytes().await.unwrap()).unwrap();
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:user/alice");

    let login = server.post("/login", "{}").await;
    assert_eq!(login.status(), 401);
    let json: serde_json::Value = serde_json::from_slice(&login.bytes().await.unwrap()).unwrap();
    assert_eq!(json["reason"], "proof.vault_body");
}

#[test]
fn refuses_to_start_without_an_audience() {
    let output = example("whoami_server")
        .env_remove("IAM_AUTH_AUDIENCE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("IAM_AUTH_AUDIENCE is required"));
}

#[test]
fn refuses_to_start_with_a_cache_secret_shorter_than_32_bytes() {
    let dir = std::env::temp_dir().join(format!("whoami-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    // 31 bytes once the surrounding whitespace is trimmed.
    std::fs::write(&secret, format!("  {}\n", "s".repeat(31))).unwrap();
    let output = example("whoami_server")
        .env("IAM_AUTH_AUDIENCE", AUDIENCE)
        .env("IAM_AUTH_ALLOW_ANY_ACCOUNT", "1")
        .env("IAM_AUTH_REDIS_URL", "redis://127.0.0.1:1/")
        .env("IAM_AUTH_CACHE_SECRET_FILE", &secret)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("IAM_AUTH_CACHE_SECRET_FILE") && stderr.contains("at least 32 bytes"),
        "{stderr}"
    );
}

/// The value of the sample `name{labels}` in a Prometheus text exposition, 0 when absent.
#[cfg(feature = "metrics")]
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_move_with_accepted_and_refused_requests() {
    let sts = tower_iam_auth::testing::LocalSts::start().await.unwrap();
    let server = start_with_sts("whoami_server", &sts, &[]);
    let scrape = || async {
        let response = server.get("/metrics", None).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        response.text().await.unwrap()
    };
    let allowed = [("outcome", "allowed")];
    let refused = [("outcome", "refused"), ("reason", "token.missing")];
    let before = scrape().await;

    let token = token_for(sts.assume_role(ACCOUNT, "deployer", "scraped")).await;
    for _ in 0..2 {
        assert_eq!(server.get("/whoami", Some(&token)).await.status(), 200);
    }
    let anonymous = server.get("/whoami", None).await;
    assert_eq!(anonymous.status(), 401);

    let after = scrape().await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("iam_auth_requests_total", &allowed), 2.0, "{after}");
    assert_eq!(moved("iam_auth_requests_total", &refused), 1.0, "{after}");
    assert_eq!(
        moved("iam_auth_cache_lookups_total", &[("result", "hit")]),
        1.0
    );
    assert_eq!(
        moved("iam_auth_sts_requests_total", &[("result", "ok")]),
        1.0
    );
    assert!(after.contains("iam_auth_layer_duration_seconds"), "{after}");
    assert!(
        !after.contains("deployer") && !after.contains(ACCOUNT),
        "{after}"
    );
}

#[tokio::test]
async fn the_per_client_sts_budget_applies_to_the_socket_peer() {
    let sts = tower_iam_auth::testing::LocalSts::start().await.unwrap();
    // One STS call per minute for a client address; the other budgets stay as they are.
    let server = start_with_sts(
        "whoami_server",
        &sts,
        &[("IAM_AUTH_STS_BUDGET_PER_CLIENT", "1/60")],
    );

    // Two callers (two access keys) behind one address: the first spends the address's budget.
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    assert_eq!(server.get("/whoami", Some(&alice)).await.status(), 200);
    let limited = server.get("/whoami", Some(&bob)).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = limited.text().await.unwrap();
    assert!(body.contains("sts.rate_limited"), "{body}");
    assert_eq!(sts.calls(), 1);
    // A cached token is never limited.
    assert_eq!(server.get("/whoami", Some(&alice)).await.status(), 200);
    assert_eq!(sts.calls(), 1);
}

#[test]
fn refuses_to_start_with_a_malformed_sts_budget() {
    let output = example("whoami_server")
        .env("IAM_AUTH_AUDIENCE", AUDIENCE)
        .env("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT)
        .env("IAM_AUTH_STS_BUDGET_OVERALL", "100 per second")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("IAM_AUTH_STS_BUDGET_OVERALL: expected CALLS/SECONDS"),
        "{stderr}"
    );
}
