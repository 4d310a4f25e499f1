//! What `JwtVerifier` refuses, each by its own test, and what it accepts (the baseline each
//! refusal differs from by one change).
#![cfg(feature = "jwt")]

mod jwt_support;

use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jwt_support::*;
use serde_json::json;
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::token::{Jwk, JwkSet, JwtVerifier, TrustedIssuer, VerifierConfigError};

const KID: &str = "key-1";

/// A verifier that trusts `ISSUER` with exactly `keys`, for `JWT_AUDIENCE`.
fn verifier(keys: Vec<Jwk>) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new(keys)))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap()
}

async fn refusal(verifier: &JwtVerifier, token: &str) -> ReasonCode {
    match verifier.verify(token).await {
        Ok(principal) => panic!("accepted as {principal}"),
        Err(error) => {
            eprintln!("refused: {error}");
            error.reason()
        }
    }
}

#[tokio::test]
async fn accepts_a_token_signed_by_a_trusted_key() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let principal = verifier
        .verify(&token(&key, "RS256", KID, &valid_claims()))
        .await
        .unwrap();
    assert_eq!(principal.arn(), ROLE_ARN);
    assert_eq!(principal.raw_arn(), SESSION_ARN);
    assert_eq!(principal.session_name(), Some("session-1"));
    assert_eq!(principal.principal_id(), "AROAEXAMPLEID1234567");
}

#[tokio::test]
async fn accepts_es256_and_eddsa_keys_too() {
    let (ec, ed) = (TestKey::ec(), TestKey::ed());
    let verifier = verifier(vec![ec.jwk("ec"), ed.jwk("ed")]);
    for token in [
        token(&ec, "ES256", "ec", &valid_claims()),
        token(&ed, "EdDSA", "ed", &valid_claims()),
    ] {
        assert_eq!(verifier.verify(&token).await.unwrap().arn(), ROLE_ARN);
    }
}

#[tokio::test]
async fn refuses_alg_none() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let unsigned = jws(
        &json!({"alg": "none", "kid": KID}),
        &valid_claims(),
        |_| vec![],
    );
    assert!(unsigned.ends_with('.'));
    assert_eq!(
        refusal(&verifier, &unsigned).await,
        ReasonCode::JwtAlgorithm
    );
}

#[tokio::test]
async fn refuses_hs256_signed_with_the_public_key_as_secret() {
    // The classic key confusion: a verifier that lets the header pick HMAC would use the RSA
    // public key (here its PEM, as such libraries load it) as the HMAC secret.
    let key = TestKey::rsa();
    let TestKey::Rsa(pair) = &key else {
        unreachable!()
    };
    let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pair.public_key()).unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(spki.as_ref())
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
    let forged = jws(
        &json!({"alg": "HS256", "kid": KID}),
        &valid_claims(),
        |input| aws_lc_rs::hmac::sign(&hmac_key, input).as_ref().to_vec(),
    );
    let verifier = verifier(vec![key.jwk(KID)]);
    assert_eq!(refusal(&verifier, &forged).await, ReasonCode::JwtAlgorithm);
}

#[tokio::test]
async fn refuses_a_key_swapped_under_a_known_kid() {
    let trusted = TestKey::rsa();
    let attacker = TestKey::rsa();
    let verifier = verifier(vec![trusted.jwk(KID)]);
    let forged = token(&attacker, "RS256", KID, &valid_claims());
    assert_eq!(refusal(&verifier, &forged).await, ReasonCode::JwtSignature);
}

#[tokio::test]
async fn refuses_a_header_alg_that_differs_from_the_keys() {
    // The key is pinned to RS256; the token is really signed by it, with RS384.
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let other_alg = token(&key, "RS384", KID, &valid_claims());
    assert_eq!(
        refusal(&verifier, &other_alg).await,
        ReasonCode::JwtAlgorithm
    );
}

#[tokio::test]
async fn refuses_ps256_on_a_key_pinned_to_rs256() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let other_alg = token(&key, "PS256", KID, &valid_claims());
    assert_eq!(
        refusal(&verifier, &other_alg).await,
        ReasonCode::JwtAlgorithm
    );
}

