//! [`IamAuth`], the service made by [`IamAuthLayer`](super::IamAuthLayer).

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use tower_service::Service;
use tracing::Instrument;

use super::future::{BodyMode, Decided, ResponseFuture, Wrapped};
use super::layer::{IamAuthConfig, Shared};
use crate::arn;
use crate::cache::{Lookup, ProofCache};
use crate::error::{AuthError, ReasonCode};
use crate::metrics::record;
use crate::policy::AuthMethod;
use crate::principal::IamPrincipal;
use crate::proof::{ProofFormat, ValidatedProof};

/// Authenticates each request, then calls the inner service with the [`IamPrincipal`] in the
/// request extensions. Refusals are `Ok` responses (401/403/503); the inner service's errors
/// pass through unchanged. `M`: how responses carry their body (a
/// [`BodyMode`](super::BodyMode); see [`IamAuthLayer::inner_body`](super::IamAuthLayer::inner_body)).
pub struct IamAuth<S, M = Wrapped> {
    inner: S,
    shared: Arc<Shared>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, M> Clone for IamAuth<S, M> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.shared.clone())
    }
}

impl<S, M> IamAuth<S, M> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            mode: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, M> std::fmt::Debug for IamAuth<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuth").finish_non_exhaustive()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for IamAuth<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    M: BodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let started = record::ENABLED.then(std::time::Instant::now);
        let span = tracing::info_span!(
            "iam_auth.authenticate",
            format = tracing::field::Empty,
            outcome = tracing::field::Empty,
            reason = tracing::field::Empty,
            principal = tracing::field::Empty,
        );
        // A token verified before (or remembered as rejected by STS), and a header refused as it
        // stands, are decided here, and the request goes on with the inner service's own future.
        // `enter` rather than `in_scope`: the same, without a closure in the way of inlining.
        let entered = span.enter();
        let now = authenticate_now(&self.shared, request.headers_mut(), &span);
        drop(entered);
        if let Some(authenticated) = now {
            return match decide(&self.shared, &mut request, authenticated, &span, started) {
                // The service polled ready is the one called: no clone.
                Ok(()) => ResponseFuture::inner(self.inner.call(request)),
                Err(refusal) => ResponseFuture::refused(refusal),
            };
        }
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        ResponseFuture::waiting(async move {
            // The client address only sets its STS budget; a forwarding header that a trusted
            // proxy got wrong leaves it unknown (key and overall budgets still apply).
            let client = shared.config.client_ip.read(&request).ok().flatten();
            let authenticated = authenticate_later(&shared, request.headers_mut(), client)
                .instrument(span.clone())
                .await;
            if let Err(refusal) = decide(&shared, &mut request, authenticated, &span, started) {
                return Ok(Decided::Refused(*refusal));
            }
            drop(span);
            Ok(Decided::Inner(inner.call(request).await?))
        })
    }
}

/// The end of every request's decision: enforcement, the span's outcome and the metrics, then
/// either the request made ready for the inner service (the caller in its extensions, the token
/// hidden) or the refusal to answer.
fn decide<B>(
    shared: &Shared,
    request: &mut Request<B>,
    authenticated: Result<Option<IamPrincipal>, AuthError>,
    span: &tracing::Span,
    started: Option<std::time::Instant>,
) -> Result<(), Box<Response<Bytes>>> {
    let entered = span.enter();
    let outcome = enforce(shared, request, authenticated);
    drop(entered);
    let (outcome_label, reason) = match &outcome {
        Ok(_) => ("allowed", "none"),
        Err(error) if error.status().is_server_error() => ("unavailable", error.reason().as_str()),
        Err(error) => ("refused", error.reason().as_str()),
    };
    span.record("outcome", outcome_label);
    span.record("reason", reason);
    record::request(outcome_label, reason, started.map(|at| at.elapsed()));
    match outcome {
        Ok(caller) => {
            if let Some(principal) = caller {
                if shared.config.trace_principal {
                    span.record("principal", principal.arn());
                }
                // One extension: the method travels in the principal.
                request.extensions_mut().insert(principal);
            }
            // The credential is not for the inner service at all, if asked (it was marked
            // sensitive when it was read: see `marked_token_header`).
            if shared.config.strip_authorization {
                request.headers_mut().remove(&shared.config.token_header);
            }
            Ok(())
        }
        Err(error) => {
            let _entered = span.enter();
            log_refusal(&error);
            let renderer = shared.config.renderer.as_deref();
            Err(Box::new(error.to_response_for(request.headers(), renderer)))
        }
    }
}

