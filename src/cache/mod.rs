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
//! - Concurrent misses for one token make one STS call (`flight.rs`: one run per token, whose
//!   result the other callers share).
//! - A lookup is synchronous: a request with a verified token is decided without waiting on
//!   anything.
//! - Memory is bounded by [`CacheConfig::max_entries`] and the token size cap.
//! - Only definite rejections by STS are remembered, briefly ([`CacheConfig::negative_ttl`]);
//!   throttling and outages are never cached as failures of the caller.
//! - With several replicas, a [`SharedStore`] (Redis: [`RedisStore`], feature `redis`) sits
//!   behind the in-process store: a local miss asks it (after local validation, inside the
//!   single flight), a proof verified by STS is shared with it. Its keys are keyed hashes of the
//!   token and its values are sealed (see `shared.rs`); an outage there is a miss, never a
//!   refusal. Configure it with
//!   [`IamAuthConfigBuilder::shared_cache`](crate::server::IamAuthConfigBuilder::shared_cache).

mod flight;
mod local;
mod recent;
#[cfg(feature = "redis")]
mod redis;
mod shared;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::clock::SharedClock;
use crate::error::{AuthError, ReasonCode};
use crate::metrics::record;
use crate::principal::IamPrincipal;

use flight::Flights;
pub(crate) use local::{Entry, LocalStore};
#[cfg(feature = "redis")]
pub use redis::{RETRY_AFTER, RedisStore};
pub use shared::{
    CacheSecret, MIN_SECRET_BYTES, SecretTooShort, SharedStore, StoreError, StoreFuture,
};
pub(crate) use shared::{Namespace, SharedCache};

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

/// Verified tokens, keyed by the whole token: the in-process store, and behind it (when
/// configured) a [`SharedStore`] that replicas share.
#[derive(Clone)]
pub struct ProofCache {
    verified: Arc<LocalStore<IamPrincipal>>,
    rejected: Arc<LocalStore<AuthError>>,
    /// Misses being verified, so that concurrent ones share one run.
    flights: Arc<Flights<Result<IamPrincipal, AuthError>>>,
    shared: Option<SharedCache>,
    config: Arc<CacheConfig>,
    clock: SharedClock,
}

impl std::fmt::Debug for ProofCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofCache")
            .field("entries", &self.verified.len())
            .field("config", &self.config)
            .field("shared", &self.shared)
            .finish()
    }
}

impl ProofCache {
    /// An empty cache reading time from `clock`.
    pub fn new(config: CacheConfig, clock: SharedClock) -> Self {
        Self {
            verified: Arc::new(LocalStore::new(config.max_entries)),
            rejected: Arc::new(LocalStore::new((config.max_entries / 4).max(16))),
            flights: Arc::new(Flights::new()),
            shared: None,
            config: Arc::new(config),
            clock,
        }
    }

    /// The same cache, consulting `shared` on in-process misses.
    pub(crate) fn with_shared(mut self, shared: Option<SharedCache>) -> Self {
        self.shared = shared;
        self
    }

    /// Looks a token up in the in-process store. Stale entries (by the injected clock) are
    /// dropped and reported as a miss. The shared store is consulted by
    /// [`get_or_verify`](Self::get_or_verify), after local validation.
    #[inline]
    pub fn lookup(&self, token: &[u8]) -> Lookup {
        let now = self.clock.now();
        if let Some(principal) = self.verified.get(token, now) {
            record::cache_lookup("hit");
            return Lookup::Verified(principal);
        }
        if !self.config.negative_ttl.is_zero()
            && let Some(rejected) = self.rejected.get(token, now)
        {
            record::cache_lookup("negative_hit");
            return Lookup::Rejected(rejected);
        }
        record::cache_lookup("miss");
        // Misses are off the hot path: refresh the gauge here too, so that entries that expired
        // since the last insert are not counted for long.
        if record::ENABLED {
            record::cache_entries(self.verified.len());
        }
        Lookup::Miss
    }

    /// Returns the cached principal for `token`, or gets one: from the shared store if another
    /// replica verified this token, else by running `verify` (and then sharing the result).
    /// Concurrent callers for the same token share one run. A success is kept until
    /// `window_closes_at` (capped by `max_ttl`); an [`ReasonCode::StsRejected`] failure is
    /// remembered for `negative_ttl`; other failures are not kept.
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
        let shared = self.shared.as_ref();
        let seat = self.flights.join(token);
        // A run that ended between the caller's lookup and this join left its principal here.
        if let Some(principal) = self.verified.get(token, now) {
            record::cache_coalesced();
            return Ok(principal);
        }
        // Whether this request ran the verification, or waited on another request's run.
        let mut ran = false;
        let ran_flag = &mut ran;
        let result = seat
            .result(|| async move {
                *ran_flag = true;
                let entry = match shared {
                    Some(shared) => match shared.get(token, now).await {
                        Some((principal, expires_at)) => {
                            let until = expires_at.min(window_closes_at);
                            Entry::new(principal, now, until, max_ttl)
                        }
                        None => {
                            let entry = Entry::new(verify.await?, now, window_closes_at, max_ttl);
                            shared.put(token, &entry.value, entry.expires_at, now).await;
                            entry
                        }
                    },
                    None => Entry::new(verify.await?, now, window_closes_at, max_ttl),
                };
                let principal = entry.value.clone();
                self.verified.insert(token, entry);
                Ok(principal)
            })
            .await;
        if !ran {
            record::cache_coalesced();
            return result;
        }
        match &result {
            Ok(_) if record::ENABLED => {
                // moka counts lazily; on this (STS) path an exact count is cheap enough.
                record::cache_entries(self.verified.exact_len());
            }
            Ok(_) => {}
            Err(error) => {
                let negative_ttl = self.config.negative_ttl;
                if error.reason() == ReasonCode::StsRejected && !negative_ttl.is_zero() {
                    let entry = Entry::new(error.clone(), now, window_closes_at, negative_ttl);
                    self.rejected.insert(token, entry);
                }
            }
        }
        result
    }

    /// The number of verified tokens held (approximate, as moka counts lazily).
    pub fn len(&self) -> u64 {
        self.verified.len()
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
        assert!(matches!(a.lookup(b"key"), Lookup::Verified(_)));
        assert!(matches!(b.lookup(b"key"), Lookup::Miss));
    }
}
