//! `IamAuthMiddleware` on a real reqwest 0.13 client: the proof it attaches gets through
//! `IamAuthLayer` (verified by `LocalSts`), and requests to any other origin leave without it.
#![cfg(feature = "reqwest-middleware")]

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use reqwest_middleware::reqwest;
use support::*;
use tower_iam_auth::client::{BearerSource, BoxError, IamAuthMiddleware};

/// Serves `router` on a free loopback port; answers `http://127.0.0.1:PORT`.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A reqwest client whose middleware sends tokens from `source` to `origin` only.
fn client_for(source: impl BearerSource, origin: &str) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            IamAuthMiddleware::builder(source)
                .origin(origin)
                .build()
                .unwrap(),
        )
        .build()
}

/// A server that records the `Authorization` header of every request it gets.
async fn recorder() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let router = Router::new().route(
        "/{*path}",
        get(move |headers: http::HeaderMap| async move {
            let value = headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned());
            record.lock().unwrap().push(value);
            "recorded"
        }),
    );
    (serve(router).await, seen)
}

#[tokio::test]
async fn reqwest_client_with_the_middleware_gets_through_iam_auth_layer() {
    let h = harness().await;
    let api = serve(h.app.clone()).await;
    let signer = signer(h.sts.assume_role(ACCOUNT, "deployer", "reqwest"));
    let client = client_for(signer, &api);

    for _ in 0..2 {
        let answer = client.get(format!("{api}/whoami")).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let json: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(json["arn"], "arn:aws:iam::123456789012:role/deployer");
    }
    // One signed token, reused; verified once, then served from the server's cache.
    assert_eq!(h.sts.calls(), 1);

    // Without the middleware the same server refuses.
    let bare = reqwest::Client::new()
        .get(format!("{api}/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
}

#[tokio::test]
async fn requests_to_other_origins_carry_no_credential() {
    let h = harness().await;
    let api = serve(h.app.clone()).await;
    // Same host, another port: another origin.
    let (other, seen) = recorder().await;
    let signer = signer(h.sts.create_user(ACCOUNT, "alice"));
    let client = client_for(signer, &api);

    let answer = client.get(format!("{other}/whoami")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    // `localhost` names the same machine but is another origin than `127.0.0.1`.
    let localhost = other.replace("127.0.0.1", "localhost");
    client.get(format!("{localhost}/x")).send().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![None, None]);
    assert_eq!(h.sts.calls(), 0);

    // The configured origin does get it.
    let answer = client.get(format!("{api}/whoami")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// A token source that always fails, as a signer without credentials does.
#[derive(Clone)]
struct NoToken;

impl BearerSource for NoToken {
    async fn bearer_token(&self) -> Result<Arc<str>, BoxError> {
        Err("no credentials".into())
    }
}

#[tokio::test]
async fn a_failing_token_source_sends_nothing_to_the_origin() {
    let (api, seen) = recorder().await;
    let client = client_for(NoToken, &api);
    let error = client.get(format!("{api}/x")).send().await.unwrap_err();
    assert!(error.to_string().contains("no credential"), "{error}");
    assert!(seen.lock().unwrap().is_empty());
}