/// The decision when it needs no waiting: a token verified before, or a refusal made locally.
/// `None`: the token must be verified (cache miss, or a JWT its verifier has not seen).
#[inline]
fn authenticate_now(
    shared: &Shared,
    headers: &mut http::HeaderMap,
    span: &tracing::Span,
) -> Option<Result<Option<IamPrincipal>, AuthError>> {
    let header = match marked_token_header(shared, headers) {
        Ok(Some(header)) => header,
        Ok(None) => return Some(Ok(None)),
        Err(error) => return Some(Err(error)),
    };
    let config = &shared.config;
    let token = match bearer_token(
        Some(header),
        config.rules.max_token_bytes(),
        config.require_bearer,
    ) {
        Ok(token) => token,
        Err(error) => return Some(Err(error)),
    };
    verify_bearer_now(shared, token, span).map(|decided| decided.map(Some))
}

/// Authentication when [`authenticate_now`] could not decide: a JWT for its verifier, or a
/// proof missing from the cache, through validation and STS.
async fn authenticate_later(
    shared: &Shared,
    headers: &mut http::HeaderMap,
    client: Option<IpAddr>,
) -> Result<Option<IamPrincipal>, AuthError> {
    let Some(header) = marked_token_header(shared, headers)? else {
        return Ok(None);
    };
    let config = &shared.config;
    let token = bearer_token(
        Some(header),
        config.rules.max_token_bytes(),
        config.require_bearer,
    )?;
    verify_bearer_later(shared, token, client).await.map(Some)
}

/// The token header: `None` for an anonymous caller (when allowed), a refusal when it is missing
/// (when not) or repeated. It is marked sensitive as it is read, before any decision: verified or
/// not, the credential is not for the logs of the layers inside (tower-http's `TraceLayer`,
/// axum's debug output...).
#[inline]
fn marked_token_header<'h>(
    shared: &Shared,
    headers: &'h mut http::HeaderMap,
) -> Result<Option<&'h HeaderValue>, AuthError> {
    let name = &shared.config.token_header;
    // Taken with `get_mut`; counted only when some header of the request is repeated (as many
    // values as names means none is). `entry` would do both in one probe but first makes room
    // for an insertion, which grows a map that is exactly full (hyper sizes it to the request).
    let repeated = headers.len() != headers.keys_len() && {
        let mut values = headers.get_all(name).iter();
        values.next().is_some() && values.next().is_some()
    };
    match headers.get_mut(name) {
        // Two credentials: the inner service might read the other one.
        Some(_) if repeated => {
            Err(AuthError::new(ReasonCode::TokenMalformed)
                .with_detail("more than one token header"))
        }
        Some(value) => {
            value.set_sensitive(true);
            Ok(Some(value))
        }
        None if shared.config.allow_anonymous => Ok(None),
        None => Err(ReasonCode::TokenMissing.into()),
    }
}

/// The allowed accounts and the policy, for an authenticated (or anonymous) caller.
#[inline]
fn enforce<B>(
    shared: &Shared,
    request: &Request<B>,
    authenticated: Result<Option<IamPrincipal>, AuthError>,
) -> Result<Option<IamPrincipal>, AuthError> {
    let caller = authenticated?;
    if let Some(enforcement) = &shared.config.enforcement {
        let method = caller.as_ref().map(IamPrincipal::auth_method);
        enforcement.enforce(request, caller.as_ref(), method)?;
    }
    Ok(caller)
}

