//! The shared store behind the in-process cache: verified proofs that replicas share, so that one
//! token costs one STS call for the whole fleet instead of one per replica.
//!
//! Anyone who can read or write the store (Redis) is not trusted with credentials or identities:
//!
//! - the store key is an HMAC-SHA256, under the replicas' shared [`CacheSecret`], of a namespace
//!   (the audience and the kind of token) and the **whole token**: the token itself, a live
//!   credential for minutes, never leaves the process;
//! - the value is the principal STS reported and the entry's expiry, **sealed** with an
//!   HMAC-SHA256 over the store key and the value: an entry cannot be forged, copied under another
//!   key, or extended (its expiry is inside the seal and checked on every read) without the secret;
//!   a bad entry is refused, counted (`iam_auth_shared_cache_total{result="refused"}`), logged,
//!   and treated as a miss;
//! - an entry lives in the store for what remains of the signature window (`SET … PX … NX`);
//! - a slow or unreachable store is a miss (the proof goes to STS), never a refusal: every call is
//!   bounded by a short timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::arn;
use crate::metrics::record;
use crate::principal::IamPrincipal;

type HmacSha256 = Hmac<Sha256>;

/// The shortest [`CacheSecret`] accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The future a [`SharedStore`] returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failure: treated as a miss, never as a refusal.
#[derive(Debug, thiserror::Error)]
#[error("shared cache store: {0}")]
pub struct StoreError(pub String);

/// A key-value store that replicas share (Redis with feature `redis`:
/// [`RedisStore`](super::RedisStore)). Keys and values are opaque here: the cache derives the
/// keys and seals the values, so the store needs no trust.
pub trait SharedStore: Send + Sync + 'static {
    /// The value under `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`, unless `key` holds a value already (`SET … PX … NX`).
    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;
    /// Removes `key` (a refused entry, so that a good one can take its place).
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// The secret the replicas share, keying the store keys and the seals. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct CacheSecret(Arc<[u8]>);

/// A [`CacheSecret`] shorter than [`MIN_SECRET_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the shared cache secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

impl CacheSecret {
    /// A secret of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.as_ref();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes.into()))
    }

    /// The contents of a secret file, without the whitespace around them (a trailing newline).
    pub fn from_file_contents(contents: &[u8]) -> Result<Self, SecretTooShort> {
        Self::new(contents.trim_ascii())
    }

    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(domain);
        for part in parts {
            // Length-prefixed, so that no two part lists hash alike.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

impl fmt::Debug for CacheSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheSecret(..)")
    }
}

/// Which tokens a layer's entries belong to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Namespace {
    Bearer,
    VaultLogin,
}

/// A shared store with its secret, namespace and timeout: what a [`ProofCache`](super::ProofCache)
/// consults behind its in-process store.
#[derive(Clone)]
pub(crate) struct SharedCache {
    store: Arc<dyn SharedStore>,
    secret: CacheSecret,
    namespace: Arc<[u8]>,
    timeout: Duration,
}

