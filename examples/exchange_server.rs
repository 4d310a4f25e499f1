//! A token exchange configured by environment: proofs in, signed JWTs out, keys published;
//! and a `/whoami` that accepts either.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_LISTEN` | address to bind, default `127.0.0.1:8080` |
//! | `IAM_AUTH_AUDIENCE` | the audience of incoming proofs (required) |
//! | `IAM_AUTH_STS_CONNECT_TO` | testing only: send STS calls over plain HTTP to this `host:port` |
//! | `IAM_AUTH_ISSUER` | `iss` of issued tokens and base of the discovery document, default `http://<bound address>` |
//! | `IAM_AUTH_JWT_AUDIENCE` | default audience of issued tokens, and the one `/whoami` accepts; default `IAM_AUTH_AUDIENCE` |
//! | `IAM_AUTH_KEY_FILE` | PEM private key (RSA: RS256, P-256: ES256, Ed25519: EdDSA); default an ephemeral RS256 key |
//! | `IAM_AUTH_TOKEN_TTL` | lifetime of issued tokens in seconds, default 900 |
//!
//! Routes: `GET /healthz`; `POST /token`, `GET /.well-known/jwks.json`,
//! `GET /.well-known/openid-configuration` (see `TokenExchange`); `GET /whoami`, which accepts a
//! JWT from this exchange or a proof, and answers the caller as JSON like `whoami_server`.
//!
//! ```sh
//! IAM_AUTH_AUDIENCE=token-exchange cargo run --features jwt --example exchange_server
//! ```

use std::error::Error;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::token::{
    JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TokenExchange, TrustedIssuer,
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let listen = env("IAM_AUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let audience = env("IAM_AUTH_AUDIENCE").ok_or("IAM_AUTH_AUDIENCE is required")?;
    let jwt_audience = env("IAM_AUTH_JWT_AUDIENCE").unwrap_or_else(|| audience.clone());
    let ttl = match env("IAM_AUTH_TOKEN_TTL") {
        Some(secs) => Duration::from_secs(
            secs.parse()
                .map_err(|_| "IAM_AUTH_TOKEN_TTL must be a number of seconds")?,
        ),
        None => Duration::from_secs(900),
    };
    let key = match env("IAM_AUTH_KEY_FILE") {
        Some(path) => SigningKey::from_pem(&std::fs::read(&path)?)
            .map_err(|e| format!("IAM_AUTH_KEY_FILE {path}: {e}"))?,
        None => {
            let key = SigningKey::generate(JwtAlgorithm::RS256)?;
            eprintln!(
                "WARNING: no IAM_AUTH_KEY_FILE: signing with an ephemeral RS256 key (kid {}); \
                 its tokens stop verifying when this process exits",
                key.kid()
            );
            key
        }
    };
    let keys = KeySet::new(key);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let issuer = env("IAM_AUTH_ISSUER")
        .unwrap_or_else(|| format!("http://{}", listener.local_addr().expect("bound")));

    // `/whoami` accepts this exchange's JWTs (verified offline against its own key set) and
    // proofs; the exchange itself only ever exchanges proofs.
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(&issuer).keys(keys.jwks()))
        .audience(&jwt_audience)
        .build()?;
    let mut config = IamAuthConfig::builder()
        .audience(&audience)
        .token_verifier(verifier);
    if let Some(connect_to) = env("IAM_AUTH_STS_CONNECT_TO") {
        eprintln!(
            "WARNING: sending STS calls over plain HTTP to {connect_to} (IAM_AUTH_STS_CONNECT_TO)"
        );
        config = config.dangerous_sts_connect_to(connect_to);
    }
    let layer = IamAuthLayer::new(config.build()?);
    let exchange = TokenExchange::builder(layer.clone())
        .issuer(&issuer)
        .keys(keys)
        .default_audience(&jwt_audience)
        .token_ttl(ttl)
        .build()?;

    let app = Router::new()
        .route(
            "/whoami",
            get(|principal: IamPrincipal| async move { Json(principal) }),
        )
        .route_layer(layer)
        .route("/healthz", get(|| async { "ok" }))
        .merge(exchange.router());

    eprintln!(
        "exchange_server listening on {} (issuer {issuer}, proofs for {audience:?}, tokens for {jwt_audience:?})",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
