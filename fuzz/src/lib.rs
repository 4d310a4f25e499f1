//! The JWT verifier the JWT targets fuzz: two trusted issuers (this crate's exchange and AWS
//! outbound federation) sharing one Ed25519 key made from a fixed seed, so that a target can sign
//! what the fuzzer writes and reach the claim checks behind the signature.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tower_iam_auth::error::AuthError;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::token::{JwkSet, JwtVerifier, TrustedIssuer};

/// The issuer of the exchange layout.
pub const EXCHANGE_ISSUER: &str = "https://issuer.example";
/// The issuer of the AWS outbound layout.
pub const AWS_ISSUER: &str = "https://aws-issuer.example";
/// The accepted audience.
pub const AUDIENCE: &str = "fuzz-audience";
/// The `kid` of the only key.
pub const KID: &str = "fuzz-key";
/// The verifier's clock: 2026-11-22T15:58:44Z, inside the seeds' validity.
pub const NOW: u64 = 1_795_363_124;

/// The signing key, from a fixed seed so that every run and every crash reproduces.
pub fn key_pair() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a 32-byte seed")
}

/// The public key as the JWK set both issuers trust.
pub fn jwks(key: &Ed25519KeyPair) -> JwkSet {
    let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
    let json = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"{KID}","x":"{x}"}}]}}"#
    );
    JwkSet::from_json(json.as_bytes()).expect("the fixture JWK set parses")
}

/// The verifier, with a fixed clock.
pub fn verifier(key: &Ed25519KeyPair) -> JwtVerifier {
    let keys = jwks(key);
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(EXCHANGE_ISSUER).keys(keys.clone()))
        .issuer(TrustedIssuer::aws_outbound(AWS_ISSUER).keys(keys))
        .audience(AUDIENCE)
        .allow_root(true)
        .allow_federated_users(true)
        .clock(|| SystemTime::UNIX_EPOCH + Duration::from_secs(NOW))
        .build()
        .expect("the fixture verifier builds")
}

/// `header.payload.signature`, signed with `key`.
pub fn sign(key: &Ed25519KeyPair, header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// Runs `verify`, which never waits with static keys: a pending future is a bug.
pub fn verify_now(verifier: &JwtVerifier, token: &str) -> Result<IamPrincipal, AuthError> {
    let future = pin!(verifier.verify(token));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("verification with static keys waited"),
    }
}

/// The checks every verification result must pass.
pub fn check_result(result: Result<IamPrincipal, AuthError>) {
    match result {
        Ok(principal) => {
            assert_eq!(principal.account().len(), 12);
            assert!(principal.arn().starts_with("arn:"));
        }
        Err(error) => {
            assert!(error.status().is_client_error(), "{error:?}");
            let _ = error.to_response();
        }
    }
}
