//! A JWK set fetched from an issuer's JWKS URL: cached, refreshed when its cache lifetime ends or
//! when a token names an unknown `kid` (one fetch at a time, at most one per cooldown), and read
//! by requests without waiting on each other.
//!
//! A set's cache lifetime is measured on the verifier's [`Clock`](crate::clock::Clock), as the
//! lifetimes of the tokens it verifies are: a remembered token's request then reads the time once
//! for both. The cooldowns, which only pace fetches, are measured on the monotonic clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use http::header;

use super::jwk::{JwkSet, VerifyingKey};
use crate::capped_body::{CappedBodyError, read_capped};
use crate::clock::SharedClock;
use crate::error::{AuthError, ReasonCode};

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The shortest cache lifetime a JWKS response's `Cache-Control` may set (the longest is the
/// verifier's `jwks_max_cache_ttl`).
const MIN_TTL: Duration = Duration::from_secs(30);

/// Keys by `kid`. Looked up on every remembered token's request: a fast hasher, seeded per map.
pub(crate) type KeyMap = HashMap<String, Arc<VerifyingKey>, foldhash::fast::RandomState>;

struct Snapshot {
    keys: KeyMap,
    /// The key material first seen under each `kid` ([`VerifyingKey::material`]): a later set
    /// that puts other key material under a known `kid` gets that `kid` refused, never
    /// silently accepted.
    pinned: HashMap<String, [u8; 32]>,
    /// By the verifier's clock.
    fetched_at: Option<SystemTime>,
    ttl: Duration,
    /// Bumped on every successful fetch.
    generation: u64,
    /// Bumped by a fetch whose keys differ from the set before it (a `kid` added, dropped, or
    /// holding another key): two snapshots of one version hold the same key for every `kid`.
    keys_version: u64,
}

impl Snapshot {
    /// Within its cache lifetime at `now` (a clock set back before the fetch: within it).
    fn is_fresh(&self, now: SystemTime) -> bool {
        self.fetched_at
            .is_some_and(|at| now.duration_since(at).map_or(true, |age| age < self.ttl))
    }

    /// The end of its cache lifetime, if `SystemTime` can hold it.
    fn fresh_until(&self) -> Option<SystemTime> {
        self.fetched_at.and_then(|at| at.checked_add(self.ttl))
    }

    /// Past its cache lifetime by more than `max_stale` at `now`: no longer trusted on its own.
    fn is_too_stale(&self, now: SystemTime, max_stale: Duration) -> bool {
        self.fetched_at.is_some_and(|at| {
            now.duration_since(at)
                .is_ok_and(|age| age > self.ttl.saturating_add(max_stale))
        })
    }

    fn lookup(&self, kid: &str, when: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        self.keys
            .get(kid)
            .cloned()
            .ok_or_else(|| unknown_kid(kid, when))
    }
}

#[derive(Default)]
struct Gate {
    /// The last fetch made because a token named an unknown `kid`.
    last_kid_refresh: Option<Instant>,
    /// The last failed fetch.
    last_failure: Option<Instant>,
}

pub(crate) struct RemoteJwks {
    url: String,
    /// `url` without userinfo or query, for logs and error details.
    shown: String,
    http: reqwest::Client,
    /// Read without a lock or a reference count on every request; replaced whole by the one
    /// fetch that holds `refresh`.
    snapshot: ArcSwap<Snapshot>,
    /// What a remembered token's check reads first, before loading `snapshot`. Shared with the
    /// entries of the tokens this set verified, so that their check reads it without looking the
    /// set up.
    published: Arc<PublishedVersion>,
    /// The verifier's clock, for cache lifetimes.
    clock: SharedClock,
    /// Held only while fetching: single flight. Requests for known keys never wait on it.
    refresh: tokio::sync::Mutex<Gate>,
    cooldown: Duration,
    default_ttl: Duration,
    max_ttl: Duration,
    max_stale: Duration,
}

/// The version of a set's keys and the end of its cache lifetime, as the set in force last
/// published them (see [`RemoteJwks::install`] for the order they are written in).
///
/// Aligned to its own cache line: in its `Arc`, apart from the reference counts, which every
/// clone of a cache entry writes, so that the requests reading it on every hit do not share a
/// line with those writes.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct PublishedVersion {
    version: AtomicU64,
    /// Nanoseconds after the Unix epoch; 0: not fresh.
    fresh_until: AtomicU64,
}

