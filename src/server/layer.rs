//! [`IamAuthLayer`] and its configuration builder.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use tower_layer::Layer;

use super::budget::{Rate, RateError, StsBudget, StsBudgetConfig};
use super::future::InnerBody;
use super::service::IamAuth;
use super::token_verifier::TokenVerifier;
use crate::cache::{CacheConfig, CacheSecret, Namespace, ProofCache, SharedCache, SharedStore};
use crate::clock::{Clock, SharedClock};
use crate::endpoints::{Partition, StsEndpointTable, UnknownRegion};
use crate::error::{AuthError, RenderRefusal};
use crate::policy::layer::{Admission, AdmissionError, Enforcement, SourceIpFrom};
use crate::policy::{Authorize, PolicyHandle, SourceIp};
use crate::principal::IamPrincipal;
use crate::proof::{
    DEFAULT_MAX_TOKEN_BYTES, MAX_PROOF_AGE, ProofFormat, ProofRules, VAULT_AUDIENCE_HEADER,
};
use crate::sts::{StsClient, StsClientConfig};

/// A configuration mistake found by [`IamAuthConfigBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No audience was configured.
    #[error("an audience is required: IamAuthConfig::builder().audience(\"my-service\")")]
    MissingAudience,
    /// The audience is empty, too long, or not visible ASCII.
    #[error("the audience must be 1..=128 visible ASCII characters")]
    InvalidAudience,
    /// No proof format is accepted.
    #[error("at least one proof format must be accepted")]
    NoFormats,
    /// No partition is configured.
    #[error("at least one partition must be configured")]
    NoPartitions,
    /// A region is not in the configured partitions.
    #[error(transparent)]
    UnknownRegion(#[from] UnknownRegion),
    /// The maximum proof age is zero or above 15 minutes.
    #[error("max proof age must be in 1s..=15min, got {0:?}")]
    MaxAge(Duration),
    /// The allowed clock skew is above 15 minutes.
    #[error("max clock skew must be at most 15min, got {0:?}")]
    ClockSkew(Duration),
    /// A timeout or limit is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// A count is above its maximum.
    #[error("{0} must be at most {1}")]
    TooMany(&'static str, usize),
    /// A duration is above its maximum.
    #[error("{0} must be at most {1:?}")]
    TooLong(&'static str, Duration),
    /// The Vault audience header name or the token header name is not a valid header name, or
    /// the Vault audience header names a header with another meaning in the signed request.
    #[error("not a valid header name: {0:?}")]
    InvalidHeaderName(String),
    /// The connect-to address is not `host:port`.
    #[error("connect-to must be host:port, got {0:?}")]
    ConnectTo(String),
    /// The HTTP client could not be built.
    #[error("cannot build the STS HTTP client: {0}")]
    HttpClient(String),
    /// The configuration does not say who may come in.
    #[error(
        "say who may come in: .policy(..) (an IAM policy), .allowed_accounts([..]) or \
         .allowed_principals([..]), or .allow_any_aws_account() to admit every principal of every AWS account"
    )]
    NoAdmission,
    /// An entry of `allowed_accounts` / `allowed_principals` is not an account id, an IAM or STS
    /// ARN, or a unique id.
    #[error("allowed principal refused: {0}")]
    AllowedPrincipal(crate::policy::PolicyError),
    /// The authorization settings do not fit together.
    #[error("authorization: {0}")]
    Authorization(String),
}

/// The most concurrent STS calls that can be configured (tokio's semaphore has a limit).
const MAX_CONCURRENT_STS_CALLS: usize = 65_536;

