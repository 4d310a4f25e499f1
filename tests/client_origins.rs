//! The client layers attach their credential only to the origins they were built for, only over
//! https unless the host is loopback, and a redirect to another origin never carries it: shown
//! with a real HTTP client (hyper) following real redirects between two real servers.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::*;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;
use tower_http::follow_redirect::policy::Limited;
use tower_iam_auth::client::{IamProofLayer, OriginError, ProofSigner};

/// Each request's path and the `Authorization` header it carried.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A server that records the `Authorization` header of every request, and redirects
/// `/redirect?to=URL` there.
struct Recorder {
    base: String,
    seen: Seen,
}

impl Recorder {
    async fn start() -> Recorder {
        let seen = Seen::default();
        let record = seen.clone();
        let app =
            Router::new().fallback(get(move |uri: http::Uri, headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                record.lock().unwrap().push((uri.path().to_owned(), auth));
                match uri.query().and_then(|q| q.strip_prefix("to=")) {
                    Some(to) => Redirect::temporary(to).into_response(),
                    None => (StatusCode::OK, "ok").into_response(),
                }
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Recorder { base, seen }
    }

    /// The `Authorization` header each request carried, by path.
    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn proof_signer() -> ProofSigner {
    signer(aws_credential_types::Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    ))
}

fn layer_for(origin: &str) -> IamProofLayer {
    IamProofLayer::builder(proof_signer())
        .origin(origin)
        .build()
        .unwrap()
}

fn http_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn fetch<S>(client: S, url: &str) -> StatusCode
where
    S: tower::Service<Request<Empty<Bytes>>, Response = http::Response<hyper::body::Incoming>>,
    S::Error: std::fmt::Debug,
{
    let request = Request::get(url).body(Empty::new()).unwrap();
    client.oneshot(request).await.unwrap().status()
}

fn bearer_proof(seen: &Option<String>) -> bool {
    seen.as_deref()
        .is_some_and(|v| v.starts_with("Bearer iam-v1."))
}

#[tokio::test]
async fn credential_goes_to_the_configured_origin_and_not_to_another_port() {
    let (a, b) = (Recorder::start().await, Recorder::start().await);
    let client = ServiceBuilder::new()
        .layer(layer_for(&a.base))
        .service(http_client());
    assert_eq!(
        fetch(client.clone(), &format!("{}/x", a.base)).await,
        StatusCode::OK
    );
    // Same host (127.0.0.1), another port: another origin.
    assert_eq!(
        fetch(client, &format!("{}/y", b.base)).await,
        StatusCode::OK
    );
    assert!(bearer_proof(&a.seen()[0].1), "{:?}", a.seen());
    assert_eq!(b.seen(), vec![("/y".to_owned(), None)]);
}

#[tokio::test]
async fn redirect_to_another_origin_does_not_carry_the_credential() {
    let (a, b) = (Recorder::start().await, Recorder::start().await);
    // A redirect follower that copies every header to the next hop (no credential filtering of
    // its own), outside the layer: each hop passes through the layer, which decides per origin.
    let client = ServiceBuilder::new()
        .layer(FollowRedirectLayer::with_policy(Limited::new(5)))
        .layer(layer_for(&a.base))
        .service(http_client());
    let url = format!("{}/start?to={}/landing", a.base, b.base);
    assert_eq!(fetch(client, &url).await, StatusCode::OK);
    assert!(bearer_proof(&a.seen()[0].1), "{:?}", a.seen());
    assert_eq!(
        b.seen(),
        vec![("/landing".to_owned(), None)],
        "the redirect reached the other origin without the credential"
    );
}

#[tokio::test]
async fn redirect_back_to_the_configured_origin_carries_it_again() {
    let (a, b) = (Recorder::start().await, Recorder::start().await);
    let client = ServiceBuilder::new()
        .layer(FollowRedirectLayer::with_policy(Limited::new(5)))
        .layer(layer_for(&a.base))
        .service(http_client());
    let url = format!("{}/hop?to={}/home", b.base, a.base);
    assert_eq!(fetch(client, &url).await, StatusCode::OK);
    assert_eq!(b.seen(), vec![("/hop".to_owned(), None)]);
    assert!(bearer_proof(&a.seen()[0].1), "{:?}", a.seen());
}

#[tokio::test]
async fn follower_inside_the_layer_with_tower_http_default_policy_drops_it_on_redirect() {
    let (a, b) = (Recorder::start().await, Recorder::start().await);
    // The other order: the layer sets the header once, tower-http's standard policy follows and
    // filters credentials when the origin changes.
    let client = ServiceBuilder::new()
        .layer(layer_for(&a.base))
        .layer(FollowRedirectLayer::new())
        .service(http_client());
    let url = format!("{}/start?to={}/landing", a.base, b.base);
    assert_eq!(fetch(client, &url).await, StatusCode::OK);
    assert!(bearer_proof(&a.seen()[0].1));
    assert_eq!(b.seen(), vec![("/landing".to_owned(), None)]);
}

#[tokio::test]
async fn relative_uris_get_the_credential_only_when_asked() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let status = |layer: IamProofLayer| {
        let app = h.app.clone();
        async move {
            ServiceBuilder::new()
                .layer(layer)
                .service(app)
                .oneshot(
                    Request::get("/whoami")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap()
                .status()
        }
    };
    let plain = IamProofLayer::builder(signer(credentials.clone()))
        .origin("https://orders.example.com")
        .build()
        .unwrap();
    assert_eq!(status(plain).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.sts.calls(), 0);
    let bound = IamProofLayer::builder(signer(credentials))
        .origin("https://orders.example.com")
        .attach_to_relative_uris(true)
        .build()
        .unwrap();
    assert_eq!(status(bound).await, StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn https_origin_is_not_served_over_plain_http() {
    let a = Recorder::start().await;
    let port = a.base.rsplit(':').next().unwrap();
    // Configured for https on that port: a plain-http request there gets nothing.
    let client = ServiceBuilder::new()
        .layer(layer_for(&format!("https://127.0.0.1:{port}")))
        .service(http_client());
    assert_eq!(
        fetch(client, &format!("{}/x", a.base)).await,
        StatusCode::OK
    );
    assert_eq!(a.seen(), vec![("/x".to_owned(), None)]);
}

#[test]
fn builder_refuses_plain_http_to_a_remote_host_and_no_origin() {
    let refused = IamProofLayer::builder(proof_signer())
        .origin("http://orders.example.com")
        .build()
        .unwrap_err();
    assert!(matches!(refused, OriginError::Insecure(_)), "{refused}");
    let none = IamProofLayer::builder(proof_signer()).build().unwrap_err();
    assert_eq!(none, OriginError::Empty);
    let with_path = IamProofLayer::builder(proof_signer())
        .origin("https://orders.example.com/api")
        .build()
        .unwrap_err();
    assert!(matches!(with_path, OriginError::Malformed(_)));
}
