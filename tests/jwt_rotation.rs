//! Key rotation: tokens of the previous key keep verifying while it is published, and a
//! verifier with a cached JWK set picks up a new key the first time it sees its `kid`.
#![cfg(feature = "jwt")]

mod jwt_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use jwt_support::*;
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::token::{
    DEFAULT_PUBLISH_LEAD, ExchangeConfigError, JwtAlgorithm, JwtVerifier, KeySet, KeySetError,
    SigningKey, TokenExchange, TrustedIssuer,
};

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(JwtAlgorithm::RS256)
        .unwrap()
        .with_kid(kid)
}

/// A key set with `kid` active, whose clock the test moves forward with the returned offset.
fn clocked_keys(kid: &str) -> (KeySet, Arc<AtomicU64>) {
    let offset = Arc::new(AtomicU64::new(0));
    let seconds = offset.clone();
    let keys = KeySet::new(key(kid)).with_clock(move || {
        SystemTime::now() + Duration::from_secs(seconds.load(Ordering::SeqCst))
    });
    (keys, offset)
}

/// Moves a clocked key set past its publish lead.
fn after_the_publish_lead(offset: &AtomicU64) {
    offset.fetch_add(DEFAULT_PUBLISH_LEAD.as_secs(), Ordering::SeqCst);
}

fn remote_verifier(served: &ServedExchange) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&served.base))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn tokens_of_the_previous_key_verify_while_it_is_published() {
    let (keys, offset) = clocked_keys("2026-01");
    let served = ServedExchange::start(keys).await;
    let old_token = served.exchange_proof().await;

    served.exchange.keys().rotate(key("2026-02")).unwrap();
    after_the_publish_lead(&offset);
    let new_token = served.exchange_proof().await;
    assert_eq!(served.exchange.keys().active_kid(), "2026-02");
    assert_eq!(
        served.exchange.keys().published_kids(),
        ["2026-01", "2026-02"]
    );

    // A verifier that never saw the old key set.
    let verifier = remote_verifier(&served);
    assert_eq!(verifier.verify(&old_token).await.unwrap().arn(), ROLE_ARN);
    assert_eq!(verifier.verify(&new_token).await.unwrap().arn(), ROLE_ARN);
}

#[tokio::test]
async fn a_published_key_does_not_sign_before_it_is_activated() {
    let (keys, offset) = clocked_keys("current");
    let served = ServedExchange::start(keys).await;
    served.exchange.keys().publish(key("next")).unwrap();
    let verifier = remote_verifier(&served);
    let token = served.exchange_proof().await;
    assert_eq!(verifier.verify(&token).await.unwrap().arn(), ROLE_ARN);
    let header = token.split('.').next().unwrap();
    assert!(
        String::from_utf8(base64_url(header))
            .unwrap()
            .contains("\"kid\":\"current\""),
        "signed by the active key"
    );
    // Published first, so a verifier that fetched now already has it for later.
    after_the_publish_lead(&offset);
    served.exchange.keys().activate("next").unwrap();
    let next_token = served.exchange_proof().await;
    assert_eq!(verifier.verify(&next_token).await.unwrap().arn(), ROLE_ARN);
    assert_eq!(
        served.jwks_fetches(),
        1,
        "the new key was in the cached set already"
    );
}

#[test]
fn activating_a_key_published_less_than_the_lead_ago_is_refused() {
    let (keys, offset) = clocked_keys("current");
    keys.publish(key("next")).unwrap();
    offset.store(DEFAULT_PUBLISH_LEAD.as_secs() - 1, Ordering::SeqCst);
    let error = keys.activate("next").unwrap_err();
    assert!(
        matches!(error, KeySetError::PublishedTooRecently { ref kid, .. } if kid == "next"),
        "{error}"
    );
    assert_eq!(keys.active_kid(), "current");
}

#[test]
fn rotate_activates_the_new_key_once_the_lead_has_passed() {
    let (keys, offset) = clocked_keys("current");
    keys.rotate(key("next")).unwrap();
    assert_eq!(keys.published_kids(), ["current", "next"]);
    offset.store(DEFAULT_PUBLISH_LEAD.as_secs() - 1, Ordering::SeqCst);
    assert_eq!(keys.active_kid(), "current", "not before the lead");
    offset.store(DEFAULT_PUBLISH_LEAD.as_secs(), Ordering::SeqCst);
    assert_eq!(keys.active_kid(), "next");
}