/// Configuration of [`IamAuthLayer`], built and checked by [`IamAuthConfig::builder`].
#[derive(Clone)]
pub struct IamAuthConfig {
    pub(crate) audience: HeaderValue,
    pub(crate) rules: ProofRules,
    pub(crate) sts: StsClientConfig,
    pub(crate) cache: CacheConfig,
    pub(crate) clock: SharedClock,
    pub(crate) allow_root: bool,
    pub(crate) allow_federated_users: bool,
    pub(crate) token_verifier: Option<Arc<dyn TokenVerifier>>,
    pub(crate) accept_proofs: bool,
    pub(crate) vault_audience_header: HeaderName,
    pub(crate) token_header: HeaderName,
    pub(crate) require_bearer: bool,
    pub(crate) enforcement: Option<Enforcement>,
    pub(crate) allow_anonymous: bool,
    pub(crate) renderer: Option<Arc<dyn RenderRefusal>>,
    pub(crate) trace_principal: bool,
    pub(crate) shared_cache: Option<(Arc<dyn SharedStore>, CacheSecret)>,
    pub(crate) shared_cache_timeout: Duration,
    pub(crate) sts_budget: StsBudgetConfig,
    pub(crate) client_ip: SourceIpFrom,
    pub(crate) strip_authorization: bool,
}

impl IamAuthConfig {
    /// Starts a configuration. Only [`audience`](IamAuthConfigBuilder::audience) is required.
    pub fn builder() -> IamAuthConfigBuilder {
        IamAuthConfigBuilder::default()
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        self.audience.to_str().unwrap_or_default()
    }

    /// The local validation rules.
    pub fn rules(&self) -> &ProofRules {
        &self.rules
    }
}

impl std::fmt::Debug for IamAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthConfig")
            .field("audience", &self.audience())
            .field("rules", &self.rules)
            .field("sts", &self.sts)
            .field("cache", &self.cache)
            .field("token_verifier", &self.token_verifier.is_some())
            .field("accept_proofs", &self.accept_proofs)
            .finish_non_exhaustive()
    }
}

/// Builder for [`IamAuthConfig`]; every setting is checked in [`build`](Self::build).
#[derive(Clone)]
#[must_use]
pub struct IamAuthConfigBuilder {
    audience: Option<String>,
    partitions: Vec<Partition>,
    regions: Option<Vec<String>>,
    extra_regions: Vec<String>,
    formats: Vec<ProofFormat>,
    max_proof_age: Duration,
    max_clock_skew: Duration,
    max_token_bytes: usize,
    sts: StsClientConfig,
    cache: CacheConfig,
    clock: SharedClock,
    allow_root: bool,
    allow_federated_users: bool,
    token_verifier: Option<Arc<dyn TokenVerifier>>,
    accept_proofs: bool,
    vault_audience_header: String,
    token_header: String,
    require_bearer: bool,
    admission: Admission,
    renderer: Option<Arc<dyn RenderRefusal>>,
    trace_principal: bool,
    shared_cache: Option<(Arc<dyn SharedStore>, CacheSecret)>,
    shared_cache_timeout: Duration,
    sts_budget: StsBudgetConfig,
    strip_authorization: bool,
}

impl std::fmt::Debug for IamAuthConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthConfigBuilder")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Default for IamAuthConfigBuilder {
    fn default() -> Self {
        Self {
            audience: None,
            partitions: vec![Partition::Aws],
            regions: None,
            extra_regions: Vec::new(),
            formats: vec![ProofFormat::IamV1],
            max_proof_age: MAX_PROOF_AGE,
            max_clock_skew: Duration::from_secs(60),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            sts: StsClientConfig::default(),
            cache: CacheConfig::default(),
            clock: SharedClock::default(),
            allow_root: false,
            allow_federated_users: false,
            token_verifier: None,
            accept_proofs: true,
            vault_audience_header: VAULT_AUDIENCE_HEADER.to_owned(),
            token_header: http::header::AUTHORIZATION.as_str().to_owned(),
            require_bearer: true,
            admission: Admission::default(),
            renderer: None,
            trace_principal: false,
            shared_cache: None,
            shared_cache_timeout: Duration::from_millis(50),
            sts_budget: StsBudgetConfig::default(),
            strip_authorization: false,
        }
    }
}

