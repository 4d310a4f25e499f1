//! jsonwebtoken picks its crypto backend from cargo features. This test crate is built with
//! both of its backends on (the `rust_crypto` dev-dependency adds the second, as another crate of
//! an application could), so jsonwebtoken has no process default: JWT verification here must
//! name its backend, or it panics.

mod jwt_support;

use jwt_support::*;
use tower_iam_auth::token::{JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TrustedIssuer};

#[tokio::test]
async fn jwts_verify_without_panicking_when_both_jsonwebtoken_backends_are_enabled() {
    for alg in [
        JwtAlgorithm::RS256,
        JwtAlgorithm::ES256,
        JwtAlgorithm::EdDSA,
    ] {
        let keys = KeySet::new(SigningKey::generate(alg).unwrap().with_kid("k"));
        let served = ServedExchange::start(keys.clone()).await;
        let token = served.exchange_proof().await;
        let verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(&served.base).keys(keys.jwks()))
            .audience(JWT_AUDIENCE)
            .build()
            .unwrap();
        let principal = verifier.verify(&token).await.expect("the token verifies");
        assert_eq!(principal.account(), ACCOUNT, "{alg:?}");
        // A forged signature is refused, not a panic either.
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", "A".repeat(86));
        assert!(verifier.verify(&forged).await.is_err(), "{alg:?}");
    }
}
