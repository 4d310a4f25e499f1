//! [`TokenExchange`]: an axum router that turns a valid IAM proof into a short-lived JWT and
//! publishes the public keys that verify it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};

use super::claims::{AWS_CLAIMS_NAMESPACE, AwsDetails, IssuedClaims};
use super::key_set::KeySet;
use super::signing_key::SigningError;
use super::verifier::check_url;
use crate::clock::{Clock, SharedClock, unix_secs};
use crate::error::{AuthError, ReasonCode};
use crate::policy::layer::{Admission, AdmissionError, Enforcement};
use crate::policy::{AuthMethod, AuthzRequest, PolicyHandle};
use crate::principal::IamPrincipal;
use crate::proof::ProofFormat;
use crate::server::IamAuthLayer;
use crate::server::budget::{Budget, Rate, retry_after_secs};

/// RFC 8693 `grant_type` for token exchange.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of the issued tokens (`issued_token_type`).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `subject_token_type` of an IAM proof token (`iam-v1.…` or `k8s-aws-v1.…`).
pub const TOKEN_TYPE_IAM_PROOF: &str = "urn:tower-iam-auth:params:oauth:token-type:iam-proof";
/// `subject_token_type` of a Vault-format IAM login (the JSON document as the token).
pub const TOKEN_TYPE_VAULT_IAM_LOGIN: &str =
    "urn:tower-iam-auth:params:oauth:token-type:vault-iam-login";
/// The longest lifetime of an issued token: a bearer token cannot be revoked, so it is kept
/// short. [`JwtVerifier`](super::JwtVerifier)s refuse longer-lived tokens by default.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);
/// The largest request body `POST /token` reads.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// At most this many issued tokens are kept for reuse by `POST /token`.
const MAX_REUSABLE_TOKENS: u64 = 10_000;
/// Default issuance budget: this many new tokens per principal per [`ISSUANCE_PERIOD`].
const ISSUANCE_PER_PRINCIPAL: u32 = 60;
const ISSUANCE_PERIOD: Duration = Duration::from_secs(60);
/// At most this many tokens are being signed at once (each is a KMS call or an RSA signature).
const MAX_CONCURRENT_SIGNINGS: usize = 32;

/// A configuration mistake found by [`TokenExchangeBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ExchangeConfigError {
    /// No issuer was configured.
    #[error(
        "an issuer is required: the `iss` of issued tokens and the base of the discovery document"
    )]
    MissingIssuer,
    /// The issuer is not an `https` URL without query or fragment (`http` only on loopback).
    #[error("issuer {0:?} must be an https URL without query or fragment (http only on loopback)")]
    InvalidIssuer(String),
    /// No signing keys were configured.
    #[error("signing keys are required: TokenExchange::builder(..).keys(KeySet::new(key))")]
    MissingKeys,
    /// No audience may be requested.
    #[error("at least one audience must be allowed")]
    NoAudience,
    /// An audience is empty, longer than 256 bytes or has control characters.
    #[error("invalid audience {0:?}")]
    InvalidAudience(String),
    /// The key set's [publish lead](KeySet::with_publish_lead) is shorter than the JWKS
    /// `max-age`: a key could sign before every verifier's cached JWK set has it.
    #[error("the key set's publish lead {lead:?} is shorter than the JWKS max-age {max_age:?}")]
    PublishLead {
        /// The key set's publish lead.
        lead: Duration,
        /// The JWKS `Cache-Control: max-age`.
        max_age: Duration,
    },
    /// The issuance budget per principal is zero or refills over more than an hour.
    #[error("issuance_per_principal must be 1.. tokens per 1s..=1h, got {0} per {1:?}")]
    IssuanceBudget(u32, Duration),
    /// The token lifetime is zero or above [`MAX_TOKEN_TTL`].
    #[error("token ttl must be in 1s..={MAX_TOKEN_TTL:?}, got {0:?}")]
    TokenTtl(Duration),
    /// The configuration does not say who may obtain tokens.
    #[error(
        "say who may obtain tokens: .policy(..) (an IAM policy; tower-iam-auth:TokenAudience is the \
         requested audience), .allowed_accounts([..]) or .allowed_principals([..]), or \
         .allow_any_aws_account() to issue tokens to every principal of every AWS account"
    )]
    NoAdmission,
    /// An entry of `allowed_accounts` / `allowed_principals` is refused.
    #[error("allowed principal refused: {0}")]
    AllowedPrincipal(crate::policy::PolicyError),
    /// The authorization settings do not fit together.
    #[error("authorization: {0}")]
    Authorization(String),
}

