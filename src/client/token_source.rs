//! [`ExchangeTokenSource`]: exchanges a proof for a JWT at a
//! [`TokenExchange`](crate::token::TokenExchange) and reuses it until shortly before it expires;
//! [`JwtBearerLayer`] attaches it to outgoing requests.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use http::header;
use serde::Deserialize;

use super::layer::{Bearer, BearerLayer, BearerSource, BoxError};
use super::signer::{ProofSigner, SignError};
use crate::capped_body::{CappedBodyError, read_capped};
use crate::clock::{Clock, SharedClock};
use crate::token::{
    GRANT_TYPE_TOKEN_EXCHANGE, MAX_TOKEN_TTL, TOKEN_TYPE_IAM_PROOF, TOKEN_TYPE_JWT,
};

/// The largest token response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An access token from the exchange. `Debug` does not show it: it is a bearer credential.
#[derive(Clone)]
pub struct AccessToken {
    token: Arc<str>,
    expires_at: SystemTime,
    refresh_at: SystemTime,
}

impl AccessToken {
    /// The token, for `Authorization: Bearer <token>`.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// When it expires (from `expires_in`).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// From when on the source exchanges a new proof instead of handing this token out.
    pub fn refresh_at(&self) -> SystemTime {
        self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"** redacted **")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TokenSourceError {
    /// The proof could not be signed.
    #[error(transparent)]
    Proof(#[from] SignError),
    /// The exchange could not be reached or did not answer in time.
    #[error("token exchange request failed: {0}")]
    Http(String),
    /// The exchange refused (RFC 6749 §5.2 error).
    #[error("token exchange refused with {status}: {error} ({})", reason.as_deref().unwrap_or("no reason"))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, e.g. `invalid_request`.
        error: String,
        /// The crate's reason code, e.g. `proof.expired`, when the exchange sent one.
        reason: Option<String>,
    },
    /// The exchange answered something that is not an RFC 6749 §5.1 bearer token response.
    #[error("token exchange answered an unusable response: {0}")]
    BadResponse(String),
}

/// A configuration mistake found by [`ExchangeTokenSourceBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TokenSourceConfigError {
    /// The token URL is not `https` (plain `http` is allowed for loopback hosts only).
    #[error("token URL {0:?} must be https (http only for 127.0.0.1, ::1 or localhost)")]
    InsecureUrl(String),
    /// The timeout is zero.
    #[error("the timeout must not be zero")]
    Timeout,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Exchanges proofs from a [`ProofSigner`] for access tokens (RFC 8693 token exchange) and reuses
/// each token until a margin before it expires. Concurrent callers that find it stale share one
/// exchange. Cloning is cheap and clones share the token.
///
/// The signer's audience must be the exchange's proof audience; [`audience`](
/// ExchangeTokenSourceBuilder::audience) is the audience of the tokens it requests.
#[derive(Clone)]
pub struct ExchangeTokenSource {
    inner: Arc<SourceInner>,
}

struct SourceInner {
    signer: ProofSigner,
    token_url: String,
    audience: Option<String>,
    refresh_margin: Duration,
    http: reqwest::Client,
    clock: SharedClock,
    cached: RwLock<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for ExchangeTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeTokenSource")
            .field("token_url", &self.inner.token_url)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

/// Builder for [`ExchangeTokenSource`].
#[must_use]
pub struct ExchangeTokenSourceBuilder {
    signer: ProofSigner,
    token_url: String,
    audience: Option<String>,
    refresh_margin: Duration,
    timeout: Duration,
    clock: SharedClock,
}

impl fmt::Debug for ExchangeTokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeTokenSourceBuilder")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl ExchangeTokenSourceBuilder {
    /// The audience of the requested tokens. Default: the exchange's default audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long before it expires a token stops being handed out (capped at half its lifetime).
    /// Default 60 seconds.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The deadline for one exchange request. Default 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock that decides when a token is stale. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<ExchangeTokenSource, TokenSourceConfigError> {
        crate::token::check_url(&self.token_url)
            .map_err(|_| TokenSourceConfigError::InsecureUrl(self.token_url.clone()))?;
        if self.timeout.is_zero() {
            return Err(TokenSourceConfigError::Timeout);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .map_err(|e| TokenSourceConfigError::HttpClient(e.to_string()))?;
        Ok(ExchangeTokenSource {
            inner: Arc::new(SourceInner {
                signer: self.signer,
                token_url: self.token_url,
                audience: self.audience,
                refresh_margin: self.refresh_margin,
                http,
                clock: self.clock,
                cached: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    reason: Option<String>,
}

impl ExchangeTokenSource {
    /// Starts a source that exchanges proofs from `signer` at `token_url` (the exchange's
    /// `POST /token`, e.g. `https://auth.example.com/token`).
    pub fn builder(
        signer: ProofSigner,
        token_url: impl Into<String>,
    ) -> ExchangeTokenSourceBuilder {
        ExchangeTokenSourceBuilder {
            signer,
            token_url: token_url.into(),
            audience: None,
            refresh_margin: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            clock: SharedClock::default(),
        }
    }

    /// A token: the cached one until its refresh time, else a new one from the exchange.
    pub async fn token(&self) -> Result<AccessToken, TokenSourceError> {
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let _guard = self.inner.refresh.lock().await;
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let token = self.exchange().await?;
        *self.inner.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(token)
    }

    fn fresh_cached(&self) -> Option<AccessToken> {
        let now = self.inner.clock.now();
        let cached = self.inner.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|t| now < t.refresh_at).cloned()
    }

    /// Exchanges a proof for a new token now, without using or updating the cache.
    pub async fn exchange(&self) -> Result<AccessToken, TokenSourceError> {
        let inner = &*self.inner;
        let proof = inner.signer.token().await?;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", GRANT_TYPE_TOKEN_EXCHANGE)
                .append_pair("subject_token", proof.as_str())
                .append_pair("subject_token_type", TOKEN_TYPE_IAM_PROOF)
                .append_pair("requested_token_type", TOKEN_TYPE_JWT);
            if let Some(audience) = &inner.audience {
                form.append_pair("audience", audience);
            }
            form.finish()
        };
        let requested_at = inner.clock.now();
        let response = inner
            .http
            .post(&inner.token_url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| TokenSourceError::Http(e.to_string()))?;
        let status = response.status();
        let body = read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                CappedBodyError::TooLarge => {
                    TokenSourceError::BadResponse("response too large".into())
                }
                CappedBodyError::Transport(e) => TokenSourceError::Http(e.to_string()),
            })?;
        if !status.is_success() {
            let refusal: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
            return Err(TokenSourceError::Refused {
                status: status.as_u16(),
                error: refusal
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), |r| r.error.clone()),
                reason: refusal.and_then(|r| r.reason),
            });
        }
        let answer: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenSourceError::BadResponse(e.to_string()))?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenSourceError::BadResponse(format!(
                "token_type {:?}",
                answer.token_type
            )));
        }
        if answer.access_token.is_empty()
            || !answer.access_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(TokenSourceError::BadResponse(
                "access_token is not a bearer token".into(),
            ));
        }
        if answer.expires_in == 0 {
            return Err(TokenSourceError::BadResponse("expires_in is 0".into()));
        }
        // Counted from the request, not the answer: the token may have been minted any time in
        // between. No exchange issues tokens for longer than MAX_TOKEN_TTL: a larger
        // `expires_in` is a broken or hostile answer, and must not overflow the clock.
        let lifetime = Duration::from_secs(answer.expires_in).min(MAX_TOKEN_TTL);
        let expires_at = requested_at.checked_add(lifetime).ok_or_else(|| {
            TokenSourceError::BadResponse("expires_in overflows the clock".into())
        })?;
        let refresh_at = expires_at
            .checked_sub(inner.refresh_margin.min(lifetime / 2))
            .unwrap_or(requested_at);
        Ok(AccessToken {
            token: answer.access_token.into(),
            expires_at,
            refresh_at,
        })
    }
}

impl BearerSource for ExchangeTokenSource {
    async fn bearer_token(&self) -> Result<Arc<str>, BoxError> {
        Ok(self.token().await?.as_str().into())
    }
}

/// Attaches `Authorization: Bearer <jwt>` from an [`ExchangeTokenSource`] to every request.
pub type JwtBearerLayer = BearerLayer<ExchangeTokenSource>;

/// The service made by [`JwtBearerLayer`].
pub type JwtBearer<S> = Bearer<S, ExchangeTokenSource>;
