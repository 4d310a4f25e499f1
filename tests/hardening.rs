//! Findings of the security review, each with the input that used to get through: second
//! spellings of a proof, tokens relabelled as another format, Vault bodies with repeated fields,
//! audience header names that mean something else, STS answers from another partition, and the
//! credential left in the request the inner service sees.

mod support;

use std::time::Duration;

use axum::routing::get;
use http::{HeaderMap, StatusCode};
use support::vault::*;
use support::*;
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{ConfigError, IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::Fault;

/// Expects `token` to be refused with `reason` before any STS call.
async fn refused_locally(h: &Harness, token: &str, reason: &str) {
    let answer = call(&h.app, Some(token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.reason(), reason);
    assert_eq!(
        h.sts.calls(),
        0,
        "a proof that failed local validation reached STS"
    );
}

#[tokio::test]
async fn a_percent_encoded_unreserved_character_is_refused() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    // `%41` is `A`: STS would read the same key id, but the token is a second spelling.
    let escaped = mutate(&token, |url| {
        let credential = param(&url, "X-Amz-Credential");
        set_param(
            &url,
            "X-Amz-Credential",
            &format!("%41{}", &credential[1..]),
        )
    });
    assert_ne!(escaped, token);
    refused_locally(&h, &escaped, "proof.param_encoding").await;
    let dashed = mutate(&token, |url| {
        url.replace("Version=2011-06-15", "Version=2011%2D06-15")
    });
    refused_locally(&h, &dashed, "proof.param_encoding").await;
    // The canonical token itself is fine.
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn numeric_parameters_with_leading_zeros_are_refused() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let expires = param(&url_of(&token), "X-Amz-Expires");
    for padded in [
        format!("0{expires}"),
        format!("00{expires}"),
        "060".to_owned(),
        "0".to_owned(),
    ] {
        let token = mutate(&token, |url| set_param(&url, "X-Amz-Expires", &padded));
        refused_locally(&h, &token, "proof.expires_invalid").await;
    }
}

#[tokio::test]
async fn an_eks_token_relabelled_as_native_is_refused_and_vice_versa() {
    let h = harness_with(|b| b.formats([ProofFormat::IamV1, ProofFormat::K8sAwsV1])).await;
    let alice = h.sts.create_user(ACCOUNT, "alice");
    let eks = signer_for(alice.clone(), AUDIENCE, ProofFormat::K8sAwsV1)
        .token()
        .await
        .unwrap()
        .as_str()
        .to_owned();
    let native = token_for(alice).await;
    let as_native = token_of(ProofFormat::IamV1, &url_of(&eks));
    refused_locally(&h, &as_native, "proof.signed_headers").await;
    let as_eks = token_of(ProofFormat::K8sAwsV1, &url_of(&native));
    refused_locally(&h, &as_eks, "proof.signed_headers").await;
}

#[tokio::test]
async fn a_vault_body_with_a_repeated_top_level_field_is_refused() {
    let h = harness().await;
    let alice = h.sts.create_user(ACCOUNT, "alice");
    let login = Login::new(VAULT_HEADER, AUDIENCE).body_json(&alice);
    let valid = login.to_string();
    assert!(h.layer.verify_vault_login(valid.as_bytes()).await.is_ok());
    h.sts.reset_calls();
    // The same field twice, the second pointing elsewhere: which one would be checked, and
    // which one used, is the parser's choice; so neither is.
    for field in [
        "iam_request_url",
        "iam_http_request_method",
        "iam_request_body",
        "iam_request_headers",
    ] {
        let repeated = valid.replacen('{', &format!("{{\"{field}\":{},", login[field]), 1);
        let error = h
            .layer
            .verify_vault_login(repeated.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(error.reason(), ReasonCode::ProofVaultBody, "{field}");
    }
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn a_vault_body_above_the_cap_is_refused_before_it_is_read() {
    let h = harness_with(|b| b.max_token_bytes(1024)).await;
    let alice = h.sts.create_user(ACCOUNT, "alice");
    let mut login = Login::new(VAULT_HEADER, AUDIENCE).body_json(&alice);
    login["role"] = serde_json::json!("r".repeat(4096));
    let error = h
        .layer
        .verify_vault_login(login.to_string().as_bytes())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), ReasonCode::ProofTooLarge);
    assert_eq!(h.sts.calls(), 0);
}

#[test]
fn a_vault_audience_header_with_another_meaning_is_refused_at_build() {
    for name in [
        "X-Amz-Date",
        "x-amz-security-token",
        "X-Amz-Target",
        "X-Amz-User-Agent",
        "Connection",
        "Transfer-Encoding",
        "Upgrade",
        "TE",
        "Trailer",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authorization",
        "Host",
        "Authorization",
    ] {
        let built = IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
            .vault_audience_header(name)
            .build();
        assert!(
            matches!(built, Err(ConfigError::InvalidHeaderName(_))),
            "{name}: {built:?}"
        );
    }
    for name in ["X-Vault-AWS-IAM-Server-ID", "X-APP-ID", "X-Amzn-Audience"] {
        let built = IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
            .vault_audience_header(name)
            .build();
        assert!(built.is_ok(), "{name}: {built:?}");
    }
}

fn identity_answer(arn: &str) -> Fault {
    Fault::Raw {
        status: 200,
        content_type: "text/xml".into(),
        body: format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>{arn}</Arn><UserId>AIDAEXAMPLE</UserId>\
             <Account>{ACCOUNT}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        )
        .into_bytes(),
    }
}

