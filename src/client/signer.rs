//! [`ProofSigner`]: presigns `GetCallerIdentity` with the workload's own credentials.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningInstructions, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::clock::{Clock, SharedClock};
use crate::endpoints::{EndpointKind, Partition, StsEndpointTable};
use crate::proof::{MAX_PROOF_AGE, ProofFormat, encode_token};

/// A signed proof token. `Debug` does not show it: it is a bearer credential.
#[derive(Clone)]
pub struct ProofToken {
    token: Arc<str>,
    format: ProofFormat,
    signed_at: SystemTime,
    expires_at: SystemTime,
    reuse_until: SystemTime,
}

impl ProofToken {
    /// The token, for `Authorization: Bearer <token>`.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// Its format.
    pub fn format(&self) -> ProofFormat {
        self.format
    }

    /// When it was signed.
    pub fn signed_at(&self) -> SystemTime {
        self.signed_at
    }

    /// When its signature window closes (`X-Amz-Expires` after signing, or earlier when the
    /// credentials that signed it expire first).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Until when the signer hands it out again before signing a new one.
    pub fn reuse_until(&self) -> SystemTime {
        self.reuse_until
    }
}

impl fmt::Debug for ProofToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofToken")
            .field("token", &"** redacted **")
            .finish_non_exhaustive()
    }
}

/// Why a proof could not be signed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The credentials provider failed.
    #[error("could not load AWS credentials: {0}")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    /// SigV4 signing failed.
    #[error("could not sign the proof: {0}")]
    Signing(String),
}

/// A configuration mistake found by [`ProofSignerBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SignerConfigError {
    /// No audience was given.
    #[error("an audience is required")]
    MissingAudience,
    /// The audience is empty, too long or not visible ASCII.
    #[error("the audience must be 1..=128 visible ASCII characters")]
    InvalidAudience,
    /// The region is not a known STS region and no host was given.
    #[error("unknown region {0:?}: set sts_host explicitly")]
    UnknownRegion(String),
    /// The region has no STS endpoint of the requested kind (FIPS, dual-stack).
    #[error("region {region:?} has no STS endpoint with fips={fips} and dual_stack={dual_stack}")]
    NoSuchEndpoint {
        /// The region.
        region: String,
        /// Whether a FIPS endpoint was asked for.
        fips: bool,
        /// Whether a dual-stack endpoint was asked for.
        dual_stack: bool,
    },
    /// No credentials provider was configured (an AWS SDK configuration without one).
    #[error("no AWS credentials provider is configured")]
    NoCredentialsProvider,
    /// The header name for Vault-format logins is not a header name this crate can send.
    #[error("{0:?} cannot carry the audience of a Vault login (not a header name, or reserved)")]
    VaultAudienceHeader(String),
    /// Validity must be 1..=900 seconds, and the refresh margin shorter than it.
    #[error("expires_in must be 1s..=15min and refresh_margin shorter than it")]
    Validity,
}

/// Presigns native (or EKS) proof tokens and reuses each one until a margin before its window
/// closes, so that a busy client sends the same token for minutes and the server's cache hits.
///
/// ```
/// use aws_credential_types::Credentials;
/// use tower_iam_auth::client::ProofSigner;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None, None, "example");
/// let signer = ProofSigner::builder(credentials).audience("orders-service").region("eu-west-1").build()?;
/// let first = signer.token().await?;
/// let second = signer.token().await?;
/// assert!(first.as_str().starts_with("iam-v1."));
/// assert_eq!(first.as_str(), second.as_str(), "reused until close to expiry");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ProofSigner {
    inner: Arc<SignerInner>,
}

struct SignerInner {
    provider: SharedCredentialsProvider,
    vault_audience_header: String,
    audience: String,
    region: String,
    host: String,
    format: ProofFormat,
    expires_in: Duration,
    refresh_margin: Duration,
    clock: SharedClock,
    cached: RwLock<Option<ProofToken>>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for ProofSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofSigner")
            .field("audience", &self.inner.audience)
            .field("host", &self.inner.host)
            .field("format", &self.inner.format)
            .finish_non_exhaustive()
    }
}

impl ProofSigner {
    /// Starts a signer using any AWS credentials provider (static credentials, the default
    /// chain of `aws-config`, an assume-role provider...).
    pub fn builder(provider: impl ProvideCredentials + 'static) -> ProofSignerBuilder {
        ProofSignerBuilder::with_provider(Some(SharedCredentialsProvider::new(provider)))
    }

    #[cfg(feature = "aws-config")]
    pub(crate) fn builder_without_provider() -> ProofSignerBuilder {
        ProofSignerBuilder::with_provider(None)
    }