impl PublishedVersion {
    /// Whether the set in force is fresh at `now` and its keys are still those of `version`:
    /// then a key that the set held under its `kid` in that version still is its key.
    #[inline]
    pub(crate) fn vouches_for(&self, version: u64, now: SystemTime) -> bool {
        // `fresh_until` first: whoever reads a lifetime then reads the version published with it
        // or a later one (see `install`).
        let fresh_until = self.fresh_until.load(Ordering::Acquire);
        // 0 is "not fresh" whatever the time, also for a clock before 1970.
        fresh_until != 0
            && UNIX_EPOCH
                .checked_add(Duration::from_nanos(fresh_until))
                .is_some_and(|until| now < until)
            && self.version.load(Ordering::Acquire) == version
    }
}

/// `url` as logs may show it: userinfo (a password) replaced by `***`, the query (a token)
/// by `?***`.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let had_userinfo = !parsed.username().is_empty() || parsed.password().is_some();
            if had_userinfo {
                let _ = parsed.set_username("***");
                let _ = parsed.set_password(None);
            }
            if parsed.query().is_some() {
                parsed.set_query(Some("***"));
            }
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "<unparsable JWKS URL>".to_owned(),
    }
}

fn within(at: Option<Instant>, window: Duration) -> bool {
    at.is_some_and(|t| t.elapsed() < window)
}

impl RemoteJwks {
    pub(crate) fn new(
        url: String,
        http: reqwest::Client,
        clock: SharedClock,
        cooldown: Duration,
        default_ttl: Duration,
        max_ttl: Duration,
        max_stale: Duration,
    ) -> Self {
        Self {
            shown: redacted(&url),
            url,
            http,
            snapshot: ArcSwap::from_pointee(Snapshot {
                keys: KeyMap::default(),
                pinned: HashMap::new(),
                fetched_at: None,
                ttl: default_ttl,
                generation: 0,
                keys_version: 0,
            }),
            published: Arc::default(),
            clock,
            refresh: tokio::sync::Mutex::new(Gate::default()),
            cooldown,
            default_ttl: default_ttl.min(max_ttl),
            max_ttl,
            max_stale,
        }
    }