#[tokio::test]
async fn an_sts_answer_naming_another_partition_is_not_believed() {
    let h = harness_with(|b| b.sts_retry(false)).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    for partition in ["aws-cn", "aws-us-gov", "aws-iso"] {
        h.sts.set_fault(Some(identity_answer(&format!(
            "arn:{partition}:iam::{ACCOUNT}:user/alice"
        ))));
        let answer = call(&h.app, Some(&token)).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{partition}"
        );
        assert_eq!(answer.reason(), "sts.partition_mismatch");
    }
    // Not remembered against the token: the real answer is accepted.
    h.sts.set_fault(None);
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(h.sts.calls(), 4);
}

/// A router whose handler reports the header `name` it received: its value, and whether it is
/// marked sensitive (so that the layers inside `IamAuthLayer` never log it).
fn seen_header(name: &'static str) -> axum::Router {
    axum::Router::new().route(
        "/whoami",
        get(move |headers: HeaderMap| async move {
            let value = headers.get(name);
            axum::Json(serde_json::json!({
                "value": value.map(|v| v.to_str().unwrap().to_owned()),
                "sensitive": value.map(http::HeaderValue::is_sensitive),
            }))
        }),
    )
}

/// `GET /whoami` with `headers`, in order (a name may repeat).
fn whoami_with(headers: &[(&str, &str)]) -> http::Request<axum::body::Body> {
    let mut request = http::Request::get("/whoami");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(axum::body::Body::empty()).unwrap()
}

#[tokio::test]
async fn the_inner_service_can_be_kept_from_seeing_the_credential() {
    let h = harness_with(|b| b.strip_authorization(true)).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let app = seen_header("authorization").layer(h.layer.clone());
    let answer = call(&app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["value"], serde_json::Value::Null);

    // By default it is kept (marked sensitive), as before.
    let kept = harness().await;
    let token = token_for(kept.sts.create_user(ACCOUNT, "alice")).await;
    let app = seen_header("authorization").layer(kept.layer.clone());
    let answer = call(&app, Some(&token)).await;
    assert_eq!(answer.json["value"], format!("Bearer {token}"));
}

#[test]
fn an_absurd_sts_concurrency_is_a_build_error_and_the_limit_builds() {
    let built = |calls| {
        IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
            .sts_max_concurrent_calls(calls)
            .sts_timeout(Duration::from_secs(1))
            .build()
    };
    assert!(matches!(built(usize::MAX), Err(ConfigError::TooMany(..))));
    assert!(matches!(built(0), Err(ConfigError::Zero(_))));
    // Building the layer (and its semaphore) does not panic at the limit.
    let _ = IamAuthLayer::new(built(65_536).unwrap());
}

