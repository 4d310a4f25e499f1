//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The library records; it never exports. Install the recorder of your choice (for example
//! `metrics-exporter-prometheus`) in the application. Without the feature, or without a
//! recorder, recording costs next to nothing.
//!
//! These names and labels are a stable contract: a name or label is never renamed or reused.
//! No label ever carries a principal, an account, a token or anything else the caller chose.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `iam_auth_requests_total` | counter | `outcome` = `allowed` \| `refused` \| `unavailable`; `reason` = a [`ReasonCode`](crate::error::ReasonCode) or `none` | requests decided by `IamAuthLayer` |
//! | `iam_auth_layer_duration_seconds` | histogram | | time the layer adds before the inner service (or before its refusal) |
//! | `iam_auth_sts_requests_total` | counter | `result` = `ok` \| `rejected` \| `throttled` \| `error`; `region` | STS `GetCallerIdentity` attempts |
//! | `iam_auth_sts_duration_seconds` | histogram | `region` | duration of one STS attempt |
//! | `iam_auth_sts_in_flight` | gauge | | STS verifications under way |
//! | `iam_auth_cache_lookups_total` | counter | `result` = `hit` \| `miss` \| `negative_hit` | verified-proof cache lookups |
//! | `iam_auth_cache_entries` | gauge | | verified proofs cached (approximate) |
//! | `iam_auth_cache_coalesced_total` | counter | | misses that waited on another request's STS call |
//! | `iam_auth_shared_cache_total` | counter | `result` = `hit` \| `miss` \| `refused` \| `error` | shared-store (Redis) lookups and failures; `refused`: an entry whose seal or expiry did not check |
//! | `iam_auth_jwks_refresh_total` | counter | `result` = `ok` \| `error` \| `rate_limited` | remote JWKS fetches |
//! | `iam_auth_tokens_issued_total` | counter | `alg` = `RS256` \| `ES256` \| `EdDSA` | JWTs issued by the token exchange |
//! | `iam_auth_policy_decisions_total` | counter | `decision` = `allow` \| `explicit_deny` \| `implicit_deny` | policy and allow-list decisions |

/// `iam_auth_requests_total`
pub const REQUESTS_TOTAL: &str = "iam_auth_requests_total";
/// `iam_auth_layer_duration_seconds`
pub const LAYER_DURATION_SECONDS: &str = "iam_auth_layer_duration_seconds";
/// `iam_auth_sts_requests_total`
pub const STS_REQUESTS_TOTAL: &str = "iam_auth_sts_requests_total";
/// `iam_auth_sts_duration_seconds`
pub const STS_DURATION_SECONDS: &str = "iam_auth_sts_duration_seconds";
/// `iam_auth_sts_in_flight`
pub const STS_IN_FLIGHT: &str = "iam_auth_sts_in_flight";
/// `iam_auth_cache_lookups_total`
pub const CACHE_LOOKUPS_TOTAL: &str = "iam_auth_cache_lookups_total";
/// `iam_auth_cache_entries`
pub const CACHE_ENTRIES: &str = "iam_auth_cache_entries";
/// `iam_auth_cache_coalesced_total`
pub const CACHE_COALESCED_TOTAL: &str = "iam_auth_cache_coalesced_total";
/// `iam_auth_shared_cache_total`
pub const SHARED_CACHE_TOTAL: &str = "iam_auth_shared_cache_total";
/// `iam_auth_jwks_refresh_total`
pub const JWKS_REFRESH_TOTAL: &str = "iam_auth_jwks_refresh_total";
/// `iam_auth_tokens_issued_total`
pub const TOKENS_ISSUED_TOTAL: &str = "iam_auth_tokens_issued_total";
/// `iam_auth_policy_decisions_total`
pub const POLICY_DECISIONS_TOTAL: &str = "iam_auth_policy_decisions_total";

/// Recording helpers: each is a no-op without the feature. Labels are `&'static str` so that
/// the cache-hit path allocates nothing.
#[allow(unused_variables, dead_code)]
pub(crate) mod record {
    // Every recording helper needs `server` (the layer, the cache, STS, policies, tokens).
    #[cfg(all(feature = "metrics", feature = "server"))]
    use super::*;

