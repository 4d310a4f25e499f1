//! The client side: sign a proof with the workload's own AWS credentials and attach it.
//!
//! [`ProofSigner`] presigns `GetCallerIdentity` for an audience and caches the token;
//! [`IamProofLayer`] sets `Authorization: Bearer <token>` on every outgoing `http::Request`;
//! with the `reqwest-middleware` feature, `IamAuthMiddleware` does it for reqwest clients, for
//! configured origins only.
//! The secret key never leaves the process: only the signature does.

mod layer;
#[cfg(feature = "reqwest-middleware")]
mod reqwest;
mod signer;
#[cfg(feature = "jwt")]
mod token_source;

pub use layer::{Bearer, BearerLayer, BearerSource, BoxError, IamProof, IamProofLayer};
#[cfg(feature = "reqwest-middleware")]
pub use reqwest::{IamAuthMiddleware, IamAuthMiddlewareBuilder, MiddlewareConfigError};
pub use signer::{ProofSigner, ProofSignerBuilder, ProofToken, SignError, SignerConfigError};
#[cfg(feature = "jwt")]
pub use token_source::{
    AccessToken, ExchangeTokenSource, ExchangeTokenSourceBuilder, JwtBearer, JwtBearerLayer,
    TokenSourceConfigError, TokenSourceError,
};
