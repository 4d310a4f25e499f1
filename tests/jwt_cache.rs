//! The verified-JWT cache: a token seen again is not verified again, but a hit decides exactly
//! as a fresh verification: every byte of the token, the clock, and the key that verified it.
#![cfg(feature = "jwt")]

mod jwt_support;
mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwt_support::*;
use serde_json::json;
use support::TestClock;
use tower::ServiceExt;
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::token::{JwkSet, JwtVerifier, JwtVerifierBuilder, TrustedIssuer};

fn static_verifier(key: &TestKey, kid: &str) -> JwtVerifierBuilder {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new(vec![key.jwk(kid)])))
        .audience(JWT_AUDIENCE)
}

fn remote_verifier(jwks: &JwksServer) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap()
}

/// A router answering the caller's ARN behind a layer that accepts only JWTs, of `verifier`.
fn layered(verifier: &JwtVerifier) -> Router {
    let layer = IamAuthLayer::new(
        IamAuthConfig::builder()
            .audience(JWT_AUDIENCE)
            .allow_any_aws_account()
            .token_verifier(verifier.clone())
            .accept_proofs(false)
            .build()
            .unwrap(),
    );
    Router::new()
        .route(
            "/",
            get(|p: IamPrincipal| async move { p.arn().to_owned() }),
        )
        .layer(layer.inner_body())
}

/// The status `app` answers a request bearing `token`.
async fn status(app: &Router, token: &str) -> http::StatusCode {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

/// A verifier of `key` (kid `k1`) allowing 30 seconds of leeway, on a clock the test moves.
fn verifier_on_a_moved_clock(key: &TestKey) -> (TestClock, JwtVerifier) {
    let clock = TestClock::default();
    let verifier = static_verifier(key, "k1")
        .leeway(Duration::from_secs(30))
        .clock(clock.as_fn())
        .build()
        .unwrap();
    (clock, verifier)
}

#[tokio::test]
async fn a_repeated_token_is_verified_once() {
    let key = TestKey::rsa();
    let verifier = static_verifier(&key, "k1").build().unwrap();
    let token = token(&key, "RS256", "k1", &valid_claims());
    let app = layered(&verifier);
    for _ in 0..5 {
        let request = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(verifier.signature_checks(), 1);
}

#[tokio::test]
async fn a_token_differing_in_one_byte_is_verified_afresh() {
    let key = TestKey::rsa();
    let verifier = static_verifier(&key, "k1").build().unwrap();
    let token = token(&key, "RS256", "k1", &valid_claims());
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 1);

    // The last signature byte changed: the cached entry does not serve it.
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let error = verifier.verify(&altered).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwtSignature);
    assert_eq!(verifier.signature_checks(), 2);

    // Another valid token of the same caller is a token of its own.
    let other = jwt_support::token(&key, "RS256", "k1", &claims_with(json!({"jti": "other"})));
    verifier.verify(&other).await.unwrap();
    assert_eq!(verifier.signature_checks(), 3);
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 3);
}

#[tokio::test]
async fn an_expired_token_is_refused_even_if_cached() {
    let key = TestKey::rsa();
    let (clock, verifier) = verifier_on_a_moved_clock(&key);
    let exp = now_secs() + 120;
    let token = token(&key, "RS256", "k1", &claims_with(json!({"exp": exp})));
    verifier.verify(&token).await.unwrap();

    // Up to exp + leeway the cached entry serves, with no new verification...
    clock.set_offset_secs(exp + 28 - now_secs());
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 1);
    // ...and from exp + leeway on the token is refused, as a fresh verification refuses it.
    clock.set_offset_secs(exp + 30 - now_secs());
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwtExpired);
}

#[tokio::test]
async fn a_token_not_yet_valid_by_the_clock_is_refused_even_if_cached() {
    let key = TestKey::rsa();
    let (clock, verifier) = verifier_on_a_moved_clock(&key);
    let token = token(&key, "RS256", "k1", &valid_claims());
    verifier.verify(&token).await.unwrap();
    // The clock set back before nbf - leeway (nbf is a minute ago).
    clock.set_offset_secs(-120);
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwtNotYetValid);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_a_jwks_refresh_drops_its_key() {
    let old = TestKey::rsa();
    let new = TestKey::rsa();
    let jwks = JwksServer::start_uncached(vec![old.jwk("old")]).await;
    let verifier = remote_verifier(&jwks);
    let old_token = token(&old, "RS256", "old", &valid_claims());
    verifier.verify(&old_token).await.unwrap();
    verifier.verify(&old_token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 1);

    // The issuer withdraws the old key; a token of the new key makes the verifier refresh.
    jwks.set_keys(vec![new.jwk("new")]);
    let new_token = token(&new, "RS256", "new", &valid_claims());
    verifier.verify(&new_token).await.unwrap();
    assert_eq!(jwks.fetches(), 2);

    let error = verifier.verify(&old_token).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwtUnknownKey);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_a_jwks_refresh_replaces_its_key() {
    let first = TestKey::rsa();
    let replacement = TestKey::rsa();
    let other = TestKey::rsa();
    let jwks = JwksServer::start_uncached(vec![first.jwk("k1")]).await;
    let verifier = remote_verifier(&jwks);
    let cached = token(&first, "RS256", "k1", &valid_claims());
    verifier.verify(&cached).await.unwrap();

    // Other material under the same kid (a JWKS takeover, or a mistake), fetched because a
    // token names a new kid.
    jwks.set_keys(vec![replacement.jwk("k1"), other.jwk("k2")]);
    let trigger = token(&other, "RS256", "k2", &valid_claims());
    verifier.verify(&trigger).await.unwrap();

    let error = verifier.verify(&cached).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwtUnknownKey);
}