#[tokio::test]
async fn refuses_an_unknown_kid_after_one_refresh() {
    let key = TestKey::rsa();
    let jwks = JwksServer::start(vec![key.jwk(KID)]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    verifier
        .verify(&token(&key, "RS256", KID, &valid_claims()))
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 1);

    let unknown = token(&key, "RS256", "no-such-kid", &valid_claims());
    assert_eq!(
        refusal(&verifier, &unknown).await,
        ReasonCode::JwtUnknownKey
    );
    assert_eq!(jwks.fetches(), 2, "one refresh for the unknown kid");

    // Within the cooldown, made-up kids cause no more fetches.
    let another = token(&key, "RS256", "another-kid", &valid_claims());
    assert_eq!(
        refusal(&verifier, &another).await,
        ReasonCode::JwtUnknownKey
    );
    assert_eq!(jwks.fetches(), 2, "refreshes are rate-limited");
}

#[tokio::test]
async fn refuses_new_key_material_under_a_cached_kid() {
    let original = TestKey::rsa();
    let replacement = TestKey::rsa();
    let other = TestKey::rsa();
    let jwks = JwksServer::start(vec![original.jwk(KID)]).await;
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    verifier
        .verify(&token(&original, "RS256", KID, &valid_claims()))
        .await
        .unwrap();
    // The set now has another key under KID; a new kid makes the verifier fetch it.
    jwks.set_keys(vec![replacement.jwk(KID), other.jwk("other")]);
    verifier
        .verify(&token(&other, "RS256", "other", &valid_claims()))
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 2);

    let swapped = token(&replacement, "RS256", KID, &valid_claims());
    assert_eq!(
        refusal(&verifier, &swapped).await,
        ReasonCode::JwtUnknownKey
    );
}

#[tokio::test]
async fn refresh_cooldown_below_one_second_is_refused() {
    let result = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER))
        .audience(JWT_AUDIENCE)
        .jwks_refresh_cooldown(Duration::from_millis(500))
        .build();
    assert!(
        matches!(result, Err(VerifierConfigError::RefreshCooldown(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn refuses_an_unknown_kid_of_a_static_key_set() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let unknown = token(&key, "RS256", "no-such-kid", &valid_claims());
    assert_eq!(
        refusal(&verifier, &unknown).await,
        ReasonCode::JwtUnknownKey
    );
}

#[tokio::test]
async fn refuses_an_expired_token() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let expired = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"exp": now_secs() - 120})),
    );
    assert_eq!(refusal(&verifier, &expired).await, ReasonCode::JwtExpired);
}

#[tokio::test]
async fn accepts_a_token_expired_within_the_leeway() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let just_expired = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"exp": now_secs() - 5})),
    );
    assert!(verifier.verify(&just_expired).await.is_ok());
}

#[tokio::test]
async fn refuses_a_token_not_yet_valid() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let early = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"nbf": now_secs() + 600, "exp": now_secs() + 900})),
    );
    assert_eq!(refusal(&verifier, &early).await, ReasonCode::JwtNotYetValid);
}

#[tokio::test]
async fn refuses_a_token_for_another_audience() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let other = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"aud": "billing-service"})),
    );
    assert_eq!(refusal(&verifier, &other).await, ReasonCode::JwtAudience);
}

#[tokio::test]
async fn accepts_an_audience_array_containing_this_service() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let both = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"aud": ["billing-service", JWT_AUDIENCE]})),
    );
    assert!(verifier.verify(&both).await.is_ok());
}

#[tokio::test]
async fn refuses_a_token_living_longer_than_max_token_lifetime() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let now = now_secs();
    let long_lived = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"iat": now - 60, "nbf": now - 60, "exp": now + 2 * 3600})),
    );
    assert_eq!(refusal(&verifier, &long_lived).await, ReasonCode::JwtClaims);
}

#[tokio::test]
async fn refuses_a_long_lived_token_without_iat_by_its_nbf() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let now = now_secs();
    let mut claims = claims_with(json!({"nbf": now - 60, "exp": now + 2 * 3600}));
    claims.as_object_mut().unwrap().remove("iat");
    let long_lived = token(&key, "RS256", KID, &claims);
    assert_eq!(refusal(&verifier, &long_lived).await, ReasonCode::JwtClaims);
}

