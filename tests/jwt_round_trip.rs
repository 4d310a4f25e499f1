//! The JWT round trip: a proof exchanged at a served `TokenExchange` gives a JWT that
//! `IamAuthLayer` accepts as the same principal; the exchange endpoint's request forms and
//! refusals; the client token source and its layer.
#![cfg(feature = "jwt")]

mod jwt_support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_support::*;
use serde_json::Value;
use tower::{Layer, ServiceExt};
use tower_iam_auth::client::{ExchangeTokenSource, JwtBearerLayer, ProofSigner};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::token::{
    ExchangeConfigError, GRANT_TYPE_TOKEN_EXCHANGE, JwtAlgorithm, JwtVerifier, KeySet,
    MAX_TOKEN_TTL, SigningKey, TOKEN_TYPE_IAM_PROOF, TOKEN_TYPE_JWT, TOKEN_TYPE_VAULT_IAM_LOGIN,
    TokenExchange, TrustedIssuer,
};

fn rs256_keys() -> KeySet {
    KeySet::new(SigningKey::generate(JwtAlgorithm::RS256).unwrap())
}

/// A service for `JWT_AUDIENCE` that accepts proofs (against the exchange's LocalSts) and JWTs
/// from the served exchange, answering `/whoami` with the principal's JSON.
fn combined_service(served: &ServedExchange) -> Router {
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&served.base))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let config = IamAuthConfig::builder()
        .audience(JWT_AUDIENCE)
        .allow_any_aws_account()
        .dangerous_sts_connect_to(served.sts.connect_to())
        .token_verifier(verifier)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/whoami",
            get(|p: IamPrincipal| async move { axum::Json(p) }),
        )
        .layer(IamAuthLayer::new(config))
}

async fn whoami(app: &Router, token: &str) -> (StatusCode, Value) {
    let request = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `POST /token` on the exchange's router with `content_type` and `body`.
async fn post_token(
    served: &ServedExchange,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: String,
) -> (StatusCode, http::HeaderMap, Value) {
    let mut request = Request::post("/token");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(value) = content_type {
        request = request.header("content-type", value);
    }
    let response = served
        .exchange
        .router()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        form.append_pair(name, value);
    }
    form.finish()
}

#[tokio::test]
async fn exchanged_jwt_is_accepted_as_the_same_principal_as_the_proof() {
    let served = ServedExchange::start(rs256_keys()).await;
    let service = combined_service(&served);

    let credentials = served
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let proof = ProofSigner::builder(credentials)
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let (status, by_proof) = whoami(&service, proof.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{by_proof}");

    let jwt = served.exchange_proof().await;
    let calls = served.sts.calls();
    let (status, by_jwt) = whoami(&service, &jwt).await;
    assert_eq!(status, StatusCode::OK, "{by_jwt}");
    assert_eq!(by_jwt, by_proof);
    assert_eq!(by_jwt["arn"], ROLE_ARN);
    assert_eq!(
        served.sts.calls(),
        calls,
        "the JWT was verified without STS"
    );
}

#[tokio::test]
async fn issued_token_carries_the_claims_layout() {
    let served = ServedExchange::start(rs256_keys()).await;
    let jwt = served.exchange_proof().await;
    let mut parts = jwt.split('.');
    let decode = |part: &str| -> Value {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let header = decode(parts.next().unwrap());
    let claims = decode(parts.next().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], served.exchange.keys().active_kid());
    assert_eq!(claims["iss"], served.base);
    assert_eq!(claims["sub"], ROLE_ARN);
    assert_eq!(claims["aud"], JWT_AUDIENCE);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let aws = &claims["https://sts.amazonaws.com/"];
    assert_eq!(aws["aws_account"], ACCOUNT);
    assert_eq!(aws["principal_id"], ROLE_ARN);
    assert_eq!(aws["session_name"], "session-1");
    assert_eq!(aws["raw_arn"], SESSION_ARN);
    assert!(
        aws["unique_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("AROA"))
    );
}

#[tokio::test]
async fn jwt_only_layer_refuses_proofs() {
    let served = ServedExchange::start(rs256_keys()).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&served.base))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let config = IamAuthConfig::builder()
        .audience(JWT_AUDIENCE)
        .allow_any_aws_account()
        .dangerous_sts_connect_to(served.sts.connect_to())
        .token_verifier(verifier)
        .accept_proofs(false)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|p: IamPrincipal| async move { axum::Json(p) }),
        )
        .layer(IamAuthLayer::new(config));
    let proof = served.signer.token().await.unwrap();
    let (status, body) = whoami(&app, proof.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "token.not_accepted");
    assert_eq!(served.sts.calls(), 0);
    let (status, _) = whoami(&app, &served.exchange_proof().await).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn token_response_follows_rfc6749() {
    let served = ServedExchange::start(rs256_keys()).await;
    let proof = served.signer.token().await.unwrap();
    let (status, headers, body) = post_token(
        &served,
        Some(&format!("Bearer {}", proof.as_str())),
        None,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["issued_token_type"], TOKEN_TYPE_JWT);
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
}

