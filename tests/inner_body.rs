//! `IamAuthLayer::inner_body`: the same decisions as `IamAuthLayer`, answered in the inner
//! service's own body type (axum's `Body`): from the cache, after STS, and refused at once or
//! after STS, for HTTP and gRPC callers.

mod support;

use axum::Router;
use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use support::*;
use tower::{Layer, Service, ServiceExt};

/// Compiles only for a service that answers with axum's own body type, unwrapped.
fn answers_axum_bodies<S>(service: S) -> S
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    service
}

/// The whoami router behind the harness's layer in inner-body mode (same cache, same STS).
fn inner_body_app(h: &Harness) -> Router {
    whoami_router().layer(h.layer.clone().inner_body())
}

fn whoami(authorization: Option<&str>, grpc: bool) -> Request<Body> {
    let mut request = Request::get("/whoami");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if grpc {
        request = request.header("content-type", "application/grpc");
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_inner_service_body_type_is_answered_unwrapped() {
    let h = harness().await;
    let service = answers_axum_bodies(h.layer.clone().inner_body().layer(whoami_router()));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let request = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:user/alice");
}

/// Status, headers, whether the body has ended before it is polled, its exact size if known, and
/// its bytes.
async fn raw(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, bool, Option<u64>, bytes::Bytes) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let (ended, size) = (body.is_end_stream(), body.size_hint().exact());
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, ended, size, bytes)
}

#[tokio::test]
async fn local_refusals_are_the_same_in_either_mode_and_never_reach_sts() {
    let h = harness().await;
    let inner = inner_body_app(&h);
    for authorization in [
        None,
        Some("Bearer iam-v1.a,b"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer iam-v1.bm90IGEgdXJs"),
    ] {
        for grpc in [false, true] {
            let wrapped = raw(&h.app, whoami(authorization, grpc)).await;
            let unwrapped = raw(&inner, whoami(authorization, grpc)).await;
            // A gRPC refusal is HTTP 200 with a gRPC status and no body at all.
            if grpc {
                assert_eq!(wrapped.1["grpc-status"], "16", "{authorization:?}");
                assert!(wrapped.2 && wrapped.4.is_empty(), "{authorization:?}");
            } else {
                assert_ne!(wrapped.0, StatusCode::OK, "{authorization:?}");
                assert!(!wrapped.4.is_empty(), "{authorization:?}");
            }
            // Status, headers, end of stream, size and bytes.
            assert_eq!(wrapped, unwrapped, "{authorization:?}");
        }
    }
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn a_grpc_refusal_is_trailers_only_in_the_inner_body() {
    let h = harness().await;
    let service = h.layer.clone().inner_body().layer(whoami_router());
    let response = service.oneshot(whoami(None, true)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    // One HEADERS frame with END_STREAM: the body has ended before it is polled.
    assert!(response.body().is_end_stream());
    assert_eq!(response.body().size_hint().exact(), Some(0));
}

#[tokio::test]
async fn a_proof_is_verified_once_then_served_from_the_cache() {
    let h = harness().await;
    let inner = inner_body_app(&h);
    let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "run-1")).await;
    for _ in 0..3 {
        assert_serves(&inner, &token, "arn:aws:iam::123456789012:role/deployer").await;
    }
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn a_refusal_by_sts_is_answered_in_the_inner_body() {
    let h = harness().await;
    let inner = inner_body_app(&h);
    let credentials = h.sts.create_user(ACCOUNT, "mallory");
    let token = token_for(credentials.clone()).await;
    h.sts.revoke(credentials.access_key_id());

    let answer = call(&inner, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "sts.rejected");
    assert_eq!(h.sts.calls(), 1);
    // Remembered as rejected: refused again at once, in the same body.
    let again = call(&inner, Some(&token)).await;
    assert_eq!(again.reason(), "sts.rejected");
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn a_grpc_refusal_by_sts_is_trailers_only_in_the_inner_body() {
    let h = harness().await;
    let service = h.layer.clone().inner_body().layer(whoami_router());
    let credentials = h.sts.create_user(ACCOUNT, "mallory");
    let token = format!("Bearer {}", token_for(credentials.clone()).await);
    h.sts.revoke(credentials.access_key_id());

    let response = service.oneshot(whoami(Some(&token), true)).await.unwrap();
    assert_eq!(h.sts.calls(), 1, "decided by STS");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert!(response.body().is_end_stream());
}

#[tokio::test]
async fn over_a_wrapped_layer_the_refusal_is_written_in_its_response_body() {
    let h = harness().await;
    // The outer layer answers in the inner layer's `ResponseBody`.
    let stacked = (h.layer.clone().inner_body(), h.layer.clone()).layer(whoami_router());
    let refused = stacked.clone().oneshot(whoami(None, false)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let bytes = refused.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["reason"], "token.missing");

    let token = token_for(h.sts.create_user(ACCOUNT, "bob")).await;
    let allowed = stacked
        .oneshot(whoami(Some(&format!("Bearer {token}")), false))
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
}
