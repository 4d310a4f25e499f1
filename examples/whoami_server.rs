//! A protected axum server configured by environment, for black-box tests and for trying
//! policies from outside.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_LISTEN` | address to bind, default `127.0.0.1:8080` |
//! | `IAM_AUTH_AUDIENCE` | this service's audience (required) |
//! | `IAM_AUTH_ALLOWED_ACCOUNTS`, `IAM_AUTH_POLICY_FILE`, `IAM_AUTH_POLICY_PUBLIC_SIDS`, `IAM_AUTH_POLICY_DRY_RUN`, `IAM_AUTH_ALLOW_ANY_ACCOUNT`, `IAM_AUTH_ALLOW_ANONYMOUS` | who may come in: see `examples/common/auth_env.rs`; one of the first, second or fifth is required |
//! | `IAM_AUTH_FORMATS` | comma list of `iam-v1`, `k8s-aws-v1`; default `iam-v1` |
//! | `IAM_AUTH_STS_CONNECT_TO` | testing only: send STS calls over plain HTTP to this `host:port` |
//! | `IAM_AUTH_VAULT_AUDIENCE_HEADER` | audience header of Vault-format logins, default `X-Vault-AWS-IAM-Server-ID` |
//! | `IAM_AUTH_REDIS_URL`, `IAM_AUTH_CACHE_SECRET_FILE` | share verified proofs with other replicas (feature `redis`): see `examples/common/auth_env.rs` |
//! | `IAM_AUTH_TRUSTED_ISSUER` | with feature `jwt`: also accept JWTs of this `TokenExchange` issuer (keys from `{issuer}/.well-known/jwks.json`), for audience `IAM_AUTH_JWT_AUDIENCE` (default: `IAM_AUTH_AUDIENCE`) |
//! | `IAM_AUTH_CACHE_MAX_ENTRIES` | verified proofs kept in the cache, default 10 000 |
//! | `IAM_AUTH_LOG` | log level on stderr, default `info` |
//!
//! Routes: `GET /healthz` and `GET /metrics` (no auth; Prometheus text format, filled with the
//! `metrics` feature), `GET /ping` (behind the layer, answering exactly what `/healthz` answers,
//! so that the two differ only by the layer: `scripts/load.sh` compares them),
//! `GET /whoami` (the caller as JSON), **every method on every
//! path under `/api/`** (the caller as JSON plus `method` and `path`, so that policies can be
//! tried from outside), and `POST /login` (a Vault-format login body; the caller, or the
//! refusal).
//!
//! ```sh
//! IAM_AUTH_AUDIENCE=orders IAM_AUTH_POLICY_FILE=policy.json cargo run --example whoami_server
//! ```

#[path = "common/auth_env.rs"]
mod auth_env;

use std::error::Error;

use axum::extract::OriginalUri;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, get_service, post};
use axum::{Json, Router};
use http::Method;
use tower::Layer;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::IamAuthLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    auth_env::init_logging();
    let metrics = auth_env::metrics_route();
    let listen = auth_env::var("IAM_AUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let layer = IamAuthLayer::new(auth_env::service_config_with(trusted_issuer));
    let verifier = layer.clone();

    let app =
        Router::new()
            .route(
                "/whoami",
                get(|principal: IamPrincipal| async move { Json(principal) }),
            )
            .route("/api/{*rest}", any(api))
            .route_layer(layer.clone().inner_body())
            // The layer around the handler's service, so that `/ping` and `/healthz` differ only
            // by the layer. axum clones a route's service on every request; `route_layer` and
            // `Handler::layer` add a boxed clone or a layered future of their own to that.
            .route(
                "/ping",
                get_service(layer.inner_body().layer(healthz.with_state(()))),
            )
            .route(
                "/login",
                post(move |request: axum::extract::Request| async move {
                    login(&verifier, request).await
                }),
            )
            .route("/healthz", get(healthz))
            .route("/metrics", metrics);
    let app = auth_env::with_http_tracing(app);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("whoami_server listening on {}", listener.local_addr()?);
    // With the socket peer's address, so that the per-client STS budget applies.
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        std::net::SocketAddr,
    >(app);
    axum::serve(listener, app).await?;
    Ok(())
}

/// JWTs of `IAM_AUTH_TRUSTED_ISSUER`, if set (feature `jwt`).
fn trusted_issuer(
    config: tower_iam_auth::server::IamAuthConfigBuilder,
    audience: &str,
) -> tower_iam_auth::server::IamAuthConfigBuilder {
    let Some(issuer) = auth_env::var("IAM_AUTH_TRUSTED_ISSUER") else {
        return config;
    };
    #[cfg(feature = "jwt")]
    {
        use tower_iam_auth::token::{JwtVerifier, TrustedIssuer};
        let jwt_audience = auth_env::var("IAM_AUTH_JWT_AUDIENCE").unwrap_or(audience.to_owned());
        let verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(issuer))
            .audience(jwt_audience)
            .build()
            .unwrap_or_else(|e| auth_env::exit_with(format!("IAM_AUTH_TRUSTED_ISSUER: {e}")));
        config.token_verifier(verifier)
    }
    #[cfg(not(feature = "jwt"))]
    {
        let _ = (issuer, audience, config);
        auth_env::exit_with("IAM_AUTH_TRUSTED_ISSUER needs the `jwt` feature")
    }
}

/// `GET /healthz`, and `GET /ping` behind the layer.
async fn healthz() -> &'static str {
    "ok"
}

/// Any method under `/api/`: the caller (`null` when anonymous), the method and the path.
async fn api(
    principal: Option<IamPrincipal>,
    method: Method,
    OriginalUri(uri): OriginalUri,
) -> Json<serde_json::Value> {
    let mut body = serde_json::to_value(&principal).unwrap_or_default();
    if body.is_null() {
        body = serde_json::json!({ "arn": null });
    }
    body["method"] = method.as_str().into();
    body["path"] = uri.path().into();
    Json(body)
}

/// `POST /login`: a Vault-format login body in, the caller (or the refusal) out. The login is
/// verified, then decided like any request: allowed accounts and policy apply.
async fn login(layer: &IamAuthLayer, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (http::StatusCode::PAYLOAD_TOO_LARGE, "login body too large").into_response();
    };
    let parts = http::Request::from_parts(parts, ());
    let verified = match layer.verify_vault_login(&body).await {
        Ok(principal) => layer.authorize(&parts, &principal).map(|()| principal),
        Err(error) => Err(error),
    };
    match verified {
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