    /// One request decided by the layer, and the time the layer took.
    #[cfg(feature = "server")]
    pub(crate) fn request(
        outcome: &'static str,
        reason: &'static str,
        elapsed: Option<std::time::Duration>,
    ) {
        #[cfg(feature = "metrics")]
        {
            // A literal name and literal labels make a static key, hashed at compile time: the
            // allowed path (cache hits) neither allocates nor hashes.
            let counter = match outcome {
                "allowed" => {
                    ::metrics::counter!("iam_auth_requests_total", "outcome" => "allowed", "reason" => "none")
                }
                _ => ::metrics::counter!(REQUESTS_TOTAL, "outcome" => outcome, "reason" => reason),
            };
            counter.increment(1);
            if let Some(elapsed) = elapsed {
                ::metrics::histogram!("iam_auth_layer_duration_seconds")
                    .record(elapsed.as_secs_f64());
            }
        }
    }

    /// Whether metrics are recorded at all (timing the layer is worth a clock read only then).
    pub(crate) const ENABLED: bool = cfg!(feature = "metrics");

    /// One STS attempt.
    #[cfg(feature = "server")]
    pub(crate) fn sts_attempt(result: &'static str, region: &str, elapsed: std::time::Duration) {
        #[cfg(feature = "metrics")]
        {
            let region = region.to_owned();
            ::metrics::counter!(STS_REQUESTS_TOTAL, "result" => result, "region" => region.clone())
                .increment(1);
            ::metrics::histogram!(STS_DURATION_SECONDS, "region" => region)
                .record(elapsed.as_secs_f64());
        }
    }

    /// An STS verification starts (`+1`) or ends (`-1`).
    #[cfg(feature = "server")]
    pub(crate) fn sts_in_flight(delta: f64) {
        #[cfg(feature = "metrics")]
        ::metrics::gauge!(STS_IN_FLIGHT).increment(delta);
    }

    /// One cache lookup: `hit`, `miss` or (anything else) `negative_hit`.
    #[cfg(feature = "server")]
    pub(crate) fn cache_lookup(result: &'static str) {
        #[cfg(feature = "metrics")]
        match result {
            "hit" => ::metrics::counter!("iam_auth_cache_lookups_total", "result" => "hit"),
            "miss" => ::metrics::counter!("iam_auth_cache_lookups_total", "result" => "miss"),
            _ => ::metrics::counter!("iam_auth_cache_lookups_total", "result" => "negative_hit"),
        }
        .increment(1);
    }

    /// The number of cached verified proofs.
    #[cfg(feature = "server")]
    pub(crate) fn cache_entries(entries: u64) {
        #[cfg(feature = "metrics")]
        ::metrics::gauge!(CACHE_ENTRIES).set(entries as f64);
    }

    /// One shared-store event: `hit`, `miss`, `refused` or (anything else) `error`.
    #[cfg(feature = "server")]
    pub(crate) fn shared_cache(result: &'static str) {
        #[cfg(feature = "metrics")]
        match result {
            "hit" => ::metrics::counter!("iam_auth_shared_cache_total", "result" => "hit"),
            "miss" => ::metrics::counter!("iam_auth_shared_cache_total", "result" => "miss"),
            "refused" => ::metrics::counter!("iam_auth_shared_cache_total", "result" => "refused"),
            _ => ::metrics::counter!("iam_auth_shared_cache_total", "result" => "error"),
        }
        .increment(1);
    }

    /// A miss that waited on another request's STS call.
    #[cfg(feature = "server")]
    pub(crate) fn cache_coalesced() {
        #[cfg(feature = "metrics")]
        ::metrics::counter!("iam_auth_cache_coalesced_total").increment(1);
    }

    /// One policy or allow-list decision: `allow`, `explicit_deny` or (anything else)
    /// `implicit_deny`.
    #[cfg(feature = "server")]
    pub(crate) fn policy_decision(decision: &'static str) {
        #[cfg(feature = "metrics")]
        match decision {
            "allow" => ::metrics::counter!("iam_auth_policy_decisions_total", "decision" => "allow"),
            "explicit_deny" => {
                ::metrics::counter!("iam_auth_policy_decisions_total", "decision" => "explicit_deny")
            }
            _ => ::metrics::counter!("iam_auth_policy_decisions_total", "decision" => "implicit_deny"),
        }
        .increment(1);
    }

    /// One remote JWKS fetch.
    #[cfg(feature = "jwt")]
    pub(crate) fn jwks_refresh(result: &'static str) {
        #[cfg(feature = "metrics")]
        ::metrics::counter!(JWKS_REFRESH_TOTAL, "result" => result).increment(1);
    }

    /// One JWT issued.
    #[cfg(feature = "jwt")]
    pub(crate) fn token_issued(alg: &'static str) {
        #[cfg(feature = "metrics")]
        ::metrics::counter!(TOKENS_ISSUED_TOTAL, "alg" => alg).increment(1);
    }
}