#[test]
fn exchange_refuses_a_publish_lead_shorter_than_the_jwks_max_age() {
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
        .keys(KeySet::new(key("k")).with_publish_lead(Duration::from_secs(60)))
        .default_audience(JWT_AUDIENCE)
        .jwks_max_age(Duration::from_secs(300))
        .build();
    assert!(
        matches!(result, Err(ExchangeConfigError::PublishLead { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_cached_verifier_picks_up_a_new_kid_on_first_sight() {
    let (keys, offset) = clocked_keys("2026-01");
    let served = ServedExchange::start(keys).await;
    let verifier = remote_verifier(&served);
    verifier
        .verify(&served.exchange_proof().await)
        .await
        .unwrap();
    assert_eq!(served.jwks_fetches(), 1);
    // Cached for its max-age (300 s): a second token costs no fetch.
    verifier
        .verify(&served.exchange_proof().await)
        .await
        .unwrap();
    assert_eq!(served.jwks_fetches(), 1);

    served.exchange.keys().rotate(key("2026-02")).unwrap();
    after_the_publish_lead(&offset);
    let rotated = served.exchange_proof().await;
    assert_eq!(verifier.verify(&rotated).await.unwrap().arn(), ROLE_ARN);
    assert_eq!(served.jwks_fetches(), 2, "one refresh, no restart");
}

#[tokio::test]
async fn concurrent_lookups_of_a_new_kid_share_one_fetch() {
    let old = TestKey::rsa();
    let new = TestKey::rsa();
    let jwks = JwksServer::start(vec![old.jwk("old")]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    verifier
        .verify(&token(&old, "RS256", "old", &valid_claims()))
        .await
        .unwrap();
    jwks.set_keys(vec![old.jwk("old"), new.jwk("new")]);

    let token = token(&new, "RS256", "new", &valid_claims());
    let lookups = (0..16).map(|_| {
        let verifier = verifier.clone();
        let token = token.clone();
        tokio::spawn(async move { verifier.verify(&token).await.map(|p| p.arn().to_owned()) })
    });
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap().unwrap(), ROLE_ARN);
    }
    assert_eq!(jwks.fetches(), 2, "one fetch for all sixteen");
}

#[tokio::test]
async fn known_keys_keep_verifying_while_the_jwks_is_down() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start(vec![key.jwk("k")]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let token = token(&key, "RS256", "k", &valid_claims());
    verifier.verify(&token).await.unwrap();
    jwks.set_keys(vec![]);
    // The set is cached: the issuer's answer does not matter until it is stale.
    verifier.verify(&token).await.unwrap();
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable_not_unauthorized() {
    let key = TestKey::rsa();
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let verifier = JwtVerifier::builder()
        .issuer(
            TrustedIssuer::exchange(ISSUER).jwks_url(format!("http://127.0.0.1:{port}/jwks.json")),
        )
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let error = verifier
        .verify(&token(&key, "RS256", "k", &valid_claims()))
        .await
        .unwrap_err();
    assert_eq!(
        error.reason(),
        tower_iam_auth::error::ReasonCode::JwksUnavailable
    );
    assert_eq!(error.status(), 503);
}

/// A verifier of `ISSUER` whose keys come from `jwks`, cached `cache_ttl` when the JWKS
/// response has no `Cache-Control`, and used at most `max_stale` past that while unreachable.
fn short_lived_verifier(
    jwks: &JwksServer,
    cache_ttl: Duration,
    max_stale: Duration,
) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .jwks_cache_ttl(cache_ttl)
        .jwks_max_stale(max_stale)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_key_removed_by_a_refresh_is_refused_by_the_request_that_refreshed() {
    let key = TestKey::rsa();
    let other = TestKey::rsa();
    let jwks = JwksServer::start_uncached(vec![key.jwk("k")]).await;
    let verifier =
        short_lived_verifier(&jwks, Duration::from_millis(100), Duration::from_secs(3600));
    let token = token(&key, "RS256", "k", &valid_claims());
    verifier.verify(&token).await.unwrap();
    jwks.set_keys(vec![other.jwk("other")]);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(
        jwks.fetches(),
        2,
        "the stale set was refreshed by this request"
    );
    assert_eq!(error.reason(), ReasonCode::JwtUnknownKey);
    assert_eq!(error.status(), 401);
}

#[tokio::test]
async fn stale_keys_keep_verifying_within_max_stale_while_the_jwks_is_down() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start_uncached(vec![key.jwk("k")]).await;
    let verifier =
        short_lived_verifier(&jwks, Duration::from_millis(50), Duration::from_secs(3600));
    let token = token(&key, "RS256", "k", &valid_claims());
    verifier.verify(&token).await.unwrap();
    jwks.set_failing(true);
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(verifier.verify(&token).await.unwrap().arn(), ROLE_ARN);
    assert_eq!(jwks.fetches(), 2, "a refresh was tried");
}

#[tokio::test]
async fn keys_past_max_stale_are_unavailable_while_the_jwks_is_down() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start_uncached(vec![key.jwk("k")]).await;
    let verifier =
        short_lived_verifier(&jwks, Duration::from_millis(50), Duration::from_millis(100));
    let token = token(&key, "RS256", "k", &valid_claims());
    verifier.verify(&token).await.unwrap();
    jwks.set_failing(true);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::JwksUnavailable);
    assert_eq!(error.status(), 503);
}

#[tokio::test]
async fn an_unknown_kid_while_the_jwks_is_down_is_unavailable_not_unauthorized() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start(vec![key.jwk("k")]).await;
    let verifier = short_lived_verifier(&jwks, Duration::from_secs(300), Duration::from_secs(3600));
    verifier
        .verify(&token(&key, "RS256", "k", &valid_claims()))
        .await
        .unwrap();
    jwks.set_failing(true);

    let new_key = token(&key, "RS256", "maybe-new", &valid_claims());
    let error = verifier.verify(&new_key).await.unwrap_err();
    assert_eq!(jwks.fetches(), 2, "a refresh was tried for the unknown kid");
    assert_eq!(error.reason(), ReasonCode::JwksUnavailable);
    assert_eq!(error.status(), 503);
}
