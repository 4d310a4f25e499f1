//! `examples/exchange_server.rs` as a black box: a proof exchanged for a JWT there is accepted by
//! its `/whoami` with the same principal as the proof itself.
#![cfg(feature = "jwt")]

mod support;

use support::examples::start;
use support::*;

async fn json(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_proof_exchanged_at_the_example_gives_a_jwt_its_whoami_accepts() {
    let sts = tower_iam_auth::testing::LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let server = start(
        "exchange_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
            ("IAM_AUTH_JWT_AUDIENCE", "orders-api"),
            ("IAM_AUTH_TOKEN_TTL", "600"),
        ],
    );
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("ephemeral RS256 key")),
        "no warning about the ephemeral key"
    );
    let http = reqwest::Client::new();
    let proof = token_for(sts.assume_role(ACCOUNT, "deployer", "exchange")).await;

    let by_proof = json(
        http.get(format!("{}/whoami", server.base))
            .bearer_auth(&proof)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(by_proof["arn"], "arn:aws:iam::123456789012:role/deployer");

    let answer = http
        .post(format!("{}/token", server.base))
        .bearer_auth(&proof)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let answer = json(answer).await;
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 600);
    let jwt = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt.split('.').count(), 3);

    let by_jwt = http
        .get(format!("{}/whoami", server.base))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(by_jwt.status(), 200);
    assert_eq!(
        json(by_jwt).await,
        by_proof,
        "the JWT carries the same principal as the proof"
    );

    let jwks = json(
        http.get(format!("{}/.well-known/jwks.json", server.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let discovery = json(
        http.get(format!("{}/.well-known/openid-configuration", server.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", server.base)
    );
}
