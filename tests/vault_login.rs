//! Vault-format logins (`{iam_http_request_method, iam_request_url, iam_request_body,
//! iam_request_headers}` with a header-signed POST): accepted when right, each broken rule
//! refused before any STS call.

mod support;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::vault::*;
use support::*;
use tower_iam_auth::error::ReasonCode;

async fn login(h: &Harness, body: &Value) -> Result<String, ReasonCode> {
    let bytes = serde_json::to_vec(body).unwrap();
    h.layer
        .verify_vault_login(&bytes)
        .await
        .map(|p| p.arn().to_owned())
        .map_err(|e| {
            eprintln!("refused: {e}");
            e.reason()
        })
}

/// Expects `body` to be refused with `reason` and STS never to be called.
async fn refused_locally(h: &Harness, body: &Value, reason: ReasonCode) {
    assert_eq!(login(h, body).await, Err(reason));
    assert_eq!(
        h.sts.calls(),
        0,
        "a login that failed local validation reached STS"
    );
}

#[tokio::test]
async fn accepts_login_from_an_iam_user() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let body = Login::new(VAULT_HEADER, AUDIENCE).body_json(&credentials);
    assert_eq!(
        login(&h, &body).await.unwrap(),
        "arn:aws:iam::123456789012:user/alice"
    );

    let replayed = &h.sts.requests()[0];
    assert_eq!(replayed.method, "POST");
    assert_eq!(replayed.uri, "/");
    assert_eq!(&replayed.body[..], BODY.as_bytes());
    assert_eq!(replayed.header("x-vault-aws-iam-server-id"), Some(AUDIENCE));
}

#[tokio::test]
async fn accepts_login_from_a_role_session_with_signed_session_token() {
    let h = harness().await;
    let credentials = h.sts.assume_role(ACCOUNT, "deployer", "vault-login");
    let body = Login::new(VAULT_HEADER, AUDIENCE).body_json(&credentials);
    assert_eq!(
        login(&h, &body).await.unwrap(),
        "arn:aws:iam::123456789012:role/deployer"
    );
}

#[tokio::test]
async fn accepts_headers_as_a_json_object_with_string_values() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let request = Login::new(VAULT_HEADER, AUDIENCE);
    let mut body = request.body_json(&credentials);
    let headers: serde_json::Map<String, Value> = request
        .headers(&credentials)
        .into_iter()
        .map(|(k, v)| (k, v[0].clone()))
        .collect();
    body["iam_request_headers"] = Value::Object(headers);
    let outcome = login(&h, &body).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn a_configured_audience_header_such_as_x_app_id_is_used() {
    let h = harness_with(|b| b.vault_audience_header("X-APP-ID")).await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let body = Login::new("X-APP-ID", AUDIENCE).body_json(&credentials);
    let outcome = login(&h, &body).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(h.sts.requests()[0].header("x-app-id"), Some(AUDIENCE));
}

#[tokio::test]
async fn tampered_signature_is_refused_by_sts() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let request = Login::new(VAULT_HEADER, AUDIENCE);
    let mut headers = request.headers(&credentials);
    let auth = headers["authorization"][0].as_str().unwrap().to_owned();
    let flipped = if auth.ends_with('0') { "1" } else { "0" };
    headers.insert(
        "authorization".into(),
        json!([format!("{}{flipped}", &auth[..auth.len() - 1])]),
    );
    let mut body = request.body_json(&credentials);
    body["iam_request_headers"] = Value::Object(headers);
    assert_eq!(login(&h, &body).await, Err(ReasonCode::StsRejected));
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn refuses_a_query_on_the_url() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.url = "https://sts.amazonaws.com/?Action=GetCallerIdentity".into();
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofParamNotAllowed).await;
}

#[tokio::test]
async fn refuses_an_extra_body_parameter() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.body = format!("{BODY}&RoleArn=arn:aws:iam::123456789012:role/admin");
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofBody).await;
}

#[tokio::test]
async fn refuses_an_extra_x_amz_header() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.unsigned.push((
        "X-Amz-Target".into(),
        "AWSSecurityTokenServiceV20110615.AssumeRole".into(),
    ));
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofHeaderNotAllowed).await;
}

