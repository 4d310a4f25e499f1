//! The verified-proof cache (DESIGN §6).
//!
//! A hit means: these exact token bytes were validated and verified by STS under this layer's
//! configuration, and the signature window is still open.
//!
//! - The key is the **whole token**. Lookups hash all of it and compare all of it, so a token
//!   that differs from a cached one in any byte (say, a re-signed copy with the same signature
//!   field) is a miss. A collision in the hash cannot produce a false hit.
//! - An entry lives until the proof's signature window closes, capped by
//!   [`CacheConfig::max_ttl`], and is checked against the injected [`Clock`](crate::clock::Clock)
//!   on every hit, not only when moka evicts it.
//! - Concurrent misses for one token make one STS call (moka's `try_get_with`).
//! - Memory is bounded by [`CacheConfig::max_entries`] and the token size cap.
//! - Only definite rejections by STS are remembered, briefly ([`CacheConfig::negative_ttl`]);
//!   throttling and outages are never cached as failures of the caller.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;

use crate::clock::SharedClock;
use crate::error::{AuthError, ReasonCode};
use crate::metrics::record;
use crate::principal::IamPrincipal;

type Hasher = foldhash::fast::RandomState;

/// Cache sizing and lifetimes.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// The most verified tokens kept, counting a token of more than 2 KiB as one per started
    /// 2 KiB. Default 10 000 (about 20 MiB of keys at most).
    pub max_entries: u64,
    /// The longest an entry lives, whatever its signature window. Default 15 minutes.
    pub max_ttl: Duration,
    /// How long a definite STS rejection is remembered (0 disables). Default 30 seconds.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_ttl: Duration::from_secs(15 * 60),
            negative_ttl: Duration::from_secs(30),
        }
    }
}

/// A cached value and when it stops counting: `expires_at` by the injected clock, checked on
/// every read, and `ttl`, the same span for moka's own eviction.
#[derive(Clone)]
struct Entry<T> {
    value: T,
    expires_at: SystemTime,
    ttl: Duration,
}

impl<T> Entry<T> {
    /// An entry living until `window_closes_at`, but at most `cap` from `now`.
    fn new(value: T, now: SystemTime, window_closes_at: SystemTime, cap: Duration) -> Self {
        let expires_at = window_closes_at.min(now.checked_add(cap).unwrap_or(window_closes_at));
        let ttl = expires_at.duration_since(now).unwrap_or_default();
        Self {
            value,
            expires_at,
            ttl,
        }
    }

    fn live_at(&self, now: SystemTime) -> bool {
        self.expires_at > now
    }
}

/// Tells moka to drop entries when they expire, measured from the injected clock's `now` at
/// insertion so that a test clock set in the past or the future does not skew eviction.
struct UntilWindowCloses;

impl<T> Expiry<Box<[u8]>, Entry<T>> for UntilWindowCloses {
    fn expire_after_create(
        &self,
        _key: &Box<[u8]>,
        value: &Entry<T>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

fn weight(key: &[u8]) -> u32 {
    u32::try_from(key.len().div_ceil(2048))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The token was verified and its window is open.
    Verified(IamPrincipal),
    /// STS definitely rejected this token a moment ago.
    Rejected(AuthError),
    /// Nothing usable is cached.
    Miss,
}

/// Verified tokens, keyed by the whole token.
#[derive(Clone)]
pub struct ProofCache {
    verified: Cache<Box<[u8]>, Entry<IamPrincipal>, Hasher>,
    rejected: Cache<Box<[u8]>, Entry<AuthError>, Hasher>,
    config: Arc<CacheConfig>,
    clock: SharedClock,
}

impl std::fmt::Debug for ProofCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofCache")
            .field("entries", &self.verified.entry_count())
            .field("config", &self.config)
            .finish()
    }
}

