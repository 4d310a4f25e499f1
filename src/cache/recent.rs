//! The most recent hits, in front of moka: a small direct-mapped table that answers a token
//! seen again with one hash, one atomic load and one comparison of the whole token, without
//! moka's per-read bookkeeping (recording the read for its eviction policy, which callgrind
//! showed as the larger part of a cached request).
//!
//! Each slot holds one entry: a token that moka answered, with its value and expiry. A lookup
//! compares every byte of the token and checks the expiry against the caller's clock, as a
//! moka lookup does, so a slot can only answer what moka answered for the same bytes before,
//! and never past its expiry. Entries are copies of moka's: a slot may still answer a token moka
//! has since evicted to make room, which is as true as when moka held it (an entry is never
//! wrong before it expires); the slots count towards the store's size bound.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

type Hasher = foldhash::fast::RandomState;

/// A long key is placed by one 8-byte sample every `STRIDE` bytes (and its last 8 bytes).
const STRIDE: usize = 64;
/// Keys up to this length are hashed whole.
const SAMPLED_ABOVE: usize = 2 * STRIDE;
/// An odd constant with well-mixed bits (the golden ratio's fraction), for folding samples.
const FOLD: u128 = 0x9e37_79b9_7f4a_7c15;

struct Slot<T> {
    hash: u64,
    key: Box<[u8]>,
    value: T,
    expires_at: SystemTime,
}

/// The direct-mapped table of recent hits.
pub(crate) struct Recent<T> {
    slots: Box<[ArcSwapOption<Slot<T>>]>,
    hasher: Hasher,
}

impl<T: Clone> Recent<T> {
    /// A table of `slots` slots, rounded down to a power of two (at least one).
    pub(crate) fn new(slots: usize) -> Self {
        let slots = if slots <= 1 {
            1
        } else {
            1 << (usize::BITS - 1 - slots.leading_zeros())
        };
        Self {
            slots: (0..slots).map(|_| ArcSwapOption::empty()).collect(),
            hasher: Hasher::default(),
        }
    }

