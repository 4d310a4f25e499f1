//! The signed `GetCallerIdentity` request as data: parse, encode and validate, with no I/O.
//!
//! [`ProofRules::validate`] applies every rule of DESIGN §3 to a bearer token and the current
//! time. Only a [`ValidatedProof`] can be replayed to STS, and it can only be built here, so
//! nothing that failed local validation ever reaches the network.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tower_iam_auth::error::ReasonCode;
//! use tower_iam_auth::proof::ProofRules;
//! use tower_iam_auth::endpoints::{Partition, StsEndpointTable};
//!
//! let rules = ProofRules::new(StsEndpointTable::new(&[Partition::Aws]));
//! let token = tower_iam_auth::proof::encode_token(
//!     tower_iam_auth::proof::ProofFormat::IamV1,
//!     "https://sts.amazonaws.com.evil.example/?Action=GetCallerIdentity",
//! );
//! let err = rules.validate(&token, SystemTime::now()).unwrap_err();
//! assert_eq!(err.reason(), ReasonCode::ProofHostNotAllowed);
//! ```

mod sigv4;
mod token;
mod url;
mod vault;

use std::fmt;

use http::{HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

use crate::endpoints::{StsEndpoint, StsEndpointTable};
use crate::error::{AuthError, ReasonCode};

pub(crate) use sigv4::format_amz_date;
#[cfg(feature = "testing")]
pub(crate) use sigv4::parse_amz_date;
pub use token::{ProofFormat, UnknownFormat, encode_token};
pub use vault::VAULT_AUDIENCE_HEADER;
#[cfg(any(feature = "server", feature = "client"))]
pub(crate) use vault::is_reserved_vault_header;

/// The longest signature window STS honours, and so the largest allowed maximum age.
pub const MAX_PROOF_AGE: Duration = Duration::from_secs(15 * 60);

/// The default cap on a token's length in bytes, checked before decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Query parameters a presigned `GetCallerIdentity` URL may carry, in exact case.
const ALLOWED_PARAMS: [&str; 9] = [
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
];

/// Whether `audience` can name a service: 1..=128 visible ASCII characters, so that it fits an
/// HTTP header value unchanged. The server and the signer apply the same rule.
#[cfg_attr(not(any(feature = "server", feature = "client")), allow(dead_code))]
pub(crate) fn is_valid_audience(audience: &str) -> bool {
    (1..=128).contains(&audience.len()) && audience.bytes().all(|b| b.is_ascii_graphic())
}

/// The local validation rules: which STS hosts, formats, and time window are accepted.
#[derive(Clone, Debug)]
pub struct ProofRules {
    endpoints: StsEndpointTable,
    formats: Vec<ProofFormat>,
    max_age: Duration,
    max_skew: Duration,
    max_token_bytes: usize,
}

impl ProofRules {
    /// Rules accepting native `iam-v1` tokens for hosts of `endpoints`, with a 15-minute window,
    /// 60 seconds of allowed clock skew and an 8 KiB token cap.
    pub fn new(endpoints: StsEndpointTable) -> Self {
        Self {
            endpoints,
            formats: vec![ProofFormat::IamV1],
            max_age: MAX_PROOF_AGE,
            max_skew: Duration::from_secs(60),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Sets the accepted formats.
    pub fn with_formats(mut self, formats: impl IntoIterator<Item = ProofFormat>) -> Self {
        self.formats = formats.into_iter().collect();
        self
    }

    /// Sets the maximum age of a signature; values above [`MAX_PROOF_AGE`] are clamped to it.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.min(MAX_PROOF_AGE);
        self
    }

    /// Sets how far in the future a signature may be dated (the caller's clock running fast).
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// Sets the cap on a token's length, checked before any decoding.
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// The STS endpoints a proof may name.
    pub fn endpoints(&self) -> &StsEndpointTable {
        &self.endpoints
    }

    /// The accepted formats.
    pub fn formats(&self) -> &[ProofFormat] {
        &self.formats
    }

    /// The maximum signature age.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The allowed clock skew for signatures dated in the future.
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }

    /// The cap on a token's length in bytes.
    #[inline]
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Validates a bearer token (the part after `Bearer `) at time `now`.
    pub fn validate(&self, token: &str, now: SystemTime) -> Result<ValidatedProof, AuthError> {
        // Rule 1: size cap before decoding anything.
        if token.len() > self.max_token_bytes {
            return Err(
                AuthError::new(ReasonCode::ProofTooLarge).with_detail(format!(
                    "{} bytes > {}",
                    token.len(),
                    self.max_token_bytes
                )),
            );
        }
        let Some((format, body)) = ProofFormat::split_token(token) else {
            return Err(AuthError::new(ReasonCode::ProofFormatNotAccepted)
                .with_detail("unknown token prefix"));
        };
        if !self.formats.contains(&format) {
            return Err(AuthError::new(ReasonCode::ProofFormatNotAccepted)
                .with_detail(format!("{format} tokens are not accepted here")));
        }
        let url_text = token::decode_body(body)?;
        self.validate_presigned_url(format, &url_text, now)
    }

    fn validate_presigned_url(
        &self,
        format: ProofFormat,
        url_text: &str,
        now: SystemTime,
    ) -> Result<ValidatedProof, AuthError> {
        // Rule 2: the URL's shape and its host.
        let url = url::parse(url_text)?;
        let endpoint = self.endpoints.lookup(url.host).ok_or_else(|| {
            AuthError::new(ReasonCode::ProofHostNotAllowed)
                .with_detail(format!("host {:?}", truncate(url.host)))
        })?;

        // Rule 3: the parameter allowlist.
        let params = url::split_query(url.query)?;
        let mut found: [Option<&str>; ALLOWED_PARAMS.len()] = [None; ALLOWED_PARAMS.len()];
        for (i, param) in params.iter().enumerate() {
            if let Some(other) = params[..i]
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(param.name))
            {
                return Err(if other.name == param.name {
                    AuthError::new(ReasonCode::ProofParamDuplicate)
                        .with_detail(format!("{} repeated", param.name))
                } else {
                    AuthError::new(ReasonCode::ProofParamCaseConflict)
                        .with_detail(format!("{} and {}", other.name, param.name))
                });
            }
            let slot = ALLOWED_PARAMS
                .iter()
                .position(|allowed| *allowed == param.name)
                .ok_or_else(|| {
                    AuthError::new(ReasonCode::ProofParamNotAllowed)
                        .with_detail(format!("parameter {}", truncate(param.name)))
                })?;
            found[slot] = Some(param.value.as_str());
        }
        let get = |name: &'static str| -> Result<&str, AuthError> {
            let slot = ALLOWED_PARAMS.iter().position(|p| *p == name).unwrap_or(0);
            found[slot]
                .ok_or_else(|| AuthError::new(ReasonCode::ProofParamMissing).with_detail(name))
        };
        let optional = |name: &'static str| -> Option<&str> {
            ALLOWED_PARAMS
                .iter()
                .position(|p| *p == name)
                .and_then(|slot| found[slot])
        };
        if get("Action")? != "GetCallerIdentity" {
            return Err(ReasonCode::ProofAction.into());
        }
        if get("Version")? != "2011-06-15" {
            return Err(ReasonCode::ProofVersion.into());
        }

        // Rule 4: SigV4 metadata.
        let audience_header = format.audience_header();
        let signed = check_sigv4(
            endpoint,
            &SigV4Fields {
                algorithm: get("X-Amz-Algorithm")?,
                amz_date: get("X-Amz-Date")?,
                credential: get("X-Amz-Credential")?,
                signed_headers: get("X-Amz-SignedHeaders")?,
                signature: get("X-Amz-Signature")?,
                security_token: optional("X-Amz-Security-Token"),
            },
            &["host", audience_header],
            audience_header,
        )?;
        let (signed_at, scope) = (signed.signed_at, signed.access_key_id);

        // Rule 5: time.
        let expires = match optional("X-Amz-Expires") {
            None => None,
            Some(v) => {
                // Canonical digits only: `060` or `0060` would be a second spelling of `60`.
                let canonical = !v.is_empty() && v.len() <= 3 && !v.starts_with('0');
                let secs = (canonical && v.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
                    .filter(|s| (1..=900).contains(s))
                    .ok_or(ReasonCode::ProofExpiresInvalid)?;
                Some(Duration::from_secs(secs))
            }
        };
        let mut window = self.max_age;
        if let Some(expires) = expires.filter(|_| format.honours_expires()) {
            window = window.min(expires);
        }
        let expires_at = signed_at + window;
        check_time(signed_at, expires_at, window, self.max_skew, now)?;

        Ok(ValidatedProof {
            kind: ProofKind::Token(format),
            endpoint: endpoint.clone(),
            request: Replay::Get {
                query: url.query.to_owned(),
            },
            audience_header: HeaderName::from_static(audience_header),
            access_key_id: scope,
            signed_at,
            expires_at,
        })
    }
}