    /// A token: the cached one while it has more than the refresh margin left, else a new one.
    /// Concurrent callers that find it stale share one signing.
    pub async fn token(&self) -> Result<ProofToken, SignError> {
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let _guard = self.inner.refresh.lock().await;
        if let Some(token) = self.fresh_cached() {
            return Ok(token);
        }
        let token = self.sign_new().await?;
        *self.inner.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(token)
    }

    fn fresh_cached(&self) -> Option<ProofToken> {
        let now = self.inner.clock.now();
        let cached = self.inner.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|t| now < t.reuse_until).cloned()
    }

    /// Signs a new token now, without using or updating the cache.
    pub async fn sign_new(&self) -> Result<ProofToken, SignError> {
        let inner = &self.inner;
        let credentials = self.credentials().await?;
        let now = inner.clock.now();
        // A proof signed with session credentials dies with them.
        let mut valid_until = now + inner.expires_in;
        if let Some(expiry) = credentials.expiry() {
            valid_until = valid_until.min(expiry);
        }
        let reuse_until = valid_until
            .checked_sub(inner.refresh_margin)
            .unwrap_or(now)
            .max(now);

        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(inner.expires_in);
        let url = format!(
            "https://{}/?Action=GetCallerIdentity&Version=2011-06-15",
            inner.host
        );
        let headers = [(inner.format.audience_header(), inner.audience.as_str())];
        let instructions =
            self.sign_request(credentials, now, settings, "GET", &url, &headers, &[])?;
        let mut request = http::Request::get(url.as_str())
            .body(())
            .map_err(|e| SignError::Signing(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        let token = encode_token(inner.format, &request.uri().to_string());
        Ok(ProofToken {
            token: token.into(),
            format: inner.format,
            signed_at: now,
            expires_at: valid_until,
            reuse_until,
        })
    }

    pub(super) async fn credentials(&self) -> Result<Credentials, SignError> {
        self.inner
            .provider
            .provide_credentials()
            .await
            .map_err(SignError::Credentials)
    }

    /// SigV4-signs `method url` with `headers` and `body` for STS in the signer's region.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sign_request(
        &self,
        credentials: Credentials,
        now: SystemTime,
        settings: SigningSettings,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<SigningInstructions, SignError> {
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.region)
            .name("sts")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SignError::Signing(e.to_string()))?;
        // aws-sigv4 traces the canonical request, session token included; keep that out of
        // the application's logs by signing under a subscriber that records nothing.
        let silent = tracing::subscriber::NoSubscriber::default();
        let (instructions, _signature) =
            tracing::subscriber::with_default(silent, || sign(signable, &params))
                .map_err(|e| SignError::Signing(e.to_string()))?
                .into_parts();
        Ok(instructions)
    }

    pub(super) fn host(&self) -> &str {
        &self.inner.host
    }

    pub(super) fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    pub(super) fn vault_header(&self) -> &str {
        &self.inner.vault_audience_header
    }

    /// The audience the tokens are signed for.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }
}

/// Builder for [`ProofSigner`].
///
/// Cloning it before [`build`](Self::build) makes signers (for other audiences, say) that share
/// one credentials provider, and so one credentials cache when it is a [`CachedCredentials`](super::CachedCredentials).
#[must_use]
#[derive(Clone)]
pub struct ProofSignerBuilder {
    provider: Option<SharedCredentialsProvider>,
    audience: Option<String>,
    region: String,
    host: Option<String>,
    fips: bool,
    dual_stack: bool,
    vault_audience_header: String,
    format: ProofFormat,
    expires_in: Duration,
    refresh_margin: Duration,
    clock: SharedClock,
}

