//! `examples/whoami_server.rs` as a black box: started as a process, configured by environment.

mod support;

use support::examples::{example, start};
use support::*;

#[tokio::test]
async fn serves_health_whoami_and_login_as_configured_by_environment() {
    let sts = tower_iam_auth::testing::LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_FORMATS", "iam-v1,k8s-aws-v1"),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
            ("IAM_AUTH_VAULT_AUDIENCE_HEADER", "X-APP-ID"),
        ],
    );
    let http = reqwest::Client::new();

    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let anonymous = http
        .get(format!("{}/whoami", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let role = sts.assume_role(ACCOUNT, "deployer", "black-box");
    let token = signer_for(role, AUDIENCE, tower_iam_auth::proof::ProofFormat::K8sAwsV1)
        .token()
        .await
        .unwrap();
    let whoami = http
        .get(format!("{}/whoami", server.base))
        .bearer_auth(token.as_str())
        .send()
        .await
        .unwrap();
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

    let alice = sts.create_user(ACCOUNT, "alice");
    let body = support::vault::Login::new("X-APP-ID", AUDIENCE).body_json(&alice);
    let login = http
        .post(format!("{}/login", server.base))
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(&login.bytes().await.unwrap()).unwrap();
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:user/alice");

    let login = http
        .post(format!("{}/login", server.base))
        .body("{}")
        .send()
        .await
        .unwrap();
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
