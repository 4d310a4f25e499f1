//! `IamPrincipal` and `Option<IamPrincipal>` as axum extractors, and the layer around plain
//! Tower services.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use support::*;
use tower::{ServiceBuilder, ServiceExt};
use tower_iam_auth::principal::IamPrincipal;

#[tokio::test]
async fn extractor_without_the_layer_is_a_500_naming_the_layer() {
    let app = whoami_router();
    let answer = call(&app, None).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.json.as_str().unwrap().contains("IamAuthLayer"),
        "{}",
        answer.json
    );
}

#[tokio::test]
async fn optional_extractor_is_none_without_the_layer() {
    let app: Router = Router::new().route(
        "/",
        get(|principal: Option<IamPrincipal>| async move { format!("{}", principal.is_some()) }),
    );
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"false");
}

#[tokio::test]
async fn optional_extractor_is_some_behind_the_layer() {
    let h = harness().await;
    let app: Router = Router::new()
        .route(
            "/whoami",
            get(|principal: Option<IamPrincipal>| async move {
                principal.map(|p| p.arn().to_owned()).unwrap_or_default()
            }),
        )
        .layer(h.layer.clone());
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&app, Some(&token)).await;
    assert_eq!(answer.json, "arn:aws:iam::123456789012:user/alice");
}

#[tokio::test]
async fn layer_wraps_a_plain_tower_service() {
    let h = harness().await;
    let service = ServiceBuilder::new().layer(h.layer.clone()).service_fn(
        |request: Request<String>| async move {
            let principal = request
                .extensions()
                .get::<IamPrincipal>()
                .cloned()
                .expect("principal set");
            Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                bytes::Bytes::from(principal.arn().to_owned()),
            )))
        },
    );
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let request = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"arn:aws:iam::123456789012:user/alice");

    let response = service
        .oneshot(Request::get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_layer_attaches_the_proof_to_outgoing_requests() {
    let h = harness().await;
    let signer = signer(h.sts.create_user(ACCOUNT, "alice"));
    // The client stack: IamProofLayer in front of the protected app itself.
    let client = ServiceBuilder::new()
        .layer(
            tower_iam_auth::client::IamProofLayer::builder(signer)
                .origin("http://127.0.0.1")
                .build()
                .unwrap(),
        )
        .service(h.app.clone());
    let response = client
        .clone()
        .oneshot(
            Request::get("http://127.0.0.1/whoami")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .oneshot(
            Request::get("http://127.0.0.1/whoami")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.sts.calls(),
        1,
        "the client reused its token and the server's cache hit"
    );
}
