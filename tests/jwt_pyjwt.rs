//! A real third-party verifier: PyJWT's `PyJWKClient` fetches the JWKS that a served
//! `TokenExchange` publishes and verifies its tokens, for each signing algorithm; and rejects
//! them for another audience or issuer.
//!
//! PyJWT comes from the project's virtual environment (`scripts/test.sh` creates `.venv/` from
//! `tests/interop/requirements.txt`); these tests fail, never skip, without it.
#![cfg(feature = "jwt")]

mod jwt_support;

use std::process::Stdio;

use jwt_support::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tower_iam_auth::token::{JwtAlgorithm, KeySet, SigningKey};

const VERIFY: &str = r#"
import json, sys
import jwt

request = json.load(sys.stdin)
try:
    client = jwt.PyJWKClient(request["jwks_url"], cache_keys=False)
    key = client.get_signing_key_from_jwt(request["token"])
    claims = jwt.decode(
        request["token"], key.key, algorithms=[request["alg"]],
        audience=request["audience"], issuer=request["issuer"],
    )
    print(json.dumps({"ok": True, "sub": claims["sub"], "kid": key.key_id, "version": jwt.__version__}))
except jwt.PyJWTError as error:
    print(json.dumps({"ok": False, "error": type(error).__name__, "message": str(error)}))
"#;

/// PyJWT's verdict on `token`, expecting `alg`, `audience` and `issuer`.
async fn pyjwt(
    served: &ServedExchange,
    token: &str,
    alg: &str,
    audience: &str,
    issuer: &str,
) -> Value {
    let mut child = tokio::process::Command::new(jwt_support::python_env::interpreter())
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    let request = json!({
        "jwks_url": served.jwks_url(), "token": token, "alg": alg,
        "audience": audience, "issuer": issuer,
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "PyJWT script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON from PyJWT ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// An exchange publishing an RS256, an ES256 and an EdDSA key, with `alg`'s active, and one of
/// its tokens.
async fn token_signed_with(alg: JwtAlgorithm) -> (ServedExchange, String) {
    // The key of `alg` signs; the other two are published alongside it.
    let all = [
        (JwtAlgorithm::RS256, "rsa"),
        (JwtAlgorithm::ES256, "ec"),
        (JwtAlgorithm::EdDSA, "ed"),
    ];
    let key = |(alg, kid): (JwtAlgorithm, &str)| SigningKey::generate(alg).unwrap().with_kid(kid);
    let active = all.into_iter().find(|(a, _)| *a == alg).unwrap();
    let keys = KeySet::new(key(active));
    for other in all.into_iter().filter(|(a, _)| *a != alg) {
        keys.publish(key(other)).unwrap();
    }
    let served = ServedExchange::start(keys).await;
    let token = served.exchange_proof().await;
    (served, token)
}

async fn verified_by_pyjwt(alg: JwtAlgorithm, kid: &str) {
    let (served, token) = token_signed_with(alg).await;
    let verdict = pyjwt(&served, &token, alg.as_str(), JWT_AUDIENCE, &served.base).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["sub"], ROLE_ARN);
    assert_eq!(verdict["kid"], kid);
    assert_eq!(verdict["version"], "2.15.1", "the pinned PyJWT");
}

#[tokio::test]
async fn pyjwt_verifies_rs256_tokens() {
    verified_by_pyjwt(JwtAlgorithm::RS256, "rsa").await;
}

#[tokio::test]
async fn pyjwt_verifies_es256_tokens() {
    verified_by_pyjwt(JwtAlgorithm::ES256, "ec").await;
}

#[tokio::test]
async fn pyjwt_verifies_eddsa_tokens() {
    verified_by_pyjwt(JwtAlgorithm::EdDSA, "ed").await;
}

#[tokio::test]
async fn pyjwt_rejects_a_token_for_another_audience() {
    let (served, token) = token_signed_with(JwtAlgorithm::RS256).await;
    let verdict = pyjwt(&served, &token, "RS256", "billing-service", &served.base).await;
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["error"], "InvalidAudienceError", "{verdict}");
}

#[tokio::test]
async fn pyjwt_rejects_a_token_from_another_issuer() {
    let (served, token) = token_signed_with(JwtAlgorithm::RS256).await;
    let verdict = pyjwt(
        &served,
        &token,
        "RS256",
        JWT_AUDIENCE,
        "https://evil.example.com",
    )
    .await;
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["error"], "InvalidIssuerError", "{verdict}");
}