impl IamAuthConfigBuilder {
    /// This service's audience: the value replayed in the audience header, so STS itself
    /// refuses proofs minted for another service. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The AWS partitions whose STS endpoints are accepted. Default: `aws` only.
    pub fn partitions(mut self, partitions: impl IntoIterator<Item = Partition>) -> Self {
        self.partitions = partitions.into_iter().collect();
        self
    }

    /// Restricts accepted endpoints to these regions (the global endpoint counts as
    /// `us-east-1`). Default: every region of the partitions.
    pub fn regions<I, R>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts regions that this release may not know yet (launched by AWS after it), by name.
    /// Each must follow the naming rule of a configured partition (`eu-west-9` for `aws`); its
    /// STS hosts are derived by that partition's rules and matched exactly, as for a known
    /// region. Added to the regions of [`regions`](Self::regions) when both are set. See
    /// [`StsEndpointTable::with_extra_regions`].
    pub fn extra_regions<I, R>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.extra_regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// The accepted token formats. Default: `iam-v1` only.
    pub fn formats(mut self, formats: impl IntoIterator<Item = ProofFormat>) -> Self {
        self.formats = formats.into_iter().collect();
        self
    }

    /// The oldest signature accepted, at most 15 minutes (the default).
    pub fn max_proof_age(mut self, age: Duration) -> Self {
        self.max_proof_age = age;
        self
    }

    /// How far in the future a signature may be dated. Default 60 seconds.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// The longest token accepted, checked before decoding. Default 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// The most verified tokens cached. Default 10 000.
    pub fn cache_max_entries(mut self, entries: u64) -> Self {
        self.cache.max_entries = entries;
        self
    }