    fn load(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Whether `key` is still the set's key for `kid`, if the set is within its cache lifetime
    /// at `now` (by the verifier's clock: no fetch needed) and holds a key for `kid`; `None`
    /// otherwise. `keys_version`: the [`keys_version_holding`](Self::keys_version_holding) of
    /// `kid` and `key` when they were seen together, which answers without loading the set while
    /// the keys have not changed since.
    #[inline]
    pub(crate) fn key_still_current(
        &self,
        kid: &str,
        key: &VerifyingKey,
        keys_version: Option<u64>,
        now: SystemTime,
    ) -> Option<bool> {
        if keys_version.is_some_and(|version| self.published.vouches_for(version, now)) {
            return Some(true);
        }
        let snapshot = self.snapshot.load();
        if !snapshot.is_fresh(now) {
            return None;
        }
        if keys_version == Some(snapshot.keys_version) {
            return Some(true);
        }
        snapshot.keys.get(kid).map(|current| current.same_as(key))
    }

    /// Installs `next` as the set in force, then publishes its version and lifetime in
    /// [`PublishedVersion`], which [`key_still_current`](Self::key_still_current) and the cache
    /// entries of the tokens this set verified read. Only the fetch holding the gate calls it.
    fn install(&self, next: Arc<Snapshot>) {
        // 0 (not fresh: the set itself decides) for a lifetime that ends before 1970 or that
        // `SystemTime` cannot hold; past `u64` nanoseconds (the year 2554), the largest value,
        // which ends before the set's lifetime does.
        let fresh_until = next.fresh_until().map_or(0, |until| {
            until.duration_since(UNIX_EPOCH).map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            })
        });
        let version = next.keys_version;
        // Not fresh (0) before the set is replaced: a request that has seen the new set (its
        // keys, or its version) then reads 0 (and checks against the set, as before) or the new
        // lifetime. The version before the new lifetime: whoever reads that lifetime reads this
        // version or a later one.
        let published = &self.published;
        published.fresh_until.store(0, Ordering::Release);
        self.snapshot.store(next);
        published.version.store(version, Ordering::Release);
        published.fresh_until.store(fresh_until, Ordering::Release);
    }

    /// What this set publishes for [`key_still_current`](Self::key_still_current), for an entry
    /// to hold.
    pub(crate) fn published(&self) -> &Arc<PublishedVersion> {
        &self.published
    }

    /// The version of the current set's keys if it holds `key` under `kid`.
    pub(crate) fn keys_version_holding(&self, kid: &str, key: &VerifyingKey) -> Option<u64> {
        let snapshot = self.snapshot.load();
        let current = snapshot.keys.get(kid)?;
        current.same_as(key).then_some(snapshot.keys_version)
    }

    /// The key for `kid`.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        let seen = self.load();
        let now = self.clock.now();
        if let Some(key) = seen.keys.get(kid) {
            if seen.is_fresh(now) {
                return Ok(key.clone());
            }
            // One request refreshes a stale set; the others go on with the keys they have, until
            // the set is too stale to be trusted without a refresh: then they wait for it.
            let too_stale = seen.is_too_stale(now, self.max_stale);
            let gate = if too_stale {
                Some(self.refresh.lock().await)
            } else {
                self.refresh.try_lock().ok()
            };
            let Some(mut gate) = gate else {
                return Ok(key.clone());
            };
            let current = self.load();
            if current.generation != seen.generation {
                return current.lookup(kid, "after a refresh");
            }
            if !within(gate.last_failure, self.cooldown) {
                match self.fetch_into(&mut gate).await {
                    // The refreshed set is the truth: a key it no longer has is not accepted.
                    Ok(fresh) => return fresh.lookup(kid, "after a refresh"),
                    Err(error) if too_stale => return Err(error),
                    Err(_) => return Ok(key.clone()),
                }
            }
            if too_stale {
                return Err(self.unavailable("is too stale and failed recently"));
            }
            return Ok(key.clone());
        }

        let mut gate = self.refresh.lock().await;
        let current = self.load();
        if current.generation != seen.generation {
            // Another request fetched while this one waited: that was the refresh for it too.
            return current.lookup(kid, "after a refresh");
        }
        // A kid missing from a set that cannot be refreshed may be a new key: unavailable (503,
        // retry), not a bad token (401).
        if within(gate.last_failure, self.cooldown) {
            return Err(self.unavailable("failed recently"));
        }
        if current.is_fresh(self.clock.now()) {
            if within(gate.last_kid_refresh, self.cooldown) {
                crate::metrics::record::jwks_refresh("rate_limited");
                return Err(unknown_kid(kid, "(refresh rate-limited)"));
            }
            gate.last_kid_refresh = Some(Instant::now());
        }
        self.fetch_into(&mut gate)
            .await?
            .lookup(kid, "after a refresh")
    }

    fn unavailable(&self, why: &str) -> AuthError {
        AuthError::new(ReasonCode::JwksUnavailable)
            .with_detail(format!("JWKS {} {why}", self.shown))
    }

    /// Fetches the set and installs it; the caller holds the gate.
    async fn fetch_into(&self, gate: &mut Gate) -> Result<Arc<Snapshot>, AuthError> {
        match self.fetch().await {
            Ok((mut keys, ttl)) => {
                gate.last_failure = None;
                // The caller holds the gate: no other fetch replaces the set meanwhile.
                let current = self.snapshot.load_full();
                let mut pinned = current.pinned.clone();
                keys.retain(|kid, key| match pinned.get(kid) {
                    Some(material) if *material != key.material => {
                        // A kid names one key forever: new material under it is either a
                        // mistake or a JWKS takeover, and tokens naming it are refused.
                        tracing::warn!(url = %self.shown, kid = %kid, "JWKS replaced the key of a known kid; that kid is refused");
                        false
                    }
                    Some(_) => true,
                    None => {
                        pinned.insert(kid.clone(), key.material);
                        true
                    }
                });
                let same_keys = keys.len() == current.keys.len()
                    && keys.iter().all(|(kid, key)| {
                        current.keys.get(kid).is_some_and(|held| held.same_as(key))
                    });
                let next = Arc::new(Snapshot {
                    keys,
                    pinned,
                    fetched_at: Some(self.clock.now()),
                    ttl,
                    generation: current.generation + 1,
                    keys_version: current.keys_version + u64::from(!same_keys),
                });
                self.install(next.clone());
                crate::metrics::record::jwks_refresh("ok");
                tracing::debug!(url = %self.shown, keys = next.keys.len(), ttl_secs = ttl.as_secs(), "JWKS fetched");
                Ok(next)
            }
            Err(detail) => {
                gate.last_failure = Some(Instant::now());
                crate::metrics::record::jwks_refresh("error");
                tracing::warn!(url = %self.shown, detail = %detail, "JWKS fetch failed");
                Err(AuthError::new(ReasonCode::JwksUnavailable).with_detail(detail))
            }
        }
    }

    async fn fetch(&self) -> Result<(KeyMap, Duration), String> {
        let response = self
            .http
            .get(self.url.as_str())
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await
            // reqwest's Display appends the URL, userinfo included.
            .map_err(|e| format!("GET {}: {}", self.shown, e.without_url()))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("GET {}: status {}", self.shown, response.status()));
        }
        let ttl = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map_or(self.default_ttl, |v| max_age(v, self.max_ttl));
        let body = read_capped(response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                CappedBodyError::TooLarge => format!("GET {}: document too large", self.shown),
                CappedBodyError::Transport(e) => format!("GET {}: {}", self.shown, e.without_url()),
            })?;
        let set = JwkSet::from_json(&body).map_err(|e| format!("GET {}: {e}", self.shown))?;
        Ok((
            key_map(&set, false).map_err(|e| format!("GET {}: {e}", self.shown))?,
            ttl,
        ))
    }
}

