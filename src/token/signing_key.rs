//! [`SigningKey`]: a private key that signs tokens, held locally (PEM or generated) or in AWS
//! KMS (feature `kms`), with its public [`Jwk`] and `kid`.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::algorithm::JwtAlgorithm;
use super::der::{self, KeyAlgorithm, PublicKey};
use super::jwk::Jwk;

/// Why a signing key cannot be loaded or made.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The input is not one PEM block of an unencrypted private key.
    #[error("not a PEM private key: {0}")]
    Pem(String),
    /// The key's type or curve is not one this crate signs with (RSA, P-256, Ed25519).
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key material was rejected.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// AWS KMS refused or failed a request.
    #[error("AWS KMS: {0}")]
    Kms(String),
}

/// Why a token could not be signed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The local key failed to sign.
    #[error("signing failed")]
    Crypto,
    /// AWS KMS refused, failed or could not be reached.
    #[error("AWS KMS signing failed: {0}")]
    Kms(String),
}

enum Backend {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    #[cfg(feature = "kms")]
    Kms(super::kms::KmsBackend),
}

/// A key that signs tokens: `RS256` (RSA, 2048 bits or more), `ES256` (P-256) or `EdDSA`
/// (Ed25519), local or in AWS KMS.
///
/// Its `kid` defaults to the RFC 7638 thumbprint of its public key, so the same key always
/// gets the same `kid`. `Debug` shows the `kid` and algorithm, never key material.
///
/// ```
/// use tower_iam_auth::token::{JwtAlgorithm, SigningKey};
///
/// let key = SigningKey::generate(JwtAlgorithm::ES256)?.with_kid("2026-01");
/// assert_eq!(key.kid(), "2026-01");
/// assert_eq!(key.public_jwk().key_type(), "EC");
/// # Ok::<(), tower_iam_auth::token::KeyError>(())
/// ```
pub struct SigningKey {
    kid: String,
    algorithm: JwtAlgorithm,
    jwk: Jwk,
    backend: Backend,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = match self.backend {
            #[cfg(feature = "kms")]
            Backend::Kms(_) => "kms",
            _ => "local",
        };
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("location", &location)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads an unencrypted private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, as written by
    /// `openssl genpkey`) for RSA, P-256 or Ed25519, or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    /// RSA keys sign `RS256`, P-256 keys `ES256`, Ed25519 keys `EdDSA`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (label, der) = parse_pem(pem)?;
        match label.as_str() {
            "RSA PRIVATE KEY" => {
                Self::rsa(RsaKeyPair::from_der(&der).map_err(|e| KeyError::Invalid(e.to_string()))?)
            }
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "EC PRIVATE KEY" => Err(KeyError::Pem(
                "SEC1 EC keys are not read; convert with `openssl pkcs8 -topk8 -nocrypt`".into(),
            )),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Pem("encrypted keys are not read".into())),
            other => Err(KeyError::Pem(format!("unexpected PEM label {other:?}"))),
        }
    }

    /// Loads an unencrypted PKCS#8 DER private key (RSA, P-256 or Ed25519).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let invalid = |e: aws_lc_rs::error::KeyRejected| KeyError::Invalid(e.to_string());
        match der::pkcs8_algorithm(der) {
            Some(KeyAlgorithm::Rsa) => Self::rsa(RsaKeyPair::from_pkcs8(der).map_err(invalid)?),
            Some(KeyAlgorithm::EcP256) => Self::ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(invalid)?,
            ),
            Some(KeyAlgorithm::Ed25519) => {
                Self::ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(invalid)?)
            }
            Some(KeyAlgorithm::EcP384) => Err(KeyError::Unsupported(
                "P-384 keys are verified, not used for signing".into(),
            )),
            None => Err(KeyError::Unsupported(
                "not an RSA, P-256 or Ed25519 PKCS#8 key".into(),
            )),
        }
    }

    /// Generates a new key in memory: RSA 2048 for `RS256`, P-256 for `ES256`, Ed25519 for
    /// `EdDSA`. It lives as long as the process: tokens it signed stop verifying after a
    /// restart, so use it for tests and single-instance development only.
    pub fn generate(algorithm: JwtAlgorithm) -> Result<Self, KeyError> {
        let failed = |_| KeyError::Invalid("key generation failed".into());
        match algorithm {
            JwtAlgorithm::RS256 => {
                Self::rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?)
            }
            JwtAlgorithm::ES256 => Self::ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?,
            ),
            JwtAlgorithm::EdDSA => Self::ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            other => Err(KeyError::Unsupported(format!("signing with {other}"))),
        }
    }

    /// An AWS KMS asymmetric key (`KeyUsage` `SIGN_VERIFY`): `RSA_2048`/`RSA_3072`/`RSA_4096`
    /// keys sign `RS256` (`RSASSA_PKCS1_V1_5_SHA_256`), `ECC_NIST_P256` keys `ES256`
    /// (`ECDSA_SHA_256`). Calls `GetPublicKey` once for the JWK; every token is then signed with
    /// `Sign` and `MessageType=DIGEST`. No private key material is ever held here.
    ///
    /// `key_id` is a key id, key ARN, alias name or alias ARN. The client is the AWS SDK's, so
    /// its configuration (region, credentials, retries, endpoint) is entirely yours.
    #[cfg(feature = "kms")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kms")))]
    pub async fn from_kms(
        client: aws_sdk_kms::Client,
        key_id: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let (backend, jwk, algorithm) =
            super::kms::KmsBackend::connect(client, key_id.into()).await?;
        Ok(Self::with_backend(Backend::Kms(backend), jwk, algorithm))
    }

    fn rsa(pair: RsaKeyPair) -> Result<Self, KeyError> {
        if pair.public_modulus_len() < 256 {
            return Err(KeyError::Invalid(
                "RSA keys must have at least 2048 bits".into(),
            ));
        }
        let Some(PublicKey::Rsa { n, e }) = der::rsa_public_key(pair.public_key().as_ref()) else {
            return Err(KeyError::Invalid("unreadable RSA public key".into()));
        };
        let jwk = Jwk::rsa(n, e, JwtAlgorithm::RS256);
        Ok(Self::with_backend(
            Backend::Rsa(pair),
            jwk,
            JwtAlgorithm::RS256,
        ))
    }

    fn ecdsa(pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let (x, y) = der::uncompressed_point(pair.public_key().as_ref(), 32)
            .ok_or_else(|| KeyError::Invalid("unreadable EC public key".into()))?;
        let jwk = Jwk::ec(x, y, JwtAlgorithm::ES256);
        Ok(Self::with_backend(
            Backend::Ecdsa(pair),
            jwk,
            JwtAlgorithm::ES256,
        ))
    }

    fn ed25519(pair: Ed25519KeyPair) -> Result<Self, KeyError> {
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        Ok(Self::with_backend(
            Backend::Ed25519(pair),
            jwk,
            JwtAlgorithm::EdDSA,
        ))
    }

    fn with_backend(backend: Backend, mut jwk: Jwk, algorithm: JwtAlgorithm) -> Self {
        let kid = jwk.thumbprint();
        jwk.set_kid(kid.clone());
        Self {
            kid,
            algorithm,
            jwk,
            backend,
        }
    }

    /// Replaces the `kid` (default: the RFC 7638 thumbprint).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self.jwk.set_kid(self.kid.clone());
        self
    }

    /// The key id, sent in every token's header and in the JWK.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The public key as published in the JWK set (with `kid`, `alg` and `use: sig`).
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs the JWS signing input (`BASE64URL(header).BASE64URL(payload)`), returning the raw
    /// JWS signature (for ECDSA the fixed-width `r || s`).
    pub(crate) async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.backend {
            Backend::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| SigningError::Crypto)?;
                Ok(signature)
            }
            Backend::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningError::Crypto),
            Backend::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            #[cfg(feature = "kms")]
            Backend::Kms(kms) => kms.sign(message).await,
        }
    }
}

