//! [`Jwk`] and [`JwkSet`]: public keys as published at `/.well-known/jwks.json` (RFC 7517), and
//! the verification keys made from them, each pinned to one algorithm.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

use super::algorithm::JwtAlgorithm;

/// The smallest RSA modulus accepted for verification, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Why a JWK or a JWK set cannot be used.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// The JWK set is not JSON of the form `{"keys": [...]}`.
    #[error("not a JWK set: {0}")]
    Malformed(String),
    /// The key type, curve or algorithm is not an asymmetric signature key this crate verifies
    /// with (symmetric `oct` keys never are).
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key's parameters are missing or invalid.
    #[error("invalid key parameters: {0}")]
    Invalid(String),
}

/// One public JSON Web Key (RFC 7517 §4) for signature verification: an RSA, EC (P-256,
/// P-384) or OKP (Ed25519) key. Members this crate does not use (`x5c`, `key_ops`...) are
/// ignored when reading and not written.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(name: &str, value: Option<&str>) -> Result<Vec<u8>, JwkError> {
    let value = value.ok_or_else(|| JwkError::Invalid(format!("missing {name:?}")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| JwkError::Invalid(format!("{name:?} is not base64url")))
}

impl Jwk {
    /// An RSA public key from its big-endian modulus and exponent.
    pub(crate) fn rsa(n: &[u8], e: &[u8], alg: JwtAlgorithm) -> Self {
        Self::new("RSA", alg, None, Some(b64(n)), Some(b64(e)), None, None)
    }

    /// A P-256 or P-384 public key from its affine coordinates.
    pub(crate) fn ec(x: &[u8], y: &[u8], alg: JwtAlgorithm) -> Self {
        let crv = if alg == JwtAlgorithm::ES384 {
            "P-384"
        } else {
            "P-256"
        };
        Self::new("EC", alg, Some(crv), None, None, Some(b64(x)), Some(b64(y)))
    }

    /// An Ed25519 public key.
    pub(crate) fn ed25519(x: &[u8]) -> Self {
        Self::new(
            "OKP",
            JwtAlgorithm::EdDSA,
            Some("Ed25519"),
            None,
            None,
            Some(b64(x)),
            None,
        )
    }

    fn new(
        kty: &str,
        alg: JwtAlgorithm,
        crv: Option<&str>,
        n: Option<String>,
        e: Option<String>,
        x: Option<String>,
        y: Option<String>,
    ) -> Self {
        Self {
            kty: kty.to_owned(),
            use_: Some("sig".to_owned()),
            alg: Some(alg.as_str().to_owned()),
            kid: None,
            crv: crv.map(str::to_owned),
            n,
            e,
            x,
            y,
        }
    }

