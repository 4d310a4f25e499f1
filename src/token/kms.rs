//! Signing with an AWS KMS asymmetric key: `GetPublicKey` once for the JWK, then `Sign` with
//! `MessageType=DIGEST` per token. The private key never leaves KMS.
//!
//! See <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>: KMS returns RSA
//! signatures as raw bytes (what JWS wants) and ECDSA signatures as DER `Ecdsa-Sig-Value`, which
//! JWS (RFC 7518 §3.4) needs as fixed-width `r || s`.

use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyUsageType, MessageType, SigningAlgorithmSpec};

use super::algorithm::JwtAlgorithm;
use super::der::{self, KeyAlgorithm, PublicKey};
use super::jwk::Jwk;
use super::signing_key::{KeyError, SigningError};

pub(crate) struct KmsBackend {
    client: aws_sdk_kms::Client,
    /// The key's ARN as `GetPublicKey` answered it, never the alias it was configured by.
    key_id: String,
    algorithm: JwtAlgorithm,
}

impl KmsBackend {
    /// Reads the key's public half and checks that it can sign one of our algorithms.
    pub(crate) async fn connect(
        client: aws_sdk_kms::Client,
        key_id: String,
    ) -> Result<(Self, Jwk, JwtAlgorithm), KeyError> {
        let out = client
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| KeyError::Kms(format!("GetPublicKey: {}", DisplayErrorContext(&e))))?;
        if out.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(KeyError::Unsupported(format!(
                "KMS key usage is {:?}, not SIGN_VERIFY",
                out.key_usage()
            )));
        }
        // The algorithm follows from the public key itself: KeySpec is absent from some
        // emulators' answers (which send only the deprecated CustomerMasterKeySpec).
        let der = out
            .public_key()
            .ok_or_else(|| KeyError::Kms("GetPublicKey returned no key".into()))?;
        let (algorithm, spec, jwk) = match der::subject_public_key_info(der.as_ref()) {
            Some(PublicKey::Rsa { n, e }) if n.len() >= 256 => (
                JwtAlgorithm::RS256,
                SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                Jwk::rsa(n, e, JwtAlgorithm::RS256),
            ),
            Some(PublicKey::Ec {
                algorithm: KeyAlgorithm::EcP256,
                x,
                y,
            }) => (
                JwtAlgorithm::ES256,
                SigningAlgorithmSpec::EcdsaSha256,
                Jwk::ec(x, y, JwtAlgorithm::ES256),
            ),
            _ => {
                return Err(KeyError::Unsupported(format!(
                    "KMS key spec {:?} (use RSA_2048/3072/4096 or ECC_NIST_P256)",
                    out.key_spec()
                )));
            }
        };
        if !out.signing_algorithms().contains(&spec) {
            return Err(KeyError::Unsupported(format!(
                "KMS key does not offer {spec}"
            )));
        }
        // Sign with the key the JWK came from: `key_id` may be an alias, which can be pointed
        // at another key later; the ARN GetPublicKey answers cannot.
        let key_arn = out
            .key_id()
            .filter(|arn| !arn.is_empty())
            .ok_or_else(|| KeyError::Kms("GetPublicKey returned no key id".into()))?
            .to_owned();
        tracing::debug!(configured = %key_id, key = %key_arn, "KMS signing key resolved");
        Ok((
            Self {
                client,
                key_id: key_arn,
                algorithm,
            },
            jwk,
            algorithm,
        ))
    }

    pub(crate) async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        let spec = match self.algorithm {
            JwtAlgorithm::ES256 => SigningAlgorithmSpec::EcdsaSha256,
            _ => SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        };
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(digest.as_ref()))
            .message_type(MessageType::Digest)
            .signing_algorithm(spec)
            .send()
            .await
            .map_err(|e| SigningError::Kms(format!("Sign: {}", DisplayErrorContext(&e))))?;
        let signature = out
            .signature()
            .ok_or_else(|| SigningError::Kms("Sign returned no signature".into()))?;
        match self.algorithm {
            JwtAlgorithm::ES256 => {
                der::ecdsa_der_to_jose(signature.as_ref(), 32).ok_or_else(|| {
                    SigningError::Kms("Sign returned a malformed ECDSA signature".into())
                })
            }
            _ => Ok(signature.as_ref().to_vec()),
        }
    }
}
