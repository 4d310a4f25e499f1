//! [`CachedCredentials`]: one credentials cache that several signers share.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider, future};

use crate::clock::{Clock, SharedClock};

/// Credentials are fetched again this long before they expire, as the AWS SDKs do.
const EXPIRY_BUFFER: Duration = Duration::from_secs(5 * 60);

/// Credentials without an expiry are fetched again after this long, so that a rotated profile
/// file or environment is seen.
const NO_EXPIRY_TTL: Duration = Duration::from_secs(15 * 60);

/// Wraps a credentials provider (an instance-metadata or container endpoint, say) so that it is
/// asked again only shortly before the credentials expire: 5 minutes before their expiry, or
/// after 15 minutes for credentials without one. Concurrent callers that find the cache stale
/// share one fetch. Clones share the cache.
#[derive(Clone)]
pub struct CachedCredentials {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    provider: SharedCredentialsProvider,
    clock: SharedClock,
    cached: RwLock<Option<(Credentials, SystemTime)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("provider", &self.inner.provider)
            .finish_non_exhaustive()
    }
}

impl CachedCredentials {
    /// Caches what `provider` gives.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self::with_clock(provider, crate::clock::SystemClock)
    }

    /// Caches what `provider` gives, judging expiry by `clock`.
    pub fn with_clock(provider: impl ProvideCredentials + 'static, clock: impl Clock) -> Self {
        CachedCredentials {
            inner: Arc::new(CacheInner {
                provider: SharedCredentialsProvider::new(provider),
                clock: SharedClock::new(clock),
                cached: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let now = self.inner.clock.now();
        let cached = self.inner.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(c, _)| c.clone())
    }

    async fn load(&self) -> provider::Result {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let _guard = self.inner.refresh.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let credentials = self.inner.provider.provide_credentials().await?;
        let now = self.inner.clock.now();
        let until = match credentials.expiry() {
            Some(expiry) => expiry.checked_sub(EXPIRY_BUFFER).unwrap_or(now),
            None => now + NO_EXPIRY_TTL,
        };
        *self.inner.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((credentials.clone(), until));
        Ok(credentials)
    }
}

impl ProvideCredentials for CachedCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
    }
}
