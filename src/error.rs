//! One error type for every refusal, with a stable reason code per cause.
//!
//! Reason codes are part of the public contract: clients and dashboards match on the string
//! ([`ReasonCode::as_str`]), so a code is never renamed or reused. Responses follow
//! [RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3): `401` with
//! `WWW-Authenticate: Bearer error="invalid_token"` for bad credentials, `403 insufficient_scope`
//! for a principal that is refused, `503` with `Retry-After` when STS cannot answer.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

mod grpc;

pub use grpc::is_grpc_request;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $status:ident, $message:literal; )*) => {
        /// Why a request was refused. Each variant has a stable string form.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every reason code, in declaration order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant),*];

            /// The stable machine-readable code, e.g. `proof.expired`.
            pub const fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => $code, )* }
            }

            /// The HTTP status this refusal is answered with.
            pub const fn status(self) -> StatusCode {
                match self { $( ReasonCode::$variant => StatusCode::$status, )* }
            }

            /// A short, client-safe description.
            pub const fn message(self) -> &'static str {
                match self { $( ReasonCode::$variant => $message, )* }
            }
        }
    };
}

reason_codes! {
    /// No `Authorization` header.
    TokenMissing => "token.missing", UNAUTHORIZED, "no bearer token";
    /// The `Authorization` header is not `Bearer <token>` with a visible-ASCII token.
    TokenMalformed => "token.malformed", BAD_REQUEST, "authorization header is not a bearer token";
    /// The token's prefix names a format this server does not accept.
    ProofFormatNotAccepted => "proof.format_not_accepted", UNAUTHORIZED, "token format not accepted";
    /// The raw token is larger than the configured cap.
    ProofTooLarge => "proof.too_large", UNAUTHORIZED, "token too large";
    /// Not valid base64 in the format's alphabet.
    ProofEncoding => "proof.bad_encoding", UNAUTHORIZED, "token is not valid base64url";
    /// The decoded proof is not UTF-8.
    ProofNotUtf8 => "proof.not_utf8", UNAUTHORIZED, "proof is not UTF-8";
    /// A control character (or non-ASCII character) in the proof.
    ProofControlCharacter => "proof.control_character", UNAUTHORIZED, "proof contains a control character";
    /// The proof URL cannot be parsed.
    ProofUrlMalformed => "proof.url_malformed", UNAUTHORIZED, "proof URL is malformed";
    /// The proof URL is not `https`.
    ProofSchemeNotHttps => "proof.scheme_not_https", UNAUTHORIZED, "proof URL is not https";
    /// The proof URL carries userinfo (`user@host`).
    ProofUserinfo => "proof.userinfo", UNAUTHORIZED, "proof URL has userinfo";
    /// The proof URL names an explicit port.
    ProofPort => "proof.port", UNAUTHORIZED, "proof URL has an explicit port";
    /// The proof URL has a fragment.
    ProofFragment => "proof.fragment", UNAUTHORIZED, "proof URL has a fragment";
    /// The proof URL's path is not exactly `/`.
    ProofPath => "proof.path", UNAUTHORIZED, "proof URL path is not /";
    /// The proof URL's host is not an STS endpoint of the configured partitions and regions.
    ProofHostNotAllowed => "proof.host_not_allowed", UNAUTHORIZED, "proof host is not an allowed STS endpoint";
    /// A query parameter outside the allowlist.
    ProofParamNotAllowed => "proof.param_not_allowed", UNAUTHORIZED, "proof has a parameter that is not allowed";
    /// A query parameter appears twice.
    ProofParamDuplicate => "proof.param_duplicate", UNAUTHORIZED, "proof repeats a parameter";
    /// Two parameter names equal ignoring case.
    ProofParamCaseConflict => "proof.param_case_conflict", UNAUTHORIZED, "proof has parameters differing only in case";
    /// A required parameter is missing.
    ProofParamMissing => "proof.param_missing", UNAUTHORIZED, "proof lacks a required parameter";
    /// A parameter name or value is not in canonical percent-encoded form.
    ProofParamEncoding => "proof.param_encoding", UNAUTHORIZED, "proof parameter is badly encoded";
    /// `Action` is not `GetCallerIdentity`.
    ProofAction => "proof.action", UNAUTHORIZED, "proof action is not GetCallerIdentity";
    /// `Version` is not `2011-06-15`.
    ProofVersion => "proof.version", UNAUTHORIZED, "proof version is not 2011-06-15";
    /// The HTTP method of the proof is not the one its format requires.
    ProofMethod => "proof.method", UNAUTHORIZED, "proof method not allowed";
    /// The request body of the proof is not the exact expected body.
    ProofBody => "proof.body", UNAUTHORIZED, "proof body not allowed";
    /// A header of the proof outside the allowlist.
    ProofHeaderNotAllowed => "proof.header_not_allowed", UNAUTHORIZED, "proof has a header that is not allowed";
    /// The signing algorithm is not `AWS4-HMAC-SHA256`.
    ProofAlgorithm => "proof.algorithm", UNAUTHORIZED, "signature algorithm is not AWS4-HMAC-SHA256";
    /// The credential scope is not `KEY/yyyymmdd/region/sts/aws4_request`.
    ProofCredentialScope => "proof.credential_scope", UNAUTHORIZED, "credential scope is malformed";
    /// The credential scope's date differs from `X-Amz-Date`.
    ProofScopeDateMismatch => "proof.scope_date_mismatch", UNAUTHORIZED, "credential scope date differs from X-Amz-Date";
    /// The credential scope's region is not the region of the host.
    ProofScopeRegionMismatch => "proof.scope_region_mismatch", UNAUTHORIZED, "credential scope region does not match the host";
    /// Signed headers are malformed or name a header the server will not replay.
    ProofSignedHeaders => "proof.signed_headers", UNAUTHORIZED, "signed headers are malformed or not allowed";
    /// `host` is not among the signed headers.
    ProofHostUnsigned => "proof.host_unsigned", UNAUTHORIZED, "host header is not signed";
    /// The audience header is not among the signed headers.
    ProofAudienceUnsigned => "proof.audience_unsigned", UNAUTHORIZED, "audience header is not signed";
    /// The proof's signed audience value differs from this server's audience.
    ProofAudienceMismatch => "proof.audience_mismatch", UNAUTHORIZED, "proof was made for another audience";
    /// `X-Amz-Signature` is not 64 lower-case hex digits.
    ProofSignatureMalformed => "proof.signature_malformed", UNAUTHORIZED, "signature is malformed";
    /// `X-Amz-Date` is not `yyyymmddThhmmssZ`.
    ProofDateMalformed => "proof.date_malformed", UNAUTHORIZED, "X-Amz-Date is malformed";
    /// The signature is older than the allowed window.
    ProofExpired => "proof.expired", UNAUTHORIZED, "proof has expired";
    /// The signature is dated further in the future than the allowed clock skew.
    ProofNotYetValid => "proof.not_yet_valid", UNAUTHORIZED, "proof is dated in the future";
    /// `X-Amz-Expires` is not an integer in `1..=900`.
    ProofExpiresInvalid => "proof.expires_invalid", UNAUTHORIZED, "X-Amz-Expires is not in 1..=900";
    /// STS refused the signed request (bad signature, unknown key, expired credentials...).
    StsRejected => "sts.rejected", UNAUTHORIZED, "STS did not authenticate the proof";
    /// STS is throttling us.
    StsThrottled => "sts.throttled", SERVICE_UNAVAILABLE, "STS is throttling; retry later";
    /// STS answered with a server error or could not be reached.
    StsUnavailable => "sts.unavailable", SERVICE_UNAVAILABLE, "STS is unavailable; retry later";
    /// STS did not answer within the deadline.
    StsTimeout => "sts.timeout", SERVICE_UNAVAILABLE, "STS did not answer in time; retry later";
    /// This client, access key id or server has spent its budget of STS calls (cache misses);
    /// `Retry-After` says when the next one is available.
    StsRateLimited => "sts.rate_limited", TOO_MANY_REQUESTS, "too many new proofs; retry later";
    /// The token exchange's budget of new tokens for this principal is spent.
    ExchangeRateLimited => "exchange.rate_limited", TOO_MANY_REQUESTS, "too many new tokens for this principal; retry later";
    /// Every STS call slot is busy: refused at once rather than held until the deadline.
    StsBusy => "sts.busy", SERVICE_UNAVAILABLE, "too many STS calls in flight; retry later";
    /// STS answered with a redirect, which is never followed.
    StsRedirect => "sts.redirect", SERVICE_UNAVAILABLE, "STS answered with a redirect; retry later";
    /// STS answered 200 with something that is not one well-formed GetCallerIdentity result.
    StsBadResponse => "sts.bad_response", SERVICE_UNAVAILABLE, "STS answer was not understood; retry later";
    /// STS answered with an ARN of another partition than the endpoint's (`aws-cn` from an
    /// `aws` endpoint...): not an answer STS gives, so it is not believed.
    StsPartitionMismatch => "sts.partition_mismatch", SERVICE_UNAVAILABLE, "STS answer was not understood; retry later";
    /// A Vault-format login body is not the expected JSON object.
    ProofVaultBody => "proof.vault_body", UNAUTHORIZED, "login body is not a valid Vault IAM login";
    /// A Vault-format login's `iam_request_headers` is malformed.
    ProofVaultHeaders => "proof.vault_headers", UNAUTHORIZED, "login headers are malformed";
    /// The verified principal is of a kind this server refuses (root, federated user...).
    PrincipalKindRefused => "principal.kind_refused", FORBIDDEN, "principal kind is not allowed";
    /// The bearer token is neither a proof nor a token this layer is configured to verify.
    TokenNotAccepted => "token.not_accepted", UNAUTHORIZED, "token type not accepted here";
    /// The JWT is longer than the verifier's cap.
    JwtTooLarge => "jwt.too_large", UNAUTHORIZED, "token too large";
    /// The JWT is not a well-formed compact JWS.
    JwtMalformed => "jwt.malformed", UNAUTHORIZED, "token is not a well-formed JWT";
    /// The JWT's `alg` is not the algorithm pinned for its key (or is `none`/HMAC).
    JwtAlgorithm => "jwt.algorithm", UNAUTHORIZED, "token algorithm not allowed";
    /// No trusted key has the JWT's `kid`, even after a refresh.
    JwtUnknownKey => "jwt.unknown_kid", UNAUTHORIZED, "token signed by an unknown key";
    /// The JWT's signature does not verify.
    JwtSignature => "jwt.signature", UNAUTHORIZED, "token signature is invalid";
    /// The JWT has expired.
    JwtExpired => "jwt.expired", UNAUTHORIZED, "token has expired";
    /// The JWT is not valid yet (`nbf`).
    JwtNotYetValid => "jwt.not_yet_valid", UNAUTHORIZED, "token is not valid yet";
    /// The JWT's `aud` does not include this service.
    JwtAudience => "jwt.audience", UNAUTHORIZED, "token is for another audience";
    /// The JWT's `iss` is not a trusted issuer.
    JwtIssuer => "jwt.issuer", UNAUTHORIZED, "token issuer is not trusted";
    /// A required claim is missing or malformed.
    JwtClaims => "jwt.claims", UNAUTHORIZED, "token claims are invalid";
    /// The issuer's JWKS could not be fetched.
    JwksUnavailable => "jwks.unavailable", SERVICE_UNAVAILABLE, "signing keys unavailable; retry later";
    /// The request path is not canonical, so a policy cannot decide on it.
    RequestPathNotCanonical => "request.path_not_canonical", BAD_REQUEST, "request path is not canonical";
    /// A header that the policy reads arrived more than once, or is not visible ASCII.
    RequestHeaderRepeated => "request.header_ambiguous", BAD_REQUEST, "a header the policy reads is repeated or not text";
    /// The policy reads a value that the enforcing layer does not supply (`aws:SourceIp` without
    /// a source, `tower-iam-auth:Route` outside a `PolicyLayer`): a configuration error.
    PolicyNotEnforceable => "policy.not_enforceable", INTERNAL_SERVER_ERROR, "the policy cannot be enforced here";
    /// The policy does not allow this principal to make this request.
    PolicyDenied => "policy.denied", FORBIDDEN, "not allowed by policy";
    /// The principal maps to no user of this application.
    PrincipalUnknown => "principal.unknown", FORBIDDEN, "principal is not a known user";
    /// The application's user lookup failed.
    PrincipalResolverUnavailable => "principal.resolver_unavailable", SERVICE_UNAVAILABLE, "user lookup is unavailable; retry later";
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: its [`ReasonCode`], a client-safe message, and detail for the logs.
///
/// The detail never contains token bytes, signatures or session tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    reason: ReasonCode,
    message: Cow<'static, str>,
    detail: Cow<'static, str>,
    retry_after_secs: Option<u32>,
}

