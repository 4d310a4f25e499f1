//! Reading a token from stdin and decoding it for display. Decoding checks nothing: the
//! library's `ProofRules` does that.

use std::io::Read;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower_iam_auth::proof::ProofFormat;

use crate::{Exit, Failure};

/// The largest input read from stdin: far above any token a server accepts.
const MAX_INPUT: u64 = 64 * 1024;

/// The token on stdin, without surrounding blanks or a `Bearer ` / `Authorization: Bearer `
/// prefix.
pub fn read_token() -> Result<String, Failure> {
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut input)
        .map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("cannot read the token from stdin: {e}"),
            )
        })?;
    let mut token = input.trim();
    for prefix in ["Authorization:", "authorization:"] {
        token = token.strip_prefix(prefix).unwrap_or(token).trim_start();
    }
    token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "no token on stdin (pipe it in: iam-auth token ... | iam-auth verify ...)",
        ));
    }
    Ok(token.to_owned())
}

/// A token taken apart for display.
pub struct Decoded {
    pub format: ProofFormat,
    pub host: String,
    pub params: Vec<(String, String)>,
}

impl Decoded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` -> time.
    pub fn signed_at(&self) -> Option<SystemTime> {
        let d = self.param("X-Amz-Date")?;
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            d.get(0..4)?,
            d.get(4..6)?,
            d.get(6..8)?,
            d.get(9..11)?,
            d.get(11..13)?,
            d.get(13..15)?
        );
        let t = aws_smithy_types::DateTime::from_str(
            &iso,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()?;
        SystemTime::try_from(t).ok()
    }

    /// Everything but the signature and the session token, which are shown as present or not.
    pub fn to_json(&self, now: SystemTime) -> Value {
        let scope: Vec<&str> = self
            .param("X-Amz-Credential")
            .map(|c| c.split('/').collect())
            .unwrap_or_default();
        let age = self.signed_at().map(|t| match now.duration_since(t) {
            Ok(age) => age.as_secs() as i64,
            Err(ahead) => -(ahead.duration().as_secs() as i64),
        });
        json!({
            "format": self.format.as_str(),
            "host": self.host,
            "action": self.param("Action"),
            "version": self.param("Version"),
            "algorithm": self.param("X-Amz-Algorithm"),
            "access_key_id": scope.first(),
            "scope_date": scope.get(1),
            "scope_region": scope.get(2),
            "scope_service": scope.get(3),
            "signed_headers": self.param("X-Amz-SignedHeaders").map(|h| h.split(';').collect::<Vec<_>>()),
            "amz_date": self.param("X-Amz-Date"),
            "age_seconds": age,
            "expires_seconds": self.param("X-Amz-Expires"),
            "signature": self.param("X-Amz-Signature").is_some(),
            "session_token": self.param("X-Amz-Security-Token").is_some(),
            "parameters": self.params.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// Splits a token into its format, host and query parameters.
pub fn decode(token: &str) -> Result<Decoded, String> {
    let (format, body) =
        ProofFormat::split_token(token).ok_or("not an iam-v1. or k8s-aws-v1. token")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|e| format!("not base64url: {e}"))?;
    let url = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
    let params = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    Ok(Decoded {
        format,
        host: uri.host().unwrap_or("").to_owned(),
        params,
    })
}
