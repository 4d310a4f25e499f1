//! The in-process store: verified values keyed by the whole token, in a bounded moka cache,
//! each living until its own expiry by the injected clock.

use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;

type Hasher = foldhash::fast::RandomState;

/// A cached value and when it stops counting: `expires_at` by the injected clock, checked on
/// every read, and `ttl`, the same span for moka's own eviction.
#[derive(Clone)]
pub(crate) struct Entry<T> {
    pub(crate) value: T,
    pub(crate) expires_at: SystemTime,
    ttl: Duration,
}

impl<T> Entry<T> {
    /// An entry living until `window_closes_at`, but at most `cap` from `now`.
    pub(crate) fn new(
        value: T,
        now: SystemTime,
        window_closes_at: SystemTime,
        cap: Duration,
    ) -> Self {
        let expires_at = window_closes_at.min(now.checked_add(cap).unwrap_or(window_closes_at));
        let ttl = expires_at.duration_since(now).unwrap_or_default();
        Self {
            value,
            expires_at,
            ttl,
        }
    }

    pub(crate) fn live_at(&self, now: SystemTime) -> bool {
        self.expires_at > now
    }
}

/// Tells moka to drop entries when they expire, measured from the injected clock's `now` at
/// insertion so that a test clock set in the past or the future does not skew eviction.
struct UntilExpiry;

impl<T> Expiry<Box<[u8]>, Entry<T>> for UntilExpiry {
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

/// Values keyed by whole tokens. moka hashes all of the key and compares all of it, so a token
/// that differs from a cached one in any byte is a miss, and a hash collision is never a hit.
pub(crate) struct LocalStore<T> {
    pub(crate) entries: Cache<Box<[u8]>, Entry<T>, Hasher>,
}

impl<T: Clone + Send + Sync + 'static> LocalStore<T> {
    /// A store of at most `max_entries`, a key of more than 2 KiB weighing one per started
    /// 2 KiB, so that large keys (Vault login bodies) cannot multiply the memory bound.
    // moka's weigher receives the key as stored, `&Box<[u8]>`.
    #[allow(clippy::borrowed_box)]
    pub(crate) fn new(max_entries: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_entries)
            .weigher(|key: &Box<[u8]>, _| weight(key))
            .expire_after(UntilExpiry)
            .build_with_hasher(Hasher::default());
        Self { entries }
    }

    /// The value for `key` if it is live at `now`; a stale entry is dropped.
    pub(crate) async fn get(&self, key: &[u8], now: SystemTime) -> Option<T> {
        let hit = self.entries.get(key).await?;
        if hit.live_at(now) {
            return Some(hit.value);
        }
        self.entries.invalidate(key).await;
        None
    }

    /// Keeps `entry` under `key`.
    pub(crate) async fn insert(&self, key: &[u8], entry: Entry<T>) {
        self.entries.insert(key.into(), entry).await;
    }

    /// Forgets `key`.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) async fn remove(&self, key: &[u8]) {
        self.entries.invalidate(key).await;
    }

    /// The number of entries (approximate, as moka counts lazily).
    pub(crate) fn len(&self) -> u64 {
        self.entries.entry_count()
    }
}
