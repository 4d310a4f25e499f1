//! Budgets for work a caller can make the server do: STS calls (per client address, per access
//! key id, overall) and token signatures (per principal, in the exchange).
//!
//! Anyone can make up a proof that passes local validation, and each distinct one costs an STS
//! call; only cache misses spend budget, so a client whose token is cached is never limited.
//! The core ([`Buckets`], [`StsBuckets`]) is pure: token buckets over a time value passed in.
//! [`StsBudget`] and [`Budget`] add the monotonic clock and a lock held for a few map operations
//! (never across an `.await`).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AuthError, ReasonCode};

/// The most keys a budget tracks at once: memory stays bounded whatever the number of addresses
/// or key ids an attacker makes up. Keys beyond it are charged to the overall budget only.
const MAX_TRACKED: usize = 65_536;

/// `calls` per `per`: a bucket of `calls` that refills evenly over `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rate {
    calls: u32,
    per: Duration,
}

impl Rate {
    /// The longest refill period accepted by the builders.
    pub(crate) const MAX_PERIOD: Duration = Duration::from_secs(60 * 60);

    /// `calls` per `per`; checked by the builders (neither may be zero, `per` at most an hour).
    pub(crate) const fn new(calls: u32, per: Duration) -> Self {
        Self { calls, per }
    }

    /// The setting's mistake, if any, for a builder error (`name` is the builder option).
    pub(crate) fn check(&self) -> Result<(), RateError> {
        if self.calls == 0 || self.per.is_zero() {
            Err(RateError::Zero)
        } else if self.per > Self::MAX_PERIOD {
            Err(RateError::TooLong)
        } else {
            Ok(())
        }
    }

    /// The number of calls of a full bucket.
    #[cfg(feature = "jwt")]
    pub(crate) fn calls(&self) -> u32 {
        self.calls
    }

    /// The time a bucket takes to refill.
    #[cfg(feature = "jwt")]
    pub(crate) fn period(&self) -> Duration {
        self.per
    }

    fn capacity(&self) -> f64 {
        f64::from(self.calls)
    }

    fn per_second(&self) -> f64 {
        f64::from(self.calls) / self.per.as_secs_f64()
    }
}

/// Why a [`Rate`] is refused.
#[derive(Debug, PartialEq)]
pub(crate) enum RateError {
    Zero,
    TooLong,
}

/// A token bucket: full at creation, one token per call.
#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    updated: Duration,
}

impl Bucket {
    fn full(rate: &Rate, now: Duration) -> Self {
        Self {
            tokens: rate.capacity(),
            updated: now,
        }
    }

    fn refill(&mut self, rate: &Rate, now: Duration) {
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second()).min(rate.capacity());
        self.updated = self.updated.max(now);
    }

    /// How long until a token is there (zero: one is there now). The bucket is refilled first.
    fn wait(&mut self, rate: &Rate, now: Duration) -> Duration {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(((1.0 - self.tokens) / rate.per_second()).min(3600.0))
        }
    }

    fn is_full(&self, rate: &Rate, now: Duration) -> bool {
        let mut probe = self.clone();
        probe.refill(rate, now);
        probe.tokens >= rate.capacity()
    }
}

/// Buckets per key, all at one rate, at most [`MAX_TRACKED`] of them.
#[derive(Debug)]
pub(crate) struct Buckets<K> {
    rate: Rate,
    buckets: HashMap<K, Bucket>,
    /// When the map was last found full of active buckets: pruning again before a second has
    /// passed would cost a scan per call and free nothing.
    pruned_at: Option<Duration>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
            pruned_at: None,
        }
    }

    /// How long `key` must wait for a token; `None` when it cannot be tracked (map full).
    fn wait(&mut self, key: &K, now: Duration) -> Option<Duration> {
        if !self.buckets.contains_key(key) && !self.make_room(now) {
            return None;
        }
        let rate = self.rate;
        let bucket = self
            .buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(&rate, now));
        Some(bucket.wait(&rate, now))
    }

    fn take(&mut self, key: &K) {
        if let Some(bucket) = self.buckets.get_mut(key) {
            bucket.tokens -= 1.0;
        }
    }

    /// Drops buckets that have refilled (they are as good as new) when the map is full.
    fn make_room(&mut self, now: Duration) -> bool {
        if self.buckets.len() < MAX_TRACKED {
            return true;
        }
        if self
            .pruned_at
            .is_some_and(|at| now.saturating_sub(at) < Duration::from_secs(1))
        {
            return false;
        }
        let rate = self.rate;
        self.buckets.retain(|_, bucket| !bucket.is_full(&rate, now));
        self.pruned_at = Some(now);
        self.buckets.len() < MAX_TRACKED
    }

    /// Takes a token for `key` if there is one, else says how long to wait.
    #[cfg(any(feature = "jwt", test))]
    pub(crate) fn try_take(&mut self, key: &K, now: Duration) -> Result<(), Duration> {
        match self.wait(key, now) {
            Some(wait) if !wait.is_zero() => Err(wait),
            Some(_) => {
                self.take(key);
                Ok(())
            }
            // Untrackable keys are not refused: the overall budget (where there is one) bounds
            // them, and refusing them would let a flood of keys lock honest callers out.
            None => Ok(()),
        }
    }

    /// The number of keys tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// The client address a budget is kept for: IPv4 addresses one by one, IPv6 by `/64` (what one
