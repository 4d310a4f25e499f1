//! The in-process store: verified values keyed by the whole token, in a bounded moka cache,
//! each living until its own expiry by the injected clock.
//!
//! Reads and writes are synchronous (moka's `sync` cache, whose calls only take short locks),
//! so that a request whose token was verified before is decided without a future of its own;
//! concurrent misses share one run through [`Flights`](super::flight::Flights), and the
//! tokens seen most recently are answered by [`Recent`], in front of moka.

use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::sync::Cache;

use super::recent::Recent;

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

    #[inline]
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
/// In front of moka, [`Recent`] answers the tokens seen most recently with less work.
pub(crate) struct LocalStore<T> {
    pub(crate) entries: Cache<Box<[u8]>, Entry<T>, Hasher>,
    recent: Option<Recent<T>>,
}

/// One slot of the recent-hits table per this many entries of the bound.
const ENTRIES_PER_RECENT_SLOT: u64 = 16;
/// The most slots of the recent-hits table.
const MAX_RECENT_SLOTS: u64 = 1024;

impl<T: Clone + Send + Sync + 'static> LocalStore<T> {
    /// A store of at most `max_entries`, a key of more than 2 KiB weighing one per started
    /// 2 KiB, so that large keys (Vault login bodies) cannot multiply the memory bound.
    // moka's weigher receives the key as stored, `&Box<[u8]>`.
    #[allow(clippy::borrowed_box)]
    pub(crate) fn new(max_entries: u64) -> Self {
        // The recent-hits table takes its slots out of the bound; stores too small to spare
        // them have none.
        let slots = (max_entries / ENTRIES_PER_RECENT_SLOT).min(MAX_RECENT_SLOTS);
        let recent = (slots > 0).then(|| Recent::new(usize::try_from(slots).unwrap_or(1)));
        let held_in_front = recent.as_ref().map_or(0, |r| r.len() as u64);
        let entries = Cache::builder()
            .max_capacity(max_entries - held_in_front)
            .weigher(|key: &Box<[u8]>, _| weight(key))
            .expire_after(UntilExpiry)
            .build_with_hasher(Hasher::default());
        Self { entries, recent }
    }

    /// The value for `key` if it is live at `now`; a stale entry is dropped.
    #[inline]
    pub(crate) fn get(&self, key: &[u8], now: SystemTime) -> Option<T> {
        self.get_with(key, now, T::clone)
    }

    /// `read` of the value for `key` if it is live at `now` (as [`get`](Self::get)): on a hit
    /// in the table of recent hits, the caller takes what it needs without a clone of the value.
    #[inline]
    pub(crate) fn get_with<R>(
        &self,
        key: &[u8],
        now: SystemTime,
        read: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        let recent = self.recent.as_ref();
        let hash = recent.map(|r| r.hash(key));
        let mut read = Some(read);
        if let (Some(recent), Some(hash)) = (recent, hash)
            && let Some(answer) =
                recent.get_with(hash, key, now, |value| read.take().map(|r| r(value)))
        {
            return answer;
        }
        let hit = self.entries.get(key)?;
        if hit.live_at(now) {
            // Only keys that weigh one entry, so that the slots' share of the bound holds.
            if let (Some(recent), Some(hash)) = (recent, hash)
                && weight(key) == 1
            {
                recent.offer(hash, key, &hit.value, hit.expires_at, now);
            }
            return read.map(|r| r(&hit.value));
        }
        self.entries.invalidate(key);
        None
    }

    /// Keeps `entry` under `key`.
    pub(crate) fn insert(&self, key: &[u8], entry: Entry<T>) {
        // A slot holding an earlier value for this key gives way to moka's new one.
        if let Some(recent) = &self.recent {
            recent.remove(recent.hash(key), key);
        }
        self.entries.insert(key.into(), entry);
    }

    /// Forgets `key`. A lookup that read the entry just before may still put it back in the
    /// recent-hits table, where it lives until its expiry: this is safe for the one caller,
    /// `JwtVerifier`, which checks a remembered token's key again on every hit (proofs are never
    /// removed: an entry is as true as when it was made until it expires).
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn remove(&self, key: &[u8]) {
        if let Some(recent) = &self.recent {
            recent.remove(recent.hash(key), key);
        }
        self.entries.invalidate(key);
    }

    /// The number of entries (approximate, as moka counts lazily).
    pub(crate) fn len(&self) -> u64 {
        self.entries.entry_count()
    }

    /// The exact number of entries, after moka's pending bookkeeping (slower than
    /// [`len`](Self::len)).
    pub(crate) fn exact_len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}
