//! Where the token comes from: `Authorization: Bearer` by default (RFC 6750), another header or
//! a raw token only when configured.

mod support;

use axum::body::Body;
use http::{Request, StatusCode};
use support::*;
use tower_iam_auth::server::{ConfigError, IamAuthConfig};

fn get(header: &str, value: &str) -> Request<Body> {
    Request::get("/whoami")
        .header(header, value)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn raw_token_in_authorization_is_refused_by_default() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call_request(&h.app, get("authorization", &token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.reason(), "token.missing");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn raw_token_in_authorization_is_accepted_when_bearer_is_not_required() {
    let h = harness_with(|b| b.require_bearer_scheme(false)).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call_request(&h.app, get("authorization", &token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["arn"], "arn:aws:iam::123456789012:user/alice");
    // `Bearer <token>` still works, and is the same token: served from the cache.
    let answer = call_request(&h.app, get("authorization", &format!("Bearer {token}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn other_schemes_stay_refused_when_bearer_is_not_required() {
    let h = harness_with(|b| b.require_bearer_scheme(false)).await;
    let answer = call_request(&h.app, get("authorization", "Basic dXNlcjpwYXNz")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.reason(), "token.missing");
    // A raw value is still held to the token size cap and the b64token characters.
    let answer = call_request(&h.app, get("authorization", &"a".repeat(9000))).await;
    assert_eq!(answer.reason(), "proof.too_large");
    let answer = call_request(&h.app, get("authorization", "iam-v1.a,b")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn custom_header_carries_the_token_and_authorization_is_ignored() {
    let h = harness_with(|b| b.token_header("X-IAM-Token")).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call_request(&h.app, get("x-iam-token", &format!("Bearer {token}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["name"], "alice");

    // The same token in Authorization is not looked at.
    let answer = call_request(&h.app, get("authorization", &format!("Bearer {token}"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.reason(), "token.missing");
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn custom_header_given_twice_is_refused() {
    let h = harness_with(|b| b.token_header("x-iam-token")).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let request = Request::get("/whoami")
        .header("x-iam-token", format!("Bearer {token}"))
        .header("x-iam-token", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let answer = call_request(&h.app, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 0);
}

#[test]
fn invalid_token_header_names_are_refused_at_build() {
    for name in ["", "x iam token", "x-token:", "x-tök", "x\ntoken"] {
        let error = IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
            .token_header(name)
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, ConfigError::InvalidHeaderName(n) if n == name),
            "{name:?}: {error}"
        );
    }
}