fn log_refusal(error: &AuthError) {
    // Details carry names, sizes and times, never token bytes.
    if error.status().is_server_error() {
        tracing::warn!(reason = %error.reason(), detail = %error.detail(), "request refused: STS unavailable");
    } else {
        tracing::debug!(reason = %error.reason(), detail = %error.detail(), "request refused");
    }
}

/// Verifies a bearer token: a proof (through the cache), or a token for the configured
/// [`TokenVerifier`](super::TokenVerifier). `client` is the caller's address, for its STS budget.
pub(crate) async fn verify_bearer(
    shared: &Shared,
    token: &[u8],
    client: Option<IpAddr>,
) -> Result<IamPrincipal, AuthError> {
    // The span of `iam_auth.authenticate`, when this runs inside it.
    if let Some(decided) = verify_bearer_now(shared, token, &tracing::Span::current()) {
        return decided;
    }
    verify_bearer_later(shared, token, client).await
}

/// The part of [`verify_bearer`] that waits: the verifier for a JWT, validation and STS for a
/// proof missing from the cache.
async fn verify_bearer_later(
    shared: &Shared,
    token: &[u8],
    client: Option<IpAddr>,
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    match (&config.token_verifier, token_format(token)) {
        (Some(verifier), None) => {
            let principal = verifier.verify(b64token(token)?).await?;
            jwt_caller(config, principal)
        }
        _ => {
            let validate = || config.rules.validate(b64token(token)?, config.clock.now());
            // Boxed: the miss path's future (validation, shared store, STS) is kilobytes.
            let principal =
                Box::pin(verify_miss(shared, &shared.cache, token, client, validate)).await?;
            check_kind(config, principal)
        }
    }
}

/// The proof format a token's prefix names; `None`: not a proof (a JWT, for the verifier).
#[inline]
fn token_format(token: &[u8]) -> Option<ProofFormat> {
    ProofFormat::ALL
        .iter()
        .find(|f| token.starts_with(f.prefix().as_bytes()))
        .copied()
}

/// What [`verify_bearer`] decides without waiting: a proof or JWT verified before, or a
/// refusal made locally. `None`: a proof missing from the cache, or a JWT its verifier must
/// verify. The token's format is recorded on `span`.
#[inline]
fn verify_bearer_now(
    shared: &Shared,
    token: &[u8],
    span: &tracing::Span,
) -> Option<Result<IamPrincipal, AuthError>> {
    let config = &shared.config;
    let format = token_format(token);
    span.record("format", format.map_or("jwt", |f| f.as_str()));
    if let Some(verifier) = config.token_verifier.as_ref().filter(|_| format.is_none()) {
        // Its characters are checked on the way to `verify`: a token the verifier remembers
        // passed that check when it was verified.
        let decided = verifier.verify_now(token)?;
        return Some(decided.and_then(|p| jwt_caller(config, p)));
    }
    if format.is_some() && !config.accept_proofs {
        return Some(Err(AuthError::new(ReasonCode::TokenNotAccepted)
            .with_detail("proofs are not accepted by this layer")));
    }
    match shared.cache.lookup(token) {
        Lookup::Verified(principal) => {
            tracing::trace!(principal = %principal, "proof served from cache");
            Some(check_kind(config, principal))
        }
        Lookup::Rejected(error) => Some(Err(error)),
        Lookup::Miss => None,
    }
}

/// Verifies a Vault-format login body, through the same cache as bearer proofs.
pub(crate) async fn verify_vault_login(
    shared: &Shared,
    body: &[u8],
    client: Option<IpAddr>,
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    // Capped before the cache lookup hashes it.
    config.rules.check_vault_body_size(body)?;
    verify_cached(shared, &shared.vault_cache, body, client, || {
        config.rules.validate_vault_login(
            body,
            &config.vault_audience_header,
            config.audience(),
            config.clock.now(),
        )
    })
    .await
}