/// host or site usually gets, so that a client cannot multiply its budget by its addresses).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct ClientNet(u128);

impl ClientNet {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            // The top bit set keeps IPv6 networks apart from IPv4 addresses.
            IpAddr::V6(v6) => Self((u128::from(v6) & !u128::from(u64::MAX)) | 1),
        }
    }
}

/// The three STS budgets; see [`StsBudgetConfig`].
#[derive(Debug)]
pub(crate) struct StsBuckets {
    per_client: Buckets<ClientNet>,
    per_access_key: Buckets<Box<str>>,
    overall: Bucket,
    overall_rate: Rate,
}

impl StsBuckets {
    pub(crate) fn new(config: &StsBudgetConfig, now: Duration) -> Self {
        Self {
            per_client: Buckets::new(config.per_client),
            per_access_key: Buckets::new(config.per_access_key),
            overall: Bucket::full(&config.overall, now),
            overall_rate: config.overall,
        }
    }

    /// Spends one STS call for `client` (when known) and `access_key_id`, if all three budgets
    /// have one; otherwise spends nothing and says how long to wait and which budget is out.
    pub(crate) fn try_take(
        &mut self,
        client: Option<IpAddr>,
        access_key_id: &str,
        now: Duration,
    ) -> Result<(), (Duration, &'static str)> {
        let client = client.map(ClientNet::of);
        let key: Box<str> = access_key_id.into();
        let mut waits = [
            (
                client.and_then(|c| self.per_client.wait(&c, now)),
                "client address",
            ),
            (self.per_access_key.wait(&key, now), "access key id"),
            (Some(self.overall.wait(&self.overall_rate, now)), "overall"),
        ];
        waits.sort_by_key(|(wait, _)| std::cmp::Reverse(*wait));
        if let (Some(wait), which) = waits[0]
            && !wait.is_zero()
        {
            return Err((wait, which));
        }
        if let Some(client) = client {
            self.per_client.take(&client);
        }
        self.per_access_key.take(&key);
        self.overall.tokens -= 1.0;
        Ok(())
    }
}

/// How many STS calls cache misses may cause; see
/// [`IamAuthConfigBuilder::sts_budget_per_client`](super::IamAuthConfigBuilder::sts_budget_per_client).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StsBudgetConfig {
    pub(crate) per_client: Rate,
    pub(crate) per_access_key: Rate,
    pub(crate) overall: Rate,
}

impl Default for StsBudgetConfig {
    fn default() -> Self {
        Self {
            per_client: Rate::new(100, Duration::from_secs(10)),
            per_access_key: Rate::new(50, Duration::from_secs(10)),
            overall: Rate::new(100, Duration::from_secs(1)),
        }
    }
}

/// [`StsBuckets`] behind a lock, on the monotonic clock.
#[derive(Debug)]
pub(crate) struct StsBudget {
    origin: Instant,
    buckets: Mutex<StsBuckets>,
}

impl StsBudget {
    pub(crate) fn new(config: &StsBudgetConfig) -> Self {
        Self {
            origin: Instant::now(),
            buckets: Mutex::new(StsBuckets::new(config, Duration::ZERO)),
        }
    }

    /// Spends one STS call, or refuses with `429 sts.rate_limited` and `Retry-After`.
    pub(crate) fn spend(
        &self,
        client: Option<IpAddr>,
        access_key_id: &str,
    ) -> Result<(), AuthError> {
        let now = self.origin.elapsed();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .try_take(client, access_key_id, now)
            .map_err(|(wait, which)| rate_limited(wait, which))
    }
}

/// One budget per key (the exchange's signatures per principal), on the monotonic clock.
#[cfg(feature = "jwt")]
#[derive(Debug)]
pub(crate) struct Budget<K> {
    origin: Instant,
    buckets: Mutex<Buckets<K>>,
}

#[cfg(feature = "jwt")]
impl<K: Hash + Eq + Clone> Budget<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            origin: Instant::now(),
            buckets: Mutex::new(Buckets::new(rate)),
        }
    }

    /// Spends one unit for `key`, or says how long to wait.
    pub(crate) fn spend(&self, key: &K) -> Result<(), Duration> {
        let now = self.origin.elapsed();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.try_take(key, now)
    }
}

/// `429 sts.rate_limited`, with `Retry-After` rounded up to whole seconds.
fn rate_limited(wait: Duration, which: &str) -> AuthError {
    AuthError::new(ReasonCode::StsRateLimited)
        .with_retry_after(retry_after_secs(wait))
        .with_detail(format!(
            "STS budget per {which} spent; next call in {wait:?}"
        ))
}

