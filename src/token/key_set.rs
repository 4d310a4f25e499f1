//! [`KeySet`]: the signing keys of an issuer, one active and any number published, with
//! rotation that never leaves a valid token without its public key.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::jwk::JwkSet;
use super::signing_key::{SigningError, SigningKey};
use crate::clock::{Clock, SharedClock};

/// How long a retired key stays published after the last token it signed expired: covers the
/// clock leeway verifiers allow and tokens being signed while the key was being retired.
pub const RETIREMENT_GRACE: Duration = Duration::from_secs(5 * 60);

/// How long a key is published before [`KeySet::activate`] lets it sign, by default: the
/// default `Cache-Control: max-age` of a [`TokenExchange`](super::TokenExchange)'s JWKS.
pub const DEFAULT_PUBLISH_LEAD: Duration = Duration::from_secs(5 * 60);

/// A rotation mistake.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// A published key already has this `kid`.
    #[error("a key with kid {0:?} is already published")]
    DuplicateKid(String),
    /// No published key has this `kid`.
    #[error("no published key has kid {0:?}")]
    UnknownKid(String),
    /// The key was published less than the [publish lead](KeySet::with_publish_lead) ago:
    /// verifiers holding a cached JWK set may not know it yet.
    #[error("key {kid:?} was published too recently to sign: activate it in {remaining:?}")]
    PublishedTooRecently {
        /// The key.
        kid: String,
        /// How long until it may be activated.
        remaining: Duration,
    },
}

struct Entry {
    key: SigningKey,
    /// The latest `exp` of any token this key signed (seconds since the epoch).
    max_exp: AtomicU64,
}

#[derive(Clone)]
struct Published {
    entry: Arc<Entry>,
    /// When the key stopped being the active one.
    retired_at: Option<u64>,
    /// When it was published (0 for the first key: it is published before anyone fetches).
    published_at: u64,
}

struct State {
    active: Arc<Entry>,
    /// Every published key, the active one included, in publication order.
    published: Vec<Published>,
    /// A key [`rotate`](KeySet::rotate) published, to become active at the given time.
    scheduled: Option<(Arc<Entry>, u64)>,
}

