//! A protected axum server configured by environment, for black-box tests.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_LISTEN` | address to bind, default `127.0.0.1:8080` |
//! | `IAM_AUTH_AUDIENCE` | this service's audience (required) |
//! | `IAM_AUTH_FORMATS` | comma list of `iam-v1`, `k8s-aws-v1`; default `iam-v1` |
//! | `IAM_AUTH_STS_CONNECT_TO` | testing only: send STS calls over plain HTTP to this `host:port` |
//! | `IAM_AUTH_VAULT_AUDIENCE_HEADER` | audience header of Vault-format logins, default `X-Vault-AWS-IAM-Server-ID` |
//!
//! Routes: `GET /healthz` (no auth), `GET /whoami` (the caller as JSON), and `POST /login`
//! (a Vault-format login body; the same JSON, or the refusal).

use std::error::Error;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let listen = std::env::var("IAM_AUTH_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let audience =
        std::env::var("IAM_AUTH_AUDIENCE").map_err(|_| "IAM_AUTH_AUDIENCE is required")?;
    let formats = std::env::var("IAM_AUTH_FORMATS")
        .unwrap_or_else(|_| "iam-v1".to_owned())
        .split(',')
        .map(|f| f.trim().parse::<ProofFormat>())
        .collect::<Result<Vec<_>, _>>()?;

    let mut config = IamAuthConfig::builder().audience(audience).formats(formats);
    if let Ok(connect_to) = std::env::var("IAM_AUTH_STS_CONNECT_TO") {
        eprintln!(
            "WARNING: sending STS calls over plain HTTP to {connect_to} (IAM_AUTH_STS_CONNECT_TO)"
        );
        config = config.dangerous_sts_connect_to(connect_to);
    }
    if let Ok(header) = std::env::var("IAM_AUTH_VAULT_AUDIENCE_HEADER") {
        config = config.vault_audience_header(header);
    }
    let layer = IamAuthLayer::new(config.build()?);
    let verifier = layer.clone();

    let app = Router::new()
        .route(
            "/whoami",
            get(|principal: IamPrincipal| async move { Json(principal) }),
        )
        .route_layer(layer)
        .route(
            "/login",
            post(move |body: Bytes| async move { login(&verifier, &body).await }),
        )
        .route("/healthz", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("whoami_server listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// `POST /login`: a Vault-format login body in, the caller (or the refusal) out.
async fn login(layer: &IamAuthLayer, body: &[u8]) -> Response {
    match layer.verify_vault_login(body).await {
        Ok(principal) => Json(principal).into_response(),
        Err(error) => {
            eprintln!("login refused: {error}");
            error
                .to_response()
                .map(axum::body::Body::from)
                .into_response()
        }
    }
}