/// The SigV4 fields of a proof, wherever they were carried (query or headers).
pub(crate) struct SigV4Fields<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) amz_date: &'a str,
    pub(crate) credential: &'a str,
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
    pub(crate) security_token: Option<&'a str>,
}

/// What rule 4 establishes about a signature.
pub(crate) struct SignedBy {
    pub(crate) signed_at: SystemTime,
    pub(crate) access_key_id: String,
}

/// Rule 4: algorithm, credential scope (date and region consistent with `X-Amz-Date` and the
/// host), signed headers (a subset of `replayed`, with `host` and the audience header), and the
/// shapes of the signature and session token.
pub(crate) fn check_sigv4(
    endpoint: &StsEndpoint,
    fields: &SigV4Fields<'_>,
    replayed: &[&str],
    audience_header: &str,
) -> Result<SignedBy, AuthError> {
    if fields.algorithm != "AWS4-HMAC-SHA256" {
        return Err(ReasonCode::ProofAlgorithm.into());
    }
    let amz_date = fields.amz_date;
    let signed_at = sigv4::parse_amz_date(amz_date).ok_or(ReasonCode::ProofDateMalformed)?;
    let scope = sigv4::parse_credential_scope(fields.credential)?;
    if scope.date != &amz_date[..8] {
        return Err(
            AuthError::new(ReasonCode::ProofScopeDateMismatch).with_detail(format!(
                "scope {} vs X-Amz-Date {}",
                scope.date,
                &amz_date[..8]
            )),
        );
    }
    if scope.region != endpoint.region() {
        return Err(
            AuthError::new(ReasonCode::ProofScopeRegionMismatch).with_detail(format!(
                "scope region {} but {} signs as {}",
                truncate(scope.region),
                endpoint.host(),
                endpoint.region()
            )),
        );
    }
    sigv4::check_signed_headers(fields.signed_headers, replayed, audience_header)?;
    let signature = fields.signature;
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ReasonCode::ProofSignatureMalformed.into());
    }
    if let Some(token) = fields.security_token {
        let ok = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if !ok {
            return Err(AuthError::new(ReasonCode::ProofParamEncoding)
                .with_detail("security token is not base64"));
        }
    }
    Ok(SignedBy {
        signed_at,
        access_key_id: scope.access_key_id.to_owned(),
    })
}