/// Whole seconds to wait, at least one.
pub(crate) fn retry_after_secs(wait: Duration) -> u32 {
    u32::try_from(
        wait.as_secs()
            .saturating_add(u64::from(wait.subsec_nanos() > 0)),
    )
    .unwrap_or(u32::MAX)
    .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn config(client: u32, key: u32, overall: u32) -> StsBudgetConfig {
        StsBudgetConfig {
            per_client: Rate::new(client, secs(10)),
            per_access_key: Rate::new(key, secs(10)),
            overall: Rate::new(overall, secs(10)),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_evenly() {
        let mut buckets = Buckets::new(Rate::new(3, secs(3)));
        for _ in 0..3 {
            assert_eq!(buckets.try_take(&"a", secs(0)), Ok(()));
        }
        assert_eq!(buckets.try_take(&"a", secs(0)), Err(secs(1)));
        assert_eq!(
            buckets.try_take(&"a", Duration::from_millis(500)),
            Err(Duration::from_millis(500))
        );
        assert_eq!(buckets.try_take(&"a", secs(1)), Ok(()));
        // Another key has its own bucket.
        assert_eq!(buckets.try_take(&"b", secs(1)), Ok(()));
    }

    #[test]
    fn a_refusal_spends_nothing() {
        let mut budget = StsBuckets::new(&config(1, 100, 100), secs(0));
        assert!(budget.try_take(ip("192.0.2.1"), "AKIDA", secs(0)).is_ok());
        let (wait, which) = budget
            .try_take(ip("192.0.2.1"), "AKIDB", secs(0))
            .unwrap_err();
        assert_eq!((wait, which), (secs(10), "client address"));
        // AKIDB's and the overall budgets were not charged for the refused call.
        let mut key_only = StsBuckets::new(&config(100, 1, 2), secs(0));
        assert!(key_only.try_take(None, "AKIDA", secs(0)).is_ok());
        assert!(key_only.try_take(None, "AKIDA", secs(0)).is_err());
        assert!(key_only.try_take(None, "AKIDB", secs(0)).is_ok());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let mut budget = StsBuckets::new(&config(1, 100, 100), secs(0));
        assert!(budget.try_take(ip("2001:db8:1:2::1"), "A", secs(0)).is_ok());
        let same_64 = budget.try_take(ip("2001:db8:1:2:ffff::9"), "B", secs(0));
        assert_eq!(same_64.unwrap_err().1, "client address");
        assert!(budget.try_take(ip("2001:db8:1:3::1"), "C", secs(0)).is_ok());
        // An IPv4-mapped address is the IPv4 client, not an IPv6 network.
        assert!(budget.try_take(ip("192.0.2.7"), "D", secs(0)).is_ok());
        assert!(
            budget
                .try_take(ip("::ffff:192.0.2.7"), "E", secs(0))
                .is_err()
        );
    }

    #[test]
    fn the_overall_budget_binds_every_client() {
        let mut budget = StsBuckets::new(&config(100, 100, 2), secs(0));
        assert!(budget.try_take(ip("192.0.2.1"), "A", secs(0)).is_ok());
        assert!(budget.try_take(ip("192.0.2.2"), "B", secs(0)).is_ok());
        let refused = budget.try_take(ip("192.0.2.3"), "C", secs(0)).unwrap_err();
        assert_eq!(refused, (secs(5), "overall"));
    }

    #[test]
    fn an_unknown_address_is_limited_by_key_and_overall_only() {
        let mut budget = StsBuckets::new(&config(1, 1, 100), secs(0));
        assert!(budget.try_take(None, "A", secs(0)).is_ok());
        assert!(budget.try_take(None, "B", secs(0)).is_ok());
        assert_eq!(
            budget.try_take(None, "A", secs(0)).unwrap_err().1,
            "access key id"
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let mut buckets = Buckets::new(Rate::new(1, secs(60)));
        for i in 0..(MAX_TRACKED as u64 + 1000) {
            assert!(buckets.try_take(&i, secs(0)).is_ok());
        }
        assert_eq!(buckets.len(), MAX_TRACKED);
        // Once the tracked buckets have refilled, they make room for new keys.
        assert!(buckets.try_take(&u64::MAX, secs(61)).is_ok());
        assert_eq!(buckets.len(), 1);
        assert!(buckets.try_take(&u64::MAX, secs(61)).is_err());
    }

    #[test]
    fn extreme_rates_neither_panic_nor_overflow() {
        let mut buckets = Buckets::new(Rate::new(u32::MAX, Duration::from_nanos(1)));
        assert!(buckets.try_take(&1, Duration::MAX).is_ok());
        let mut slow = Buckets::new(Rate::new(1, Rate::MAX_PERIOD));
        assert!(slow.try_take(&1, secs(0)).is_ok());
        assert_eq!(slow.try_take(&1, secs(0)), Err(Rate::MAX_PERIOD));
        assert!(slow.try_take(&1, Duration::MAX).is_ok());
        assert_eq!(Rate::new(0, secs(1)).check(), Err(RateError::Zero));
        assert_eq!(Rate::new(1, Duration::ZERO).check(), Err(RateError::Zero));
        assert_eq!(Rate::new(1, secs(3601)).check(), Err(RateError::TooLong));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::MAX), u32::MAX);
    }
}
