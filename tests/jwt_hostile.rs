//! Hostile input to `JwtVerifier`: oversized tokens, claims of the wrong JSON type, and JWKS
//! endpoints that redirect, answer too much, or repeat a `kid`; and what the verifier logs.
#![cfg(feature = "jwt")]

mod jwt_support;
#[path = "support/logs.rs"]
mod logs;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_support::*;
use serde_json::{Value, json};
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::token::{Jwk, JwkSet, JwtVerifier, TrustedIssuer, VerifierConfigError};

const KID: &str = "key-1";

fn remote_verifier(url: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap()
}

async fn reason(verifier: &JwtVerifier, token: &str) -> ReasonCode {
    match verifier.verify(token).await {
        Ok(principal) => panic!("accepted as {principal}"),
        Err(error) => error.reason(),
    }
}

/// Serves `body` at `/jwks.json` with `status` and extra headers.
async fn jwks_answering(status: u16, headers: Vec<(&'static str, String)>, body: String) -> String {
    let router = Router::new().route(
        "/jwks.json",
        get(move || {
            let (headers, body) = (headers.clone(), body.clone());
            async move {
                let mut response = http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json");
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                response.body(Body::from(body)).unwrap()
            }
        }),
    );
    format!("http://{}/jwks.json", serve(router).await)
}

#[tokio::test]
async fn a_token_above_the_size_cap_is_refused_before_decoding() {
    let key = TestKey::rsa();
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([key.jwk(KID)])))
        .audience(JWT_AUDIENCE)
        .max_token_bytes(2048)
        .build()
        .unwrap();
    let padded = claims_with(json!({"pad": "x".repeat(4096)}));
    let large = token(&key, "RS256", KID, &padded);
    assert_eq!(reason(&verifier, &large).await, ReasonCode::JwtTooLarge);
    // Not only well-formed ones: a megabyte of anything is refused by its length alone.
    assert_eq!(
        reason(&verifier, &"a".repeat(1 << 20)).await,
        ReasonCode::JwtTooLarge
    );
    let small = token(&key, "RS256", KID, &valid_claims());
    assert!(verifier.verify(&small).await.is_ok());
    // The default cap is 8 KiB.
    let default = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([key.jwk(KID)])))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let nine_kib = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"pad": "x".repeat(9000)})),
    );
    assert_eq!(reason(&default, &nine_kib).await, ReasonCode::JwtTooLarge);
    let zero = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([key.jwk(KID)])))
        .audience(JWT_AUDIENCE)
        .max_token_bytes(0)
        .build();
    assert!(matches!(
        zero,
        Err(VerifierConfigError::Zero("max_token_bytes"))
    ));
}