    /// The number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The hash that places `key` (seeded per table, so slots cannot be aimed at).
    ///
    /// A key longer than [`SAMPLED_ABOVE`] is placed by its length and 8 bytes of every
    /// [`STRIDE`] rather than all of its bytes: hashing a kilobyte token whole cost more than the
    /// rest of the lookup. Every format cached here carries a signature of at least 86 random
    /// characters (a SigV4 or ES256/EdDSA signature, base64 or hex, and more for RS256), which
    /// holds a whole sample wherever it sits in the key: in a proof or a JWT it ends the token, in
    /// a Vault login body it lies in the middle. So distinct tokens still spread over the slots.
    /// Placement is all the hash decides: a hit still compares every byte of the key.
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        let len = key.len();
        if len <= SAMPLED_ABOVE {
            return self.hasher.hash_one(key);
        }
        // The samples are folded with a multiply each (a seeded hasher per sample cost more
        // than hashing the whole key), then the fold goes through the seeded hasher.
        let fold = |acc: u64, sample: &[u8]| {
            let sample: [u8; 8] = sample[..8].try_into().unwrap_or_default();
            let product = u128::from(acc ^ u64::from_le_bytes(sample)) * FOLD;
            // Both halves of the product, as foldhash folds.
            #[allow(clippy::cast_possible_truncation)]
            let folded = (product as u64) ^ ((product >> 64) as u64);
            folded
        };
        let mut samples = key.chunks_exact(STRIDE);
        let mut acc = samples.by_ref().fold(len as u64, fold);
        // The samples at the multiples of STRIDE in the last, partial stride, and the last bytes.
        let rest = samples.remainder();
        if rest.len() >= 8 {
            acc = fold(acc, rest);
        }
        acc = fold(acc, &key[len - 8..]);
        self.hasher.hash_one(acc)
    }

    #[inline]
    fn slot(&self, hash: u64) -> &ArcSwapOption<Slot<T>> {
        // Truncating the hash is the point: its low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let index = hash as usize & (self.slots.len() - 1);
        &self.slots[index]
    }

    /// The value for `key` if its slot holds it and it is live at `now`.
    #[cfg(test)]
    pub(crate) fn get(&self, hash: u64, key: &[u8], now: SystemTime) -> Option<T> {
        self.get_with(hash, key, now, T::clone)
    }

    /// `read` of the value for `key` if its slot holds it and it is live at `now`: the caller
    /// takes what it needs of the value without cloning all of it.
    #[inline]
    pub(crate) fn get_with<R>(
        &self,
        hash: u64,
        key: &[u8],
        now: SystemTime,
        read: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        let slot = self.slot(hash).load();
        let entry = slot.as_ref()?;
        (entry.hash == hash && *entry.key == *key && entry.expires_at > now)
            .then(|| read(&entry.value))
    }

    /// Offers a hit that moka answered. An empty or expired slot takes it; a slot holding a live
    /// entry for another token takes it one time in eight, so that tokens sharing a slot do not
    /// copy themselves in on every request, while a token that keeps coming soon gets it.
    pub(crate) fn offer(
        &self,
        hash: u64,
        key: &[u8],
        value: &T,
        expires_at: SystemTime,
        now: SystemTime,
    ) {
        let slot = self.slot(hash);
        let take = match slot.load().as_ref() {
            None => true,
            Some(held) => held.expires_at <= now || fastrand::u8(..8) == 0,
        };
        if take && expires_at > now {
            slot.store(Some(Arc::new(Slot {
                hash,
                key: key.into(),
                value: value.clone(),
                expires_at,
            })));
        }
    }

    /// Empties the slot of `key` if it holds `key`.
    pub(crate) fn remove(&self, hash: u64, key: &[u8]) {
        let slot = self.slot(hash);
        let held = slot.load();
        if held
            .as_ref()
            .is_some_and(|entry| entry.hash == hash && *entry.key == *key)
        {
            // Only that entry: a slot that took another token meanwhile keeps it.
            slot.compare_and_swap(&held, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn answers_the_same_bytes_until_expiry_and_nothing_else() {
        let recent = Recent::<u32>::new(4);
        let key = b"token-a".as_slice();
        let hash = recent.hash(key);
        recent.offer(hash, key, &1, at(100), at(10));
        assert_eq!(recent.get(hash, key, at(99)), Some(1));
        assert_eq!(recent.get(hash, key, at(100)), None, "expired");
        // Another token with the same hash (as if it collided) is not answered.
        assert_eq!(recent.get(hash, b"token-b", at(10)), None);
        assert_eq!(recent.get(hash, b"token-", at(10)), None);
        recent.remove(hash, key);
        assert_eq!(recent.get(hash, key, at(10)), None, "removed");
    }

    #[test]
    fn an_expired_offer_is_not_kept_and_sizes_are_powers_of_two() {
        let recent = Recent::<u32>::new(100);
        assert_eq!(recent.len(), 64);
        assert_eq!(Recent::<u32>::new(0).len(), 1);
        let hash = recent.hash(b"k");
        recent.offer(hash, b"k", &1, at(10), at(10));
        assert_eq!(recent.get(hash, b"k", at(9)), None);
    }

    #[test]
    fn a_long_key_is_answered_only_for_all_of_its_bytes() {
        let recent = Recent::<u32>::new(64);
        let key = vec![b'a'; 1300];
        let hash = recent.hash(&key);
        recent.offer(hash, &key, &1, at(100), at(0));
        assert_eq!(recent.get(hash, &key, at(1)), Some(1));
        // Every byte, inside the sampled windows or not, takes part in the comparison.
        for at_byte in [0, 17, 433, 650, 1000, 1299] {
            let mut other = key.clone();
            other[at_byte] = b'b';
            assert_eq!(recent.get(recent.hash(&other), &other, at(1)), None);
            // Even when offered the other key's placement.
            assert_eq!(recent.get(hash, &other, at(1)), None, "byte {at_byte}");
        }
        assert_eq!(recent.get(hash, &key[..1299], at(1)), None, "a prefix");
    }

    /// How many of 64 slots 256 keys take, each `len` bytes of one constant with 86 random
    /// characters (a signature) at `at`.
    fn slots_taken(len: usize, at: usize) -> usize {
        let recent = Recent::<u32>::new(64);
        let slots: std::collections::HashSet<usize> = (0..256)
            .map(|_| {
                let mut key = vec![b'x'; len];
                for byte in &mut key[at..at + 86] {
                    *byte = fastrand::u8(b'A'..=b'Z');
                }
                // The slot is the low bits of the hash.
                usize::try_from(recent.hash(&key)).unwrap_or_default() & (recent.len() - 1)
            })
            .collect();
        slots.len()
    }

    #[test]
    fn keys_differing_only_in_a_signature_spread_over_the_slots_wherever_it_sits() {
        // At the end (proofs, JWTs), and anywhere in the middle (Vault login bodies).
        for (len, at) in [
            (1300, 1214),
            (1300, 0),
            (1300, 600),
            (2000, 1500),
            (200, 57),
        ] {
            let taken = slots_taken(len, at);
            assert!(
                taken > 48,
                "{len} bytes, signature at {at}: {taken} of 64 slots"
            );
        }
        for at in 0..(300 - 86) {
            assert!(slots_taken(300, at) > 48, "signature at {at}");
        }
    }

    #[test]
    fn every_length_around_the_sampling_threshold_places_and_compares() {
        for len in 0..=300 {
            // An empty table: an offer into a slot held by a live entry may be passed over.
            let recent = Recent::<u32>::new(4);
            let key = vec![b'k'; len];
            let hash = recent.hash(&key);
            recent.offer(hash, &key, &1, at(100), at(0));
            assert_eq!(recent.get(hash, &key, at(1)), Some(1), "{len}");
        }
    }

    #[test]
    fn removing_another_token_leaves_the_slot() {
        let recent = Recent::<u32>::new(1);
        let (a, b) = (recent.hash(b"a"), recent.hash(b"b"));
        recent.offer(a, b"a", &1, at(100), at(0));
        recent.remove(b, b"b");
        assert_eq!(recent.get(a, b"a", at(1)), Some(1));
    }
}