#[tokio::test]
async fn a_verifier_without_a_cache_verifies_every_time() {
    let key = TestKey::rsa();
    let verifier = static_verifier(&key, "k1")
        .cache_max_entries(0)
        .build()
        .unwrap();
    let token = token(&key, "RS256", "k1", &valid_claims());
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.signature_checks(), 2);
}

/// Through the layer, which decides a remembered token without waiting while the key set is
/// fresh: a refresh that keeps the keys, or adds one, keeps the token served (verified once);
/// a refresh that replaces its key, or drops it, ends it, also when the refresh was made by a
/// request with another token.
#[tokio::test]
async fn through_the_layer_a_remembered_token_follows_every_refresh_of_the_key_set() {
    let (a, b, replacement) = (TestKey::rsa(), TestKey::rsa(), TestKey::rsa());
    // Stale a second after each fetch: the next request refreshes it.
    let ttl = Duration::from_secs(1);
    let after_the_ttl = || tokio::time::sleep(ttl + Duration::from_millis(200));
    let app = |jwks: &JwksServer| -> (JwtVerifier, Router) {
        let verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
            .audience(JWT_AUDIENCE)
            .jwks_cache_ttl(ttl)
            .build()
            .unwrap();
        let router = layered(&verifier);
        (verifier, router)
    };
    let token_a = token(&a, "RS256", "a", &valid_claims());
    let token_b = token(&b, "RS256", "b", &valid_claims());

    for changed_keys in [vec![b.jwk("b")], vec![replacement.jwk("a"), b.jwk("b")]] {
        let jwks = JwksServer::start_uncached(vec![a.jwk("a")]).await;
        let (verifier, app) = app(&jwks);
        for _ in 0..3 {
            assert_eq!(status(&app, &token_a).await, 200);
        }
        assert_eq!((verifier.signature_checks(), jwks.fetches()), (1, 1));

        // The same keys fetched again (by this token's request), then a key added (fetched by
        // the other token's): still the key that verified the token.
        after_the_ttl().await;
        for _ in 0..3 {
            assert_eq!(status(&app, &token_a).await, 200);
        }
        assert_eq!(jwks.fetches(), 2);
        jwks.set_keys(vec![a.jwk("a"), b.jwk("b")]);
        after_the_ttl().await;
        assert_eq!(status(&app, &token_b).await, 200);
        for _ in 0..3 {
            assert_eq!(status(&app, &token_a).await, 200);
        }
        assert_eq!((verifier.signature_checks(), jwks.fetches()), (2, 3));

        // Its key dropped or replaced, in a set fetched by the other token's request.
        jwks.set_keys(changed_keys);
        after_the_ttl().await;
        assert_eq!(status(&app, &token_b).await, 200);
        assert_eq!(jwks.fetches(), 4);
        for _ in 0..3 {
            assert_eq!(status(&app, &token_a).await, 401);
        }
        assert_eq!(verifier.signature_checks(), 2);
    }
}

/// A key set's cache lifetime runs on the verifier's clock, as the token's does: moved past it,
/// a remembered token's request fetches the set again (and is refused when its key is gone
/// from it), with no real time passing; before that, the cached set answers.
#[tokio::test]
async fn a_key_set_goes_stale_by_the_verifiers_clock() {
    let (a, b) = (TestKey::rsa(), TestKey::rsa());
    let jwks = JwksServer::start_uncached(vec![a.jwk("a")]).await;
    let clock = TestClock::default();
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .jwks_cache_ttl(Duration::from_secs(60))
        .clock(clock.as_fn())
        .build()
        .unwrap();
    let app = layered(&verifier);
    let token = token(&a, "RS256", "a", &valid_claims());
    let status = || status(&app, &token);

    assert_eq!(status().await, 200);
    assert_eq!((verifier.signature_checks(), jwks.fetches()), (1, 1));
    // The issuer withdraws the key; within the set's lifetime by the clock, the cached set
    // still holds it.
    jwks.set_keys(vec![b.jwk("b")]);
    clock.advance(Duration::from_secs(30));
    assert_eq!(status().await, 200);
    assert_eq!((verifier.signature_checks(), jwks.fetches()), (1, 1));
    // Past it: the set is fetched again, and the token refused for good.
    clock.advance(Duration::from_secs(30));
    assert_eq!(status().await, 401);
    assert_eq!((verifier.signature_checks(), jwks.fetches()), (1, 2));
    // No longer remembered, the token names a kid the set lacks: one more fetch for it, then
    // the refresh cooldown.
    for _ in 0..3 {
        assert_eq!(status().await, 401);
    }
    assert_eq!((verifier.signature_checks(), jwks.fetches()), (1, 3));
}