#[tokio::test]
async fn claims_of_the_wrong_json_type_are_refused() {
    let key = TestKey::rsa();
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([key.jwk(KID)])))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let exp = valid_claims()["exp"].clone();
    for (claim, value) in [
        ("exp", json!(exp.to_string())),
        ("exp", json!(true)),
        ("exp", json!([exp])),
        ("nbf", json!("0")),
        ("iat", json!({"at": 0})),
        ("iss", json!([ISSUER])),
        ("iss", json!(1)),
        ("sub", json!(42)),
        ("sub", json!(null)),
        ("aud", json!(7)),
        ("aud", json!({"aud": JWT_AUDIENCE})),
        ("aud", json!([JWT_AUDIENCE, 1])),
    ] {
        let claims = claims_with(json!({ claim: value }));
        let refused = reason(&verifier, &token(&key, "RS256", KID, &claims)).await;
        assert!(
            matches!(
                refused,
                ReasonCode::JwtClaims | ReasonCode::JwtMalformed | ReasonCode::JwtIssuer
            ),
            "{claim} = {value}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_jwks_that_redirects_is_not_followed() {
    let key = TestKey::rsa();
    let real = JwksServer::start(vec![key.jwk(KID)]).await;
    let redirecting =
        jwks_answering(302, vec![("location", real.url.clone())], String::new()).await;
    let verifier = remote_verifier(&redirecting);
    let valid = token(&key, "RS256", KID, &valid_claims());
    assert_eq!(reason(&verifier, &valid).await, ReasonCode::JwksUnavailable);
    assert_eq!(real.fetches(), 0, "the redirect was followed");
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let key = TestKey::rsa();
    let mut set: Value = serde_json::from_str(&JwkSet::new([key.jwk(KID)]).to_json()).unwrap();
    // Valid JSON, valid key, and 300 KiB of padding members.
    set["padding"] = json!("x".repeat(300 * 1024));
    let url = jwks_answering(200, vec![], set.to_string()).await;
    let verifier = remote_verifier(&url);
    let valid = token(&key, "RS256", KID, &valid_claims());
    assert_eq!(reason(&verifier, &valid).await, ReasonCode::JwksUnavailable);
}

#[tokio::test]
async fn a_kid_served_twice_is_used_for_neither_key() {
    let (first, second, other) = (TestKey::rsa(), TestKey::rsa(), TestKey::ec());
    let jwks = JwksServer::start(vec![first.jwk(KID), second.jwk(KID), other.jwk("other")]).await;
    let verifier = remote_verifier(&jwks.url);
    for key in [&first, &second] {
        let token = token(key, "RS256", KID, &valid_claims());
        assert_eq!(reason(&verifier, &token).await, ReasonCode::JwtUnknownKey);
    }
    // The set's other keys still work.
    let token = token(&other, "ES256", "other", &valid_claims());
    assert!(verifier.verify(&token).await.is_ok());
}

/// `key`'s JWK with a leading zero byte in its modulus: the same key, written another way.
fn reencoded(key: &TestKey, kid: &str) -> Jwk {
    let mut jwk: Value = serde_json::to_value(key.jwk(kid)).unwrap();
    let mut n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    n.insert(0, 0);
    jwk["n"] = json!(URL_SAFE_NO_PAD.encode(n));
    serde_json::from_value(jwk).unwrap()
}

#[tokio::test]
async fn the_same_key_re_encoded_keeps_its_kid() {
    let (key, other) = (TestKey::rsa(), TestKey::rsa());
    let jwks = JwksServer::start(vec![key.jwk(KID)]).await;
    let verifier = remote_verifier(&jwks.url);
    let valid = token(&key, "RS256", KID, &valid_claims());
    verifier.verify(&valid).await.unwrap();
    // The issuer now writes the modulus with a leading zero byte; a new kid makes the verifier
    // fetch the set again.
    jwks.set_keys(vec![reencoded(&key, KID), other.jwk("other")]);
    verifier
        .verify(&token(&other, "RS256", "other", &valid_claims()))
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 2);
    let principal = verifier
        .verify(&token(&key, "RS256", KID, &valid_claims()))
        .await;
    assert!(principal.is_ok(), "{principal:?}");
}

#[tokio::test]
async fn the_jwks_url_is_logged_without_its_userinfo_or_query() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start(vec![key.jwk(KID)]).await;
    let with_secrets =
        jwks.url.replace("http://", "http://jwks-user:hunter2@") + "?access_token=s3cr3t";
    let (logs, _guard) = logs::capture();
    let verifier = remote_verifier(&with_secrets);
    verifier
        .verify(&token(&key, "RS256", KID, &valid_claims()))
        .await
        .unwrap();
    // A failing fetch logs the URL too, at warn.
    jwks.set_failing(true);
    let unknown = TestKey::rsa();
    let _ = verifier
        .verify(&token(&unknown, "RS256", "new-kid", &valid_claims()))
        .await;
    let text = logs.text();
    assert!(text.contains("JWKS fetched"), "{text}");
    assert!(text.contains("JWKS fetch failed"), "{text}");
    for secret in ["hunter2", "jwks-user", "s3cr3t"] {
        assert!(!text.contains(secret), "{secret} logged:\n{text}");
    }
}

#[test]
fn a_jwks_cache_lifetime_above_a_day_is_refused() {
    let built = |ttl: std::time::Duration| {
        JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(ISSUER))
            .audience(JWT_AUDIENCE)
            .jwks_max_cache_ttl(ttl)
            .build()
    };
    assert!(built(std::time::Duration::from_secs(24 * 3600)).is_ok());
    assert!(matches!(
        built(std::time::Duration::from_secs(24 * 3600 + 1)),
        Err(VerifierConfigError::TooLong("jwks_max_cache_ttl", _))
    ));
    assert!(matches!(
        built(std::time::Duration::ZERO),
        Err(VerifierConfigError::Zero("jwks_max_cache_ttl"))
    ));
}