#[tokio::test]
async fn refuses_an_exp_at_the_start_of_time_without_panicking() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let ancient = token(&key, "RS256", KID, &claims_with(json!({"exp": i64::MIN})));
    assert_eq!(refusal(&verifier, &ancient).await, ReasonCode::JwtExpired);
}

fn root_token(key: &TestKey) -> String {
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    token(
        key,
        "RS256",
        KID,
        &claims_with(json!({
            "sub": root,
            "https://sts.amazonaws.com/": {
                "aws_account": ACCOUNT,
                "principal_id": root,
                "unique_id": ACCOUNT,
                "raw_arn": root,
            }
        })),
    )
}

#[tokio::test]
async fn refuses_a_root_principal_by_default() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let error = verifier.verify(&root_token(&key)).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::PrincipalKindRefused);
    assert_eq!(error.status(), 403);
}

#[tokio::test]
async fn accepts_a_root_principal_when_allowed() {
    let key = TestKey::rsa();
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new(vec![key.jwk(KID)])))
        .audience(JWT_AUDIENCE)
        .allow_root(true)
        .build()
        .unwrap();
    let principal = verifier.verify(&root_token(&key)).await.unwrap();
    assert_eq!(principal.arn(), format!("arn:aws:iam::{ACCOUNT}:root"));
}

#[tokio::test]
async fn refuses_a_federated_user_by_default() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let user = format!("arn:aws:sts::{ACCOUNT}:federated-user/bob");
    let federated = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({
            "sub": user,
            "https://sts.amazonaws.com/": {
                "aws_account": ACCOUNT,
                "unique_id": format!("{ACCOUNT}:bob"),
                "raw_arn": user,
            }
        })),
    );
    let error = verifier.verify(&federated).await.unwrap_err();
    assert_eq!(error.reason(), ReasonCode::PrincipalKindRefused);
    assert_eq!(error.status(), 403);
}

#[tokio::test]
async fn refuses_a_token_from_an_untrusted_issuer() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let other = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"iss": "https://evil.example.com"})),
    );
    assert_eq!(refusal(&verifier, &other).await, ReasonCode::JwtIssuer);
}

#[tokio::test]
async fn refuses_a_token_without_exp() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove("exp");
    let forever = token(&key, "RS256", KID, &claims);
    assert_eq!(refusal(&verifier, &forever).await, ReasonCode::JwtClaims);
}

#[tokio::test]
async fn refuses_a_sub_that_disagrees_with_the_aws_details() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let lying = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"sub": "arn:aws:iam::123456789012:role/admin"})),
    );
    assert_eq!(refusal(&verifier, &lying).await, ReasonCode::JwtClaims);
}

#[tokio::test]
async fn refuses_a_critical_header_extension() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let crit = jws(
        &json!({"alg": "RS256", "kid": KID, "crit": ["exp"], "exp": 0}),
        &valid_claims(),
        |input| key.sign("RS256", input),
    );
    assert_eq!(refusal(&verifier, &crit).await, ReasonCode::JwtMalformed);
}

#[tokio::test]
async fn refuses_tokens_that_are_not_three_base64url_parts() {
    let key = TestKey::rsa();
    let verifier = verifier(vec![key.jwk(KID)]);
    let good = token(&key, "RS256", KID, &valid_claims());
    let five_parts = format!("{good}.x.y");
    let padded = good.replacen('.', "=.", 1);
    for bad in ["abc", "a.b", five_parts.as_str(), padded.as_str()] {
        assert_eq!(
            refusal(&verifier, bad).await,
            ReasonCode::JwtMalformed,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn ignores_a_jwk_embedded_in_the_header() {
    // RFC 7515 `jwk`: a verifier that used it would trust whatever key the token brings.
    let trusted = TestKey::rsa();
    let attacker = TestKey::rsa();
    let embedded = serde_json::to_value(attacker.jwk(KID)).unwrap();
    let forged = jws(
        &json!({"alg": "RS256", "kid": KID, "jwk": embedded}),
        &valid_claims(),
        |input| attacker.sign("RS256", input),
    );
    let verifier = verifier(vec![trusted.jwk(KID)]);
    assert_eq!(refusal(&verifier, &forged).await, ReasonCode::JwtSignature);
}

#[tokio::test]
async fn leeway_is_bounded() {
    let error = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::default()))
        .audience(JWT_AUDIENCE)
        .leeway(Duration::from_secs(3600))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("leeway"), "{error}");
}

