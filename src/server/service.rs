//! [`IamAuth`], the service made by [`IamAuthLayer`](super::IamAuthLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, header};
use tower_service::Service;

use super::future::{ResponseBody, ResponseFuture};
use super::layer::{IamAuthConfig, Shared};
use crate::arn;
use crate::cache::{Lookup, ProofCache};
use crate::error::{AuthError, ReasonCode};
use crate::policy::AuthMethod;
use crate::principal::IamPrincipal;
use crate::proof::{ProofFormat, ValidatedProof};

/// Authenticates each request, then calls the inner service with the [`IamPrincipal`] in the
/// request extensions. Refusals are `Ok` responses (401/403/503); the inner service's errors
/// pass through unchanged.
#[derive(Clone)]
pub struct IamAuth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> IamAuth<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> std::fmt::Debug for IamAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuth").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for IamAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        ResponseFuture::new(async move {
            let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
            let authenticated = match (values.next(), values.next()) {
                // Two credentials: the inner service might read the other one.
                (Some(_), Some(_)) => Err(AuthError::new(ReasonCode::TokenMalformed)
                    .with_detail("more than one Authorization header")),
                (None, _) if shared.config.allow_anonymous => Ok(None),
                (first, _) => authenticate(&shared, first).await.map(Some),
            };
            let outcome = authenticated.and_then(|caller| {
                if let Some(enforcement) = &shared.config.enforcement {
                    let (principal, method) = match &caller {
                        Some((principal, method)) => (Some(principal), Some(*method)),
                        None => (None, None),
                    };
                    enforcement.enforce(&request, principal, method)?;
                }
                Ok(caller)
            });
            match outcome {
                Ok(caller) => {
                    if let Some((principal, method)) = caller {
                        request.extensions_mut().insert(principal);
                        request.extensions_mut().insert(method);
                    }
                    let response = inner.call(request).await?;
                    Ok(response.map(ResponseBody::inner))
                }
                Err(error) => {
                    log_refusal(&error);
                    Ok(error.to_response().map(ResponseBody::rejection))
                }
            }
        })
    }
}

fn log_refusal(error: &AuthError) {
    // Details carry names, sizes and times, never token bytes.
    if error.status().is_server_error() {
        tracing::warn!(reason = %error.reason(), detail = %error.detail(), "request refused: STS unavailable");
    } else {
        tracing::debug!(reason = %error.reason(), detail = %error.detail(), "request refused");
    }
}

/// The whole decision for one `Authorization` header.
pub(crate) async fn authenticate(
    shared: &Shared,
    header: Option<&HeaderValue>,
) -> Result<(IamPrincipal, AuthMethod), AuthError> {
    let token = bearer_token(header, shared.config.rules.max_token_bytes())?;
    verify_bearer(shared, token).await
}

/// Verifies a bearer token: a proof (through the cache), or a token for the configured
/// [`TokenVerifier`](super::TokenVerifier).
pub(crate) async fn verify_bearer(
    shared: &Shared,
    token: &[u8],
) -> Result<(IamPrincipal, AuthMethod), AuthError> {
    let config = &shared.config;
    let is_proof = ProofFormat::ALL
        .iter()
        .any(|f| token.starts_with(f.prefix().as_bytes()));
    if let Some(verifier) = config.token_verifier.as_ref().filter(|_| !is_proof) {
        let principal = verifier.verify(b64token(token)?).await?;
        return Ok((check_kind(config, principal)?, AuthMethod::Jwt));
    }
    if is_proof && !config.accept_proofs {
        return Err(AuthError::new(ReasonCode::TokenNotAccepted)
            .with_detail("proofs are not accepted by this layer"));
    }
    let principal = verify_cached(shared, &shared.cache, token, || {
        config.rules.validate(b64token(token)?, config.clock.now())
    })
    .await?;
    Ok((principal, AuthMethod::Proof))
}

/// Verifies a Vault-format login body, through the same cache as bearer proofs.
pub(crate) async fn verify_vault_login(
    shared: &Shared,
    body: &[u8],
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    verify_cached(shared, &shared.vault_cache, body, || {
        config.rules.validate_vault_login(
            body,
            &config.vault_audience_header,
            config.audience(),
            config.clock.now(),
        )
    })
    .await
}