/// The signing keys of one issuer: exactly one **active** key signs new tokens; every
/// **published** key (the active one, keys about to become active, and retired keys) appears
/// in the JWK set.
///
/// Rotation is publish-then-activate: [`publish`](Self::publish) a new key, let verifiers'
/// cached JWK sets pick it up (their cache lifetime, `Cache-Control: max-age` of the JWKS
/// endpoint), then [`activate`](Self::activate) it. `activate` refuses a key published less than
/// the [publish lead](Self::with_publish_lead) ago (default [`DEFAULT_PUBLISH_LEAD`], which a
/// [`TokenExchange`](super::TokenExchange) requires to be at least its JWKS `max-age`), so that
/// no verifier sees a token before it can have the key. [`rotate`](Self::rotate) publishes a key
/// now and has it become active by itself once the lead has passed. A retired key stays
/// published until every token it signed has expired, plus [`RETIREMENT_GRACE`], then drops
/// out.
///
/// Cloning is cheap and clones share the keys. Signing reads the active key without waiting on
/// rotation.
///
/// ```
/// use tower_iam_auth::token::{JwtAlgorithm, KeySet, SigningKey};
///
/// let keys = KeySet::new(SigningKey::generate(JwtAlgorithm::RS256)?.with_kid("k1"));
/// keys.publish(SigningKey::generate(JwtAlgorithm::RS256)?.with_kid("k2"))?;
/// assert_eq!(keys.active_kid(), "k1");
/// // Verifiers may still hold a JWK set without k2.
/// assert!(keys.activate("k2").is_err());
/// # let keys = keys.with_publish_lead(std::time::Duration::ZERO);
/// // ...once the publish lead has passed:
/// keys.activate("k2")?;
/// assert_eq!(keys.active_kid(), "k2");
/// // k1 has signed nothing that is still valid, but stays for the grace period.
/// assert_eq!(keys.jwks().keys().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct KeySet {
    state: Arc<RwLock<Arc<State>>>,
    clock: SharedClock,
    publish_lead: Duration,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.snapshot();
        f.debug_struct("KeySet")
            .field("active", &state.active.key.kid())
            .field(
                "published",
                &state
                    .published
                    .iter()
                    .map(|p| p.entry.key.kid())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn entry(key: SigningKey) -> Arc<Entry> {
    Arc::new(Entry {
        key,
        max_exp: AtomicU64::new(0),
    })
}

impl KeySet {
    /// A key set whose only key, `active`, is published and signs.
    pub fn new(active: SigningKey) -> Self {
        let active = entry(active);
        let state = State {
            active: active.clone(),
            published: vec![Published {
                entry: active,
                retired_at: None,
                published_at: 0,
            }],
            scheduled: None,
        };
        Self {
            state: Arc::new(RwLock::new(Arc::new(state))),
            clock: SharedClock::default(),
            publish_lead: DEFAULT_PUBLISH_LEAD,
        }
    }

    /// How long a key must have been published before it may sign: at least the time every
    /// verifier may keep a JWK set cached (the JWKS `Cache-Control: max-age`). Default
    /// [`DEFAULT_PUBLISH_LEAD`]. `Duration::ZERO` suits only setups where every verifier reads
    /// this `KeySet` itself (one process, [`jwks`](Self::jwks) as static keys).
    #[must_use]
    pub fn with_publish_lead(mut self, lead: Duration) -> Self {
        self.publish_lead = lead;
        self
    }

    /// The [publish lead](Self::with_publish_lead).
    pub fn publish_lead(&self) -> Duration {
        self.publish_lead
    }

    /// The clock that decides when retired keys drop out. Default: the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    fn snapshot(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn now_secs(&self) -> u64 {
        self.clock.unix_secs()
    }

    fn update(
        &self,
        change: impl FnOnce(&State, u64) -> Result<State, KeySetError>,
    ) -> Result<(), KeySetError> {
        let now = self.now_secs();
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let next = change(&guard, now)?;
        *guard = Arc::new(next);
        Ok(())
    }

    /// Publishes `key` without signing with it yet.
    pub fn publish(&self, key: SigningKey) -> Result<(), KeySetError> {
        self.update(|state, now| {
            if state
                .published
                .iter()
                .any(|p| p.entry.key.kid() == key.kid())
            {
                return Err(KeySetError::DuplicateKid(key.kid().to_owned()));
            }
            let mut published = retain_unexpired(&state.published, now);
            published.push(Published {
                entry: entry(key),
                retired_at: None,
                published_at: now,
            });
            Ok(State {
                active: state.active.clone(),
                published,
                scheduled: state.scheduled.clone(),
            })
        })
    }

    /// Makes the published key `kid` the one that signs, if it was published at least the
    /// [publish lead](Self::with_publish_lead) ago (else [`KeySetError::PublishedTooRecently`]).
    /// The previously active key stays published until every token it signed has expired. It
    /// replaces a pending [`rotate`](Self::rotate).
    pub fn activate(&self, kid: &str) -> Result<(), KeySetError> {
        let lead = self.publish_lead.as_secs();
        self.update(|state, now| {
            let found = state
                .published
                .iter()
                .find(|p| p.entry.key.kid() == kid)
                .ok_or_else(|| KeySetError::UnknownKid(kid.to_owned()))?;
            let ready_at = found.published_at.saturating_add(lead);
            if now < ready_at && !Arc::ptr_eq(&found.entry, &state.active) {
                return Err(KeySetError::PublishedTooRecently {
                    kid: kid.to_owned(),
                    remaining: Duration::from_secs(ready_at - now),
                });
            }
            let next = found.entry.clone();
            let published = state
                .published
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    if Arc::ptr_eq(&p.entry, &next) {
                        p.retired_at = None;
                    } else if Arc::ptr_eq(&p.entry, &state.active) {
                        p.retired_at = Some(now);
                    }
                    p
                })
                .collect::<Vec<_>>();
            Ok(State {
                active: next,
                published: retain_unexpired(&published, now),
                scheduled: None,
            })
        })
    }

    /// Publishes `key` now, and makes it the active key once it has been published for the
    /// [publish lead](Self::with_publish_lead) (checked whenever a token is signed or
    /// [`active_kid`](Self::active_kid) is read). With a zero lead it signs at once.
    pub fn rotate(&self, key: SigningKey) -> Result<(), KeySetError> {
        let lead = self.publish_lead.as_secs();
        let kid = key.kid().to_owned();
        self.publish(key)?;
        self.update(|state, now| {
            let entry = state
                .published
                .iter()
                .find(|p| p.entry.key.kid() == kid)
                .ok_or_else(|| KeySetError::UnknownKid(kid.clone()))?
                .entry
                .clone();
            Ok(State {
                active: state.active.clone(),
                published: state.published.clone(),
                scheduled: Some((entry, now.saturating_add(lead))),
            })
        })?;
        self.activate_scheduled();
        Ok(())
    }

    /// Activates the key [`rotate`](Self::rotate) scheduled, once it is due.
    fn activate_scheduled(&self) {
        let due = self
            .snapshot()
            .scheduled
            .as_ref()
            .filter(|(_, at)| *at <= self.now_secs())
            .map(|(entry, _)| entry.key.kid().to_owned());
        if let Some(kid) = due
            && let Err(error) = self.activate(&kid)
        {
            tracing::warn!(kid = %kid, error = %error, "scheduled key activation failed");
        }
    }

    /// The `kid` of the key that signs new tokens.
    pub fn active_kid(&self) -> String {
        self.activate_scheduled();
        self.snapshot().active.key.kid().to_owned()
    }

    /// The `kid`s of every published key, in publication order.
    pub fn published_kids(&self) -> Vec<String> {
        let now = self.now_secs();
        retain_unexpired(&self.snapshot().published, now)
            .iter()
            .map(|p| p.entry.key.kid().to_owned())
            .collect()
    }

    /// The JWK set to publish: every key not yet retired past its last token.
    pub fn jwks(&self) -> JwkSet {
        let now = self.now_secs();
        JwkSet::new(
            retain_unexpired(&self.snapshot().published, now)
                .iter()
                .map(|p| p.entry.key.public_jwk().clone()),
        )
    }

    /// The algorithms of the published keys, deduplicated.
    pub(crate) fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = Vec::new();
        for p in &self.snapshot().published {
            let alg = p.entry.key.algorithm().as_str();
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }

    /// Signs `claims` (whose `exp` is `exp`) with the active key: a compact JWS with `alg`,
    /// `typ: JWT` and `kid` in its header. Returns the token and the `kid`.
    pub(crate) async fn sign<C: Serialize>(
        &self,
        claims: &C,
        exp: u64,
    ) -> Result<(String, String), SigningError> {
        self.activate_scheduled();
        let entry = self.snapshot().active.clone();
        // Recorded before the token exists, so that the key cannot drop out under it.
        entry.max_exp.fetch_max(exp, Ordering::SeqCst);
        let key = &entry.key;
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = Header {
            alg: key.algorithm().as_str(),
            typ: "JWT",
            kid: key.kid(),
        };
        let header = serde_json::to_vec(&header).map_err(|_| SigningError::Crypto)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SigningError::Crypto)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign(token.as_bytes()).await?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        crate::metrics::record::token_issued(key.algorithm().as_str());
        Ok((token, key.kid().to_owned()))
    }
}