    pub(crate) fn set_kid(&mut self, kid: String) {
        self.kid = Some(kid);
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type (`kty`): `RSA`, `EC` or `OKP`.
    pub fn key_type(&self) -> &str {
        &self.kty
    }

    /// The algorithm the key is pinned to: its `alg` member, or for keys without one the
    /// algorithm its type implies (`RS256` for RSA, `ES256`/`ES384` by curve, `EdDSA`).
    pub fn algorithm(&self) -> Result<JwtAlgorithm, JwkError> {
        let implied = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => JwtAlgorithm::RS256,
            ("EC", Some("P-256")) => JwtAlgorithm::ES256,
            ("EC", Some("P-384")) => JwtAlgorithm::ES384,
            ("OKP", Some("Ed25519")) => JwtAlgorithm::EdDSA,
            (kty, crv) => {
                return Err(JwkError::Unsupported(format!(
                    "kty {kty:?} with crv {crv:?}"
                )));
            }
        };
        let Some(alg) = self.alg.as_deref() else {
            return Ok(implied);
        };
        let alg = JwtAlgorithm::from_name(alg)
            .ok_or_else(|| JwkError::Unsupported(format!("alg {alg:?}")))?;
        // The algorithm must fit the key: no RS256 on an EC key, no ES384 on P-256.
        let fits = alg.key_type() == self.kty && (self.kty == "RSA" || alg == implied);
        if !fits {
            return Err(JwkError::Unsupported(format!(
                "alg {alg} does not fit kty {:?} crv {:?}",
                self.kty, self.crv
            )));
        }
        Ok(alg)
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url): the default `kid` of keys made here.
    pub fn thumbprint(&self) -> String {
        // Required members only, in lexicographic order, no whitespace.
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                s(&self.e),
                s(&self.n)
            ),
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            kty => format!(
                r#"{{"crv":"{}","kty":"{kty}","x":"{}"}}"#,
                s(&self.crv),
                s(&self.x)
            ),
        };
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The verification key, pinned to [`algorithm`](Self::algorithm).
    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, JwkError> {
        if let Some(use_) = self.use_.as_deref().filter(|u| *u != "sig") {
            return Err(JwkError::Unsupported(format!("use {use_:?}")));
        }
        let algorithm = self.algorithm()?;
        // The pin hashes the decoded key material (integers without leading zeros), so that one
        // key written two ways (a leading zero byte in `n`, `AAEAAQ` for `AQAB`) is one key.
        let mut pin = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut pin_field = |bytes: &[u8]| {
            pin.update(&(bytes.len() as u64).to_be_bytes());
            pin.update(bytes);
        };
        pin_field(algorithm.as_str().as_bytes());
        let key = match self.kty.as_str() {
            "RSA" => {
                let n = unb64("n", self.n.as_deref())?;
                let e = unb64("e", self.e.as_deref())?;
                let unsigned = |v: &[u8]| {
                    let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
                    v[start..].to_vec()
                };
                pin_field(&unsigned(&n));
                pin_field(&unsigned(&e));
                let n_bits = n
                    .iter()
                    .position(|&b| b != 0)
                    .map_or(0, |i| (n.len() - i) * 8 - n[i].leading_zeros() as usize);
                if n_bits < MIN_RSA_BITS {
                    return Err(JwkError::Invalid(format!(
                        "RSA modulus of {n_bits} bits (at least {MIN_RSA_BITS} required)"
                    )));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err(JwkError::Invalid("RSA exponent".to_owned()));
                }
                // Big-endian integers: a leading zero byte (written by some issuers) is not part
                // of the value, and the RSA backend would otherwise read a different modulus.
                DecodingKey::from_rsa_raw_components(&unsigned(&n), &unsigned(&e))
            }
            "EC" => {
                let size = if algorithm == JwtAlgorithm::ES384 {
                    48
                } else {
                    32
                };
                let x = unb64("x", self.x.as_deref())?;
                let y = unb64("y", self.y.as_deref())?;
                if x.len() != size || y.len() != size {
                    return Err(JwkError::Invalid("EC coordinate length".to_owned()));
                }
                pin_field(&x);
                pin_field(&y);
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                DecodingKey::from_ec_der(&point)
            }
            _ => {
                let x = unb64("x", self.x.as_deref())?;
                if x.len() != 32 {
                    return Err(JwkError::Invalid("Ed25519 key length".to_owned()));
                }
                pin_field(&x);
                DecodingKey::from_ed_der(&x)
            }
        };
        let mut material = [0; 32];
        material.copy_from_slice(pin.finish().as_ref());
        Ok(VerifyingKey {
            algorithm,
            key,
            thumbprint: self.thumbprint(),
            material,
        })
    }
}

/// A JWK set (RFC 7517 §5): `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set of these keys.
    pub fn new(keys: impl IntoIterator<Item = Jwk>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Parses a JWK set document. Keys of types this crate does not verify with are kept here
    /// and skipped by verifiers.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        serde_json::from_slice(json).map_err(|e| JwkError::Malformed(e.to_string()))
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned())
    }

    /// The keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }
}

/// A key a verifier trusts: the public key and the one algorithm it verifies.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: JwtAlgorithm,
    pub(crate) key: DecodingKey,
    /// The RFC 7638 thumbprint of the JWK as written, for logs.
    pub(crate) thumbprint: String,
    /// SHA-256 of the algorithm and the decoded key material: what a `kid` is pinned to, so
    /// that a refreshed set can tell a replaced key from the same key re-encoded.
    pub(crate) material: [u8; 32],
}

impl VerifyingKey {
    /// Whether `other` is this key: the same object, or the same key material (thumbprint) and
    /// algorithm, as a refreshed set holds it again.
    pub(crate) fn same_as(&self, other: &VerifyingKey) -> bool {
        std::ptr::eq(self, other)
            || (self.thumbprint == other.thumbprint && self.algorithm == other.algorithm)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let key = jwk(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        );
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn hmac_keys_are_unsupported() {
        let key = jwk(r#"{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"}"#);
        assert!(matches!(key.verifying_key(), Err(JwkError::Unsupported(_))));
    }

    #[test]
    fn alg_must_fit_the_key() {
        let ec = |alg: &str| {
            jwk(&format!(
                r#"{{"kty":"EC","crv":"P-256","alg":"{alg}","x":"{x}","y":"{x}"}}"#,
                x = "A".repeat(43)
            ))
        };
        assert_eq!(ec("ES256").algorithm(), Ok(JwtAlgorithm::ES256));
        assert!(ec("ES384").algorithm().is_err());
        assert!(ec("RS256").algorithm().is_err());
        assert!(ec("HS256").algorithm().is_err());
        assert!(ec("none").algorithm().is_err());
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        let n = b64(&[0xff; 128]); // 1024 bits
        let key = jwk(&format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#));
        assert!(matches!(key.verifying_key(), Err(JwkError::Invalid(_))));
    }

    #[test]
    fn encryption_keys_are_refused() {
        let n = b64(&[0xff; 256]);
        let key = jwk(&format!(
            r#"{{"kty":"RSA","use":"enc","n":"{n}","e":"AQAB"}}"#
        ));
        assert!(matches!(key.verifying_key(), Err(JwkError::Unsupported(_))));
    }
}