#[tokio::test]
async fn refuses_an_unsigned_audience_header() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    let audience = request.signed.pop().unwrap();
    request.unsigned.push(audience);
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofAudienceUnsigned).await;
}

#[tokio::test]
async fn refuses_a_missing_audience_header() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.signed.pop();
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofAudienceUnsigned).await;
}

#[tokio::test]
async fn refuses_a_login_signed_for_another_audience() {
    let h = harness().await;
    let body =
        Login::new(VAULT_HEADER, "billing-service").body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofAudienceMismatch).await;
}

#[tokio::test]
async fn accepts_the_method_in_base64_like_the_other_fields() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let mut body = Login::new(VAULT_HEADER, AUDIENCE).body_json(&credentials);
    body["iam_http_request_method"] = "UE9TVA==".into();
    assert_eq!(
        login(&h, &body).await.unwrap(),
        "arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(h.sts.requests()[0].method, "POST");
}

#[tokio::test]
async fn refuses_other_methods_in_base64_and_other_spellings_of_post() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    // GET, post, POST without padding, base64 of "POST " and of "post".
    for method in ["R0VU", "post", "UE9TVA", "UE9TVCA=", "cG9zdA=="] {
        let mut body = Login::new(VAULT_HEADER, AUDIENCE).body_json(&credentials);
        body["iam_http_request_method"] = method.into();
        refused_locally(&h, &body, ReasonCode::ProofMethod).await;
    }
}

#[tokio::test]
async fn refuses_method_get() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.method = "GET";
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofMethod).await;
}

#[tokio::test]
async fn refuses_a_url_host_off_the_table() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.url = "https://sts.amazonaws.com.evil.example/".into();
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofHostNotAllowed).await;
}

#[tokio::test]
async fn refuses_malformed_headers_fields() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let request = Login::new(VAULT_HEADER, AUDIENCE);
    let good = request.body_json(&credentials);
    let headers = request.headers(&credentials);

    let with = |field: Value| {
        let mut body = good.clone();
        body["iam_request_headers"] = field;
        body
    };
    let mut two_values = headers.clone();
    two_values.insert(
        "X-Amz-Date".into(),
        json!(["20261122T000000Z", "20261122T000001Z"]),
    );
    let mut number = headers.clone();
    number.insert("Content-Type".into(), json!(7));
    let mut twice = headers.clone();
    twice.insert("X-AMZ-DATE".into(), headers["x-amz-date"].clone());

    for (case, body, reason) in [
        // Not even a string or an object: the login body itself has the wrong shape.
        ("a number", with(json!(42)), ReasonCode::ProofVaultBody),
        (
            "base64 of a list",
            with(json!(STANDARD.encode("[1, 2]"))),
            ReasonCode::ProofVaultHeaders,
        ),
        (
            "invalid base64",
            with(json!("%%%")),
            ReasonCode::ProofEncoding,
        ),
        (
            "two values",
            with(Value::Object(two_values)),
            ReasonCode::ProofVaultHeaders,
        ),
        (
            "a numeric value",
            with(Value::Object(number)),
            ReasonCode::ProofVaultHeaders,
        ),
        (
            "a name given twice in two cases",
            with(Value::Object(twice)),
            ReasonCode::ProofVaultHeaders,
        ),
    ] {
        assert_eq!(
            login(&h, &body).await,
            Err(reason),
            "headers field with {case}"
        );
    }
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn refuses_unknown_fields_and_non_json() {
    let h = harness().await;
    let mut body =
        Login::new(VAULT_HEADER, AUDIENCE).body_json(&h.sts.create_user(ACCOUNT, "alice"));
    body["iam_request_extra"] = json!("x");
    refused_locally(&h, &body, ReasonCode::ProofVaultBody).await;
    assert_eq!(
        h.layer
            .verify_vault_login(b"not json")
            .await
            .unwrap_err()
            .reason(),
        ReasonCode::ProofVaultBody
    );
}