#[tokio::test]
async fn refuses_a_plain_http_jwks_url_off_loopback() {
    let error = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange("http://auth.example.com"))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("https"), "{error}");
}

#[tokio::test]
async fn refuses_a_configured_hmac_key() {
    let hmac: Jwk =
        serde_json::from_value(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})).unwrap();
    let error = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([hmac])))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("unsupported"), "{error}");
}

#[tokio::test]
async fn maps_an_aws_outbound_federation_token_to_the_role_principal() {
    // Shaped like a token from sts:GetWebIdentityToken: `sub` is the role ARN (here with a
    // path), the AWS details hold the account and the ARN again, nothing else about the caller.
    let aws_issuer = "https://a1b2c3d4-0000-1111-2222-333344445555.tokens.sts.global.api.aws";
    let key = TestKey::rsa();
    let now = now_secs();
    let sub = "arn:aws:iam::123456789012:role/service/orders-reader";
    let claims = json!({
        "iss": aws_issuer, "sub": sub, "aud": JWT_AUDIENCE,
        "iat": now, "exp": now + 300, "jti": "a4d1e0a7-1b0c-4a4d-9c1e-0d9b1f1e2a3b",
        "https://sts.amazonaws.com/": {
            "aws_account": ACCOUNT, "source_region": "us-east-1", "org_id": "o-abc1234567",
            "principal_id": sub, "principal_tags": {"team": "orders"}
        }
    });
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([key.jwk(KID)])))
        .issuer(TrustedIssuer::aws_outbound(aws_issuer).keys(JwkSet::new([key.jwk("RSA_0")])))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    let from_aws = verifier
        .verify(&token(&key, "RS256", "RSA_0", &claims))
        .await
        .unwrap();
    let from_exchange = verifier
        .verify(&token(&key, "RS256", KID, &valid_claims()))
        .await
        .unwrap();
    assert_eq!(from_aws.arn(), from_exchange.arn());
    assert_eq!(from_aws.arn(), ROLE_ARN);
    assert_eq!(from_aws.raw_arn(), sub);
    assert_eq!(from_aws.account(), ACCOUNT);
    assert_eq!(from_aws.principal_id(), "", "AWS tokens carry no unique id");
}

#[tokio::test]
async fn an_issuers_key_does_not_verify_another_issuers_tokens() {
    let (ours, theirs) = (TestKey::rsa(), TestKey::rsa());
    let other_issuer = "https://other.example.com";
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(ISSUER).keys(JwkSet::new([ours.jwk("ours")])))
        .issuer(TrustedIssuer::exchange(other_issuer).keys(JwkSet::new([theirs.jwk("theirs")])))
        .audience(JWT_AUDIENCE)
        .build()
        .unwrap();
    // Signed by the other issuer's key, claiming to come from ISSUER.
    let crossed = token(&theirs, "RS256", "theirs", &valid_claims());
    assert_eq!(
        refusal(&verifier, &crossed).await,
        ReasonCode::JwtUnknownKey
    );
}

#[tokio::test]
async fn layer_answers_401_with_the_jwt_reason() {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_iam_auth::principal::IamPrincipal;
    use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};

    let key = TestKey::rsa();
    let config = IamAuthConfig::builder()
        .audience(JWT_AUDIENCE)
        .allow_any_aws_account()
        .token_verifier(verifier(vec![key.jwk(KID)]))
        .accept_proofs(false)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|p: IamPrincipal| async move { p.arn().to_owned() }),
        )
        .layer(IamAuthLayer::new(config));
    let expired = token(
        &key,
        "RS256",
        KID,
        &claims_with(json!({"exp": now_secs() - 120})),
    );
    let response = app
        .oneshot(
            http::Request::get("/whoami")
                .header("authorization", format!("Bearer {expired}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"jwt.expired\""
    );
}
