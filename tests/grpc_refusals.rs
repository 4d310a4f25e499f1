//! gRPC calls are refused the gRPC way whatever renders HTTP refusals; other requests keep the
//! HTTP form.

mod support;

use axum::body::Body;
use http::{HeaderValue, Request, StatusCode};
use support::*;
use tower_iam_auth::error::RefusalBody;

fn grpc_call(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/whoami").header("content-type", "application/grpc+proto");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn grpc_refusal_is_http_200_with_grpc_status_and_no_body() {
    let h = harness().await;
    let answer = call_request(&h.app, grpc_call(None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/grpc");
    assert_eq!(answer.headers["grpc-status"], "16");
    assert_eq!(
        answer.headers["grpc-message"],
        "token.missing: no bearer token"
    );
    assert_eq!(answer.json, "");

    let answer = call_request(&h.app, grpc_call(Some("Bearer iam-v1.a,b"))).await;
    assert_eq!(answer.headers["grpc-status"], "16");
    assert_eq!(
        answer.headers["grpc-message"],
        "token.malformed: authorization header is not a bearer token"
    );
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn grpc_refusal_ignores_the_http_renderer_which_still_renders_http_refusals() {
    let h = harness_with(|b| {
        b.render_refusal(|refusal: &tower_iam_auth::error::AuthError| {
            RefusalBody::new(
                HeaderValue::from_static("text/plain"),
                refusal.reason().as_str(),
            )
        })
    })
    .await;
    let answer = call_request(&h.app, grpc_call(None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["grpc-status"], "16");
    assert_eq!(answer.json, "");

    let answer = call(&h.app, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["content-type"], "text/plain");
    assert_eq!(answer.json, "token.missing");
}

#[tokio::test]
async fn sts_outage_is_grpc_unavailable_with_retry_after() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    h.sts
        .set_fault(Some(tower_iam_auth::testing::Fault::ServerError));
    let answer = call_request(&h.app, grpc_call(Some(&format!("Bearer {token}")))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["grpc-status"], "14");
    assert!(answer.headers.contains_key("retry-after"));
    assert!(
        answer.headers["grpc-message"]
            .to_str()
            .unwrap()
            .starts_with("sts.unavailable: "),
        "{:?}",
        answer.headers["grpc-message"]
    );
}