/// Rule 5: the signature's date must lie in `[now - window, now + skew]`. Errors state the skew,
/// so that a wrong clock on either side can be diagnosed from the client's error alone.
fn check_time(
    signed_at: SystemTime,
    expires_at: SystemTime,
    window: Duration,
    max_skew: Duration,
    now: SystemTime,
) -> Result<(), AuthError> {
    match signed_at.duration_since(now) {
        Ok(ahead) if ahead > max_skew => {
            return Err(AuthError::new(ReasonCode::ProofNotYetValid).with_message(format!(
                "proof is dated {}s in the future (signed {}, server time {}, allowed skew {}s); check the client's clock",
                ahead.as_secs(),
                format_amz_date(signed_at),
                format_amz_date(now),
                max_skew.as_secs()
            )));
        }
        Ok(_) => {}
        Err(_) if now >= expires_at => {
            let age = now.duration_since(signed_at).unwrap_or_default();
            return Err(AuthError::new(ReasonCode::ProofExpired).with_message(format!(
                "proof is {}s old (signed {}, server time {}, window {}s); sign a fresh one or check the clocks",
                age.as_secs(),
                format_amz_date(signed_at),
                format_amz_date(now),
                window.as_secs()
            )));
        }
        Err(_) => {}
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A proof that passed every local rule. Only the validators of this module build one.
///
/// It holds what will be replayed: the STS endpoint from the table and the validated request
/// (query, or headers of a header-signed POST), forwarded unchanged. Its `Debug` output leaves
/// out the query and headers, which carry the signature and any session token.
#[derive(Clone)]
pub struct ValidatedProof {
    kind: ProofKind,
    endpoint: StsEndpoint,
    request: Replay,
    audience_header: HeaderName,
    access_key_id: String,
    signed_at: SystemTime,
    expires_at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProofKind {
    Token(ProofFormat),
    VaultLogin,
}

/// The request to send to STS, rebuilt from validated parts.
#[derive(Clone)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) enum Replay {
    /// `GET https://HOST/?QUERY`, with only the audience header added.
    Get { query: String },
    /// `POST https://HOST/` with the exact `GetCallerIdentity` body and these headers.
    Post {
        headers: Vec<(HeaderName, HeaderValue)>,
    },
}

/// The one body a header-signed `GetCallerIdentity` POST may have.
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

impl ValidatedProof {
    /// The bearer token format, or `None` for a Vault-format login.
    pub fn format(&self) -> Option<ProofFormat> {
        match self.kind {
            ProofKind::Token(format) => Some(format),
            ProofKind::VaultLogin => None,
        }
    }

    /// The STS endpoint the proof was signed for.
    pub fn endpoint(&self) -> &StsEndpoint {
        &self.endpoint
    }

    /// The HTTP method of the replay: `GET` (presigned URL) or `POST` (header-signed).
    pub fn method(&self) -> http::Method {
        match self.request {
            Replay::Get { .. } => http::Method::GET,
            Replay::Post { .. } => http::Method::POST,
        }
    }

    /// The validated query string of a presigned proof (empty for a POST), sent unchanged.
    pub fn query(&self) -> &str {
        match &self.request {
            Replay::Get { query } => query,
            Replay::Post { .. } => "",
        }
    }

    #[cfg(feature = "server")]
    pub(crate) fn replay(&self) -> &Replay {
        &self.request
    }

    /// The header that must carry the server's audience when the proof is replayed.
    pub fn audience_header(&self) -> &HeaderName {
        &self.audience_header
    }

    /// The access key id that signed the proof (not a secret).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// When the proof was signed (`X-Amz-Date`).
    pub fn signed_at(&self) -> SystemTime {
        self.signed_at
    }

    /// When the signature window closes; nothing derived from the proof may outlive it.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for ValidatedProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatedProof")
            .field("kind", &self.kind)
            .field("host", &self.endpoint.host())
            .field("access_key_id", &self.access_key_id)
            .field("signed_at", &format_amz_date(self.signed_at))
            .field("expires_at", &format_amz_date(self.expires_at))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