impl ProofCache {
    /// An empty cache reading time from `clock`.
    // moka's weigher receives the key as stored, `&Box<[u8]>`.
    #[allow(clippy::borrowed_box)]
    pub fn new(config: CacheConfig, clock: SharedClock) -> Self {
        // An entry weighs one unit per started 2 KiB of key, so that large keys (Vault login
        // bodies) cannot multiply the memory bound.
        let verified = Cache::builder()
            .max_capacity(config.max_entries)
            .weigher(|key: &Box<[u8]>, _| weight(key))
            .expire_after(UntilWindowCloses)
            .build_with_hasher(Hasher::default());
        let rejected = Cache::builder()
            .max_capacity((config.max_entries / 4).max(16))
            .weigher(|key: &Box<[u8]>, _| weight(key))
            .expire_after(UntilWindowCloses)
            .build_with_hasher(Hasher::default());
        Self {
            verified,
            rejected,
            config: Arc::new(config),
            clock,
        }
    }

    /// Looks a token up. Stale entries (by the injected clock) are dropped and reported as a miss.
    pub async fn lookup(&self, token: &[u8]) -> Lookup {
        let now = self.clock.now();
        if let Some(hit) = self.verified.get(token).await {
            if hit.live_at(now) {
                record::cache_lookup("hit");
                return Lookup::Verified(hit.value);
            }
            self.verified.invalidate(token).await;
        }
        if !self.config.negative_ttl.is_zero()
            && let Some(rejected) = self.rejected.get(token).await
        {
            if rejected.live_at(now) {
                record::cache_lookup("negative_hit");
                return Lookup::Rejected(rejected.value);
            }
            self.rejected.invalidate(token).await;
        }
        record::cache_lookup("miss");
        // Misses are off the hot path: refresh the gauge here too, so that entries that expired
        // since the last insert are not counted for long.
        if record::ENABLED {
            record::cache_entries(self.verified.entry_count());
        }
        Lookup::Miss
    }

    /// Returns the cached principal for `token`, or runs `verify` to get one. Concurrent callers
    /// for the same token share one `verify`. A success is kept until `window_closes_at` (capped
    /// by `max_ttl`); an [`ReasonCode::StsRejected`] failure is remembered for `negative_ttl`;
    /// other failures are not kept.
    pub async fn get_or_verify<F>(
        &self,
        token: &[u8],
        window_closes_at: SystemTime,
        verify: F,
    ) -> Result<IamPrincipal, AuthError>
    where
        F: Future<Output = Result<IamPrincipal, AuthError>>,
    {
        let now = self.clock.now();
        let max_ttl = self.config.max_ttl;
        // Whether this request ran `verify`, or waited on another request's run.
        let mut ran = false;
        let ran_flag = &mut ran;
        let result = self
            .verified
            .try_get_with(Box::from(token), async move {
                *ran_flag = true;
                verify
                    .await
                    .map(|principal| Entry::new(principal, now, window_closes_at, max_ttl))
            })
            .await;
        if !ran {
            record::cache_coalesced();
        }
        match result {
            Ok(verified) => {
                if record::ENABLED && ran {
                    // moka counts lazily; on this (STS) path an exact count is cheap enough.
                    self.verified.run_pending_tasks().await;
                    record::cache_entries(self.verified.entry_count());
                }
                Ok(verified.value)
            }
            Err(error) => {
                let error = AuthError::clone(&error);
                let negative_ttl = self.config.negative_ttl;
                if error.reason() == ReasonCode::StsRejected && !negative_ttl.is_zero() {
                    let entry = Entry::new(error.clone(), now, window_closes_at, negative_ttl);
                    self.rejected.insert(token.into(), entry).await;
                }
                Err(error)
            }
        }
    }

    /// The number of verified tokens held (approximate, as moka counts lazily).
    pub fn len(&self) -> u64 {
        self.verified.entry_count()
    }

    /// Whether no verified token is held (approximate).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_caches_do_not_share_entries() {
        let a = ProofCache::new(CacheConfig::default(), SharedClock::default());
        let b = ProofCache::new(CacheConfig::default(), SharedClock::default());
        let principal = IamPrincipal::from_identity(
            crate::arn::normalize("arn:aws:iam::123456789012:user/alice", "AIDAEXAMPLE").unwrap(),
        );
        let until = SystemTime::now() + Duration::from_secs(60);
        a.get_or_verify(b"key", until, async { Ok(principal) })
            .await
            .unwrap();
        assert!(matches!(a.lookup(b"key").await, Lookup::Verified(_)));
        assert!(matches!(b.lookup(b"key").await, Lookup::Miss));
    }
}