    /// The longest a verified token is cached, whatever its window. Default 15 minutes.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache.max_ttl = ttl;
        self
    }

    /// How long a definite STS rejection is remembered; zero disables. Default 30 seconds.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache.negative_ttl = ttl;
        self
    }

    /// Shares verified proofs with the other replicas through `store` (Redis:
    /// [`RedisStore`](crate::cache::RedisStore), feature `redis`), behind the in-process cache.
    /// `secret`, the same on every replica, keys the store keys (hashes of the tokens, never the
    /// tokens) and seals the entries: anyone who can write to the store but lacks it cannot
    /// forge, copy or extend an entry. A store that is slow or down is a miss (STS answers),
    /// never a refusal. Replicas share entries when they have the same secret and audience.
    pub fn shared_cache(mut self, store: impl SharedStore, secret: CacheSecret) -> Self {
        self.shared_cache = Some((Arc::new(store), secret));
        self
    }

    /// The longest one shared-store call may take before it counts as a miss. Default 50 ms;
    /// at most 1 second.
    pub fn shared_cache_timeout(mut self, timeout: Duration) -> Self {
        self.shared_cache_timeout = timeout;
        self
    }

    /// The STS connect timeout. Default 1 second.
    pub fn sts_connect_timeout(mut self, timeout: Duration) -> Self {
        self.sts.connect_timeout = timeout;
        self
    }

    /// The deadline for verifying one proof with STS, retry included. Default 5 seconds.
    pub fn sts_timeout(mut self, timeout: Duration) -> Self {
        self.sts.timeout = timeout;
        self
    }

    /// The most concurrent STS calls, at most 65 536. Default 64. A verification that finds
    /// every slot busy is refused at once (`503 sts.busy` with `Retry-After`) rather than
    /// waiting for one.
    pub fn sts_max_concurrent_calls(mut self, calls: usize) -> Self {
        self.sts.max_concurrent_calls = calls;
        self
    }

    /// At most `calls` STS calls per `per` for proofs from one client address (IPv6: one `/64`),
    /// in a bucket that refills evenly. Only cache misses spend it: a cached token is never
    /// limited. Over budget: `429 sts.rate_limited` with `Retry-After`. The address is the
    /// socket peer (serve with `into_make_service_with_connect_info::<SocketAddr>()`), or the
    /// [`source_ip`](Self::source_ip) header of a trusted proxy; without either the address is
    /// unknown and only the other two budgets apply. Default: 100 per 10 seconds.
    pub fn sts_budget_per_client(mut self, calls: u32, per: Duration) -> Self {
        self.sts_budget.per_client = Rate::new(calls, per);
        self
    }

    /// At most `calls` STS calls per `per` for proofs signed with one access key id (as the
    /// proof's credential scope names it). Default: 50 per 10 seconds.
    pub fn sts_budget_per_access_key(mut self, calls: u32, per: Duration) -> Self {
        self.sts_budget.per_access_key = Rate::new(calls, per);
        self
    }

    /// At most `calls` STS calls per `per` for this layer as a whole, whoever asks: keep it
    /// below your account's STS request quota. Default: 100 per second.
    pub fn sts_budget_overall(mut self, calls: u32, per: Duration) -> Self {
        self.sts_budget.overall = Rate::new(calls, per);
        self
    }

    /// Removes the token header (`Authorization` unless [`token_header`](Self::token_header) says
    /// otherwise) from requests it lets through, so that the inner
    /// service never sees the credential (it could replay a proof to another service of the
    /// same audience within its window). Default: off (the header is kept, marked sensitive).
    pub fn strip_authorization(mut self, strip: bool) -> Self {
        self.strip_authorization = strip;
        self
    }

    /// Whether a throttled or failed STS call is retried once inside the deadline. Default true.
    pub fn sts_retry(mut self, retry: bool) -> Self {
        self.sts.retry = retry;
        self
    }

    /// **Testing only: never set this in production.** Sends every STS request over plain HTTP
    /// to `host:port` (an emulator such as [`LocalSts`](crate::testing)), keeping the signed
    /// `Host` header. Proofs must still name a real STS host from the endpoint table.
    pub fn dangerous_sts_connect_to(mut self, host_port: impl Into<String>) -> Self {
        self.sts.dangerous_connect_to = Some(host_port.into());
        self
    }

    /// Accepts the account root user as a principal. Default: refused.
    pub fn allow_root(mut self, allow: bool) -> Self {
        self.allow_root = allow;
        self
    }

    /// Accepts federated users (`sts:GetFederationToken`). Default: refused.
    pub fn allow_federated_users(mut self, allow: bool) -> Self {
        self.allow_federated_users = allow;
        self
    }

    /// The header that carries the audience in Vault-format logins. Default
    /// `X-Vault-AWS-IAM-Server-ID`; some deployments use `X-APP-ID`. Its value must be the
    /// configured [`audience`](Self::audience).
    pub fn vault_audience_header(mut self, name: impl Into<String>) -> Self {
        self.vault_audience_header = name.into();
        self
    }

    /// The request header that carries the token. Default `Authorization` (RFC 6750 §2.1).
    /// The name is checked at [`build`](Self::build). A request carrying it twice is refused.
    pub fn token_header(mut self, name: impl Into<String>) -> Self {
        self.token_header = name.into();
        self
    }

    /// Whether the token must follow the `Bearer ` scheme (RFC 6750 §2.1, the default). With
    /// `false`, a header value that is the token alone (`Authorization: iam-v1.…`, as some
    /// existing clients send it) is accepted as well as `Bearer <token>`.
    pub fn require_bearer_scheme(mut self, require: bool) -> Self {
        self.require_bearer = require;
        self
    }

    /// Also accepts bearer tokens that are not proofs (JWTs), verified by `verifier`.
    pub fn token_verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.token_verifier = Some(Arc::new(verifier));
        self
    }

    /// Whether IAM proofs are accepted as bearer tokens. Default true; set false (with a
    /// [`token_verifier`](Self::token_verifier)) for a JWT-only layer.
    pub fn accept_proofs(mut self, accept: bool) -> Self {
        self.accept_proofs = accept;
        self
    }

    /// Decides who may do what with an IAM policy: a [`Policy`](crate::policy::Policy), a
    /// [`PolicySet`](crate::policy::PolicySet), or a [`PolicyHandle`] to reload later. Enforced
    /// on every request, cache hits and JWTs included: `403 policy.denied` when it does not
    /// allow. Replaces an earlier [`authorize`](Self::authorize).
    pub fn policy(mut self, policy: impl Into<PolicyHandle>) -> Self {
        self.admission.policy(policy.into());
        self
    }

    /// Decides with another engine than IAM policies. Replaces an earlier
    /// [`policy`](Self::policy).
    pub fn authorize(mut self, authorizer: impl Authorize) -> Self {
        self.admission.authorize(Arc::new(authorizer));
        self
    }

    /// Lets in only principals of these 12-digit accounts (checked with any
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

    /// Lets in only these principals: role ARNs (`arn:aws:iam::A:role/NAME`, any session),
    /// session ARNs, user ARNs, account ids or `arn:aws:iam::A:root`, unique ids (`AROA…`,
    /// `AIDA…`). Checked with any [`policy`](Self::policy): both must allow.
    pub fn allowed_principals<I, A>(self, principals: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.allowed_accounts(principals)
    }

    /// Lets in **every principal of every AWS account** that can sign a proof for this
    /// audience. Anyone can create an AWS account: use this only where another layer decides
    /// who may do what.
    pub fn allow_any_aws_account(mut self) -> Self {
        self.admission.allow_any_aws_account = true;
        self
    }

    /// Lets requests without a token reach the policy as `aws:PrincipalType = Anonymous`
    /// (handlers see `Option<IamPrincipal>` = `None`). Requires a [`policy`](Self::policy) or
    /// [`authorize`](Self::authorize), which decides what anonymous callers may do; one that
    /// does not admit them answers `401`. Default: off.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.admission.allow_anonymous = allow;
        self
    }

    /// Evaluates the policy and logs what it would deny, but lets every authenticated request
    /// through: to try a policy on live traffic. Default: off.
    pub fn policy_dry_run(mut self, dry_run: bool) -> Self {
        self.admission.dry_run = dry_run;
        self
    }

    /// Where `aws:SourceIp` comes from; required when the policy reads it.
    pub fn source_ip(mut self, source: SourceIp) -> Self {
        self.admission.source_ip = Some(source);
        self
    }

    /// Renders the body (and its content type) of every refusal this layer makes, policy
    /// denials included; the status, `WWW-Authenticate` and `Retry-After` stay the layer's.
    /// Default: a small JSON body `{"error", "reason", "message"}`. gRPC calls
    /// (`content-type: application/grpc*`) are always refused the gRPC way (HTTP `200`,
    /// `grpc-status`, `grpc-message`: see [`AuthError::to_grpc_response`]), without a body.
    pub fn render_refusal(mut self, renderer: impl RenderRefusal) -> Self {
        self.renderer = Some(Arc::new(renderer));
        self
    }

    /// Records the principal ARN in the `iam_auth.authenticate` span. Default: off, as the
    /// ARN names a person for SSO and IAM users (personal data in your traces).
    pub fn trace_principal(mut self, trace: bool) -> Self {
        self.trace_principal = trace;
        self
    }

    /// The clock used for every time decision. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<IamAuthConfig, ConfigError> {
        let audience = self.audience.clone().ok_or(ConfigError::MissingAudience)?;
        if !crate::proof::is_valid_audience(&audience) {
            return Err(ConfigError::InvalidAudience);
        }

        let audience =
            HeaderValue::from_str(&audience).map_err(|_| ConfigError::InvalidAudience)?;
        if self.formats.is_empty() || (!self.accept_proofs && self.token_verifier.is_none()) {
            return Err(ConfigError::NoFormats);
        }
        if self.partitions.is_empty() {
            return Err(ConfigError::NoPartitions);
        }
        if self.max_proof_age < Duration::from_secs(1) || self.max_proof_age > MAX_PROOF_AGE {
            return Err(ConfigError::MaxAge(self.max_proof_age));
        }
        if self.max_clock_skew > MAX_PROOF_AGE {
            return Err(ConfigError::ClockSkew(self.max_clock_skew));
        }
        if self.cache.max_ttl > MAX_PROOF_AGE {
            return Err(ConfigError::TooLong("cache_max_ttl", MAX_PROOF_AGE));
        }
        if self.cache.negative_ttl > Duration::from_secs(300) {
            return Err(ConfigError::TooLong(
                "negative_cache_ttl",
                Duration::from_secs(300),
            ));
        }
        for (name, zero) in [
            ("max_token_bytes", self.max_token_bytes == 0),
            ("cache_max_entries", self.cache.max_entries == 0),
            ("cache_max_ttl", self.cache.max_ttl.is_zero()),
            ("sts_timeout", self.sts.timeout.is_zero()),
            ("sts_connect_timeout", self.sts.connect_timeout.is_zero()),
            (
                "sts_max_concurrent_calls",
                self.sts.max_concurrent_calls == 0,
            ),
        ] {
            if zero {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.shared_cache_timeout.is_zero() {
            return Err(ConfigError::Zero("shared_cache_timeout"));
        }
        if self.shared_cache_timeout > Duration::from_secs(1) {
            return Err(ConfigError::TooLong(
                "shared_cache_timeout",
                Duration::from_secs(1),
            ));
        }
        for (name, rate) in [
            ("sts_budget_per_client", &self.sts_budget.per_client),
            ("sts_budget_per_access_key", &self.sts_budget.per_access_key),
            ("sts_budget_overall", &self.sts_budget.overall),
        ] {
            match rate.check() {
                Ok(()) => {}
                Err(RateError::Zero) => return Err(ConfigError::Zero(name)),
                Err(RateError::TooLong) => {
                    return Err(ConfigError::TooLong(name, Rate::MAX_PERIOD));
                }
            }
        }
        if self.sts.max_concurrent_calls > MAX_CONCURRENT_STS_CALLS {
            return Err(ConfigError::TooMany(
                "sts_max_concurrent_calls",
                MAX_CONCURRENT_STS_CALLS,
            ));
        }
        if self.sts.timeout > Duration::from_secs(60) {
            return Err(ConfigError::TooLong("sts_timeout", Duration::from_secs(60)));
        }
        if let Some(addr) = &self.sts.dangerous_connect_to {
            let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
            });
            if !valid {
                return Err(ConfigError::ConnectTo(addr.clone()));
            }
        }
        let vault_audience_header =
            HeaderName::from_bytes(self.vault_audience_header.to_ascii_lowercase().as_bytes())
                .map_err(|_| ConfigError::InvalidHeaderName(self.vault_audience_header.clone()))?;
        if crate::proof::is_reserved_vault_header(vault_audience_header.as_str()) {
            return Err(ConfigError::InvalidHeaderName(
                self.vault_audience_header.clone(),
            ));
        }
        let token_header =
            HeaderName::from_bytes(self.token_header.to_ascii_lowercase().as_bytes())
                .map_err(|_| ConfigError::InvalidHeaderName(self.token_header.clone()))?;
        let client_ip = self
            .admission
            .source_ip
            .clone()
            .unwrap_or(SourceIp::SocketPeer)
            .parse()
            .map_err(ConfigError::Authorization)?;
        let enforcement = self
            .admission
            .enforcement(&self.clock)
            .map_err(|e| match e {
                AdmissionError::NoAdmission => ConfigError::NoAdmission,
                AdmissionError::AllowedPrincipal(e) => ConfigError::AllowedPrincipal(e),
                AdmissionError::Invalid(e) => ConfigError::Authorization(e),
            })?;
        let endpoints = match &self.regions {
            None => StsEndpointTable::new(&self.partitions),
            Some(regions) => {
                let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
                StsEndpointTable::with_regions(&self.partitions, &regions)?
            }
        }
        .with_extra_regions(&self.extra_regions)?;
        let rules = ProofRules::new(endpoints)
            .with_formats(self.formats)
            .with_max_age(self.max_proof_age)
            .with_max_skew(self.max_clock_skew)
            .with_max_token_bytes(self.max_token_bytes);
        Ok(IamAuthConfig {
            audience,
            rules,
            sts: self.sts,
            cache: self.cache,
            clock: self.clock,
            allow_root: self.allow_root,
            allow_federated_users: self.allow_federated_users,
            token_verifier: self.token_verifier,
            accept_proofs: self.accept_proofs,
            vault_audience_header,
            token_header,
            require_bearer: self.require_bearer,
            enforcement,
            allow_anonymous: self.admission.allow_anonymous,
            renderer: self.renderer,
            trace_principal: self.trace_principal,
            shared_cache: self.shared_cache,
            shared_cache_timeout: self.shared_cache_timeout,
            sts_budget: self.sts_budget,
            client_ip,
            strip_authorization: self.strip_authorization,
        })
    }
}

