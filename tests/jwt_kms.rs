//! Signing with AWS KMS keys, against moto's KMS: an RSA_2048 and an ECC_NIST_P256 signing key
//! sign tokens through `Sign` with `MessageType=DIGEST`, and the tokens verify with the
//! published JWK (made from `GetPublicKey`).
//!
//! moto 5.2.5 ignores `MessageType=DIGEST` (it hashes the digest again), so the server is
//! started through `tests/jwt_support/moto_kms.py`, which makes exactly that call behave as AWS
//! KMS documents. moto comes from the project's virtual environment (`scripts/test.sh`); these
//! tests fail, never skip, without it.
#![cfg(feature = "kms")]

mod jwt_support;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use jwt_support::moto::Moto;
use jwt_support::*;
use tower_iam_auth::token::{
    JwtAlgorithm, JwtVerifier, KeyError, KeySet, SigningKey, TrustedIssuer,
};

/// Signs a token with the KMS key `spec` through an exchange, and verifies it with a verifier
/// that knows only the exchange's published JWK set.
async fn kms_signed_token_verifies(spec: KeySpec, algorithm: JwtAlgorithm) {
    let moto = Moto::start().await;
    let key_id = moto.create_key(spec, KeyUsageType::SignVerify).await;
    let key = SigningKey::from_kms(moto.client(), key_id).await.unwrap();
    assert_eq!(key.algorithm(), algorithm);
    assert!(format!("{key:?}").contains("kms"), "{key:?}");

    let served = ServedExchange::start(KeySet::new(key)).await;
    let token = served.exchange_proof().await;
    let header = token.split('.').next().unwrap();
    assert!(
        String::from_utf8(base64_url(header))
            .unwrap()
            .contains(&format!("\"alg\":\"{algorithm}\""))
    );
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&served.base).keys(served.exchange.keys().jwks()))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(principal.arn(), ROLE_ARN);
}

#[tokio::test]
async fn kms_rsa_2048_key_signs_rs256_tokens() {
    kms_signed_token_verifies(KeySpec::Rsa2048, JwtAlgorithm::RS256).await;
}

#[tokio::test]
async fn kms_ecc_nist_p256_key_signs_es256_tokens() {
    kms_signed_token_verifies(KeySpec::EccNistP256, JwtAlgorithm::ES256).await;
}

#[tokio::test]
async fn kms_encryption_key_is_refused() {
    let moto = Moto::start().await;
    let key_id = moto
        .create_key(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt)
        .await;
    let error = SigningKey::from_kms(moto.client(), key_id)
        .await
        .unwrap_err();
    assert!(matches!(error, KeyError::Unsupported(_)), "{error}");
}

#[tokio::test]
async fn kms_outage_makes_the_exchange_answer_503() {
    let moto = Moto::start().await;
    let key_id = moto
        .create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify)
        .await;
    let key = SigningKey::from_kms(moto.client(), key_id).await.unwrap();
    let served = ServedExchange::start(KeySet::new(key)).await;
    drop(moto);
    let proof = served.signer.token().await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/token", served.base))
        .bearer_auth(proof.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn kms_key_configured_by_alias_keeps_signing_with_the_key_it_published() {
    let moto = Moto::start().await;
    let first = moto
        .create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify)
        .await;
    let second = moto
        .create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify)
        .await;
    let alias = "alias/token-signing";
    moto.client()
        .create_alias()
        .alias_name(alias)
        .target_key_id(&first)
        .send()
        .await
        .unwrap();
    let key = SigningKey::from_kms(moto.client(), alias).await.unwrap();
    let served = ServedExchange::start(KeySet::new(key)).await;
    // The alias now names another key; the published JWK is still the first key's.
    moto.client()
        .update_alias()
        .alias_name(alias)
        .target_key_id(&second)
        .send()
        .await
        .unwrap();
    let token = served.exchange_proof().await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&served.base).keys(served.exchange.keys().jwks()))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(principal.arn(), ROLE_ARN);
}
