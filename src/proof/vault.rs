//! Vault-format logins: the JSON body of Vault's AWS IAM auth method, carrying a header-signed
//! `POST` to STS (DESIGN §2).
//!
//! ```json
//! {"iam_http_request_method": "POST",
//!  "iam_request_url": "<base64 of https://sts.amazonaws.com/>",
//!  "iam_request_body": "<base64 of Action=GetCallerIdentity&Version=2011-06-15>",
//!  "iam_request_headers": "<base64 of {\"Authorization\": [..], \"X-Amz-Date\": [..], ..}>"}
//! ```
//!
//! Vault's CLI, hvac and botocore snippets produce it. The method may also be base64 like the
//! other fields (`"UE9TVA=="`). `iam_request_headers` may also be a JSON object; header values may be strings or lists of exactly one string (as Go clients send them).
//! The base64 fields use the standard alphabet with padding, as every known client does.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::{
    GET_CALLER_IDENTITY_BODY, ProofKind, ProofRules, Replay, SigV4Fields, ValidatedProof,
    check_sigv4, check_time, truncate, url,
};
use crate::error::{AuthError, ReasonCode};

/// The default audience header of Vault's AWS auth method.
pub const VAULT_AUDIENCE_HEADER: &str = "x-vault-aws-iam-server-id";

/// Headers a login may carry (lower-case). Everything else, `X-Amz-*` included, is refused.
const ALLOWED_HEADERS: [&str; 8] = [
    "authorization",
    "content-length",
    "content-type",
    "host",
    "user-agent",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-security-token",
];

/// `POST` in standard base64: the method field of clients that encode all four fields.
const BASE64_POST: &str = "UE9TVA==";

/// SHA-256 of [`GET_CALLER_IDENTITY_BODY`], the only valid `X-Amz-Content-Sha256`.
const BODY_SHA256: &str = "ab821ae955788b0e33ebd34c208442ccfc2d406e2edc5e7a39bd6458fbb4f843";

/// Hop-by-hop headers (RFC 9110 §7.6.1, and the de-facto `Proxy-Connection`, `Keep-Alive`):
/// proxies and HTTP clients consume or rewrite them, so an audience there would not reach STS as
/// signed, or would change how the replay is framed.
#[cfg(any(feature = "server", feature = "client"))]
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lower-case) cannot be the audience header: it already has a meaning in a
/// Vault login, is an `X-Amz-*` header (STS reads those as part of the request), or is
/// hop-by-hop.
#[cfg(any(feature = "server", feature = "client"))]
pub(crate) fn is_reserved_vault_header(name: &str) -> bool {
    ALLOWED_HEADERS.contains(&name) || name.starts_with("x-amz-") || HOP_BY_HOP.contains(&name)
}

impl ProofRules {
    /// The largest Vault login body accepted: twice the token cap (its fields are base64).
    pub(crate) fn max_vault_body_bytes(&self) -> usize {
        self.max_token_bytes().saturating_mul(2)
    }

    /// Refuses a Vault login body above [`max_vault_body_bytes`](Self::max_vault_body_bytes),
    /// before anything reads it (the cache lookup hashes all of it).
    pub(crate) fn check_vault_body_size(&self, body: &[u8]) -> Result<(), AuthError> {
        let cap = self.max_vault_body_bytes();
        if body.len() > cap {
            return Err(AuthError::new(ReasonCode::ProofTooLarge)
                .with_detail(format!("{} bytes > {cap}", body.len())));
        }
        Ok(())
    }
}

/// `iam_request_headers`: base64 of a JSON object, or a JSON object.
#[derive(Deserialize)]
#[serde(untagged)]
enum HeadersField {
    Encoded(String),
    Object(HeaderPairs),
}