/// Why [`TokenExchange::issue`] issued no token.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The requested audience is not allowed (RFC 8693 `invalid_target`).
    #[error("audience {0:?} is not allowed")]
    AudienceNotAllowed(String),
    /// No audience was requested and there is no default.
    #[error("an audience is required")]
    NoAudience,
    /// Signing failed (for KMS keys: KMS refused or is unreachable).
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A token issued by [`TokenExchange::issue`]. `Debug` does not show it.
#[derive(Clone)]
pub struct IssuedToken {
    token: String,
    kid: String,
    audience: String,
    expires_at: SystemTime,
    ttl: Duration,
}

impl IssuedToken {
    /// The compact JWS, for `Authorization: Bearer <token>`.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The `kid` of the key that signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Its `exp`.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Its lifetime (`expires_in`).
    pub fn expires_in(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"** redacted **")
            .field("kid", &self.kid)
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Builder for [`TokenExchange`]; every setting is checked in [`build`](Self::build).
#[must_use]
pub struct TokenExchangeBuilder {
    layer: IamAuthLayer,
    issuer: Option<String>,
    keys: Option<KeySet>,
    audiences: Vec<String>,
    default_audience: Option<String>,
    ttl: Duration,
    jwks_max_age: Duration,
    clock: SharedClock,
    admission: Admission,
    issuance: Rate,
    accept_vault_logins: bool,
    accept_eks_tokens: bool,
}

impl fmt::Debug for TokenExchangeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangeBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl TokenExchangeBuilder {
    /// The `iss` of issued tokens, and the base of `jwks_uri` and `token_endpoint` in the
    /// discovery document (`{issuer}/.well-known/jwks.json`, `{issuer}/token`). Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The signing keys. Required.
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Allows tokens for `audience`. Repeat for several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The audience of tokens whose request names none (it is allowed too).
    pub fn default_audience(mut self, audience: impl Into<String>) -> Self {
        self.default_audience = Some(audience.into());
        self
    }

    /// The lifetime of issued tokens, at most [`MAX_TOKEN_TTL`]. Default 15 minutes.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// `Cache-Control: max-age` of the JWKS and discovery documents. Default 5 minutes: a new
    /// key must be [published](KeySet::publish) at least this long before it is activated, so
    /// [`build`](Self::build) requires the key set's
    /// [publish lead](KeySet::with_publish_lead) to be at least this.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// At most `tokens` new tokens signed per `per` for one principal (its ARN, whatever the
    /// session), so that no caller can drive local signing or KMS `Sign` (an account-wide
    /// quota) as fast as it can make proofs. Reused tokens cost nothing. Over budget:
    /// `429 temporarily_unavailable` with reason `exchange.rate_limited` and `Retry-After`.
    /// Default: 60 per minute.
    pub fn issuance_per_principal(mut self, tokens: u32, per: Duration) -> Self {
        self.issuance = Rate::new(tokens, per);
        self
    }

    /// Whether Vault-format login bodies (and RFC 8693 `subject_token_type=`
    /// [`TOKEN_TYPE_VAULT_IAM_LOGIN`]) are exchanged. Default: true. Vault's audience header
    /// (`X-Vault-AWS-IAM-Server-ID`) is a namespace shared with every Vault server: a login
    /// made for a Vault server whose server id equals this layer's audience can be replayed
    /// here within its window. Switch off what you do not use.
    pub fn accept_vault_logins(mut self, accept: bool) -> Self {
        self.accept_vault_logins = accept;
        self
    }