impl AuthError {
    /// A refusal with the reason's standard message.
    pub fn new(reason: ReasonCode) -> Self {
        Self {
            reason,
            message: Cow::Borrowed(reason.message()),
            detail: Cow::Borrowed(""),
            retry_after_secs: match reason {
                ReasonCode::StsThrottled => Some(2),
                ReasonCode::StsBusy | ReasonCode::StsRateLimited => Some(1),
                _ if reason.status() == StatusCode::SERVICE_UNAVAILABLE => Some(5),
                _ => None,
            },
        }
    }

    /// Adds detail for the logs (not sent to the client).
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        let detail = detail.into();
        // Details can quote attacker-chosen text (a header name, a JSON error): no control
        // characters (no forged log lines) and a bounded length.
        self.detail = if detail.len() <= 200 && !detail.chars().any(char::is_control) {
            detail
        } else {
            let mut clean: String = detail
                .chars()
                .take(200)
                .flat_map(char::escape_default)
                .collect();
            if detail.chars().count() > 200 {
                clean.push('…');
            }
            Cow::Owned(clean)
        };
        self
    }

    /// Sets `Retry-After` (for `429` and `503` refusals).
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Replaces the client-facing message (used for time errors, which state the skew).
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// The reason code.
    pub fn reason(&self) -> ReasonCode {
        self.reason
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Detail for logs.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// `Retry-After` seconds for `429` and `503` refusals.
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.retry_after_secs
    }

    /// The RFC 6750 error code: `invalid_token`, `insufficient_scope`, or none.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self.reason {
            ReasonCode::TokenMissing => None,
            r if r.status() == StatusCode::BAD_REQUEST => Some("invalid_request"),
            r if r.status() == StatusCode::FORBIDDEN => Some("insufficient_scope"),
            r if r.status() == StatusCode::UNAUTHORIZED => Some("invalid_token"),
            _ => None,
        }
    }

    /// The response for this refusal: status, `WWW-Authenticate` or `Retry-After`, and a small
    /// JSON body `{"error": .., "reason": .., "message": ..}`.
    pub fn to_response(&self) -> Response<Bytes> {
        let status = self.status();
        let error = self.bearer_error().unwrap_or(match status {
            StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            _ => "unauthorized",
        });
        let body = serde_json::json!({
            "error": error,
            "reason": self.reason.as_str(),
            "message": &*self.message,
        });

        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST
        ) {
            let challenge = match self.bearer_error() {
                Some(code) => format!(
                    "Bearer error=\"{code}\", error_description=\"{}\"",
                    self.reason.as_str()
                ),
                None => "Bearer".to_owned(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The body of a refusal and its content type, as a [`RenderRefusal`] chooses them.
#[derive(Clone, Debug)]
pub struct RefusalBody {
    content_type: HeaderValue,
    body: Bytes,
}

impl RefusalBody {
    /// A body of `content_type` (say `application/problem+json`).
    pub fn new(content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        Self {
            content_type,
            body: body.into(),
        }
    }
}

/// Renders the body of the refusals a layer makes (`401`, `403`, `400`, `503`, policy denials
/// included), for example as `application/problem+json` (RFC 9457).
///
/// Only the body and its `Content-Type` are the renderer's: the status, `WWW-Authenticate`,
/// `Retry-After` and `Cache-Control` stay the layer's, so that clients and proxies keep
/// reading the refusal the standard way. gRPC calls (`content-type: application/grpc*`) are
/// refused in the gRPC form ([`AuthError::to_grpc_response`]), which has no body: the renderer
/// is not asked for them. Implemented for closures
/// `Fn(&AuthError) -> RefusalBody`.
///
/// ```
/// use http::HeaderValue;
/// use tower_iam_auth::error::{AuthError, ReasonCode, RefusalBody, RenderRefusal};
///
/// let problem = |refusal: &AuthError| {
///     let body = serde_json::json!({
///         "type": format!("https://errors.example.com/{}", refusal.reason()),
///         "title": refusal.message(),
///         "status": refusal.status().as_u16(),
///     });
///     RefusalBody::new(
///         HeaderValue::from_static("application/problem+json"),
///         body.to_string(),
///     )
/// };
/// let response = AuthError::new(ReasonCode::TokenMissing).to_response_with(Some(&problem));
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
/// ```
pub trait RenderRefusal: Send + Sync + 'static {
    /// The body for `refusal`. Its detail is for logs: do not send it to the client.
    fn render(&self, refusal: &AuthError) -> RefusalBody;
}

impl<F> RenderRefusal for F
where
    F: Fn(&AuthError) -> RefusalBody + Send + Sync + 'static,
{
    fn render(&self, refusal: &AuthError) -> RefusalBody {
        self(refusal)
    }
}

impl AuthError {
    /// The refusal of a request with these headers, as every refusing layer of this crate
    /// answers: the gRPC form ([`to_grpc_response`](Self::to_grpc_response)) for a gRPC call
    /// ([`is_grpc_request`]), whatever `renderer` says, because a gRPC client reads no HTTP
    /// status or body; otherwise [`to_response_with`](Self::to_response_with).
    pub fn to_response_for(
        &self,
        request_headers: &HeaderMap,
        renderer: Option<&dyn RenderRefusal>,
    ) -> Response<Bytes> {
        if is_grpc_request(request_headers) {
            self.to_grpc_response()
        } else {
            self.to_response_with(renderer)
        }
    }

    /// [`to_response`](Self::to_response), with the body and content type from `renderer`
    /// when there is one.
    pub fn to_response_with(&self, renderer: Option<&dyn RenderRefusal>) -> Response<Bytes> {
        let mut response = self.to_response();
        if let Some(renderer) = renderer {
            let RefusalBody { content_type, body } = renderer.render(self);
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            *response.body_mut() = body;
        }
        response
    }
}

impl From<ReasonCode> for AuthError {
    fn from(reason: ReasonCode) -> Self {
        Self::new(reason)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reason_codes_are_unique_and_dotted() {
        let mut seen = HashSet::new();
        for code in ReasonCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert!(code.as_str().contains('.'), "{code} is not namespaced");
        }
    }

    #[test]
    fn invalid_token_response_has_rfc6750_challenge() {
        let response = AuthError::new(ReasonCode::ProofExpired).to_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"proof.expired\""
        );
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["reason"], "proof.expired");
        assert_eq!(body["error"], "invalid_token");
    }

    #[test]
    fn malformed_header_is_a_400_invalid_request() {
        let response = AuthError::new(ReasonCode::TokenMalformed).to_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_request\", error_description=\"token.malformed\""
        );
    }

    #[test]
    fn details_cannot_forge_log_lines() {
        let error =
            AuthError::new(ReasonCode::ProofVaultBody).with_detail("x\n2026 INFO forged line");
        assert!(!error.detail().contains('\n'), "{}", error.detail());
        let long = AuthError::new(ReasonCode::ProofVaultBody).with_detail("a".repeat(5000));
        assert!(long.detail().len() < 300);
    }

    #[test]
    fn missing_token_challenge_has_no_error_code() {
        let response = AuthError::new(ReasonCode::TokenMissing).to_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn unavailable_response_has_retry_after_and_no_challenge() {
        let response = AuthError::new(ReasonCode::StsThrottled).to_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn message_is_json_escaped() {
        let message = "a \"quoted\"\nline \\ end";
        let response = AuthError::new(ReasonCode::ProofExpired)
            .with_message(message)
            .to_response();
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["message"], message);
    }
}