impl fmt::Debug for ProofSignerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofSignerBuilder")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl ProofSignerBuilder {
    fn with_provider(provider: Option<SharedCredentialsProvider>) -> Self {
        ProofSignerBuilder {
            provider,
            audience: None,
            region: "us-east-1".to_owned(),
            host: None,
            fips: false,
            dual_stack: false,
            vault_audience_header: "X-Vault-AWS-IAM-Server-ID".to_owned(),
            format: ProofFormat::IamV1,
            expires_in: MAX_PROOF_AGE,
            refresh_margin: Duration::from_secs(5 * 60),
            clock: SharedClock::default(),
        }
    }

    /// The credentials provider (replacing any set before).
    pub fn credentials(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// The audience of the service the tokens are for. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The signing region; the host defaults to its regional STS endpoint. Default `us-east-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The STS host named in the proof (e.g. the global `sts.amazonaws.com`, which signs as
    /// `us-east-1`). Default: the regional endpoint of the region.
    pub fn sts_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sign for the region's FIPS endpoint (`sts-fips.REGION.amazonaws.com`). In GovCloud, whose
    /// regional endpoints are FIPS endpoints, the regional host. Ignored when `sts_host` is set.
    pub fn use_fips(mut self, fips: bool) -> Self {
        self.fips = fips;
        self
    }

    /// Sign for the region's dual-stack (IPv4 and IPv6) endpoint (`sts.REGION.api.aws`).
    /// Ignored when `sts_host` is set.
    pub fn use_dual_stack(mut self, dual_stack: bool) -> Self {
        self.dual_stack = dual_stack;
        self
    }

    /// The header that carries the audience in Vault-format logins
    /// ([`ProofSigner::sign_vault_login`]). Default `X-Vault-AWS-IAM-Server-ID`, Vault's;
    /// some deployments use another, e.g. `X-APP-ID`. It must be a header name, neither
    /// `X-Amz-*` nor one a login already carries for itself (`Authorization`, `Host`, ...).
    pub fn vault_audience_header(mut self, name: impl Into<String>) -> Self {
        self.vault_audience_header = name.into();
        self
    }

    /// The token format. Default `iam-v1`.
    pub fn format(mut self, format: ProofFormat) -> Self {
        self.format = format;
        self
    }

    /// `X-Amz-Expires` of the presigned URL, at most (and by default) 15 minutes.
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = expires_in;
        self
    }

    /// How long before its window closes a token stops being reused. Default 5 minutes.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The clock used for signing times. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<ProofSigner, SignerConfigError> {
        let audience = self.audience.ok_or(SignerConfigError::MissingAudience)?;
        if !crate::proof::is_valid_audience(&audience) {
            return Err(SignerConfigError::InvalidAudience);
        }
        if self.expires_in < Duration::from_secs(1)
            || self.expires_in > MAX_PROOF_AGE
            || self.refresh_margin >= self.expires_in
        {
            return Err(SignerConfigError::Validity);
        }
        let provider = self
            .provider
            .ok_or(SignerConfigError::NoCredentialsProvider)?;
        let vault_header = self.vault_audience_header.to_ascii_lowercase();
        if http::HeaderName::from_bytes(vault_header.as_bytes()).is_err()
            || vault_header.starts_with("x-amz-")
            || crate::proof::is_reserved_vault_header(&vault_header)
        {
            return Err(SignerConfigError::VaultAudienceHeader(
                self.vault_audience_header,
            ));
        }
        let host = match self.host {
            Some(host) => host,
            None => sts_host(&self.region, self.fips, self.dual_stack)?,
        };
        Ok(ProofSigner {
            inner: Arc::new(SignerInner {
                provider,
                vault_audience_header: self.vault_audience_header,
                audience,
                region: self.region,
                host,
                format: self.format,
                expires_in: self.expires_in,
                refresh_margin: self.refresh_margin,
                clock: self.clock,
                cached: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// The STS host a signer names for `region`: regional, FIPS, dual-stack or both, as found in the
/// endpoint table (so that the server, which checks hosts against the same table, accepts it).
fn sts_host(region: &str, fips: bool, dual_stack: bool) -> Result<String, SignerConfigError> {
    let partition = Partition::for_region(region)
        .ok_or_else(|| SignerConfigError::UnknownRegion(region.to_owned()))?;
    let table = StsEndpointTable::with_regions(&[partition], &[region])
        .map_err(|_| SignerConfigError::UnknownRegion(region.to_owned()))?;
    let find = |kind: EndpointKind| {
        table
            .iter()
            .find(|e| e.region() == region && e.kind() == kind)
            .map(|e| e.host().to_owned())
    };
    let host = match (fips, dual_stack) {
        (false, false) => find(EndpointKind::Regional),
        (false, true) => find(EndpointKind::DualStack),
        // GovCloud's regional endpoints are its FIPS endpoints.
        (true, false) => find(EndpointKind::Fips).or_else(|| {
            (partition == Partition::AwsUsGov)
                .then(|| find(EndpointKind::Regional))
                .flatten()
        }),
        (true, true) => find(EndpointKind::FipsDualStack).or_else(|| {
            (partition == Partition::AwsUsGov)
                .then(|| find(EndpointKind::DualStack))
                .flatten()
        }),
    };
    host.ok_or_else(|| SignerConfigError::NoSuchEndpoint {
        region: region.to_owned(),
        fips,
        dual_stack,
    })
}