/// Reads exactly one PEM block: its label and its DER contents.
fn parse_pem(pem: &[u8]) -> Result<(String, Vec<u8>), KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::Pem("not UTF-8".into()))?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "));
    let begin = lines
        .next()
        .ok_or_else(|| KeyError::Pem("no -----BEGIN line".into()))?;
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| KeyError::Pem("malformed BEGIN line".into()))?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for line in lines.by_ref() {
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            return Err(KeyError::Pem(
                "encrypted (Proc-Type) PEM is not read".into(),
            ));
        }
        body.push_str(line);
    }
    if !ended {
        return Err(KeyError::Pem(format!("no {end} line")));
    }
    if lines.any(|l| l.starts_with("-----BEGIN ")) {
        return Err(KeyError::Pem("more than one PEM block".into()));
    }
    let der = STANDARD
        .decode(body)
        .map_err(|_| KeyError::Pem("body is not base64".into()))?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;

    fn pem(label: &str, der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn reads_pkcs8_keys_of_each_algorithm() {
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let ec_pem = pem("PRIVATE KEY", ec.to_pkcs8v1().unwrap().as_ref());
        let key = SigningKey::from_pem(ec_pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), JwtAlgorithm::ES256);

        let ed = Ed25519KeyPair::generate().unwrap();
        let ed_pem = pem("PRIVATE KEY", ed.to_pkcs8v1().unwrap().as_ref());
        let key = SigningKey::from_pem(ed_pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), JwtAlgorithm::EdDSA);

        let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa_pem = pem("PRIVATE KEY", AsDer::as_der(&rsa).unwrap().as_ref());
        let key = SigningKey::from_pem(rsa_pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), JwtAlgorithm::RS256);
        assert_eq!(key.kid(), key.public_jwk().thumbprint());
    }

    #[test]
    fn refuses_garbage_and_encrypted_pem() {
        assert!(matches!(
            SigningKey::from_pem(b"hello"),
            Err(KeyError::Pem(_))
        ));
        let encrypted = pem("ENCRYPTED PRIVATE KEY", b"x");
        assert!(matches!(
            SigningKey::from_pem(encrypted.as_bytes()),
            Err(KeyError::Pem(_))
        ));
        let public = pem("PUBLIC KEY", b"x");
        assert!(matches!(
            SigningKey::from_pem(public.as_bytes()),
            Err(KeyError::Pem(_))
        ));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SigningKey::generate(JwtAlgorithm::EdDSA).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()), "{debug}");
        assert!(!debug.contains("x:"), "{debug}");
    }
}
