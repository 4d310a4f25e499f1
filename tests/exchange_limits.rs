//! What one caller can make the token exchange do: a token is reused per principal and
//! audience whatever proof is shown, new tokens are budgeted per principal, and the formats
//! whose audiences share a namespace with EKS clusters and Vault servers can be switched off.

mod jwt_support;
mod support;

use std::time::{Duration, SystemTime};

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_support::*;
use serde_json::Value;
use support::logs::capture;
use tower::ServiceExt;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;
use tower_iam_auth::token::{
    ExchangeConfigError, JwtAlgorithm, KeySet, SigningKey, TokenExchange, TokenExchangeBuilder,
};

/// Each signature logs this once (and a fresh `jti` makes each token distinct).
const SIGNED: &str = "token issued";

struct Exchange {
    sts: LocalSts,
    router: axum::Router,
}

async fn exchange_with(
    configure: impl FnOnce(TokenExchangeBuilder) -> TokenExchangeBuilder,
) -> Exchange {
    let sts = LocalSts::start().await.unwrap();
    let layer = IamAuthLayer::new(
        IamAuthConfig::builder()
            .audience(PROOF_AUDIENCE)
            .formats([ProofFormat::IamV1, ProofFormat::K8sAwsV1])
            .allow_any_aws_account()
            .dangerous_sts_connect_to(sts.connect_to())
            .build()
            .unwrap(),
    );
    let key = SigningKey::generate(JwtAlgorithm::ES256)
        .unwrap()
        .with_kid("k1");
    let builder = TokenExchange::builder(layer)
        .allow_any_aws_account()
        .issuer(ISSUER)
        .keys(KeySet::new(key))
        .default_audience(JWT_AUDIENCE);
    let router = configure(builder).build().unwrap().router();
    Exchange { sts, router }
}

/// A proof of `credentials`, signed `age` ago (distinct ages make distinct proofs).
async fn proof(
    credentials: aws_credential_types::Credentials,
    format: ProofFormat,
    age: u64,
) -> String {
    let at = SystemTime::now() - Duration::from_secs(age);
    support::token_signed_at_for(credentials, PROOF_AUDIENCE, at, format).await
}

async fn post(
    exchange: &Exchange,
    request: http::request::Builder,
    body: String,
) -> (StatusCode, Option<String>, Value) {
    let response = exchange
        .router
        .clone()
        .oneshot(
            request
                .method("POST")
                .uri("/token")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry_after, serde_json::from_slice(&bytes).unwrap())
}

async fn exchange_proof(exchange: &Exchange, proof: &str) -> (StatusCode, Option<String>, Value) {
    post(
        exchange,
        Request::builder().header("authorization", format!("Bearer {proof}")),
        String::new(),
    )
    .await
}