    /// Whether `k8s-aws-v1.` (EKS) proofs are exchanged, when the layer accepts them. Default:
    /// true. Their audience is an EKS cluster id: a token from `aws eks get-token` for a
    /// cluster of the same name as this layer's audience can be replayed here within its
    /// window.
    pub fn accept_eks_tokens(mut self, accept: bool) -> Self {
        self.accept_eks_tokens = accept;
        self
    }

    /// The clock for `iat`, `nbf` and `exp`. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// Decides who may obtain a token for which audience with an IAM policy, evaluated on the
    /// `POST /token` request with the verified principal and `tower-iam-auth:TokenAudience` =
    /// the requested audience (load the policy with
    /// [`PolicyOptions::token_audience`](crate::policy::PolicyOptions::token_audience)). A
    /// principal it refuses gets `403 access_denied` (`policy.denied`) and costs no signature.
    pub fn policy(mut self, policy: impl Into<PolicyHandle>) -> Self {
        self.admission.policy(policy.into());
        self
    }

    /// Issues tokens only to principals of these 12-digit accounts (with any
    /// [`policy`](Self::policy): both must allow).
    pub fn allowed_accounts<I, A>(mut self, accounts: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.admission
            .allowed
            .extend(accounts.into_iter().map(Into::into));
        self
    }

    /// Issues tokens only to these principals (role, session or user ARNs, account ids,
    /// unique ids), with any [`policy`](Self::policy).
    pub fn allowed_principals<I, A>(self, principals: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.allowed_accounts(principals)
    }

    /// Issues tokens to **every principal of every AWS account** that proves itself to the
    /// layer. Anyone can create an AWS account: use this only where every service that accepts
    /// these tokens decides for itself who may do what.
    pub fn allow_any_aws_account(mut self) -> Self {
        self.admission.allow_any_aws_account = true;
        self
    }