/// What the seal covers besides the store key.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    /// The ARN as STS reported it.
    arn: String,
    /// STS's `UserId`.
    user_id: String,
    /// When the entry stops counting, in milliseconds since the Unix epoch.
    expires_ms: u64,
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl SharedCache {
    pub(crate) fn new(
        store: Arc<dyn SharedStore>,
        secret: CacheSecret,
        namespace: Namespace,
        audience: &str,
        timeout: Duration,
    ) -> Self {
        let kind: &[u8] = match namespace {
            Namespace::Bearer => b"bearer",
            Namespace::VaultLogin => b"vault-login",
        };
        let namespace = [kind, b"\0", audience.as_bytes()].concat().into();
        Self {
            store,
            secret,
            namespace,
            timeout,
        }
    }

    /// The store key of `token`: a keyed hash, never the token.
    fn key(&self, token: &[u8]) -> String {
        let digest = self
            .secret
            .mac(b"tower-iam-auth key v1", &[&self.namespace, token])
            .finalize()
            .into_bytes();
        format!("iam-auth:v1:{}", URL_SAFE_NO_PAD.encode(digest))
    }

    fn seal(&self, key: &str, payload: &[u8]) -> Vec<u8> {
        let tag = self
            .secret
            .mac(b"tower-iam-auth seal v1", &[key.as_bytes(), payload])
            .finalize()
            .into_bytes();
        let mut value = URL_SAFE_NO_PAD.encode(payload).into_bytes();
        value.push(b'.');
        value.extend_from_slice(URL_SAFE_NO_PAD.encode(tag).as_bytes());
        value
    }

    /// Checks the seal and the expiry of a stored value; `Err` says why it is refused.
    fn open(
        &self,
        key: &str,
        value: &[u8],
        now: SystemTime,
    ) -> Result<(IamPrincipal, SystemTime), &'static str> {
        let dot = value.iter().position(|&b| b == b'.').ok_or("not sealed")?;
        let payload = URL_SAFE_NO_PAD
            .decode(&value[..dot])
            .map_err(|_| "payload is not base64url")?;
        let tag = URL_SAFE_NO_PAD
            .decode(&value[dot + 1..])
            .map_err(|_| "seal is not base64url")?;
        // Constant-time comparison.
        self.secret
            .mac(b"tower-iam-auth seal v1", &[key.as_bytes(), &payload])
            .verify_slice(&tag)
            .map_err(|_| "seal does not verify (forged, altered, or copied from another key)")?;
        let sealed: Sealed =
            serde_json::from_slice(&payload).map_err(|_| "payload is not an entry")?;
        let expires_at = UNIX_EPOCH + Duration::from_millis(sealed.expires_ms);
        if expires_at <= now {
            return Err("entry has expired (its lifetime in the store was extended)");
        }
        let identity =
            arn::normalize(&sealed.arn, &sealed.user_id).map_err(|_| "principal does not parse")?;
        Ok((IamPrincipal::from_identity(identity), expires_at))
    }

    /// The principal another replica verified for `token`, with its expiry. A bad entry, a
    /// timeout or an outage is `None`.
    pub(crate) async fn get(
        &self,
        token: &[u8],
        now: SystemTime,
    ) -> Option<(IamPrincipal, SystemTime)> {
        let key = self.key(token);
        let value = match tokio::time::timeout(self.timeout, self.store.get(&key)).await {
            Ok(Ok(Some(value))) => value,
            Ok(Ok(None)) => {
                record::shared_cache("miss");
                return None;
            }
            Ok(Err(error)) => {
                record::shared_cache("error");
                tracing::debug!(%error, "shared cache unavailable: verifying with STS");
                return None;
            }
            Err(_) => {
                record::shared_cache("error");
                tracing::debug!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "shared cache timed out: verifying with STS"
                );
                return None;
            }
        };
        match self.open(&key, &value, now) {
            Ok(found) => {
                record::shared_cache("hit");
                Some(found)
            }
            Err(why) => {
                record::shared_cache("refused");
                tracing::warn!(
                    reason = why,
                    "shared cache entry refused: verifying with STS"
                );
                // Out of the way, so that this replica's verified entry can take its place.
                let _ = tokio::time::timeout(self.timeout, self.store.delete(&key)).await;
                None
            }
        }
    }

    /// Shares `principal`, verified for `token`, until `expires_at`.
    pub(crate) async fn put(
        &self,
        token: &[u8],
        principal: &IamPrincipal,
        expires_at: SystemTime,
        now: SystemTime,
    ) {
        let Ok(ttl) = expires_at.duration_since(now) else {
            return;
        };
        if ttl < Duration::from_millis(1) {
            return;
        }
        let key = self.key(token);
        let payload = serde_json::to_vec(&Sealed {
            arn: principal.raw_arn().to_owned(),
            user_id: principal.user_id().unwrap_or_default().to_owned(),
            expires_ms: unix_ms(expires_at),
        })
        .expect("an entry serializes");
        let value = self.seal(&key, &payload);
        match tokio::time::timeout(self.timeout, self.store.set_if_absent(&key, &value, ttl)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                record::shared_cache("error");
                tracing::debug!(%error, "shared cache unavailable: entry not shared");
            }
            Err(_) => {
                record::shared_cache("error");
                tracing::debug!("shared cache timed out: entry not shared");
            }
        }
    }
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl SharedStore for Nothing {
        fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
            Box::pin(async { Ok(None) })
        }
        fn set_if_absent<'a>(
            &'a self,
            _: &'a str,
            _: &'a [u8],
            _: Duration,
        ) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn delete<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
    }

    fn cache(secret: &[u8; 32], audience: &str) -> SharedCache {
        SharedCache::new(
            Arc::new(Nothing),
            CacheSecret::new(secret).unwrap(),
            Namespace::Bearer,
            audience,
            Duration::from_millis(50),
        )
    }

    #[test]
    fn secrets_shorter_than_32_bytes_are_refused() {
        assert_eq!(CacheSecret::new([7u8; 31]).unwrap_err().0, 31);
        let padded = [b"  ".as_slice(), &[b'x'; 31], b"\n"].concat();
        assert!(CacheSecret::from_file_contents(&padded).is_err());
        assert!(CacheSecret::from_file_contents(&[[b'x'; 32].as_slice(), b"\n"].concat()).is_ok());
        assert_eq!(
            format!("{:?}", CacheSecret::new([7u8; 32]).unwrap()),
            "CacheSecret(..)"
        );
    }

    #[test]
    fn keys_depend_on_secret_namespace_and_every_token_byte() {
        let a = cache(&[1; 32], "orders");
        let key = a.key(b"iam-v1.token");
        assert!(!key.contains("token"));
        assert_ne!(key, a.key(b"iam-v1.tokem"));
        assert_ne!(key, cache(&[2; 32], "orders").key(b"iam-v1.token"));
        assert_ne!(key, cache(&[1; 32], "billing").key(b"iam-v1.token"));
    }

    #[test]
    fn a_seal_binds_value_key_and_secret() {
        let a = cache(&[1; 32], "orders");
        let now = SystemTime::now();
        let payload = serde_json::to_vec(&Sealed {
            arn: "arn:aws:iam::123456789012:user/alice".into(),
            user_id: "AIDAEXAMPLE".into(),
            expires_ms: unix_ms(now + Duration::from_secs(60)),
        })
        .unwrap();
        let value = a.seal("k1", &payload);
        assert!(a.open("k1", &value, now).is_ok());
        assert!(a.open("k2", &value, now).is_err(), "copied to another key");
        assert!(
            cache(&[2; 32], "orders").open("k1", &value, now).is_err(),
            "another secret"
        );
        assert!(
            a.open("k1", &value, now + Duration::from_secs(61)).is_err(),
            "expired"
        );
        let mut altered = value.clone();
        altered[3] ^= 1;
        assert!(a.open("k1", &altered, now).is_err(), "altered");
    }
}
