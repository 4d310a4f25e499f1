//! [`TokenVerifier`]: the extension point for bearer tokens that are not proofs (JWTs).

use std::future::Future;
use std::pin::Pin;

use crate::error::AuthError;
use crate::principal::IamPrincipal;

/// The future a [`TokenVerifier`] returns.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<IamPrincipal, AuthError>> + Send + 'a>>;

/// Verifies bearer tokens that are not IAM proofs, such as JWTs issued by a token exchange.
///
/// Plugged into [`IamAuthConfigBuilder::token_verifier`](super::IamAuthConfigBuilder::token_verifier):
/// a bearer token that carries no proof prefix (`iam-v1.`, `k8s-aws-v1.`) goes to the verifier.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token` (the text after `Bearer `).
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;
}