fn unknown_kid(kid: &str, when: &str) -> AuthError {
    AuthError::new(ReasonCode::JwtUnknownKey).with_detail(format!("no key with kid {kid:?} {when}"))
}

/// The cache lifetime a `Cache-Control` value asks for, between [`MIN_TTL`] and `max`.
fn max_age(cache_control: &str, max: Duration) -> Duration {
    let mut ttl = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_TTL;
        }
        if let Some(secs) = lower
            .strip_prefix("max-age=")
            .and_then(|s| s.parse::<u64>().ok())
        {
            ttl = Some(Duration::from_secs(secs));
        }
    }
    ttl.unwrap_or(MIN_TTL).clamp(MIN_TTL, max.max(MIN_TTL))
}

/// The verification keys of a set, by `kid`. With `strict`, any key that cannot be used is an
/// error (a configured set); otherwise such keys are skipped (a fetched set may hold keys for
/// other uses). Two keys with one `kid` are both dropped: a token naming it is ambiguous.
pub(crate) fn key_map(set: &JwkSet, strict: bool) -> Result<KeyMap, String> {
    let mut keys = KeyMap::default();
    let mut ambiguous = Vec::new();
    for jwk in set.keys() {
        let Some(kid) = jwk.kid() else {
            if strict {
                return Err("a key has no kid".to_owned());
            }
            continue;
        };
        match jwk.verifying_key() {
            Ok(key) => {
                if keys.insert(kid.to_owned(), Arc::new(key)).is_some() {
                    ambiguous.push(kid.to_owned());
                }
            }
            Err(e) if strict => return Err(format!("key {kid:?}: {e}")),
            Err(e) => tracing::debug!(kid, error = %e, "JWKS key skipped"),
        }
    }
    for kid in ambiguous {
        if strict {
            return Err(format!("two keys have kid {kid:?}"));
        }
        tracing::warn!(kid = %kid, "JWKS has two keys with one kid; neither is used");
        keys.remove(&kid);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kids: &[&str]) -> KeyMap {
        let jwks = kids.iter().map(|kid| {
            crate::token::SigningKey::generate(crate::token::JwtAlgorithm::EdDSA)
                .unwrap()
                .with_kid(*kid)
                .public_jwk()
                .clone()
        });
        key_map(&JwkSet::new(jwks), false).unwrap()
    }

    fn snapshot(keys: KeyMap, keys_version: u64, fresh_until: SystemTime) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            keys,
            pinned: HashMap::new(),
            fetched_at: Some(fresh_until - Duration::from_secs(60)),
            ttl: Duration::from_secs(60),
            generation: keys_version,
            keys_version,
        })
    }

    /// The published version and lifetime answer for the set they were published with, and only
    /// while a token holds that version and the set is fresh at the time asked about.
    #[test]
    fn a_remembered_key_is_current_only_while_its_set_is_fresh_and_holds_it() {
        let second = Duration::from_secs(1);
        let jwks = RemoteJwks::new(
            "http://127.0.0.1:9/jwks".into(),
            reqwest::Client::new(),
            SharedClock::default(),
            second,
            60 * second,
            3600 * second,
            60 * second,
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let held = keys(&["a"]);
        let a = held["a"].clone();
        let other = keys(&["a"])["a"].clone();
        // Nothing fetched yet: not fresh, whatever the version.
        assert_eq!(jwks.key_still_current("a", &a, Some(0), now), None);
        // What a cache entry holds: the set's own, through every install.
        let entry_holds = jwks.published().clone();
        assert!(!entry_holds.vouches_for(0, now));

        let later = now + 60 * second;
        jwks.install(snapshot(held.clone(), 1, later));
        assert!(Arc::ptr_eq(&entry_holds, jwks.published()));
        assert!(entry_holds.vouches_for(1, now));
        assert!(
            !entry_holds.vouches_for(1, later),
            "past the set's lifetime"
        );
        assert!(!entry_holds.vouches_for(0, now), "another version");
        assert_eq!(jwks.key_still_current("a", &a, Some(1), now), Some(true));
        // Until the end of its lifetime, by the time given, not after.
        assert_eq!(
            jwks.key_still_current("a", &a, Some(1), later - Duration::from_nanos(1)),
            Some(true)
        );
        assert_eq!(jwks.key_still_current("a", &a, Some(1), later), None);
        // That answer came from what was published: with the set alone made stale (as no
        // fetch makes it), the published lifetime still answers for version 1...
        jwks.snapshot.store(snapshot(held.clone(), 1, now - second));
        assert_eq!(jwks.key_still_current("a", &a, Some(1), now), Some(true));
        // ...and only for it: another version is checked against the (stale) set.
        assert_eq!(jwks.key_still_current("a", &a, Some(0), now), None);
        jwks.install(snapshot(held.clone(), 1, later));
        // An older version is looked up: the same key, or another one under its kid.
        assert_eq!(jwks.key_still_current("a", &a, Some(0), now), Some(true));
        assert_eq!(
            jwks.key_still_current("a", &other, Some(0), now),
            Some(false)
        );
        assert_eq!(jwks.key_still_current("a", &other, None, now), Some(false));

        // The key dropped: a token remembered with version 1 is not served.
        jwks.install(snapshot(keys(&["b"]), 2, later));
        assert_eq!(jwks.key_still_current("a", &a, Some(1), now), None);
        // The same keys again, stale: nothing is current until a fetch.
        jwks.install(snapshot(held.clone(), 3, now - second));
        assert_eq!(jwks.key_still_current("a", &a, Some(3), now), None);
        assert_eq!(jwks.key_still_current("a", &a, Some(1), now), None);

        // A clock before 1970: a set whose lifetime ended is stale there too (what is
        // published for it is "not fresh", which no time reads as fresh).
        let before_1970 = UNIX_EPOCH - 100 * second;
        jwks.install(snapshot(held, 4, before_1970 + 60 * second));
        assert_eq!(
            jwks.key_still_current("a", &a, Some(4), before_1970 + 30 * second),
            Some(true)
        );
        assert_eq!(
            jwks.key_still_current("a", &a, Some(4), before_1970 + 70 * second),
            None
        );
    }

    #[test]
    fn max_age_is_read_and_bounded() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            max_age("public, max-age=300", hour),
            Duration::from_secs(300)
        );
        assert_eq!(max_age("max-age=1", hour), MIN_TTL);
        assert_eq!(max_age("max-age=99999999", hour), hour);
        assert_eq!(max_age("max-age=86400", hour), hour);
        assert_eq!(max_age("no-store", hour), MIN_TTL);
        assert_eq!(max_age("public", hour), MIN_TTL);
    }

    #[test]
    fn urls_are_shown_without_userinfo_or_query() {
        assert_eq!(
            redacted("https://user:secret@idp.example.com/keys?token=t#f"),
            "https://***@idp.example.com/keys?***"
        );
        assert_eq!(
            redacted("https://idp.example.com/keys"),
            "https://idp.example.com/keys"
        );
    }
}