#[tokio::test]
async fn rfc8693_form_is_exchanged() {
    let served = ServedExchange::start(rs256_keys()).await;
    let proof = served.signer.token().await.unwrap();
    let body = form(&[
        ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
        ("subject_token", proof.as_str()),
        ("subject_token_type", TOKEN_TYPE_IAM_PROOF),
        ("audience", JWT_AUDIENCE),
    ]);
    let (status, _, body) = post_token(
        &served,
        None,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service = combined_service(&served);
    let (status, who) = whoami(&service, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["arn"], ROLE_ARN);
}

#[tokio::test]
async fn vault_login_body_is_exchanged() {
    let served = ServedExchange::start(rs256_keys()).await;
    let credentials = served
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let login = vault_login(&credentials, PROOF_AUDIENCE);
    let (status, _, body) =
        post_token(&served, None, Some("application/json"), login.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service = combined_service(&served);
    let (status, who) = whoami(&service, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["arn"], ROLE_ARN);
}

#[tokio::test]
async fn vault_login_in_the_rfc8693_form_is_exchanged() {
    let served = ServedExchange::start(rs256_keys()).await;
    let credentials = served
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let login = vault_login(&credentials, PROOF_AUDIENCE).to_string();
    let body = form(&[
        ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
        ("subject_token", &login),
        ("subject_token_type", TOKEN_TYPE_VAULT_IAM_LOGIN),
    ]);
    let (status, _, body) = post_token(
        &served,
        None,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn audience_outside_the_allowlist_is_invalid_target_before_sts() {
    let served = ServedExchange::start(rs256_keys()).await;
    let proof = served.signer.token().await.unwrap();
    let body = form(&[
        ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
        ("subject_token", proof.as_str()),
        ("subject_token_type", TOKEN_TYPE_IAM_PROOF),
        ("audience", "billing-service"),
    ]);
    let (status, _, body) = post_token(
        &served,
        None,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_target");
    assert_eq!(served.sts.calls(), 0);
}

#[tokio::test]
async fn a_proof_in_the_url_query_is_invalid_request_before_sts() {
    let served = ServedExchange::start(rs256_keys()).await;
    let proof = served.signer.token().await.unwrap();
    let query = form(&[
        ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
        ("subject_token", proof.as_str()),
        ("subject_token_type", TOKEN_TYPE_IAM_PROOF),
    ]);
    let response = served
        .exchange
        .router()
        .oneshot(
            Request::post(format!("/token?{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body.get("access_token").is_none());
    assert_eq!(served.sts.calls(), 0, "the proof in the URL was not used");
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let served = ServedExchange::start(rs256_keys()).await;
    let body = form(&[("grant_type", "client_credentials")]);
    let (status, _, body) = post_token(
        &served,
        None,
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_jwt_is_not_exchanged_for_another() {
    let served = ServedExchange::start(rs256_keys()).await;
    let jwt = served.exchange_proof().await;
    let calls = served.sts.calls();
    let (status, _, body) =
        post_token(&served, Some(&format!("Bearer {jwt}")), None, String::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(served.sts.calls(), calls);
}

#[tokio::test]
async fn a_refused_proof_is_invalid_request_with_its_reason() {
    let served = ServedExchange::start(rs256_keys()).await;
    // Signed for another audience: STS refuses it when the exchange replays its own.
    let credentials = served
        .sts
        .assume_role(ACCOUNT, "orders-reader", "session-1");
    let proof = ProofSigner::builder(credentials)
        .audience("someone-else")
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let (status, headers, body) = post_token(
        &served,
        Some(&format!("Bearer {}", proof.as_str())),
        None,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["reason"], "sts.rejected");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn sts_outage_is_temporarily_unavailable_with_retry_after() {
    let served = ServedExchange::start(rs256_keys()).await;
    served
        .sts
        .set_fault(Some(tower_iam_auth::testing::Fault::ServerError));
    let proof = served.signer.token().await.unwrap();
    let (status, headers, body) = post_token(
        &served,
        Some(&format!("Bearer {}", proof.as_str())),
        None,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn jwks_is_served_with_cache_control() {
    let served = ServedExchange::start(rs256_keys()).await;
    let response = reqwest::get(served.jwks_url()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], served.exchange.keys().active_kid());
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private key material");
}

#[tokio::test]
async fn discovery_document_points_at_the_keys_and_the_token_endpoint() {
    let served = ServedExchange::start(rs256_keys()).await;
    let response = reqwest::get(format!("{}/.well-known/openid-configuration", served.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(document["issuer"], served.base);
    assert_eq!(document["jwks_uri"], served.jwks_url());
    assert_eq!(document["token_endpoint"], format!("{}/token", served.base));
    assert_eq!(
        document["grant_types_supported"][0],
        GRANT_TYPE_TOKEN_EXCHANGE
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"][0],
        "RS256"
    );
}

#[tokio::test]
async fn token_ttl_above_one_hour_is_refused() {
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
        .keys(rs256_keys())
        .default_audience(JWT_AUDIENCE)
        .token_ttl(std::time::Duration::from_secs(2 * 60 * 60))
        .build();
    assert!(
        matches!(result, Err(ExchangeConfigError::TokenTtl(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn token_source_caps_an_absurd_expires_in() {
    use std::time::{Duration, SystemTime};

    let served = ServedExchange::start(rs256_keys()).await;
    let fake = serve(Router::new().route(
        "/token",
        axum::routing::post(|| async {
            axum::Json(serde_json::json!({
                "access_token": "header.payload.signature",
                "token_type": "Bearer",
                "expires_in": u64::MAX,
                "issued_token_type": TOKEN_TYPE_JWT,
            }))
        }),
    ))
    .await;
    let source =
        ExchangeTokenSource::builder(served.signer.clone(), format!("http://{fake}/token"))
            .build()
            .unwrap();
    let token = source.token().await.unwrap();
    let lifetime = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(lifetime <= MAX_TOKEN_TTL, "{lifetime:?}");
    assert!(
        lifetime > MAX_TOKEN_TTL - Duration::from_secs(60),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn the_same_proof_twice_gets_the_same_token_signed_once() {
    let served = ServedExchange::start(rs256_keys()).await;
    let proof = served.signer.token().await.unwrap();
    let bearer = format!("Bearer {}", proof.as_str());
    let (status, _, first) = post_token(&served, Some(&bearer), None, String::new()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, _, second) = post_token(&served, Some(&bearer), None, String::new()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    // Every signature has a fresh random `jti`: the same token was signed once.
    assert_eq!(first["access_token"], second["access_token"]);
    assert!(second["expires_in"].as_u64().unwrap() <= first["expires_in"].as_u64().unwrap());
}

#[tokio::test]
async fn token_source_reuses_one_exchanged_token_until_it_is_due() {
    let served = ServedExchange::start(rs256_keys()).await;
    let source =
        ExchangeTokenSource::builder(served.signer.clone(), format!("{}/token", served.base))
            .audience(JWT_AUDIENCE)
            .build()
            .unwrap();
    let (first, second) = tokio::join!(source.token(), source.token());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.as_str(), second.as_str());
    assert_eq!(
        served.token_requests(),
        1,
        "concurrent callers share one exchange"
    );
    assert!(
        !format!("{first:?}").contains(first.as_str()),
        "Debug redacts the token"
    );
}

#[tokio::test]
async fn bearer_layer_attaches_the_exchanged_jwt() {
    let served = ServedExchange::start(rs256_keys()).await;
    let source =
        ExchangeTokenSource::builder(served.signer.clone(), format!("{}/token", served.base))
            .build()
            .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let client = JwtBearerLayer::builder(source)
        .origin("https://api.example.com")
        .build()
        .unwrap()
        .layer(tower::service_fn(move |request: Request<()>| {
            let record = record.clone();
            async move {
                let value = request.headers()["authorization"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert!(request.headers()["authorization"].is_sensitive());
                record.lock().unwrap().push(value);
                Ok::<_, Infallible>(())
            }
        }));
    let request = || {
        Request::get("https://api.example.com/orders")
            .body(())
            .unwrap()
    };
    client.clone().oneshot(request()).await.unwrap();
    client.oneshot(request()).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1]);
    let jwt = seen[0].strip_prefix("Bearer ").unwrap();
    let (status, who) = whoami(&combined_service(&served), jwt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["arn"], ROLE_ARN);
    assert_eq!(served.token_requests(), 1);
}

#[tokio::test]
async fn token_source_exchanges_again_once_the_token_is_due() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime};

    let offset = Arc::new(AtomicU64::new(0));
    let exchange_clock = offset.clone();
    // The exchange and the source share the clock: the exchange reuses a token for the same
    // proof while more than half its lifetime remains.
    let served = ServedExchange::start_with_clock(rs256_keys(), move || {
        SystemTime::now() + Duration::from_secs(exchange_clock.load(Ordering::SeqCst))
    })
    .await;
    let clock = offset.clone();
    let source =
        ExchangeTokenSource::builder(served.signer.clone(), format!("{}/token", served.base))
            .refresh_margin(Duration::from_secs(60))
            .clock(move || SystemTime::now() + Duration::from_secs(clock.load(Ordering::SeqCst)))
            .build()
            .unwrap();
    let first = source.token().await.unwrap();
    // 900 s tokens are handed out until 60 s before they expire.
    offset.store(830, Ordering::SeqCst);
    assert_eq!(source.token().await.unwrap().as_str(), first.as_str());
    assert_eq!(served.token_requests(), 1);
    offset.store(845, Ordering::SeqCst);
    let second = source.token().await.unwrap();
    assert_ne!(second.as_str(), first.as_str());
    assert_eq!(served.token_requests(), 2);
}