/// The cache, then local validation, then the STS budget, then STS. A hit needs no further
/// checks (only proofs that passed every check are cached, and the lookup compares every byte of
/// `key`) and spends no budget.
async fn verify_cached(
    shared: &Shared,
    cache: &ProofCache,
    key: &[u8],
    client: Option<IpAddr>,
    validate: impl FnOnce() -> Result<ValidatedProof, AuthError>,
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    let principal = match cache.lookup(key) {
        Lookup::Verified(principal) => {
            tracing::trace!(principal = %principal, "proof served from cache");
            principal
        }
        Lookup::Rejected(error) => return Err(error),
        // Boxed: the miss path's future (validation, shared store, STS) is kilobytes.
        Lookup::Miss => Box::pin(verify_miss(shared, cache, key, client, validate)).await?,
    };
    check_kind(config, principal)
}

/// A cache miss: local validation, then the shared store or STS through the cache.
async fn verify_miss(
    shared: &Shared,
    cache: &ProofCache,
    key: &[u8],
    client: Option<IpAddr>,
    validate: impl FnOnce() -> Result<ValidatedProof, AuthError>,
) -> Result<IamPrincipal, AuthError> {
    let config = &shared.config;
    let proof = validate()?;
    let verify = async {
        // Spent by the request that calls STS, not by those that wait on its answer (nor by a
        // hit in the shared store).
        shared.budget.spend(client, proof.access_key_id())?;
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
    cache.get_or_verify(key, proof.expires_at(), verify).await
}

/// The caller a [`TokenVerifier`](super::TokenVerifier) named: authenticated by JWT, and refused
/// if its kind is not allowed.
#[inline]
fn jwt_caller(config: &IamAuthConfig, principal: IamPrincipal) -> Result<IamPrincipal, AuthError> {
    check_kind(config, principal.with_method(AuthMethod::Jwt))
}

/// Refuses root and federated users unless the configuration allows them.
#[inline]
fn check_kind(config: &IamAuthConfig, principal: IamPrincipal) -> Result<IamPrincipal, AuthError> {
    principal.check_kind(config.allow_root, config.allow_federated_users)
}

/// Extracts the token of `Authorization: Bearer <token>` (RFC 6750 §2.1), capping its size
/// before looking at it; with `require_bearer` false, a value without a scheme is the token
/// itself. Its characters are checked by [`b64token`] on a cache miss.
#[inline]
fn bearer_token(
    header: Option<&HeaderValue>,
    max_token_bytes: usize,
    require_bearer: bool,
) -> Result<&[u8], AuthError> {
    let value = header.ok_or(ReasonCode::TokenMissing)?;
    let bytes = value.as_bytes();
    if bytes.len() > max_token_bytes + "Bearer ".len() {
        return Err(AuthError::new(ReasonCode::ProofTooLarge)
            .with_detail(format!("header of {} bytes", bytes.len())));
    }
    match bytes.split_at_checked(7) {
        // The usual spelling first: one comparison instead of a case fold per byte.
        Some((scheme, token))
            if scheme == b"Bearer " || scheme.eq_ignore_ascii_case(b"bearer ") =>
        {
            Ok(token)
        }
        // A raw token has no space; anything with one names another scheme.
        _ if !require_bearer && !bytes.contains(&b' ') => {
            if bytes.len() > max_token_bytes {
                return Err(AuthError::new(ReasonCode::ProofTooLarge)
                    .with_detail(format!("header of {} bytes", bytes.len())));
            }
            Ok(bytes)
        }
        // Another scheme (Basic, AWS4-HMAC-SHA256...) carries no bearer token (RFC 6750 §3.1).
        _ => Err(AuthError::new(ReasonCode::TokenMissing).with_detail("scheme is not Bearer")),
    }
}

/// Checks `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn b64token(token: &[u8]) -> Result<&str, AuthError> {
    // Comparisons without early exit, which the compiler turns into SIMD (a table lookup per
    // byte does not vectorize, and tokens are kilobytes).
    fn allowed(c: u8) -> bool {
        let lower = c | 0x20;
        lower.is_ascii_lowercase()
            | c.is_ascii_digit()
            | (c == b'-')
            | (c == b'.')
            | (c == b'_')
            | (c == b'~')
            | (c == b'+')
            | (c == b'/')
    }
    let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let body = &token[..body_len];
    let well_formed = body_len > 0 && body.iter().fold(true, |ok, &b| ok & allowed(b));
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
        match bearer_token(Some(&header), 64, true) {
            Ok(token) => b64token(token).unwrap_err().reason(),
            Err(e) => e.reason(),
        }
    }

    /// Every shape of a header map, built by hand: appended values, and a repeated header
    /// removed (as an inner layer might), so that names and values count alike again.
    #[test]
    fn a_repeated_token_header_is_found_however_the_map_was_built() {
        use http::header::{ACCEPT, AUTHORIZATION, HeaderMap};
        let config = crate::server::IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
            .build()
            .unwrap();
        let layer = crate::server::IamAuthLayer::new(config);
        let check = |headers: &mut HeaderMap| {
            marked_token_header(&layer.shared, headers).map(|found| found.is_some())
        };
        let token = HeaderValue::from_static("Bearer t");

        let mut one = HeaderMap::new();
        one.append(ACCEPT, HeaderValue::from_static("a"));
        one.append(ACCEPT, HeaderValue::from_static("b"));
        one.append(AUTHORIZATION, token.clone());
        assert!(check(&mut one).unwrap());
        assert!(one[AUTHORIZATION].is_sensitive());

        let mut two = HeaderMap::new();
        two.append(AUTHORIZATION, token.clone());
        two.append(ACCEPT, HeaderValue::from_static("a"));
        two.append(ACCEPT, HeaderValue::from_static("b"));
        two.append(AUTHORIZATION, token.clone());
        two.remove(ACCEPT);
        assert_eq!(
            check(&mut two).unwrap_err().reason(),
            ReasonCode::TokenMalformed
        );

        let mut three = HeaderMap::new();
        three.append(AUTHORIZATION, token.clone());
        three.insert(ACCEPT, HeaderValue::from_static("a"));
        three.append(AUTHORIZATION, token);
        three.insert(ACCEPT, HeaderValue::from_static("b"));
        assert!(check(&mut three).is_err());

        assert_eq!(
            check(&mut HeaderMap::new()).unwrap_err().reason(),
            ReasonCode::TokenMissing
        );
    }

    #[test]
    fn accepts_bearer_in_any_case() {
        let value = HeaderValue::from_static("bearer iam-v1.abc");
        assert_eq!(
            b64token(bearer_token(Some(&value), 64, true).unwrap()).unwrap(),
            "iam-v1.abc"
        );
    }

    #[test]
    fn b64token_accepts_exactly_its_alphabet() {
        for b in 0..=u8::MAX {
            let expected =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            // Alone, and inside a long token (the vectorized loop's width).
            let mut long = vec![b'a'; 100];
            long[37] = b;
            assert_eq!(b64token(&[b]).is_ok(), expected, "byte {b:#04x}");
            assert_eq!(
                b64token(&long).is_ok(),
                expected,
                "byte {b:#04x} in a long token"
            );
        }
        assert!(b64token(b"abc==").is_ok());
        assert!(b64token(b"==").is_err());
        assert!(b64token(b"a=b").is_err());
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
            bearer_token(None, 64, true).unwrap_err().reason(),
            ReasonCode::TokenMissing
        );
    }
}
