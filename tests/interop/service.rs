//! The service under test: `IamAuthLayer` pointed at an emulator (through its counting proxy),
//! with the routes of `examples/whoami_server.rs`: `GET /whoami` for bearer tokens and
//! `POST /login` for Vault-format logins.

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};

use crate::clients::{Proof, Signer};
use crate::peers::Emulator;
use crate::support::{AUDIENCE, Answer, call, call_request, whoami_router};

pub struct Service {
    app: Router,
}

impl Service {
    /// A service for `AUDIENCE` accepting both token formats and Vault logins whose audience
    /// header is the one `signer` uses, replaying to `emulator`.
    pub fn for_signer(emulator: &Emulator, signer: Signer) -> Service {
        let mut config = IamAuthConfig::builder()
            .audience(AUDIENCE)
            .allow_any_aws_account()
            .formats(ProofFormat::ALL)
            .dangerous_sts_connect_to(emulator.connect_to());
        if signer.is_vault() {
            config = config.vault_audience_header(signer.audience_header());
        }
        let layer = IamAuthLayer::new(config.build().expect("valid config"));
        let verifier = layer.clone();
        let app = whoami_router().route_layer(layer).route(
            "/login",
            post(move |body: Bytes| async move { login(&verifier, &body).await }),
        );
        Service { app }
    }

    /// Hands `proof` over as its client would: a bearer token on `GET /whoami`, a login body on
    /// `POST /login`.
    pub async fn present(&self, proof: &Proof) -> Answer {
        match proof {
            Proof::Bearer(token) => call(&self.app, Some(token)).await,
            Proof::VaultLogin(login) => {
                let request = http::Request::post("/login")
                    .header("content-type", "application/json")
                    .body(Body::from(login.to_string()))
                    .unwrap();
                call_request(&self.app, request).await
            }
        }
    }
}

/// `POST /login` as in `examples/whoami_server.rs`.
async fn login(layer: &IamAuthLayer, body: &[u8]) -> Response {
    match layer.verify_vault_login(body).await {
        Ok(principal) => axum::Json(principal).into_response(),
        Err(error) => error.to_response().map(Body::from).into_response(),
    }
}