/// Two token headers in one request: the inner service might read the other one. Refused
/// whether the first is a token verified before (decided without waiting) or a new one (which
/// never reaches STS).
#[tokio::test]
async fn a_second_token_header_is_refused_even_beside_a_verified_token() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let fresh = token_for(h.sts.create_user(ACCOUNT, "bob")).await;
    let twice = |first: &str, second: &str| {
        let (first, second) = (format!("Bearer {first}"), format!("Bearer {second}"));
        whoami_with(&[("authorization", &first), ("authorization", &second)])
    };
    let answer = call_request(&h.app, twice(&fresh, "x")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 0, "a refused request reached STS");

    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
    for (first, second) in [(&token, &fresh), (&token, &token), (&fresh, &token)] {
        let answer = call_request(&h.app, twice(first, second)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
        assert_eq!(answer.reason(), "token.malformed");
    }
    assert_eq!(h.sts.calls(), 1, "a refused request reached STS");

    // Another header given twice is not a second token (the layer counts the token header's
    // values only when some header repeats), before the token header or after it.
    let bearer = format!("Bearer {token}");
    for headers in [
        [
            ("accept", "text/plain"),
            ("accept", "*/*"),
            ("authorization", bearer.as_str()),
        ],
        [
            ("authorization", bearer.as_str()),
            ("accept", "text/plain"),
            ("accept", "*/*"),
        ],
    ] {
        let answer = call_request(&h.app, whoami_with(&headers)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    }
    let answer = call_request(
        &h.app,
        whoami_with(&[
            ("accept", "a"),
            ("accept", "b"),
            ("authorization", &bearer),
            ("authorization", &bearer),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 1, "a refused request reached STS");
}

/// The header reaches the inner service marked sensitive whether the token was verified on this
/// request or served from the cache (two paths through the layer), also under another name.
#[tokio::test]
async fn the_token_header_is_marked_sensitive_on_a_miss_and_on_a_hit() {
    for name in ["authorization", "x-iam-token"] {
        let h = harness_with(|b| b.token_header(name).require_bearer_scheme(false)).await;
        let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
        let app = seen_header(name).layer(h.layer.clone());
        for attempt in ["miss", "hit"] {
            let answer = call_request(&app, whoami_with(&[(name, &token)])).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{name} {attempt}: {}",
                answer.json
            );
            assert_eq!(answer.json["sensitive"], true, "{name} {attempt}");
        }
        assert_eq!(
            h.sts.calls(),
            1,
            "{name}: the second request was a cache hit"
        );
    }
}

/// Where requests without a token are let in, two token headers are still refused.
#[tokio::test]
async fn two_token_headers_are_refused_where_anonymous_callers_are_allowed() {
    for name in ["authorization", "x-iam-token"] {
        // Anonymous callers need a policy that says what they may do: here, everything.
        let options = tower_iam_auth::policy::PolicyOptions::default().public_sid("Everyone");
        let everyone = tower_iam_auth::policy::Policy::from_json_with(
            r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Everyone", "Effect": "Allow",
                "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}]}"#,
            &options,
        )
        .unwrap();
        let h = harness_with(|b| b.token_header(name).policy(everyone).allow_anonymous(true)).await;
        let app = seen_header(name).layer(h.layer.clone());
        // Without a token, the request is let in: the refusal below is the two headers'.
        assert_eq!(
            call_request(&app, whoami_with(&[])).await.status,
            StatusCode::OK
        );
        let token = format!(
            "Bearer {}",
            token_for(h.sts.create_user(ACCOUNT, "alice")).await
        );
        let request = whoami_with(&[(name, &token), (name, "Bearer x")]);
        let answer = call_request(&app, request).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            answer.json
        );
        assert_eq!(answer.reason(), "token.malformed");
        assert_eq!(h.sts.calls(), 0);
    }
}
