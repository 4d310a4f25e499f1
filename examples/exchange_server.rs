//! A token exchange configured by environment: proofs in, signed JWTs out, keys published;
//! and a `/whoami` that accepts either.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_LISTEN` | address to bind, default `127.0.0.1:8080` |
//! | `IAM_AUTH_AUDIENCE` | the audience of incoming proofs (required) |
//! | `IAM_AUTH_ALLOWED_ACCOUNTS`, `IAM_AUTH_POLICY_FILE`, `IAM_AUTH_POLICY_PUBLIC_SIDS`, `IAM_AUTH_POLICY_DRY_RUN`, `IAM_AUTH_ALLOW_ANY_ACCOUNT`, `IAM_AUTH_ALLOW_ANONYMOUS` | who may obtain tokens and call `/whoami`: see `examples/common/auth_env.rs`; the policy may read `tower-iam-auth:TokenAudience` (absent outside `POST /token`) |
//! | `IAM_AUTH_FORMATS`, `IAM_AUTH_VAULT_AUDIENCE_HEADER` | as for `whoami_server` |
//! | `IAM_AUTH_STS_CONNECT_TO` | testing only: send STS calls over plain HTTP to this `host:port` |
//! | `IAM_AUTH_ISSUER` | `iss` of issued tokens and base of the discovery document, default `http://<bound address>` |
//! | `IAM_AUTH_JWT_AUDIENCE` | default audience of issued tokens, and the one `/whoami` accepts; default `IAM_AUTH_AUDIENCE` |
//! | `IAM_AUTH_KEY_FILE` | PEM private key (RSA: RS256, P-256: ES256, Ed25519: EdDSA); default an ephemeral RS256 key |
//! | `IAM_AUTH_KMS_KEY_ID` | sign with this AWS KMS key instead (key id, key ARN, alias name or alias ARN; RSA: RS256, P-256: ES256); needs the `kms` feature. The KMS client takes credentials, region and endpoint from the AWS SDK's usual environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL_KMS`, profiles...) |
//! | `IAM_AUTH_TOKEN_TTL` | lifetime of issued tokens in seconds, default 900 |
//! | `IAM_AUTH_LOG` | log level on stderr, default `info` |
//!
//! Routes: `GET /healthz`; `GET /metrics` (Prometheus text format, filled with the `metrics`
//! feature); `POST /token`, `GET /.well-known/jwks.json`,
//! `GET /.well-known/openid-configuration` (see `TokenExchange`); `GET /whoami`, which accepts a
//! JWT from this exchange or a proof, and answers the caller as JSON like `whoami_server`.
//!
//! ```sh
//! IAM_AUTH_AUDIENCE=token-exchange IAM_AUTH_ALLOWED_ACCOUNTS=123456789012 \
//!     cargo run --features jwt --example exchange_server
//! ```

#[path = "common/auth_env.rs"]
mod auth_env;

use std::error::Error;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use tower_iam_auth::policy::PolicyOptions;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::token::{
    JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TokenExchange, TrustedIssuer,
};

use auth_env::var as env;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    auth_env::init_logging();
    let metrics = auth_env::metrics_route();
    let listen = env("IAM_AUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let audience = env("IAM_AUTH_AUDIENCE")
        .unwrap_or_else(|| auth_env::exit_with("IAM_AUTH_AUDIENCE is required"));
    let admission = auth_env::Admission::from_env(PolicyOptions::new().token_audience(true));
    let jwt_audience = env("IAM_AUTH_JWT_AUDIENCE").unwrap_or_else(|| audience.clone());
    let ttl = match env("IAM_AUTH_TOKEN_TTL") {
        Some(secs) => Duration::from_secs(
            secs.parse()
                .map_err(|_| "IAM_AUTH_TOKEN_TTL must be a number of seconds")?,
        ),
        None => Duration::from_secs(900),
    };
    let key = match env("IAM_AUTH_KEY_FILE") {
        Some(_) if env("IAM_AUTH_KMS_KEY_ID").is_some() => {
            auth_env::exit_with("set IAM_AUTH_KEY_FILE or IAM_AUTH_KMS_KEY_ID, not both")
        }
        None if env("IAM_AUTH_KMS_KEY_ID").is_some() => kms_key().await?,
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
    let config = auth_env::proof_settings(
        IamAuthConfig::builder()
            .audience(&audience)
            .token_verifier(verifier),
    );
    let config = admission
        .apply(config)
        .build()
        .unwrap_or_else(|e| auth_env::exit_with(e));
    let layer = IamAuthLayer::new(config);
    let mut exchange = TokenExchange::builder(layer.clone());
    if !admission.allowed_accounts.is_empty() {
        exchange = exchange.allowed_accounts(admission.allowed_accounts.clone());
    }
    if let Some(policy) = &admission.policy {
        exchange = exchange.policy(policy.clone());
    }
    if admission.allow_any_account {
        exchange = exchange.allow_any_aws_account();
    }
    let exchange = exchange
        .policy_dry_run(admission.dry_run)
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
        .route("/metrics", metrics)
        .merge(exchange.router());
    let app = auth_env::with_http_tracing(app);

    eprintln!(
        "exchange_server listening on {} (issuer {issuer}, proofs for {audience:?}, tokens for {jwt_audience:?})",
        listener.local_addr()?
    );
    // With the socket peer's address, so that the per-client STS budget applies.
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        std::net::SocketAddr,
    >(app);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The `IAM_AUTH_KMS_KEY_ID` key, through a KMS client configured as the AWS SDK does it.
#[cfg(feature = "kms")]
async fn kms_key() -> Result<SigningKey, Box<dyn Error>> {
    let key_id = env("IAM_AUTH_KMS_KEY_ID").unwrap_or_default();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let key = SigningKey::from_kms(aws_sdk_kms::Client::new(&sdk), &key_id)
        .await
        .map_err(|e| format!("IAM_AUTH_KMS_KEY_ID {key_id}: {e}"))?;
    eprintln!(
        "signing with KMS key {key_id} ({}, kid {})",
        key.algorithm(),
        key.kid()
    );
    Ok(key)
}

#[cfg(not(feature = "kms"))]
async fn kms_key() -> Result<SigningKey, Box<dyn Error>> {
    auth_env::exit_with("IAM_AUTH_KMS_KEY_ID needs the kms feature: cargo run --features kms ...")
}
