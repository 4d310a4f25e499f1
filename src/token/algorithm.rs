//! [`JwtAlgorithm`]: the asymmetric JWS algorithms this crate signs or verifies.

use std::fmt;

/// A JWS signature algorithm ([RFC 7518 §3.1](https://www.rfc-editor.org/rfc/rfc7518#section-3.1)).
///
/// Only asymmetric algorithms exist here: `none` and the HMAC family (`HS256`...) are not
/// representable, so a verifier can never be talked into them. Signing supports `RS256` (the
/// default), `ES256` and `EdDSA`; verification also accepts `RS384`, `RS512`, the `PS*` family
/// and `ES384` (which AWS outbound identity federation uses), each pinned per key.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (KMS: `RSASSA_PKCS1_V1_5_SHA_256`).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256 (KMS: `ECDSA_SHA_256` with an `ECC_NIST_P256` key).
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: &'static [JwtAlgorithm] = &[
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
    ];

    /// The `alg` value, e.g. `RS256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` value exactly (case-sensitive, as RFC 7515 requires). `none` and `HS*`
    /// give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The JWK key type (`kty`) this algorithm needs.
    pub(crate) const fn key_type(self) -> &'static str {
        match self {
            JwtAlgorithm::RS256
            | JwtAlgorithm::RS384
            | JwtAlgorithm::RS512
            | JwtAlgorithm::PS256
            | JwtAlgorithm::PS384
            | JwtAlgorithm::PS512 => "RSA",
            JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => "EC",
            JwtAlgorithm::EdDSA => "OKP",
        }
    }

    pub(crate) const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            JwtAlgorithm::RS256 => A::RS256,
            JwtAlgorithm::RS384 => A::RS384,
            JwtAlgorithm::RS512 => A::RS512,
            JwtAlgorithm::PS256 => A::PS256,
            JwtAlgorithm::PS384 => A::PS384,
            JwtAlgorithm::PS512 => A::PS512,
            JwtAlgorithm::ES256 => A::ES256,
            JwtAlgorithm::ES384 => A::ES384,
            JwtAlgorithm::EdDSA => A::EdDSA,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_refuses_none_and_hmac() {
        for alg in JwtAlgorithm::ALL {
            assert_eq!(JwtAlgorithm::from_name(alg.as_str()), Some(*alg));
        }
        for refused in ["none", "None", "HS256", "HS384", "HS512", "rs256", ""] {
            assert_eq!(JwtAlgorithm::from_name(refused), None, "{refused}");
        }
    }
}
