//! The client side: sign a proof with the workload's own AWS credentials and attach it.
//!
//! [`ProofSigner`] presigns `GetCallerIdentity` for an audience and caches the token;
//! [`IamProofLayer`] sets `Authorization: Bearer <token>` on outgoing `http::Request`s to the
//! origins it was built for ([`AllowedOrigins`]); with the `reqwest-middleware` feature,
//! `IamAuthMiddleware` does it for reqwest clients, under the same origin rule. The secret key
//! never leaves the process: only the signature does. [`ProofSigner::sign_vault_login`] makes
//! Vault-format login bodies; with the `aws-config` feature, `ProofSigner::from_env` takes
//! credentials and region from the AWS default chain.

#[cfg(feature = "aws-config")]
mod aws_config;
mod credentials;
mod layer;
mod origin;
#[cfg(feature = "reqwest-middleware")]
mod reqwest;
mod signer;
#[cfg(feature = "jwt")]
mod token_source;
mod vault_login;

pub use credentials::CachedCredentials;
pub use layer::{
    Bearer, BearerLayer, BearerLayerBuilder, BearerSource, BoxError, IamProof, IamProofLayer,
};
pub use origin::{AllowedOrigins, Origin, OriginError, Scheme};
#[cfg(feature = "reqwest-middleware")]
pub use reqwest::{IamAuthMiddleware, IamAuthMiddlewareBuilder};
pub use signer::{ProofSigner, ProofSignerBuilder, ProofToken, SignError, SignerConfigError};
#[cfg(feature = "jwt")]
pub use token_source::{
    AccessToken, ExchangeTokenSource, ExchangeTokenSourceBuilder, JwtBearer, JwtBearerLayer,
    TokenSourceConfigError, TokenSourceError,
};
pub use vault_login::VaultLogin;
