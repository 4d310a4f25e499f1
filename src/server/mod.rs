//! The Tower middleware: [`IamAuthLayer`] wraps any `Service<http::Request<B>>` and lets through
//! only requests that carry a valid IAM proof, with the caller's [`IamPrincipal`] in the request
//! extensions.
//!
//! For each request the layer: caps and parses `Authorization: Bearer <token>`; serves a token it
//! already verified from the cache; otherwise validates the proof locally
//! ([`ProofRules`](crate::proof::ProofRules), no network), replays it to STS, normalizes the
//! reported ARN and caches the result until the signature window closes. Refusals are responses:
//! `401` with `WWW-Authenticate: Bearer error="invalid_token"`, `403` for refused principal
//! kinds, `503` with `Retry-After` when STS cannot answer. Each carries a stable
//! [`ReasonCode`](crate::error::ReasonCode). gRPC calls are refused the gRPC way (HTTP `200`
//! with `grpc-status` and `grpc-message`, see
//! [`AuthError::to_grpc_response`](crate::error::AuthError::to_grpc_response)). The token
//! header and whether the `Bearer` scheme is required are configurable
//! ([`IamAuthConfigBuilder::token_header`], [`IamAuthConfigBuilder::require_bearer_scheme`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//! use tower_iam_auth::principal::IamPrincipal;
//! use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = IamAuthConfig::builder()
//!     .audience("orders-service")
//!     .allowed_accounts(["123456789012"]) // or .policy(..), or .allow_any_aws_account()
//!     .build()?;
//! let app = Router::new()
//!     .route("/whoami", get(|principal: IamPrincipal| async move { principal.arn().to_owned() }))
//!     .layer(IamAuthLayer::new(config));
//!
//! let request = http::Request::get("/whoami").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer");
//! # Ok(())
//! # }
//! ```
//!
//! [`IamPrincipal`]: crate::principal::IamPrincipal

pub(crate) mod budget;
mod future;
mod layer;
mod service;
mod token_verifier;
mod user;

pub use future::{BodyMode, FromRefusal, InnerBody, ResponseBody, ResponseFuture, Wrapped};
pub use layer::{ConfigError, IamAuthConfig, IamAuthConfigBuilder, IamAuthLayer, InnerBodyLayer};
pub use service::IamAuth;
pub use token_verifier::{TokenVerifier, VerifyFuture};
pub use user::{
    AppUser, MissingAppUser, ResolveUser, ResolveUserFn, UserLayer, UserService, resolve_user_fn,
};