/// A JSON object read as its list of pairs, so that a repeated key is seen, not silently merged.
struct HeaderPairs(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for HeaderPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = HeaderPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of headers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<HeaderPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(HeaderPairs(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    iam_http_request_method: String,
    iam_request_url: String,
    iam_request_body: String,
    iam_request_headers: HeadersField,
    /// The Vault role to log in as; carried by Vault clients, not used here.
    #[serde(default)]
    #[allow(dead_code)]
    role: Option<String>,
}

impl ProofRules {
    /// Validates a Vault-format login body at time `now`, for a server whose audience header is
    /// `audience_header` (e.g. [`VAULT_AUDIENCE_HEADER`] or `x-app-id`) with value `audience`.
    pub fn validate_vault_login(
        &self,
        body: &[u8],
        audience_header: &HeaderName,
        audience: &str,
        now: SystemTime,
    ) -> Result<ValidatedProof, AuthError> {
        self.check_vault_body_size(body)?;
        let login: LoginBody = serde_json::from_slice(body).map_err(|e| {
            // serde's message can quote attacker-chosen field names: keep only the position.
            AuthError::new(ReasonCode::ProofVaultBody).with_detail(format!(
                "not a Vault IAM login object (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;

        // Vault's own clients send the method in plain text; some clients base64 it like the
        // other three fields (`UE9TVA==`). Exactly these two spellings of POST are accepted.
        if !matches!(login.iam_http_request_method.as_str(), "POST" | BASE64_POST) {
            return Err(AuthError::new(ReasonCode::ProofMethod)
                .with_detail("Vault logins must sign a POST"));
        }
        let url_text = decode_text(&login.iam_request_url, "iam_request_url")?;
        let parsed = url::parse(&url_text)?;
        if url_text.contains('?') {
            return Err(AuthError::new(ReasonCode::ProofParamNotAllowed)
                .with_detail("a signed POST has no query"));
        }
        let endpoint = self.endpoints().lookup(parsed.host).ok_or_else(|| {
            AuthError::new(ReasonCode::ProofHostNotAllowed)
                .with_detail(format!("host {:?}", truncate(parsed.host)))
        })?;
        if decode_text(&login.iam_request_body, "iam_request_body")? != GET_CALLER_IDENTITY_BODY {
            return Err(AuthError::new(ReasonCode::ProofBody)
                .with_detail("body is not exactly the GetCallerIdentity form"));
        }

        let headers = parse_headers(&login.iam_request_headers, audience_header)?;
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if get("host").is_some_and(|host| host != endpoint.host()) {
            return Err(AuthError::new(ReasonCode::ProofHostNotAllowed)
                .with_detail("Host header differs from the URL"));
        }
        if get("content-length")
            .is_some_and(|length| length != GET_CALLER_IDENTITY_BODY.len().to_string())
        {
            return Err(AuthError::new(ReasonCode::ProofBody)
                .with_detail("Content-Length does not match the body"));
        }
        if let Some(content_type) = get("content-type") {
            let form = content_type
                .strip_prefix("application/x-www-form-urlencoded")
                .is_some_and(|rest| {
                    rest.is_empty() || rest.eq_ignore_ascii_case("; charset=utf-8")
                });
            if !form {
                return Err(
                    AuthError::new(ReasonCode::ProofBody).with_detail("Content-Type is not a form")
                );
            }
        }
        if get("x-amz-content-sha256").is_some_and(|digest| digest != BODY_SHA256) {
            return Err(AuthError::new(ReasonCode::ProofBody)
                .with_detail("X-Amz-Content-Sha256 is not the body's"));
        }
        let authorization = get("authorization").ok_or_else(|| {
            AuthError::new(ReasonCode::ProofParamMissing).with_detail("Authorization header")
        })?;
        let auth = parse_authorization(authorization)?;
        let amz_date = get("x-amz-date").ok_or_else(|| {
            AuthError::new(ReasonCode::ProofParamMissing).with_detail("X-Amz-Date header")
        })?;

        // Signed headers must be among those present (host is always sent), so the replay can
        // carry every one of them.
        let mut replayed: Vec<&str> = headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| *n != "authorization")
            .collect();
        if !replayed.contains(&"host") {
            replayed.push("host");
        }
        let signed = check_sigv4(
            endpoint,
            &SigV4Fields {
                algorithm: auth.algorithm,
                amz_date,
                credential: auth.credential,
                signed_headers: auth.signed_headers,
                signature: auth.signature,
                security_token: get("x-amz-security-token"),
            },
            &replayed,
            audience_header.as_str(),
        )?;
        // Rule 6: the signed audience must be this server's.
        if get(audience_header.as_str()) != Some(audience) {
            return Err(AuthError::new(ReasonCode::ProofAudienceMismatch)
                .with_detail(format!("{audience_header} is not this server's audience")));
        }
        let expires_at = signed.signed_at + self.max_age();
        check_time(
            signed.signed_at,
            expires_at,
            self.max_age(),
            self.max_skew(),
            now,
        )?;

        let signed_names: Vec<&str> = auth.signed_headers.split(';').collect();
        let mut replay = Vec::with_capacity(headers.len());
        for (name, value) in &headers {
            // Host and Content-Length are set by the HTTP client from the URL and the body;
            // an unsigned User-Agent is the client's own business.
            // The audience header is added by the STS client, with the server's own value.
            let skip = name == "host"
                || name == "content-length"
                || name == audience_header.as_str()
                || (name == "user-agent" && !signed_names.contains(&"user-agent"));
            if skip {
                continue;
            }
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                AuthError::new(ReasonCode::ProofVaultHeaders).with_detail(format!("{name} value"))
            })?;
            if name == "authorization" || name == "x-amz-security-token" {
                value.set_sensitive(true);
            }
            replay.push((
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ReasonCode::ProofVaultHeaders)?,
                value,
            ));
        }

        Ok(ValidatedProof {
            kind: ProofKind::VaultLogin,
            endpoint: endpoint.clone(),
            request: Replay::Post { headers: replay },
            audience_header: audience_header.clone(),
            access_key_id: signed.access_key_id,
            signed_at: signed.signed_at,
            expires_at,
        })
    }
}

/// Decodes a standard-alphabet, padded base64 field into UTF-8 text without control characters.
fn decode_text(field: &str, name: &'static str) -> Result<String, AuthError> {
    let bytes = STANDARD.decode(field).map_err(|e| {
        AuthError::new(ReasonCode::ProofEncoding).with_detail(format!("{name}: {e}"))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| AuthError::new(ReasonCode::ProofNotUtf8).with_detail(name))?;
    if text.chars().any(char::is_control) {
        return Err(AuthError::new(ReasonCode::ProofControlCharacter).with_detail(name));
    }
    Ok(text)
}

/// Reads `iam_request_headers`: base64 of a JSON object, or a JSON object. Names are matched
/// case-insensitively and may appear once; values are strings or one-element string lists.
fn parse_headers(
    field: &HeadersField,
    audience_header: &HeaderName,
) -> Result<Vec<(String, String)>, AuthError> {
    let bad = |why: String| AuthError::new(ReasonCode::ProofVaultHeaders).with_detail(why);
    let decoded;
    let object = match field {
        HeadersField::Object(pairs) => &pairs.0,
        HeadersField::Encoded(encoded) => {
            let text = decode_text(encoded, "iam_request_headers")?;
            decoded = serde_json::from_str::<HeaderPairs>(&text).map_err(|e| {
                bad(format!(
                    "not a JSON object (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            &decoded.0
        }
    };
    let mut headers: Vec<(String, String)> = Vec::with_capacity(object.len());
    for (name, value) in object {
        let lower = name.to_ascii_lowercase();
        if lower != audience_header.as_str() && !ALLOWED_HEADERS.contains(&lower.as_str()) {
            return Err(AuthError::new(ReasonCode::ProofHeaderNotAllowed)
                .with_detail(format!("header {}", truncate(name))));
        }
        if headers.iter().any(|(n, _)| *n == lower) {
            return Err(bad(format!("{lower} given twice")));
        }
        let value = match value {
            Value::String(s) => s,
            Value::Array(items) => match items.as_slice() {
                [Value::String(s)] => s,
                _ => return Err(bad(format!("{lower} must have exactly one string value"))),
            },
            _ => return Err(bad(format!("{lower} value is not a string"))),
        };
        if value.is_empty() || !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(AuthError::new(ReasonCode::ProofControlCharacter)
                .with_detail(format!("{lower} value")));
        }
        headers.push((lower, value.clone()));
    }
    Ok(headers)
}

struct Authorization<'a> {
    algorithm: &'a str,
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let bad = |why: &'static str| AuthError::new(ReasonCode::ProofVaultHeaders).with_detail(why);
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or_else(|| bad("Authorization has no parameters"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part
            .trim_start_matches(' ')
            .split_once('=')
            .ok_or_else(|| bad("Authorization part without '='"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(bad("unknown Authorization parameter")),
        };
        if slot.replace(val).is_some() {
            return Err(bad("repeated Authorization parameter"));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(Authorization {
            algorithm,
            credential,
            signed_headers,
            signature,
        }),
        _ => Err(AuthError::new(ReasonCode::ProofParamMissing)
            .with_detail("Authorization lacks a parameter")),
    }
}