#[tokio::test]
async fn distinct_proofs_of_one_principal_get_one_token_signed_once() {
    let exchange = exchange_with(|b| b).await;
    let alice = exchange
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let (logs, _guard) = capture();
    let mut tokens = Vec::new();
    for age in 0..5 {
        let (status, _, body) = exchange_proof(
            &exchange,
            &proof(alice.clone(), ProofFormat::IamV1, age).await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "a new proof of the same principal cost a new signature"
    );
    assert_eq!(logs.count(SIGNED), 1);
    // Each proof was still verified: a reused token goes only to a proof STS accepts now.
    assert_eq!(exchange.sts.calls(), 5);
}

#[tokio::test]
async fn another_session_or_audience_gets_its_own_token() {
    let exchange = exchange_with(|b| b.audience("billing-service")).await;
    let one = exchange
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let two = exchange
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-2");
    let (logs, _guard) = capture();
    let (_, _, first) =
        exchange_proof(&exchange, &proof(one.clone(), ProofFormat::IamV1, 0).await).await;
    let (_, _, second) = exchange_proof(&exchange, &proof(two, ProofFormat::IamV1, 0).await).await;
    let (status, _, billing) = post(
        &exchange,
        Request::builder()
            .header(
                "authorization",
                format!("Bearer {}", proof(one, ProofFormat::IamV1, 1).await),
            )
            .header("content-type", "application/x-www-form-urlencoded"),
        "audience=billing-service".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{billing}");
    // The session name is a claim: a token of session-1 is never handed to session-2.
    assert_ne!(first["access_token"], second["access_token"]);
    assert_ne!(first["access_token"], billing["access_token"]);
    assert_eq!(logs.count(SIGNED), 3);
}

#[tokio::test]
async fn new_tokens_are_budgeted_per_principal() {
    let exchange = exchange_with(|b| b.issuance_per_principal(2, Duration::from_secs(60))).await;
    let (logs, _guard) = capture();
    let mut answers = Vec::new();
    for session in ["s1", "s2", "s3", "s4"] {
        // A new session is a new token (its name is a claim): the budget is per role.
        let credentials = exchange.sts.assume_role(ACCOUNT, "orders-reader", session);
        answers.push(
            exchange_proof(&exchange, &proof(credentials, ProofFormat::IamV1, 0).await).await,
        );
    }
    for (status, _, body) in &answers[..2] {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    for (status, retry_after, body) in &answers[2..] {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["reason"], "exchange.rate_limited");
        assert_eq!(body["error"], "temporarily_unavailable");
        let secs: u64 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=60).contains(&secs), "{secs}");
    }
    assert_eq!(logs.count(SIGNED), 2, "a refused issuance signed anyway");
    // Another role has its own budget.
    let other = exchange.sts.assume_role(ACCOUNT, "billing", "s1");
    let (status, _, _) =
        exchange_proof(&exchange, &proof(other, ProofFormat::IamV1, 0).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn vault_logins_can_be_switched_off_before_any_sts_call() {
    let on = exchange_with(|b| b).await;
    let credentials = on.sts.create_user(ACCOUNT, "alice");
    let body = vault_login(&credentials, PROOF_AUDIENCE).to_string();
    let json = || Request::builder().header("content-type", "application/json");
    let (status, _, answer) = post(&on, json(), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let off = exchange_with(|b| b.accept_vault_logins(false)).await;
    let credentials = off.sts.create_user(ACCOUNT, "alice");
    let body = vault_login(&credentials, PROOF_AUDIENCE).to_string();
    let (status, _, answer) = post(&off, json(), body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["reason"], "proof.format_not_accepted");
    // The RFC 8693 form of the same login is refused too.
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        )
        .append_pair("subject_token", &body)
        .append_pair(
            "subject_token_type",
            "urn:tower-iam-auth:params:oauth:token-type:vault-iam-login",
        )
        .finish();
    let (status, _, answer) = post(
        &off,
        Request::builder().header("content-type", "application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["reason"], "proof.format_not_accepted");
    assert_eq!(off.sts.calls(), 0);
}

#[tokio::test]
async fn eks_tokens_can_be_switched_off_before_any_sts_call() {
    let on = exchange_with(|b| b).await;
    let alice = on.sts.create_user(ACCOUNT, "alice");
    let (status, _, answer) =
        exchange_proof(&on, &proof(alice, ProofFormat::K8sAwsV1, 0).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let off = exchange_with(|b| b.accept_eks_tokens(false)).await;
    let alice = off.sts.create_user(ACCOUNT, "alice");
    let (status, _, answer) =
        exchange_proof(&off, &proof(alice.clone(), ProofFormat::K8sAwsV1, 0).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["reason"], "proof.format_not_accepted");
    assert_eq!(off.sts.calls(), 0);
    // Native proofs still work.
    let (status, _, _) = exchange_proof(&off, &proof(alice, ProofFormat::IamV1, 0).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn an_issuance_budget_of_zero_or_beyond_an_hour_is_refused_at_build() {
    for (tokens, per) in [
        (0, Duration::from_secs(60)),
        (10, Duration::ZERO),
        (10, Duration::from_secs(3601)),
    ] {
        let layer = IamAuthLayer::new(
            IamAuthConfig::builder()
                .audience(PROOF_AUDIENCE)
                .allow_any_aws_account()
                .build()
                .unwrap(),
        );
        let result = TokenExchange::builder(layer)
            .allow_any_aws_account()
            .issuer(ISSUER)
            .keys(KeySet::new(
                SigningKey::generate(JwtAlgorithm::ES256).unwrap(),
            ))
            .default_audience(JWT_AUDIENCE)
            .issuance_per_principal(tokens, per)
            .build();
        assert!(
            matches!(result, Err(ExchangeConfigError::IssuanceBudget(..))),
            "{tokens} per {per:?}: {result:?}"
        );
    }
}