#[tokio::test]
async fn refuses_url_safe_base64_in_the_fields() {
    let h = harness().await;
    let mut body =
        Login::new(VAULT_HEADER, AUDIENCE).body_json(&h.sts.create_user(ACCOUNT, "alice"));
    let url = body["iam_request_url"]
        .as_str()
        .unwrap()
        .trim_end_matches('=')
        .to_owned();
    body["iam_request_url"] = json!(url);
    refused_locally(&h, &body, ReasonCode::ProofEncoding).await;
}

/// Signs a login, then lets `change` edit the headers object before it is encoded.
fn edited_login(
    credentials: &Credentials,
    request: &Login,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Value {
    let mut headers = request.headers(credentials);
    change(&mut headers);
    let mut body = request.body_json(credentials);
    body["iam_request_headers"] = json!(STANDARD.encode(serde_json::to_string(&headers).unwrap()));
    body
}

fn authorization(headers: &serde_json::Map<String, Value>) -> String {
    headers["authorization"][0].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refuses_a_login_signed_more_than_fifteen_minutes_ago() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.signed_at = SystemTime::now() - std::time::Duration::from_secs(16 * 60);
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofExpired).await;
}

#[tokio::test]
async fn refuses_a_login_dated_in_the_future() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.signed_at = SystemTime::now() + std::time::Duration::from_secs(5 * 60);
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofNotYetValid).await;
}

#[tokio::test]
async fn refuses_a_host_header_other_than_the_url_host() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request
        .signed
        .push(("Host".into(), "sts.us-east-1.amazonaws.com".into()));
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofHostNotAllowed).await;
}

#[tokio::test]
async fn refuses_a_content_length_other_than_the_body_length() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request
        .unsigned
        .push(("Content-Length".into(), "99".into()));
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofBody).await;
}

#[tokio::test]
async fn refuses_a_content_type_that_is_not_a_form() {
    let h = harness().await;
    let mut request = Login::new(VAULT_HEADER, AUDIENCE);
    request.signed[0].1 = "application/json".into();
    let body = request.body_json(&h.sts.create_user(ACCOUNT, "alice"));
    refused_locally(&h, &body, ReasonCode::ProofBody).await;
}

#[tokio::test]
async fn refuses_signed_headers_naming_a_header_that_is_not_sent() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let body = edited_login(
        &credentials,
        &Login::new(VAULT_HEADER, AUDIENCE),
        |headers| {
            let auth =
                authorization(headers).replacen("SignedHeaders=", "SignedHeaders=accept;", 1);
            headers.insert("authorization".into(), json!([auth]));
        },
    );
    refused_locally(&h, &body, ReasonCode::ProofSignedHeaders).await;
}

#[tokio::test]
async fn refuses_a_malformed_signature() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let body = edited_login(
        &credentials,
        &Login::new(VAULT_HEADER, AUDIENCE),
        |headers| {
            let auth = authorization(headers);
            let at = auth.find("Signature=").unwrap() + "Signature=".len();
            let upper = format!("{}{}", &auth[..at], auth[at..].to_ascii_uppercase());
            headers.insert("authorization".into(), json!([upper]));
        },
    );
    refused_locally(&h, &body, ReasonCode::ProofSignatureMalformed).await;
}

#[tokio::test]
async fn refuses_a_repeated_authorization_parameter() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let body = edited_login(
        &credentials,
        &Login::new(VAULT_HEADER, AUDIENCE),
        |headers| {
            let auth = format!("{}, Signature={}", authorization(headers), "0".repeat(64));
            headers.insert("authorization".into(), json!([auth]));
        },
    );
    refused_locally(&h, &body, ReasonCode::ProofVaultHeaders).await;
}

#[tokio::test]
async fn refuses_an_oversized_login() {
    let h = harness().await;
    let mut body =
        Login::new(VAULT_HEADER, AUDIENCE).body_json(&h.sts.create_user(ACCOUNT, "alice"));
    body["role"] = json!("r".repeat(20_000));
    refused_locally(&h, &body, ReasonCode::ProofTooLarge).await;
}

