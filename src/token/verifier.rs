//! [`JwtVerifier`]: verifies JWTs offline for [`IamAuthLayer`](crate::server::IamAuthLayer),
//! against the public keys of trusted issuers, and turns them into [`IamPrincipal`]s.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::algorithm::JwtAlgorithm;
use super::claims::{self, ReceivedClaims};
use super::jwk::{JwkSet, VerifyingKey};
use super::remote_jwks::{KeyMap, PublishedVersion, RemoteJwks, key_map};
use crate::cache::{Entry, LocalStore};
use crate::clock::{Clock, SharedClock};
use crate::error::{AuthError, ReasonCode};
use crate::principal::{AuthMethod, IamPrincipal};
use crate::server::{TokenVerifier, VerifyFuture};

/// The most clock leeway a verifier may allow for `exp`, `nbf` and `iat`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);
/// The most [`JwtVerifierBuilder::jwks_max_cache_ttl`] accepts.
const MAX_JWKS_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A configuration mistake found by [`JwtVerifierBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VerifierConfigError {
    /// No trusted issuer was configured.
    #[error("at least one trusted issuer is required")]
    NoIssuers,
    /// No audience was configured.
    #[error("at least one audience is required: the audience this service accepts")]
    NoAudience,
    /// Two trusted issuers have the same `iss`.
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    /// An issuer or JWKS URL is not `https` (plain `http` is allowed for loopback hosts only).
    #[error("{0:?} must be an https URL (http only for 127.0.0.1, ::1 or localhost)")]
    InsecureUrl(String),
    /// A configured JWK set has a key that cannot be used.
    #[error("issuer {issuer:?}: {detail}")]
    Keys {
        /// The issuer.
        issuer: String,
        /// What is wrong.
        detail: String,
    },
    /// The leeway is above [`MAX_LEEWAY`].
    #[error("leeway must be at most {MAX_LEEWAY:?}, got {0:?}")]
    Leeway(Duration),
    /// The JWKS refresh cooldown is below one second.
    #[error("jwks_refresh_cooldown must be at least 1s, got {0:?}")]
    RefreshCooldown(Duration),
    /// A timeout, cache lifetime or size cap is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// A duration is above its maximum.
    #[error("{0} must be at most {1:?}")]
    TooLong(&'static str, Duration),
    /// The HTTP client for remote JWK sets could not be built.
    #[error("cannot build the JWKS HTTP client: {0}")]
    HttpClient(String),
}

/// How a trusted issuer's tokens carry the caller's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// A [`TokenExchange`](super::TokenExchange) of this crate: `sub`, `raw_arn`, `unique_id`.
    Exchange,
    /// AWS outbound identity federation (`sts:GetWebIdentityToken`): `sub` is the role ARN.
    AwsOutbound,
}

#[derive(Clone, Debug)]
enum KeySource {
    Url(String),
    Static(JwkSet),
}

/// An issuer whose tokens a [`JwtVerifier`] accepts: its `iss` value, how its tokens carry the
/// caller, and where its public keys come from (by default `{iss}/.well-known/jwks.json`).
#[derive(Clone, Debug)]
pub struct TrustedIssuer {
    issuer: String,
    layout: Layout,
    keys: KeySource,
}

impl TrustedIssuer {
    /// An issuer running this crate's [`TokenExchange`](super::TokenExchange).
    pub fn exchange(issuer: impl Into<String>) -> Self {
        Self::new(issuer.into(), Layout::Exchange)
    }

    /// An AWS account's outbound identity federation issuer
    /// (`https://<id>.tokens.sts.global.api.aws`, from `aws iam
    /// get-outbound-web-identity-federation-info`). Its tokens map to the same [`IamPrincipal`]
    /// as a proof from the same role: `sub` is the role ARN (its path dropped, as for proofs);
    /// they carry no unique id (so [`IamPrincipal::principal_id`] is empty) nor session name.
    pub fn aws_outbound(issuer: impl Into<String>) -> Self {
        Self::new(issuer.into(), Layout::AwsOutbound)
    }

    fn new(issuer: String, layout: Layout) -> Self {
        let url = format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'));
        Self {
            issuer,
            layout,
            keys: KeySource::Url(url),
        }
    }

    /// Fetches the keys from this URL instead of `{iss}/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = KeySource::Url(url.into());
        self
    }

    /// Uses exactly these keys, never fetching any. Every key must have a `kid` and be usable.
    #[must_use]
    pub fn keys(mut self, keys: JwkSet) -> Self {
        self.keys = KeySource::Static(keys);
        self
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Builder for [`JwtVerifier`]; every setting is checked in [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use]
pub struct JwtVerifierBuilder {
    issuers: Vec<TrustedIssuer>,
    audiences: Vec<String>,
    leeway: Duration,
    refresh_cooldown: Duration,
    default_cache_ttl: Duration,
    max_cache_ttl: Duration,
    max_stale: Duration,
    http_timeout: Duration,
    max_token_bytes: usize,
    max_token_lifetime: Duration,
    allow_root: bool,
    allow_federated_users: bool,
    clock: SharedClock,
    cache_max_entries: u64,
    cache_max_ttl: Duration,
}

impl JwtVerifierBuilder {
    /// Trusts tokens from `issuer`. Repeat for several issuers.
    pub fn issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Accepts tokens whose `aud` contains `audience`. Repeat to accept several. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat`, at most [`MAX_LEEWAY`]. Default 30 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s (and after a failed
    /// fetch), so that tokens with made-up `kid`s cannot make the verifier hammer the issuer.
    /// At least 1 second (checked by [`build`](Self::build)). Default 10 seconds.
    pub fn jwks_refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh_cooldown = cooldown;
        self
    }

    /// How long a fetched JWK set is used when its response has no `Cache-Control: max-age`
    /// (which, when present, is obeyed between 30 seconds and
    /// [`jwks_max_cache_ttl`](Self::jwks_max_cache_ttl)). Default 5 minutes.
    pub fn jwks_cache_ttl(mut self, ttl: Duration) -> Self {
        self.default_cache_ttl = ttl;
        self
    }

    /// The longest a fetched JWK set is used before it is fetched again, whatever its
    /// `Cache-Control: max-age` asks: a key the issuer withdraws stops being trusted within it.
    /// At most a day. Default 1 hour.
    pub fn jwks_max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.max_cache_ttl = ttl;
        self
    }

    /// The longest token read, checked before anything else (longer ones are
    /// `401 jwt.too_large`). Default 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// How long past its cache lifetime a fetched JWK set is still used while the issuer's JWKS
    /// cannot be fetched. After that, tokens of that issuer are refused with
    /// [`ReasonCode::JwksUnavailable`] (503) until a fetch succeeds again, rather than trusting
    /// keys the issuer may have withdrawn long ago. Default 1 hour.
    pub fn jwks_max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The deadline for one JWKS fetch. Default 5 seconds.
    pub fn jwks_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The longest lifetime a token may claim: `exp - iat` (or `exp - nbf` without `iat`, or
    /// `exp - now` without either) above it is refused with `jwt.claims`, so that a token minted
    /// with a far `exp` (by a misconfigured or compromised issuer) is not honoured for days.
    /// Default 1 hour, the longest a [`TokenExchange`](super::TokenExchange) issues
    /// ([`MAX_TOKEN_TTL`](super::MAX_TOKEN_TTL)).
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// Accepts tokens naming an account's root user. Default: refused with
    /// `principal.kind_refused`, as [`IamAuthLayer`](crate::server::IamAuthLayer) refuses root
    /// proofs by default. Behind a layer, both this and the layer's
    /// [`allow_root`](crate::server::IamAuthConfigBuilder::allow_root) must allow it.
    pub fn allow_root(mut self, allow: bool) -> Self {
        self.allow_root = allow;
        self
    }

    /// Accepts tokens naming federated users (`sts:GetFederationToken`). Default: refused, as
    /// for [`allow_root`](Self::allow_root).
    pub fn allow_federated_users(mut self, allow: bool) -> Self {
        self.allow_federated_users = allow;
        self
    }

    /// The most verified tokens remembered, so that a token seen again is not verified again
    /// (see [`JwtVerifier`]); 0 turns the cache off. Default 10 000.
    pub fn cache_max_entries(mut self, entries: u64) -> Self {
        self.cache_max_entries = entries;
        self
    }

    /// The longest a verified token is remembered, whatever its `exp`. Default 15 minutes.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = ttl;
        self
    }

    /// The clock for `exp`, `nbf` and `iat`, for the verified-token cache, and for the cache
    /// lifetimes of fetched JWK sets (their [`jwks_max_stale`](Self::jwks_max_stale) included;
    /// the [refresh cooldown](Self::jwks_refresh_cooldown) is measured on the monotonic clock).
    /// A fetched set goes stale only as this clock advances: a clock set back extends its
    /// lifetime by the step (as it extends every token's), and a clock that stands still keeps
    /// it fresh. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// Checks every setting, reads configured key sets, and builds the verifier. Remote key
    /// sets are fetched on first use.
    pub fn build(self) -> Result<JwtVerifier, VerifierConfigError> {
        if self.issuers.is_empty() {
            return Err(VerifierConfigError::NoIssuers);
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(VerifierConfigError::NoAudience);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(VerifierConfigError::Leeway(self.leeway));
        }
        // Below a second, unknown `kid`s could make the verifier fetch the JWKS in a loop.
        if self.refresh_cooldown < Duration::from_secs(1) {
            return Err(VerifierConfigError::RefreshCooldown(self.refresh_cooldown));
        }
        if self.max_token_bytes == 0 {
            return Err(VerifierConfigError::Zero("max_token_bytes"));
        }
        if self.max_cache_ttl > MAX_JWKS_CACHE_TTL {
            return Err(VerifierConfigError::TooLong(
                "jwks_max_cache_ttl",
                MAX_JWKS_CACHE_TTL,
            ));
        }
        for (name, value) in [
            ("jwks_cache_ttl", self.default_cache_ttl),
            ("jwks_max_cache_ttl", self.max_cache_ttl),
            ("jwks_timeout", self.http_timeout),
            ("max_token_lifetime", self.max_token_lifetime),
            ("cache_max_ttl", self.cache_max_ttl),
        ] {
            if value.is_zero() {
                return Err(VerifierConfigError::Zero(name));
            }
        }
        let needs_http = self
            .issuers
            .iter()
            .any(|i| matches!(i.keys, KeySource::Url(_)));
        let http = if needs_http {
            Some(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(self.http_timeout.min(Duration::from_secs(2)))
                    .timeout(self.http_timeout)
                    .build()
                    .map_err(|e| VerifierConfigError::HttpClient(e.to_string()))?,
            )
        } else {
            None
        };
        let mut issuers: Vec<IssuerState> = Vec::with_capacity(self.issuers.len());
        for trusted in self.issuers {
            if issuers.iter().any(|i| i.issuer == trusted.issuer) {
                return Err(VerifierConfigError::DuplicateIssuer(trusted.issuer));
            }
            if trusted.issuer.is_empty() {
                return Err(VerifierConfigError::InsecureUrl(trusted.issuer));
            }
            if trusted.layout == Layout::AwsOutbound {
                check_url(&trusted.issuer)?;
            }
            let keys = match trusted.keys {
                KeySource::Static(set) => Keys::Static(key_map(&set, true).map_err(|detail| {
                    VerifierConfigError::Keys {
                        issuer: trusted.issuer.clone(),
                        detail,
                    }
                })?),
                KeySource::Url(url) => {
                    check_url(&url)?;
                    Keys::Remote(RemoteJwks::new(
                        url,
                        http.clone().ok_or_else(|| {
                            VerifierConfigError::HttpClient("no HTTP client".to_owned())
                        })?,
                        self.clock.clone(),
                        self.refresh_cooldown,
                        self.default_cache_ttl,
                        self.max_cache_ttl,
                        self.max_stale,
                    ))
                }
            };
            issuers.push(IssuerState {
                issuer: trusted.issuer,
                layout: trusted.layout,
                keys,
            });
        }
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuers,
                audiences: self.audiences,
                leeway_secs: self.leeway.as_secs() as i64,
                max_lifetime_secs: i64::try_from(self.max_token_lifetime.as_secs())
                    .unwrap_or(i64::MAX),
                allow_root: self.allow_root,
                allow_federated_users: self.allow_federated_users,
                clock: self.clock,
                cache: (self.cache_max_entries > 0)
                    .then(|| LocalStore::new(self.cache_max_entries)),
                cache_max_ttl: self.cache_max_ttl,
                signature_checks: AtomicU64::new(0),
                max_token_bytes: self.max_token_bytes,
            }),
        })
    }
}

/// `https` anywhere, `http` only on loopback.
pub(crate) fn check_url(url: &str) -> Result<(), VerifierConfigError> {
    let insecure = || VerifierConfigError::InsecureUrl(url.to_owned());
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    let loopback = match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(insecure()),
    }
}

enum Keys {
    Static(KeyMap),
    Remote(RemoteJwks),
}

struct IssuerState {
    issuer: String,
    layout: Layout,
    keys: Keys,
}

struct Inner {
    issuers: Vec<IssuerState>,
    audiences: Vec<String>,
    leeway_secs: i64,
    max_lifetime_secs: i64,
    allow_root: bool,
    allow_federated_users: bool,
    clock: SharedClock,
    max_token_bytes: usize,
    /// Verified tokens by their whole bytes.
    cache: Option<LocalStore<Verified>>,
    cache_max_ttl: Duration,
    signature_checks: AtomicU64,
}

/// A verified token as remembered: the caller, the key that verified it and when it is valid.
#[derive(Clone)]
struct Verified {
    principal: IamPrincipal,
    issuer: usize,
    kid: Arc<str>,
    key: Arc<VerifyingKey>,
    /// For a remote key set: the version of its keys in which `kid` held `key`, just after the
    /// verification (`None` if it did not by then: each hit then looks the key up), with what
    /// the set publishes, read first on a hit (without looking the issuer up) to know that the
    /// version is still current.
    vouched: Option<(u64, Arc<PublishedVersion>)>,
    /// When the time checks start to pass: `nbf`/`iat` minus leeway (`None`: always).
    valid_from: Option<SystemTime>,
}

impl Verified {
    /// Whether the time checks pass at `now` (its `nbf`/`iat` with the leeway; `exp` is the
    /// entry's expiry).
    #[inline]
    fn started_at(&self, now: SystemTime) -> bool {
        self.valid_from.is_none_or(|from| now >= from)
    }
}

/// Verifies JWTs offline for [`IamAuthLayer`](crate::server::IamAuthLayer) (plug it in with
/// [`IamAuthConfigBuilder::token_verifier`](crate::server::IamAuthConfigBuilder::token_verifier)).
///
/// For each token: a compact JWS with exactly three parts; `alg` must be an asymmetric algorithm
/// (`none` and HMAC are refused before anything else), `crit` must be absent; `iss` must be a
/// trusted issuer, whose key with the token's `kid` is looked up (a remote set is refreshed once
/// on an unknown `kid`, rate-limited); the header's `alg` must equal the algorithm pinned for that
/// key (the header is never trusted to choose it); the signature must verify; `aud` must contain
/// a configured audience; `exp` is required and `nbf`/`iat` are checked, each with the leeway;
/// the token's lifetime must be at most [`max_token_lifetime`](JwtVerifierBuilder::max_token_lifetime);
/// root and federated users are refused unless allowed
/// ([`allow_root`](JwtVerifierBuilder::allow_root),
/// [`allow_federated_users`](JwtVerifierBuilder::allow_federated_users)), so that
/// [`verify`](Self::verify) used on its own applies the same rule as the layer.
/// Header parameters that point at keys (`jku`, `x5u`, `jwk`) are ignored: keys come only from
/// the configuration.
///
/// A token verified once is remembered, keyed by **all of its bytes** (a token differing in one
/// byte is verified afresh), until its `exp` plus leeway (at most
/// [`cache_max_ttl`](JwtVerifierBuilder::cache_max_ttl)). A remembered token is served only while
/// the key that verified it is still the issuer's key for its `kid`: a JWKS refresh that drops or
/// changes that key ends it. Audiences and issuers are this verifier's own configuration, and the
/// time checks are made again on every hit with the same bounds, so a hit decides exactly as a
/// fresh verification would.
///
/// Cloning is cheap; clones share remote key caches.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|i| &i.issuer)
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<IgnoredAny>,
}

fn malformed(detail: &'static str) -> AuthError {
    AuthError::new(ReasonCode::JwtMalformed).with_detail(detail)
}

fn claims_error(detail: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::new(ReasonCode::JwtClaims).with_detail(detail)
}

impl JwtVerifier {
    /// Starts a verifier. At least one [`issuer`](JwtVerifierBuilder::issuer) and one
    /// [`audience`](JwtVerifierBuilder::audience) are required.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            refresh_cooldown: Duration::from_secs(10),
            default_cache_ttl: Duration::from_secs(5 * 60),
            max_cache_ttl: Duration::from_secs(60 * 60),
            max_stale: Duration::from_secs(60 * 60),
            http_timeout: Duration::from_secs(5),
            max_token_bytes: 8 * 1024,
            max_token_lifetime: Duration::from_secs(60 * 60),
            allow_root: false,
            allow_federated_users: false,
            clock: SharedClock::default(),
            cache_max_entries: 10_000,
            cache_max_ttl: Duration::from_secs(15 * 60),
        }
    }

    /// The number of signatures this verifier (and its clones) checked: a token served from the
    /// cache is not counted.
    pub fn signature_checks(&self) -> u64 {
        self.inner.signature_checks.load(Ordering::Relaxed)
    }

    /// Verifies `token` (a compact JWS) and returns the caller it names.
    pub async fn verify(&self, token: &str) -> Result<IamPrincipal, AuthError> {
        let inner = &*self.inner;
        // Before any decoding: base64 and JSON parsing cost in proportion to the input.
        if token.len() > inner.max_token_bytes {
            return Err(AuthError::new(ReasonCode::JwtTooLarge).with_detail(format!(
                "{} bytes > {}",
                token.len(),
                inner.max_token_bytes
            )));
        }
        let Some(cache) = &inner.cache else {
            return self.verify_signed(token).await.map(|(v, _)| v.principal);
        };
        let now = inner.clock.now();
        if let Some(hit) = cache.get(token.as_bytes(), now) {
            if hit.started_at(now) {
                match self.key_unchanged(&hit).await {
                    Ok(true) => return Ok(hit.principal),
                    // The key is gone (or cannot be fetched): that is the refusal a full
                    // verification would give too, after the lookup (and any JWKS fetch) it
                    // would repeat.
                    Err(refusal) => {
                        cache.remove(token.as_bytes());
                        return Err(refusal);
                    }
                    Ok(false) => {}
                }
            }
            // Verified afresh, for the exact refusal (or a new entry).
            cache.remove(token.as_bytes());
        }
        let (verified, valid_until) = self.verify_signed(token).await?;
        let principal = verified.principal.clone();
        let until = UNIX_EPOCH + Duration::from_secs(u64::try_from(valid_until).unwrap_or(0));
        let entry = Entry::new(verified, now, until, inner.cache_max_ttl);
        cache.insert(token.as_bytes(), entry);
        Ok(principal)
    }

    /// Whether the key that verified `hit` is still its issuer's key for its `kid`; the lookup's
    /// refusal when the issuer has no such key now (or its keys cannot be fetched).
    async fn key_unchanged(&self, hit: &Verified) -> Result<bool, AuthError> {
        let current = self.inner.issuers[hit.issuer].key(&hit.kid).await?;
        Ok(current.same_as(&hit.key))
    }

    /// The caller named by a token this verifier verified before, when that needs neither a
    /// JWKS fetch nor a wait: the entry is live, its time checks pass, and the issuer's current
    /// (fresh) key for its `kid` is the key that verified it. `None` in every other case, which
    /// [`verify`](Self::verify) decides.
    ///
    /// `token` may be any bytes: only tokens that passed every check are remembered.
    #[inline]
    pub(crate) fn verify_remembered(&self, token: &[u8]) -> Option<IamPrincipal> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        // Checked in place: only the caller is cloned out of the entry.
        let remembered = inner.cache.as_ref()?.get_with(token, now, |hit| {
            // The remote set's published version first: it answers most hits without looking
            // the issuer up.
            let current = hit
                .vouched
                .as_ref()
                .is_some_and(|(version, published)| published.vouches_for(*version, now))
                || match &inner.issuers[hit.issuer].keys {
                    // A static key set never changes: the key that verified the token is still
                    // its key.
                    Keys::Static(_) => true,
                    Keys::Remote(remote) => {
                        let version = hit.vouched.as_ref().map(|(version, _)| *version);
                        remote.key_still_current(&hit.kid, &hit.key, version, now)?
                    }
                };
            (hit.started_at(now) && current).then(|| hit.principal.clone())
        });
        remembered.flatten()
    }

    /// The full verification of a token: the caller, and the first second (NumericDate) at
    /// which the token is no longer valid (`exp + leeway`, as [`check_claims`](Self::check_claims)
    /// decides).
    async fn verify_signed(&self, token: &str) -> Result<(Verified, i64), AuthError> {
        let inner = &*self.inner;
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| malformed("not three parts"))?;
        let (header, payload) = message
            .split_once('.')
            .ok_or_else(|| malformed("not three parts"))?;
        if payload.contains('.') {
            return Err(malformed("more than three parts (JWE is not accepted)"));
        }

        let header: Header =
            decode_json(header).map_err(|_| malformed("header is not base64url JSON"))?;
        // Refused before any key is looked at: `none`, HMAC (whose "secret" would be a public
        // key) and anything unknown.
        let Some(alg) = JwtAlgorithm::from_name(&header.alg) else {
            return Err(
                AuthError::new(ReasonCode::JwtAlgorithm).with_detail(format!(
                    "alg {:?} is never accepted",
                    header.alg.chars().take(16).collect::<String>()
                )),
            );
        };
        if header.crit.is_some() {
            return Err(malformed("crit header parameter is not supported"));
        }
        let claims: ReceivedClaims = decode_json(payload).map_err(|e| match e {
            Some(e) if e.classify() == serde_json::error::Category::Data => {
                claims_error(format!("claims: {e}"))
            }
            _ => malformed("payload is not base64url JSON"),
        })?;

        let iss = claims
            .iss
            .as_deref()
            .ok_or_else(|| AuthError::new(ReasonCode::JwtIssuer).with_detail("no iss"))?;
        let (issuer_index, issuer) = inner
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.issuer == iss)
            .ok_or_else(|| {
                AuthError::new(ReasonCode::JwtIssuer).with_detail("iss is not a trusted issuer")
            })?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| AuthError::new(ReasonCode::JwtUnknownKey).with_detail("no kid"))?;
        let key = issuer.key(kid).await?;
        if key.algorithm != alg {
            return Err(
                AuthError::new(ReasonCode::JwtAlgorithm).with_detail(format!(
                    "alg {alg} but key {kid:?} is pinned to {}",
                    key.algorithm
                )),
            );
        }
        // The backend is named, never jsonwebtoken's process default: an application in which
        // another crate enables jsonwebtoken's `rust_crypto` feature has both backends, no
        // default can be chosen, and `jsonwebtoken::crypto::verify` panics.
        let malformed =
            || AuthError::new(ReasonCode::JwtSignature).with_detail("signature is malformed");
        let signature_bytes = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
        let verifier = (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory)(
            &alg.to_jsonwebtoken(),
            &key.key,
        )
        .map_err(|_| malformed())?;
        inner.signature_checks.fetch_add(1, Ordering::Relaxed);
        let valid = verifier
            .verify(message.as_bytes(), &signature_bytes)
            .is_ok();
        if !valid {
            return Err(AuthError::new(ReasonCode::JwtSignature)
                .with_detail(format!("signature does not verify with key {kid:?}")));
        }

        self.check_claims(&claims)?;
        let sub = claims
            .sub
            .as_deref()
            .ok_or_else(|| claims_error("no sub"))?;
        let identity = match issuer.layout {
            Layout::Exchange => claims::identity_from_exchange_token(sub, claims.aws.as_ref()),
            Layout::AwsOutbound => claims::identity_from_aws_token(sub, claims.aws.as_ref()),
        }
        .map_err(claims_error)?;
        let principal = IamPrincipal::from_identity(identity)
            .with_method(AuthMethod::Jwt)
            .check_kind(inner.allow_root, inner.allow_federated_users)?;
        let leeway = inner.leeway_secs;
        let start = claims.nbf.max(claims.iat).unwrap_or(i64::MIN);
        let vouched = match &issuer.keys {
            Keys::Static(_) => None,
            Keys::Remote(remote) => remote
                .keys_version_holding(kid, &key)
                .map(|version| (version, remote.published().clone())),
        };
        // A start at or before 1970 has passed for any clock (as `unix_secs` reads one). One
        // past what this platform's `SystemTime` holds could not have passed the time checks;
        // it is kept as the latest time that every platform holds (2106), never as "always".
        let valid_from = u64::try_from(start.saturating_sub(leeway))
            .ok()
            .filter(|&secs| secs > 0)
            .map(|secs| {
                let latest = Duration::from_secs(u64::from(u32::MAX));
                UNIX_EPOCH
                    .checked_add(Duration::from_secs(secs))
                    .unwrap_or(UNIX_EPOCH + latest)
            });
        let verified = Verified {
            principal,
            issuer: issuer_index,
            kid: kid.into(),
            key,
            vouched,
            valid_from,
        };
        // `check_claims` checked that `exp` is there.
        let exp = claims.exp.unwrap_or(i64::MIN);
        Ok((verified, exp.saturating_add(leeway)))
    }

    fn check_claims(&self, claims: &ReceivedClaims) -> Result<(), AuthError> {
        let inner = &*self.inner;
        match &claims.aud {
            Some(aud) if aud.contains_any(&inner.audiences) => {}
            Some(_) => {
                return Err(
                    AuthError::new(ReasonCode::JwtAudience).with_detail("aud is not this service")
                );
            }
            None => return Err(AuthError::new(ReasonCode::JwtAudience).with_detail("no aud")),
        }
        let now = i64::try_from(inner.clock.unix_secs()).unwrap_or(i64::MAX);
        let leeway = inner.leeway_secs;
        let exp = claims.exp.ok_or_else(|| claims_error("no exp"))?;
        // RFC 7519 §4.1.4: not accepted on or after exp.
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::new(ReasonCode::JwtExpired)
                .with_message(format!("token expired {}s ago", now.saturating_sub(exp))));
        }
        if let Some(nbf) = claims.nbf.filter(|&nbf| now.saturating_add(leeway) < nbf) {
            return Err(
                AuthError::new(ReasonCode::JwtNotYetValid).with_message(format!(
                    "token is valid only in {}s (check clocks)",
                    nbf.saturating_sub(now)
                )),
            );
        }
        if let Some(iat) = claims.iat.filter(|&iat| now.saturating_add(leeway) < iat) {
            return Err(
                AuthError::new(ReasonCode::JwtNotYetValid).with_message(format!(
                    "token is issued {}s in the future (check clocks)",
                    iat.saturating_sub(now)
                )),
            );
        }
        let start = claims.iat.or(claims.nbf).unwrap_or(now);
        if exp.saturating_sub(start) > inner.max_lifetime_secs {
            return Err(claims_error(format!(
                "token lifetime of {}s is above the {}s allowed",
                exp.saturating_sub(start),
                inner.max_lifetime_secs
            )));
        }
        Ok(())
    }
}

impl IssuerState {
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        match &self.keys {
            Keys::Static(keys) => keys.get(kid).cloned().ok_or_else(|| {
                AuthError::new(ReasonCode::JwtUnknownKey)
                    .with_detail(format!("no key with kid {kid:?}"))
            }),
            Keys::Remote(remote) => remote.key(kid).await,
        }
    }
}

/// Decodes a base64url (no padding) JSON part. `Err(None)`: not base64url.
fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Option<serde_json::Error>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| None)?;
    serde_json::from_slice(&bytes).map_err(Some)
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(JwtVerifier::verify(self, token))
    }

    fn verify_now(&self, token: &[u8]) -> Option<Result<IamPrincipal, AuthError>> {
        self.verify_remembered(token).map(Ok)
    }
}