    /// Evaluates the policy and logs what it would refuse, but issues the token anyway.
    pub fn policy_dry_run(mut self, dry_run: bool) -> Self {
        self.admission.dry_run = dry_run;
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<TokenExchange, ExchangeConfigError> {
        let issuer = self.issuer.ok_or(ExchangeConfigError::MissingIssuer)?;
        if check_url(&issuer).is_err() || issuer.contains(['?', '#']) {
            return Err(ExchangeConfigError::InvalidIssuer(issuer));
        }
        let keys = self.keys.ok_or(ExchangeConfigError::MissingKeys)?;
        let mut audiences = self.audiences;
        if let Some(default) = &self.default_audience
            && !audiences.contains(default)
        {
            audiences.push(default.clone());
        }
        if audiences.is_empty() {
            return Err(ExchangeConfigError::NoAudience);
        }
        if let Some(bad) = audiences
            .iter()
            .find(|a| a.is_empty() || a.len() > 256 || a.chars().any(char::is_control))
        {
            return Err(ExchangeConfigError::InvalidAudience(bad.clone()));
        }
        if self.ttl.is_zero() || self.ttl > MAX_TOKEN_TTL {
            return Err(ExchangeConfigError::TokenTtl(self.ttl));
        }
        if self.issuance.check().is_err() || self.issuance.period() < Duration::from_secs(1) {
            return Err(ExchangeConfigError::IssuanceBudget(
                self.issuance.calls(),
                self.issuance.period(),
            ));
        }
        if keys.publish_lead() < self.jwks_max_age {
            return Err(ExchangeConfigError::PublishLead {
                lead: keys.publish_lead(),
                max_age: self.jwks_max_age,
            });
        }
        let enforcement = self
            .admission
            .enforcement(&self.clock)
            .map_err(|e| match e {
                AdmissionError::NoAdmission => ExchangeConfigError::NoAdmission,
                AdmissionError::AllowedPrincipal(e) => ExchangeConfigError::AllowedPrincipal(e),
                AdmissionError::Invalid(e) => ExchangeConfigError::Authorization(e),
            })?;
        let base = issuer.trim_end_matches('/').to_owned();
        let cache_control = if self.jwks_max_age.is_zero() {
            HeaderValue::from_static("no-cache")
        } else {
            HeaderValue::from_str(&format!("public, max-age={}", self.jwks_max_age.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-cache"))
        };
        Ok(TokenExchange {
            inner: Arc::new(Inner {
                layer: self.layer,
                jwks_uri: format!("{base}/.well-known/jwks.json"),
                token_endpoint: format!("{base}/token"),
                issuer,
                keys,
                audiences,
                default_audience: self.default_audience,
                ttl: self.ttl,
                cache_control,
                clock: self.clock,
                issued: moka::future::Cache::builder()
                    .max_capacity(MAX_REUSABLE_TOKENS)
                    .time_to_live(self.ttl / 2)
                    .build(),
                signing: tokio::sync::Semaphore::new(MAX_CONCURRENT_SIGNINGS),
                issuance: Budget::new(self.issuance),
                accept_vault_logins: self.accept_vault_logins,
                accept_eks_tokens: self.accept_eks_tokens,
                enforcement,
            }),
        })
    }
}

struct Inner {
    layer: IamAuthLayer,
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    keys: KeySet,
    audiences: Vec<String>,
    default_audience: Option<String>,
    ttl: Duration,
    cache_control: HeaderValue,
    clock: SharedClock,
    /// Tokens issued by `POST /token`, by [`ReuseKey`]: the same principal for the same
    /// audience gets the same token back while more than half its lifetime remains, whatever
    /// proof it shows, instead of costing another signature for each new proof.
    issued: moka::future::Cache<ReuseKey, IssuedToken>,
    signing: tokio::sync::Semaphore,
    /// New tokens per principal ARN.
    issuance: Budget<Box<str>>,
    accept_vault_logins: bool,
    accept_eks_tokens: bool,
    /// Who may obtain tokens for which audience; `None` with `allow_any_aws_account`.
    enforcement: Option<Enforcement>,
}

/// SHA-256 of everything an issued token says about its principal (the reported ARN, which
/// names the session, and the unique id), the audience and the active `kid` (so that activating
/// a key stops the reuse of tokens signed by the previous one). Each field is length-prefixed.
type ReuseKey = [u8; 32];

fn reuse_key(principal: &IamPrincipal, audience: &str, kid: &str) -> ReuseKey {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for field in [
        principal.raw_arn(),
        principal.arn(),
        principal.principal_id(),
        audience,
        kid,
    ] {
        hash.update(&(field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    let mut key = [0; 32];
    key.copy_from_slice(hash.finish().as_ref());
    key
}

/// Exchanges IAM proofs for signed JWTs, and publishes the keys that verify them.
///
/// [`router`](Self::router) serves:
///
/// - `POST /token`: the proof as `Authorization: Bearer iam-v1.…` (or `k8s-aws-v1.…`), as a
///   Vault-format JSON login body, or as an RFC 8693 token-exchange form (`grant_type=`
///   [`GRANT_TYPE_TOKEN_EXCHANGE`], `subject_token`, `subject_token_type=`
///   [`TOKEN_TYPE_IAM_PROOF`] or [`TOKEN_TYPE_VAULT_IAM_LOGIN`], `audience`). The audience
///   comes from the form or the `audience` query parameter and must be allowed; every other
///   parameter is read from the form body only, and a proof or grant parameter in the URL (where
///   access logs would keep it) is refused with `400 invalid_request`. Answers RFC 6749
///   §5.1 JSON (`access_token`, `token_type: "Bearer"`, `expires_in`, `issued_token_type`) or an
///   RFC 6749 §5.2 error: `400 invalid_request` with the refusal's `reason` for a bad proof (as
///   RFC 8693 §2.2.2 asks), `400 invalid_target` for an audience that is not allowed, `503
///   temporarily_unavailable` with `Retry-After` when STS or KMS cannot answer.
/// - `GET /.well-known/jwks.json`: the published keys, with `Cache-Control`.
/// - `GET /.well-known/openid-configuration`: discovery metadata pointing at both.
///
/// Proofs are verified by the [`IamAuthLayer`] given to [`builder`](Self::builder), with its
/// rules, STS client and cache; only proofs are exchanged, never JWTs (a token could otherwise
/// be renewed forever). Nest the router under the issuer's path if the issuer has one.
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("ttl", &self.inner.ttl)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl TokenExchange {
    /// Starts an exchange whose proofs `layer` verifies. [`issuer`](TokenExchangeBuilder::issuer),
    /// [`keys`](TokenExchangeBuilder::keys) and an audience are required.
    pub fn builder(layer: IamAuthLayer) -> TokenExchangeBuilder {
        TokenExchangeBuilder {
            layer,
            issuer: None,
            keys: None,
            audiences: Vec::new(),
            default_audience: None,
            ttl: Duration::from_secs(15 * 60),
            jwks_max_age: Duration::from_secs(5 * 60),
            clock: SharedClock::default(),
            admission: Admission::default(),
            issuance: Rate::new(ISSUANCE_PER_PRINCIPAL, ISSUANCE_PERIOD),
            accept_vault_logins: true,
            accept_eks_tokens: true,
        }
    }

    /// The `iss` of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The signing keys (rotate through it).
    pub fn keys(&self) -> &KeySet {
        &self.inner.keys
    }

    /// The routes: `POST /token`, `GET /.well-known/jwks.json`,
    /// `GET /.well-known/openid-configuration`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/token", post(token_endpoint))
            .route("/.well-known/jwks.json", get(jwks_endpoint))
            .route("/.well-known/openid-configuration", get(discovery_endpoint))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// Issues a token for a verified `principal`, for `audience` (or the default audience).
    pub async fn issue(
        &self,
        principal: &IamPrincipal,
        audience: Option<&str>,
    ) -> Result<IssuedToken, IssueError> {
        let inner = &*self.inner;
        let audience = match audience {
            Some(aud) if inner.audiences.iter().any(|a| a == aud) => aud,
            Some(aud) => {
                return Err(IssueError::AudienceNotAllowed(
                    aud.chars().take(256).collect(),
                ));
            }
            None => inner
                .default_audience
                .as_deref()
                .ok_or(IssueError::NoAudience)?,
        };
        let now = inner.clock.unix_secs();
        let exp = now + inner.ttl.as_secs();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| SigningError::Crypto)?;
        let jti = URL_SAFE_NO_PAD.encode(jti);
        let claims = IssuedClaims {
            iss: &inner.issuer,
            sub: principal.arn(),
            aud: audience,
            iat: now,
            nbf: now,
            exp,
            jti: &jti,
            aws: AwsDetails::of(principal),
        };
        let (token, kid) = {
            // Bounds the signing work (and KMS calls) in flight, whatever the request rate.
            let _permit = inner
                .signing
                .acquire()
                .await
                .map_err(|_| SigningError::Crypto)?;
            inner.keys.sign(&claims, exp).await?
        };
        tracing::info!(principal = %principal, audience, kid = %kid, jti = %jti, "token issued");
        Ok(IssuedToken {
            token,
            kid,
            audience: audience.to_owned(),
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
            ttl: inner.ttl,
        })
    }
}

/// Why `POST /token` made no new token.
enum Refused {
    /// The principal's issuance budget is spent: wait this long.
    Budget(Duration),
    Issue(IssueError),
}

/// A proof format switched off at the exchange: refused before any STS call.
fn format_refused(description: &str) -> OAuthError {
    let reason = ReasonCode::ProofFormatNotAccepted;
    OAuthError {
        reason: Some(reason.as_str()),
        ..OAuthError::request(description)
    }
}

/// What the request offers to be exchanged.
enum Subject<'a> {
    Proof(&'a str),
    VaultLogin(&'a [u8]),
}

/// An RFC 6749 §5.2 error response.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    reason: Option<&'static str>,
    retry_after: Option<u32>,
}

impl OAuthError {
    fn request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            reason: None,
            retry_after: None,
        }
    }

    fn with_error(mut self, error: &'static str) -> Self {
        self.error = error;
        self
    }

    fn from_refusal(refusal: &AuthError) -> Self {
        let unavailable = refusal.status().is_server_error();
        let limited = refusal.status() == StatusCode::TOO_MANY_REQUESTS;
        Self {
            status: if unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else if limited {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            },
            error: if unavailable || limited {
                "temporarily_unavailable"
            } else {
                "invalid_request"
            },
            description: refusal.message().to_owned(),
            reason: Some(refusal.reason().as_str()),
            retry_after: refusal.retry_after_secs(),
        }
    }

    fn into_response(self) -> Response<Body> {
        let mut body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        if let Some(reason) = self.reason {
            body["reason"] = reason.into();
        }
        let mut response = json_response(self.status, &body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // RFC 6749 §5.1: token responses are not cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn token_endpoint(
    State(exchange): State<TokenExchange>,
    uri: Uri,
    headers: HeaderMap,
    extensions: http::Extensions,
    body: Bytes,
) -> Response<Body> {
    let client = exchange.inner.layer.client_address(&headers, extensions);
    match exchange_request(&exchange, &uri, &headers, client, &body).await {
        Ok(token) => json_response(
            StatusCode::OK,
            &serde_json::json!({
                "access_token": token.as_str(),
                "token_type": "Bearer",
                // What remains of it: a reused token is not as fresh as a new one.
                "expires_in": seconds_left(token.expires_at(), exchange.inner.clock.now()),
                "issued_token_type": TOKEN_TYPE_JWT,
            }),
        ),
        Err(error) => error.into_response(),
    }
}

/// Whole seconds from `now` to `exp` (both as NumericDates), at least 1.
fn seconds_left(exp: SystemTime, now: SystemTime) -> u64 {
    unix_secs(exp).saturating_sub(unix_secs(now)).max(1)
}

/// The single-valued form parameters this endpoint reads (of which only `audience` may also be in
/// the query); any of them twice is an error (RFC 6749 §3.2), as is more than one `audience`.
#[derive(Default)]
struct Params {
    grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    requested_token_type: Option<String>,
    audience: Option<String>,
}

fn parse_params(input: &[u8], params: &mut Params) -> Result<(), OAuthError> {
    for (name, value) in form_urlencoded::parse(input) {
        let slot = match name.as_ref() {
            "grant_type" => &mut params.grant_type,
            "subject_token" => &mut params.subject_token,
            "subject_token_type" => &mut params.subject_token_type,
            "requested_token_type" => &mut params.requested_token_type,
            "audience" => &mut params.audience,
            // resource, scope, actor_token... are not used.
            _ => continue,
        };
        if slot.is_some() {
            let error = OAuthError::request(format!("parameter {name} is repeated"));
            return Err(if name == "audience" {
                error.with_error("invalid_target")
            } else {
                error
            });
        }
        *slot = Some(value.into_owned());
    }
    Ok(())
}

async fn exchange_request(
    exchange: &TokenExchange,
    uri: &Uri,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<IssuedToken, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let mut params = Params::default();
    if let Some(query) = uri.query() {
        // Only `audience` may come in the query: grant parameters carry (or describe) the proof,
        // a bearer credential, and URLs end up in access logs (RFC 6749 §3.2 requires POST).
        let mut from_query = Params::default();
        parse_params(query.as_bytes(), &mut from_query)?;
        if from_query.grant_type.is_some()
            || from_query.subject_token.is_some()
            || from_query.subject_token_type.is_some()
            || from_query.requested_token_type.is_some()
        {
            return Err(OAuthError::request(
                "grant parameters must be sent in the form body, not in the URL",
            ));
        }
        params.audience = from_query.audience;
    }
    let mut vault_body = None;
    match content_type.as_deref() {
        Some("application/x-www-form-urlencoded") => parse_params(body, &mut params)?,
        Some("application/json") => vault_body = Some(body),
        _ if body.is_empty() => {}
        _ => {
            return Err(OAuthError::request(
                "body must be application/x-www-form-urlencoded or application/json",
            ));
        }
    }

    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            match value.split_at_checked(7) {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer ") => Some(token),
                _ => {
                    return Err(OAuthError::request(
                        "Authorization must be Bearer <IAM proof>",
                    ));
                }
            }
        }
    };

    let subject = match params.grant_type.as_deref() {
        Some(GRANT_TYPE_TOKEN_EXCHANGE) => {
            if bearer.is_some() || vault_body.is_some() {
                return Err(OAuthError::request(
                    "send the proof once: as subject_token or in Authorization, not both",
                ));
            }
            let token = params
                .subject_token
                .as_deref()
                .ok_or_else(|| OAuthError::request("subject_token is required"))?;
            match params.subject_token_type.as_deref() {
                Some(TOKEN_TYPE_IAM_PROOF) => Subject::Proof(token),
                Some(TOKEN_TYPE_VAULT_IAM_LOGIN) => Subject::VaultLogin(token.as_bytes()),
                Some(_) => {
                    return Err(OAuthError::request(format!(
                        "subject_token_type must be {TOKEN_TYPE_IAM_PROOF} or {TOKEN_TYPE_VAULT_IAM_LOGIN}"
                    )));
                }
                None => return Err(OAuthError::request("subject_token_type is required")),
            }
        }
        Some(_) => {
            return Err(OAuthError::request(format!(
                "grant_type must be {GRANT_TYPE_TOKEN_EXCHANGE}"
            ))
            .with_error("unsupported_grant_type"));
        }
        None => match (bearer, vault_body) {
            (Some(token), None) => Subject::Proof(token),
            (None, Some(body)) => Subject::VaultLogin(body),
            (Some(_), Some(_)) => {
                return Err(OAuthError::request(
                    "send the proof once: in Authorization or as a Vault login body, not both",
                ));
            }
            (None, None) => {
                return Err(OAuthError::request(
                    "no proof: send Authorization: Bearer iam-v1.…, a Vault login body, or an RFC 8693 form",
                ));
            }
        },
    };
    if let Some(requested) = params.requested_token_type.as_deref()
        && requested != TOKEN_TYPE_JWT
        && requested != "urn:ietf:params:oauth:token-type:access_token"
    {
        return Err(OAuthError::request(format!(
            "requested_token_type must be {TOKEN_TYPE_JWT}"
        )));
    }
    // Refuse an audience before spending an STS call on the proof.
    let audience = params.audience.as_deref();
    let inner = &*exchange.inner;
    match audience {
        Some(aud) if !inner.audiences.iter().any(|a| a == aud) => {
            return Err(OAuthError::request("audience is not allowed").with_error("invalid_target"));
        }
        None if inner.default_audience.is_none() => {
            return Err(OAuthError::request("audience is required"));
        }
        _ => {}
    }

    let verified = match subject {
        // Only proofs are exchanged: a JWT handed back would renew itself forever.
        Subject::Proof(token) => match ProofFormat::split_token(token) {
            None => return Err(OAuthError::request("the subject token is not an IAM proof")),
            Some((ProofFormat::K8sAwsV1, _)) if !inner.accept_eks_tokens => {
                return Err(format_refused("k8s-aws-v1 proofs are not exchanged here"));
            }
            Some(_) => inner.layer.verify_token_from(token, client).await,
        },
        Subject::VaultLogin(_) if !inner.accept_vault_logins => {
            return Err(format_refused("Vault-format logins are not exchanged here"));
        }
        Subject::VaultLogin(body) => inner.layer.verify_vault_login_from(body, client).await,
    };
    let principal = verified.map_err(|refusal| {
        tracing::debug!(reason = %refusal.reason(), detail = %refusal.detail(), "token exchange refused");
        OAuthError::from_refusal(&refusal)
    })?;
    // Who may obtain a token for this audience: decided before any signature is made.
    if let Some(enforcement) = &inner.enforcement {
        let authz = AuthzRequest::new(&Method::POST, uri, headers)
            .principal(Some(&principal))
            .auth_method(Some(AuthMethod::Proof))
            .token_audience(audience.or(inner.default_audience.as_deref()))
            .now(inner.clock.now());
        enforcement.decide(authz).map_err(|refusal| {
            tracing::info!(principal = %principal, reason = %refusal.reason(), "token exchange refused by policy");
            if refusal.reason() == ReasonCode::PolicyDenied {
                OAuthError {
                    status: StatusCode::FORBIDDEN,
                    error: "access_denied",
                    description: "this principal may not obtain tokens for this audience".to_owned(),
                    reason: Some(refusal.reason().as_str()),
                    retry_after: None,
                }
            } else {
                OAuthError::from_refusal(&refusal)
            }
        })?;
    }
    // Only after the proof verified again: a reused token is handed only to a proof that is
    // still valid now.
    let key = reuse_key(
        &principal,
        audience
            .or(inner.default_audience.as_deref())
            .unwrap_or_default(),
        &inner.keys.active_kid(),
    );
    if let Some(token) = inner.issued.get(&key).await {
        if inner.clock.now() + inner.ttl / 2 < token.expires_at() {
            return Ok(token);
        }
        inner.issued.invalidate(&key).await;
    }
    // Spent only by the request that signs; those waiting on it share its token.
    let issue = async {
        if let Err(wait) = inner.issuance.spend(&Box::from(principal.arn())) {
            return Err(Refused::Budget(wait));
        }
        exchange
            .issue(&principal, audience)
            .await
            .map_err(Refused::Issue)
    };
    inner
        .issued
        .try_get_with(key, issue)
        .await
        .map_err(|e| match &*e {
            Refused::Budget(wait) => {
                tracing::info!(principal = %principal, "token issuance budget spent");
                let reason = ReasonCode::ExchangeRateLimited;
                OAuthError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    error: "temporarily_unavailable",
                    description: reason.message().to_owned(),
                    reason: Some(reason.as_str()),
                    retry_after: Some(retry_after_secs(*wait)),
                }
            }
            Refused::Issue(IssueError::AudienceNotAllowed(_)) => {
                OAuthError::request("audience is not allowed").with_error("invalid_target")
            }
            Refused::Issue(IssueError::NoAudience) => OAuthError::request("audience is required"),
            Refused::Issue(IssueError::Signing(e)) => {
                tracing::warn!(error = %e, "token signing failed");
                OAuthError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    error: "temporarily_unavailable",
                    description: "token signing is unavailable; retry later".to_owned(),
                    reason: None,
                    retry_after: Some(5),
                }
            }
        })
}

async fn jwks_endpoint(State(exchange): State<TokenExchange>) -> Response<Body> {
    let mut response = Response::new(Body::from(exchange.inner.keys.jwks().to_json()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, exchange.inner.cache_control.clone());
    response
}

async fn discovery_endpoint(State(exchange): State<TokenExchange>) -> Response<Body> {
    let inner = &*exchange.inner;
    let document = serde_json::json!({
        "issuer": inner.issuer,
        "jwks_uri": inner.jwks_uri,
        "token_endpoint": inner.token_endpoint,
        "grant_types_supported": [GRANT_TYPE_TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": inner.keys.algorithms(),
        "claims_supported": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", AWS_CLAIMS_NAMESPACE],
    });
    let mut response = Response::new(Body::from(document.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, inner.cache_control.clone());
    response
}