/// The cache, then local validation, then STS. A hit needs no further checks: only proofs that
/// passed every check are cached, and the lookup compares every byte of `key`.
async fn verify_cached(
    shared: &Shared,
    cache: &ProofCache,
    key: &[u8],
    validate: impl FnOnce() -> Result<ValidatedProof, AuthError>,
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    let principal = match cache.lookup(key).await {
        Lookup::Verified(principal) => {
            tracing::trace!(principal = %principal, "proof served from cache");
            principal
        }
        Lookup::Rejected(error) => return Err(error),
        Lookup::Miss => {
            let proof = validate()?;
            let verify = async {
                let identity = shared
                    .sts
                    .get_caller_identity(&proof, &config.audience)
                    .await?;
                // STS's answer is trusted but names a principal we cannot represent: a lasting
                // refusal, not an outage to retry.
                let normalized = arn::normalize(&identity.arn, &identity.user_id).map_err(|e| {
                    AuthError::new(ReasonCode::PrincipalKindRefused)
                        .with_detail(format!("STS reported an ARN that {e}"))
                })?;
                let principal = IamPrincipal::from_identity(normalized);
                tracing::debug!(principal = %principal, key = proof.access_key_id(), "proof verified by STS");
                Ok(principal)
            };
            cache.get_or_verify(key, proof.expires_at(), verify).await?
        }
    };
    check_kind(config, principal)
}

/// Refuses root and federated users unless the configuration allows them.
fn check_kind(config: &IamAuthConfig, principal: IamPrincipal) -> Result<IamPrincipal, AuthError> {
    principal.check_kind(config.allow_root, config.allow_federated_users)
}

/// Extracts the token of `Authorization: Bearer <token>` (RFC 6750 §2.1), capping its size
/// before looking at it. Its characters are checked by [`b64token`] on a cache miss.
fn bearer_token(header: Option<&HeaderValue>, max_token_bytes: usize) -> Result<&[u8], AuthError> {
    let value = header.ok_or(ReasonCode::TokenMissing)?;
    let bytes = value.as_bytes();
    if bytes.len() > max_token_bytes + "Bearer ".len() {
        return Err(AuthError::new(ReasonCode::ProofTooLarge)
            .with_detail(format!("header of {} bytes", bytes.len())));
    }
    match bytes.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => Ok(token),
        // Another scheme (Basic, AWS4-HMAC-SHA256...) carries no bearer token (RFC 6750 §3.1).
        _ => Err(AuthError::new(ReasonCode::TokenMissing).with_detail("scheme is not Bearer")),
    }
}

/// Checks `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn b64token(token: &[u8]) -> Result<&str, AuthError> {
    const ALLOWED: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            b += 1;
        }
        table
    };
    let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let well_formed = body_len > 0 && token[..body_len].iter().all(|&b| ALLOWED[usize::from(b)]);
    if !well_formed {
        return Err(AuthError::new(ReasonCode::TokenMalformed)
            .with_detail("token has characters outside b64token"));
    }
    std::str::from_utf8(token).map_err(|_| AuthError::new(ReasonCode::TokenMalformed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: &str) -> ReasonCode {
        let header = HeaderValue::from_str(value).unwrap();
        match bearer_token(Some(&header), 64) {
            Ok(token) => b64token(token).unwrap_err().reason(),
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn accepts_bearer_in_any_case() {
        let value = HeaderValue::from_static("bearer iam-v1.abc");
        assert_eq!(
            b64token(bearer_token(Some(&value), 64).unwrap()).unwrap(),
            "iam-v1.abc"
        );
    }

    #[test]
    fn refuses_other_schemes_and_shapes() {
        assert_eq!(code("Basic dXNlcjpwYXNz"), ReasonCode::TokenMissing);
        assert_eq!(code("Bearer"), ReasonCode::TokenMissing);
        assert_eq!(code("Bearer "), ReasonCode::TokenMalformed);
        assert_eq!(code("Bearer  iam-v1.abc"), ReasonCode::TokenMalformed);
        assert_eq!(code("Bearer iam-v1.a b"), ReasonCode::TokenMalformed);
        assert_eq!(code("Bearer iam-v1.a,b"), ReasonCode::TokenMalformed);
        assert_eq!(
            code(&format!("Bearer {}", "a".repeat(65))),
            ReasonCode::ProofTooLarge
        );
        assert_eq!(
            bearer_token(None, 64).unwrap_err().reason(),
            ReasonCode::TokenMissing
        );
    }
}
