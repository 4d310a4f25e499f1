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

    /// The decision for `token` when it can be made at once, with no I/O and no waiting (a
    /// token verified before, say); `None` sends the token to [`verify`](Self::verify). It must
    /// decide exactly as `verify` would. The default is `None`.
    ///
    /// `token` is the header's bytes after `Bearer `, **not yet checked** to be a well-formed
    /// token (that check costs as much as a lookup, and a token verified before passed it): a
    /// decision on bytes that were never verified must be `None`.
    ///
    /// [`IamAuth`](super::IamAuth) asks this first, and a request it decides is served without
    /// a future of the layer's own.
    fn verify_now(&self, token: &[u8]) -> Option<Result<IamPrincipal, AuthError>> {
        let _ = token;
        None
    }
}
