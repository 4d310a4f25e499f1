//! The bearer token wire formats: a prefix, then base64url (no padding) of a presigned URL.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AuthError, ReasonCode};

/// A proof wire format.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProofFormat {
    /// This crate's native token: `iam-v1.` + base64url of a presigned `GetCallerIdentity` URL
    /// with `x-iam-audience` signed.
    IamV1,
    /// The EKS token of `aws eks get-token` and aws-iam-authenticator: `k8s-aws-v1.` + base64url
    /// of a presigned URL with `x-k8s-aws-id` signed.
    K8sAwsV1,
}

impl ProofFormat {
    /// Every format.
    pub const ALL: [ProofFormat; 2] = [ProofFormat::IamV1, ProofFormat::K8sAwsV1];

    /// The token prefix, including its dot.
    pub const fn prefix(self) -> &'static str {
        match self {
            ProofFormat::IamV1 => "iam-v1.",
            ProofFormat::K8sAwsV1 => "k8s-aws-v1.",
        }
    }

    /// The name used in configuration: `iam-v1` or `k8s-aws-v1`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProofFormat::IamV1 => "iam-v1",
            ProofFormat::K8sAwsV1 => "k8s-aws-v1",
        }
    }

    /// The signed header that carries the audience.
    pub const fn audience_header(self) -> &'static str {
        match self {
            ProofFormat::IamV1 => "x-iam-audience",
            ProofFormat::K8sAwsV1 => "x-k8s-aws-id",
        }
    }

    /// Whether `X-Amz-Expires` shortens the validity window.
    ///
    /// Native tokens honour it. EKS tokens are minted with `X-Amz-Expires=60` yet used for
    /// 15 minutes by kubectl, as aws-iam-authenticator accepts them; for those the window is the
    /// configured maximum age alone (the value is still range-checked).
    pub const fn honours_expires(self) -> bool {
        matches!(self, ProofFormat::IamV1)
    }

    /// Recognizes a token's format by its prefix, returning the rest.
    pub fn split_token(token: &str) -> Option<(ProofFormat, &str)> {
        Self::ALL
            .into_iter()
            .find_map(|f| token.strip_prefix(f.prefix()).map(|rest| (f, rest)))
    }
}

impl fmt::Display for ProofFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proof format {0:?} (expected iam-v1 or k8s-aws-v1)")]
pub struct UnknownFormat(pub String);

impl FromStr for ProofFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// Encodes a presigned URL as a token of the given format.
pub fn encode_token(format: ProofFormat, presigned_url: &str) -> String {
    let mut token = String::with_capacity(format.prefix().len() + presigned_url.len() * 4 / 3 + 4);
    token.push_str(format.prefix());
    URL_SAFE_NO_PAD.encode_string(presigned_url.as_bytes(), &mut token);
    token
}

/// Decodes the base64url body of a token: the exact URL-safe alphabet, no padding, no
/// non-canonical trailing bits, then UTF-8 without control characters.
pub(crate) fn decode_body(body: &str) -> Result<String, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|e| AuthError::new(ReasonCode::ProofEncoding).with_detail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| AuthError::new(ReasonCode::ProofNotUtf8))?;
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(AuthError::new(ReasonCode::ProofControlCharacter)
            .with_detail(format!("U+{:04X} in proof", c as u32)));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let url = "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15";
        let token = encode_token(ProofFormat::K8sAwsV1, url);
        assert!(token.starts_with("k8s-aws-v1."));
        assert!(!token.contains('='));
        let (format, body) = ProofFormat::split_token(&token).unwrap();
        assert_eq!(format, ProofFormat::K8sAwsV1);
        assert_eq!(decode_body(body).unwrap(), url);
    }

    #[test]
    fn rejects_standard_alphabet_and_padding() {
        // "??>" encodes to "Pz8+" in the standard alphabet and "Pz8-" in the URL-safe one.
        assert_eq!(decode_body("Pz8-").unwrap(), "??>");
        assert_eq!(
            decode_body("Pz8+").unwrap_err().reason(),
            ReasonCode::ProofEncoding
        );
        assert_eq!(
            decode_body("YQ==").unwrap_err().reason(),
            ReasonCode::ProofEncoding
        );
        // Non-canonical trailing bits ("YR" and "YQ" both carry "a").
        assert_eq!(
            decode_body("YR").unwrap_err().reason(),
            ReasonCode::ProofEncoding
        );
    }

    #[test]
    fn rejects_invalid_utf8_and_control_characters() {
        let not_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe]);
        assert_eq!(
            decode_body(&not_utf8).unwrap_err().reason(),
            ReasonCode::ProofNotUtf8
        );
        let nul = URL_SAFE_NO_PAD.encode("https://sts.amazonaws.com/\0");
        assert_eq!(
            decode_body(&nul).unwrap_err().reason(),
            ReasonCode::ProofControlCharacter
        );
        let crlf = URL_SAFE_NO_PAD.encode("https://sts.amazonaws.com/\r\nX-Evil: 1");
        assert_eq!(
            decode_body(&crlf).unwrap_err().reason(),
            ReasonCode::ProofControlCharacter
        );
    }

    #[test]
    fn formats_parse_from_config_names() {
        assert_eq!("iam-v1".parse::<ProofFormat>().unwrap(), ProofFormat::IamV1);
        assert_eq!(
            "k8s-aws-v1".parse::<ProofFormat>().unwrap(),
            ProofFormat::K8sAwsV1
        );
        assert!("IAM-V1".parse::<ProofFormat>().is_err());
    }
}
