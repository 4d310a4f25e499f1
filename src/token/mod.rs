//! JWT mode: exchange a proof once for a short-lived signed token, then verify it offline
//! anywhere (DESIGN §8).
//!
//! Verifying a proof costs an STS round trip per new token and per service. A
//! [`TokenExchange`] pays it once: it verifies the proof with an [`IamAuthLayer`], and answers a
//! JWT signed with an asymmetric key ([`SigningKey`]: local PEM, generated, or AWS KMS with
//! feature `kms`), whose public keys it publishes at `/.well-known/jwks.json`. Every other
//! service verifies such tokens with a [`JwtVerifier`] plugged into its own [`IamAuthLayer`]
//! (JWT only, or proofs and JWTs on the same layer) and gets the same [`IamPrincipal`].
//!
//! Issued tokens carry `iss`, `sub` (the normalized principal ARN), `aud`, `iat`, `nbf`, `exp`,
//! `jti`, and the AWS details in the claim [`AWS_CLAIMS_NAMESPACE`], laid out as in AWS's own
//! outbound identity federation tokens (see [Claims](#claims)), so that one verifier reads both:
//! a [`TrustedIssuer::aws_outbound`] issuer maps AWS-issued tokens to the same principal.
//!
//! ```
//! use axum::{Router, routing::get};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_iam_auth::client::ProofSigner;
//! use tower_iam_auth::principal::IamPrincipal;
//! use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
//! use tower_iam_auth::testing::LocalSts;
//! use tower_iam_auth::token::{
//!     JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TokenExchange, TrustedIssuer,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let sts = LocalSts::start().await?;
//! let credentials = sts.assume_role("123456789012", "orders-reader", "session-1");
//!
//! // The exchange: proofs for audience "token-exchange" become JWTs for "orders-service".
//! let proofs = IamAuthLayer::new(
//!     IamAuthConfig::builder()
//!         .audience("token-exchange")
//!         .allowed_accounts(["123456789012"])
//!         .dangerous_sts_connect_to(sts.connect_to())
//!         .build()?,
//! );
//! let exchange = TokenExchange::builder(proofs)
//!     .allowed_accounts(["123456789012"]) // who may obtain tokens
//!     .issuer("https://auth.example.com")
//!     .keys(KeySet::new(SigningKey::generate(JwtAlgorithm::RS256)?))
//!     .default_audience("orders-service")
//!     .build()?;
//!
//! let proof = ProofSigner::builder(credentials).audience("token-exchange").build()?;
//! let request = http::Request::post("/token")
//!     .header("authorization", format!("Bearer {}", proof.token().await?.as_str()))
//!     .body(axum::body::Body::empty())?;
//! let response = exchange.router().oneshot(request).await?;
//! assert_eq!(response.status(), http::StatusCode::OK);
//! let body: serde_json::Value =
//!     serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//! let jwt = body["access_token"].as_str().unwrap().to_owned();
//!
//! // A service that accepts only JWTs, verified offline against the exchange's keys.
//! let verifier = JwtVerifier::builder()
//!     .issuer(TrustedIssuer::exchange("https://auth.example.com").keys(exchange.keys().jwks()))
//!     .audience("orders-service")
//!     .build()?;
//! let config = IamAuthConfig::builder()
//!     .audience("orders-service")
//!     .allowed_accounts(["123456789012"])
//!     .token_verifier(verifier)
//!     .accept_proofs(false)
//!     .build()?;
//! let app = Router::new()
//!     .route("/whoami", get(|caller: IamPrincipal| async move { caller.arn().to_owned() }))
//!     .layer(IamAuthLayer::new(config));
//! let request = http::Request::get("/whoami")
//!     .header("authorization", format!("Bearer {jwt}"))
//!     .body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), http::StatusCode::OK);
//! let arn = response.into_body().collect().await?.to_bytes();
//! assert_eq!(arn, "arn:aws:iam::123456789012:role/orders-reader");
//! assert_eq!(sts.calls(), 1, "the JWT was verified without STS");
//! # Ok(())
//! # }
//! ```
//!
//! # Claims
//!
//! ```json
//! {
//!   "iss": "https://auth.example.com",
//!   "sub": "arn:aws:iam::123456789012:role/orders-reader",
//!   "aud": "orders-service",
//!   "iat": 1767225600, "nbf": 1767225600, "exp": 1767226500,
//!   "jti": "5cG1bYVd0sQkQ8s1l3y0BQ",
//!   "https://sts.amazonaws.com/": {
//!     "aws_account": "123456789012",
//!     "principal_id": "arn:aws:iam::123456789012:role/orders-reader",
//!     "unique_id": "AROAEXAMPLEID1234567",
//!     "session_name": "session-1",
//!     "raw_arn": "arn:aws:sts::123456789012:assumed-role/orders-reader/session-1"
//!   }
//! }
//! ```
//!
//! `aws_account` and `principal_id` (the principal's ARN) mean what they mean in tokens from
//! `sts:GetWebIdentityToken`. `unique_id`, `session_name` and `raw_arn` are this crate's additions
//! (AWS's tokens carry none of them): [`IamPrincipal::principal_id`] is `unique_id`.
//!
//! # Verification
//!
//! See [`JwtVerifier`]: algorithms are pinned per key (`alg: none` and HMAC are never accepted,
//! and the header cannot choose another algorithm for a key), `iss`, `aud`, `exp`, `nbf` are
//! checked with a bounded leeway, and remote JWK sets are cached, refreshed on an unknown `kid`
//! at most once per cooldown with a single fetch in flight, and read without a lock shared by
//! every request. Each refusal has its own [`ReasonCode`](crate::error::ReasonCode) (`jwt.*`).
//!
//! # Rotation
//!
//! See [`KeySet`]: publish a new key, wait at least the JWKS cache lifetime (the key set's
//! publish lead, which `activate` enforces and `rotate` waits for), activate it; the old key
//! stays published until every token it signed has expired.
//!
//! [`IamAuthLayer`]: crate::server::IamAuthLayer
//! [`IamPrincipal`]: crate::principal::IamPrincipal
//! [`IamPrincipal::principal_id`]: crate::principal::IamPrincipal::principal_id

mod algorithm;
mod claims;
mod der;
mod exchange;
mod jwk;
mod key_set;
#[cfg(feature = "kms")]
mod kms;
mod remote_jwks;
mod signing_key;
mod verifier;

pub use algorithm::JwtAlgorithm;
pub use claims::AWS_CLAIMS_NAMESPACE;
pub use exchange::{
    ExchangeConfigError, GRANT_TYPE_TOKEN_EXCHANGE, IssueError, IssuedToken, MAX_TOKEN_TTL,
    TOKEN_TYPE_IAM_PROOF, TOKEN_TYPE_JWT, TOKEN_TYPE_VAULT_IAM_LOGIN, TokenExchange,
    TokenExchangeBuilder,
};
pub use jwk::{Jwk, JwkError, JwkSet};
pub use key_set::{DEFAULT_PUBLISH_LEAD, KeySet, KeySetError, RETIREMENT_GRACE};
pub use signing_key::{KeyError, SigningError, SigningKey};
#[cfg(feature = "client")]
pub(crate) use verifier::check_url;
pub use verifier::{
    JwtVerifier, JwtVerifierBuilder, MAX_LEEWAY, TrustedIssuer, VerifierConfigError,
};