#[tokio::test]
async fn refuses_a_header_key_repeated_exactly() {
    // serde_json's maps would keep the last one silently; the validator must see both.
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let request = Login::new(VAULT_HEADER, AUDIENCE);
    let headers = serde_json::to_string(&request.headers(&credentials)).unwrap();
    let repeated = headers.replacen('{', r#"{"authorization":["AWS4-HMAC-SHA256 garbage"],"#, 1);
    let mut body = request.body_json(&credentials);
    body["iam_request_headers"] = json!(STANDARD.encode(repeated));
    refused_locally(&h, &body, ReasonCode::ProofVaultHeaders).await;
}

#[tokio::test]
async fn a_verified_login_body_is_never_accepted_as_a_bearer_token() {
    let h = harness().await;
    let body = Login::new(VAULT_HEADER, AUDIENCE).body_json(&h.sts.create_user(ACCOUNT, "alice"));
    assert!(login(&h, &body).await.is_ok());
    let bearer = serde_json::to_string(&body).unwrap();
    let request = http::Request::get("/whoami")
        .header("authorization", format!("Bearer {bearer}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = call_request(&h.app, request).await;
    assert_eq!(
        answer.status,
        http::StatusCode::BAD_REQUEST,
        "{}",
        answer.json
    );
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 1);
}

// --- logins signed by this crate's client ---

#[tokio::test]
async fn login_signed_by_proof_signer_is_accepted() {
    let h = harness().await;
    let signer = tower_iam_auth::client::ProofSigner::builder(h.sts.assume_role(
        ACCOUNT,
        "deployer",
        "vault-login",
    ))
    .audience(AUDIENCE)
    .build()
    .unwrap();
    let signed = signer.sign_vault_login().await.unwrap();
    let body = signed.to_json_value();
    assert_eq!(body["iam_http_request_method"], "POST");
    let headers: Value = serde_json::from_slice(
        &STANDARD
            .decode(body["iam_request_headers"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(headers["X-Vault-Aws-Iam-Server-Id"], json!([AUDIENCE]));
    assert!(headers["X-Amz-Security-Token"].is_array());
    assert_eq!(
        STANDARD
            .decode(body["iam_request_body"].as_str().unwrap())
            .unwrap(),
        BODY.as_bytes()
    );
    assert!(!format!("{signed:?}").contains("Signature"));
    assert_eq!(
        login(&h, &body).await.unwrap(),
        "arn:aws:iam::123456789012:role/deployer"
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn login_signed_with_a_custom_audience_header_is_accepted_where_configured() {
    let h = harness_with(|b| b.vault_audience_header("X-APP-ID")).await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let signer = |header: &str| {
        tower_iam_auth::client::ProofSigner::builder(credentials.clone())
            .audience(AUDIENCE)
            .vault_audience_header(header)
            .build()
            .unwrap()
    };
    let right = signer("X-APP-ID").sign_vault_login().await.unwrap();
    assert!(login(&h, &right.to_json_value()).await.is_ok());
    assert_eq!(h.sts.calls(), 1);
    h.sts.reset_calls();
    // Signed with Vault's header, sent to a server that expects X-APP-ID: refused locally.
    let wrong = signer("X-Vault-AWS-IAM-Server-ID")
        .sign_vault_login()
        .await
        .unwrap();
    refused_locally(
        &h,
        &wrong.to_json_value(),
        ReasonCode::ProofHeaderNotAllowed,
    )
    .await;
}

#[test]
fn signer_refuses_audience_headers_that_a_login_cannot_carry() {
    for bad in [
        "X-Amz-Date",
        "x-amz-anything",
        "Authorization",
        "Host",
        "bad header",
        "",
    ] {
        let refused = tower_iam_auth::client::ProofSigner::builder(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .audience(AUDIENCE)
        .vault_audience_header(bad)
        .build()
        .unwrap_err();
        assert!(
            matches!(
                refused,
                tower_iam_auth::client::SignerConfigError::VaultAudienceHeader(_)
            ),
            "{bad}: {refused}"
        );
    }
}