/// The published keys minus retired ones whose last token (and the grace) has passed.
fn retain_unexpired(published: &[Published], now: u64) -> Vec<Published> {
    published
        .iter()
        .filter(|p| match p.retired_at {
            None => true,
            Some(retired_at) => {
                let last = p.entry.max_exp.load(Ordering::SeqCst).max(retired_at);
                now < last.saturating_add(RETIREMENT_GRACE.as_secs())
            }
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::JwtAlgorithm;
    use std::sync::atomic::AtomicI64;
    use std::time::SystemTime;

    fn key(kid: &str) -> SigningKey {
        SigningKey::generate(JwtAlgorithm::EdDSA)
            .unwrap()
            .with_kid(kid)
    }

    fn clock() -> (Arc<AtomicI64>, impl Clock) {
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let base = SystemTime::now();
        (offset, move || {
            base + Duration::from_secs(o.load(Ordering::SeqCst) as u64)
        })
    }

    fn kids(keys: &KeySet) -> Vec<String> {
        keys.jwks()
            .keys()
            .iter()
            .map(|k| k.kid().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn retired_key_stays_until_its_last_token_expired_plus_grace() {
        let (offset, clock) = clock();
        let keys = KeySet::new(key("old"))
            .with_clock(clock)
            .with_publish_lead(Duration::ZERO);
        let now = keys.now_secs();
        keys.sign(&serde_json::json!({}), now + 3600).await.unwrap();
        keys.rotate(key("new")).unwrap();
        assert_eq!(keys.active_kid(), "new");
        assert_eq!(kids(&keys), ["old", "new"]);

        offset.store(
            3600 + RETIREMENT_GRACE.as_secs() as i64 - 1,
            Ordering::SeqCst,
        );
        assert_eq!(kids(&keys), ["old", "new"]);
        offset.store(3600 + RETIREMENT_GRACE.as_secs() as i64, Ordering::SeqCst);
        assert_eq!(kids(&keys), ["new"]);
    }

    #[test]
    fn published_key_does_not_sign_until_activated() {
        let keys = KeySet::new(key("a"));
        keys.publish(key("b")).unwrap();
        assert_eq!(keys.active_kid(), "a");
        assert_eq!(kids(&keys), ["a", "b"]);
        assert!(matches!(
            keys.publish(key("b")),
            Err(KeySetError::DuplicateKid(_))
        ));
        assert!(matches!(
            keys.activate("c"),
            Err(KeySetError::UnknownKid(_))
        ));
    }

    #[tokio::test]
    async fn signs_with_alg_typ_and_kid_in_the_header() {
        let keys = KeySet::new(key("a"));
        let (token, kid) = keys
            .sign(&serde_json::json!({"sub": "x"}), 1)
            .await
            .unwrap();
        assert_eq!(kid, "a");
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "a"})
        );
    }
}