/// The state every [`IamAuth`] service of one layer shares: rules, STS client and cache.
pub(crate) struct Shared {
    pub(crate) config: IamAuthConfig,
    pub(crate) sts: StsClient,
    pub(crate) cache: ProofCache,
    /// Vault-format logins live apart from bearer tokens: a hit in one never serves the other.
    pub(crate) vault_cache: ProofCache,
    /// What cache misses may spend on STS calls.
    pub(crate) budget: StsBudget,
}

/// A Tower layer that authenticates every request by its caller's IAM identity.
///
/// Cloning is cheap, and every clone (and every service it makes) shares one STS client and one
/// verified-proof cache.
#[derive(Clone)]
pub struct IamAuthLayer {
    pub(crate) shared: Arc<Shared>,
}

impl IamAuthLayer {
    /// A layer for a checked configuration.
    ///
    /// Building the STS HTTP client can only fail if the TLS backend cannot start; that is
    /// reported by [`try_new`](Self::try_new). This constructor panics in that case.
    pub fn new(config: IamAuthConfig) -> Self {
        Self::try_new(config).expect("the STS HTTP client could not be built")
    }

    /// A layer for a checked configuration, reporting HTTP client failures.
    pub fn try_new(config: IamAuthConfig) -> Result<Self, ConfigError> {
        let sts = StsClient::new(config.sts.clone())
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        let shared = |namespace| {
            config.shared_cache.as_ref().map(|(store, secret)| {
                let audience = config.audience();
                let timeout = config.shared_cache_timeout;
                SharedCache::new(store.clone(), secret.clone(), namespace, audience, timeout)
            })
        };
        let cache = ProofCache::new(config.cache.clone(), config.clock.clone())
            .with_shared(shared(Namespace::Bearer));
        let vault_cache = ProofCache::new(config.cache.clone(), config.clock.clone())
            .with_shared(shared(Namespace::VaultLogin));
        let budget = StsBudget::new(&config.sts_budget);
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                sts,
                cache,
                vault_cache,
                budget,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IamAuthConfig {
        &self.shared.config
    }

    /// Verifies a bearer token (the text after `Bearer `) as the layer's services do, for
    /// handlers that receive proofs some other way.
    ///
    /// This authenticates only: the allowed accounts and the policy decide about a *request*,
    /// so call [`authorize`](Self::authorize) with the request before acting for the caller.
    pub async fn verify_token(&self, token: &str) -> Result<IamPrincipal, AuthError> {
        self.verify_token_from(token, None).await
    }

    /// [`verify_token`](Self::verify_token) for a caller at `client`, charged to its STS budget.
    pub(crate) async fn verify_token_from(
        &self,
        token: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<IamPrincipal, AuthError> {
        if token.len() > self.shared.config.rules.max_token_bytes() {
            return Err(crate::error::ReasonCode::ProofTooLarge.into());
        }
        super::service::verify_bearer(&self.shared, token.as_bytes(), client).await
    }

    /// Verifies a Vault-format login body (`{iam_http_request_method, iam_request_url,
    /// iam_request_body, iam_request_headers}`), through the same rules, STS client and cache.
    ///
    /// This authenticates only: call [`authorize`](Self::authorize) with the login request.
    pub async fn verify_vault_login(&self, body: &[u8]) -> Result<IamPrincipal, AuthError> {
        self.verify_vault_login_from(body, None).await
    }

    /// [`verify_vault_login`](Self::verify_vault_login) for a caller at `client`.
    pub(crate) async fn verify_vault_login_from(
        &self,
        body: &[u8],
        client: Option<std::net::IpAddr>,
    ) -> Result<IamPrincipal, AuthError> {
        super::service::verify_vault_login(&self.shared, body, client).await
    }

    /// Decides `request` for a `principal` verified by [`verify_token`](Self::verify_token) or
    /// [`verify_vault_login`](Self::verify_vault_login), as the layer's services do: the allowed
    /// accounts or principals, then the policy. `Err` is the refusal to answer
    /// (`403 policy.denied`, `400` for a non-canonical path...).
    pub fn authorize<B>(
        &self,
        request: &http::Request<B>,
        principal: &IamPrincipal,
    ) -> Result<(), AuthError> {
        match &self.shared.config.enforcement {
            Some(enforcement) => {
                enforcement.enforce(request, Some(principal), Some(principal.auth_method()))
            }
            None => Ok(()),
        }
    }

    /// The client address of a request, as the layer reads it for STS budgets.
    #[cfg(feature = "jwt")]
    pub(crate) fn client_address(
        &self,
        headers: &http::HeaderMap,
        extensions: http::Extensions,
    ) -> Option<std::net::IpAddr> {
        let mut request = http::Request::new(());
        *request.headers_mut() = headers.clone();
        *request.extensions_mut() = extensions;
        self.shared.config.client_ip.read(&request).ok().flatten()
    }

    /// This layer, answering in the inner service's own body type: its services return
    /// `Response<B>` where the inner service returns `Response<B>`, and write refusals in `B`
    /// ([`FromRefusal`](super::FromRefusal), implemented for axum's `Body` and for
    /// [`ResponseBody`]). `IamAuthLayer` itself takes any body and returns [`ResponseBody`],
    /// which axum boxes once more on every response; this one saves that. The decisions are
    /// the same.
    ///
    /// ```
    /// # use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
    /// use axum::{Router, routing::get};
    ///
    /// # fn app(config: IamAuthConfig) -> Router {
    /// Router::new()
    ///     .route("/orders", get(|| async { "[]" }))
    ///     .route_layer(IamAuthLayer::new(config).inner_body())
    /// # }
    /// ```
    ///
    /// [`ResponseBody`]: super::ResponseBody
    pub fn inner_body(self) -> InnerBodyLayer {
        InnerBodyLayer { layer: self }
    }

    /// The verified-proof cache shared by this layer's services.
    pub fn cache(&self) -> &ProofCache {
        &self.shared.cache
    }
}

impl std::fmt::Debug for IamAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthLayer")
            .field("audience", &self.shared.config.audience())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for IamAuthLayer {
    type Service = IamAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IamAuth::new(inner, self.shared.clone())
    }
}

/// [`IamAuthLayer`] answering in the inner service's own body type: made by
/// [`IamAuthLayer::inner_body`].
#[derive(Clone, Debug)]
pub struct InnerBodyLayer {
    layer: IamAuthLayer,
}

impl InnerBodyLayer {
    /// The [`IamAuthLayer`] this layer runs (its configuration, cache and
    /// [`authorize`](IamAuthLayer::authorize)).
    pub fn as_layer(&self) -> &IamAuthLayer {
        &self.layer
    }
}

impl<S> Layer<S> for InnerBodyLayer {
    type Service = IamAuth<S, InnerBody>;

    fn layer(&self, inner: S) -> Self::Service {
        IamAuth::new(inner, self.layer.shared.clone())
    }
}
