//! [`Authorize`], the seam between the layers and whatever decides, and [`PolicyHandle`], the
//! reloadable policy that is its usual implementation.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use super::compiled::{Decision, Outcome, Policy};
use super::error::PolicyError;
use super::options::PolicyOptions;
use super::request::AuthzRequest;
use super::set::PolicySet;
use crate::error::AuthError;

/// Decides whether a request may proceed. Synchronous and pure: no I/O on the request path.
///
/// [`PolicyHandle`] (a reloadable [`PolicySet`] of IAM policies) implements it; so does any
/// closure `Fn(&AuthzRequest<'_>) -> Result<Decision, AuthError>` wrapped by [`authorize_fn`],
/// to plug in another engine. An `Err` is a refusal of the request itself (e.g. `400` for a
/// non-canonical path), not a denial.
pub trait Authorize: Send + Sync + 'static {
    /// Decides one request.
    fn authorize(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError>;
}

/// An [`Authorize`] made from a closure.
#[derive(Clone)]
pub struct AuthorizeFn<F>(F);

/// Wraps a closure as an [`Authorize`].
pub fn authorize_fn<F>(f: F) -> AuthorizeFn<F>
where
    F: Fn(&AuthzRequest<'_>) -> Result<Decision, AuthError> + Send + Sync + 'static,
{
    AuthorizeFn(f)
}

impl<F> Authorize for AuthorizeFn<F>
where
    F: Fn(&AuthzRequest<'_>) -> Result<Decision, AuthError> + Send + Sync + 'static,
{
    fn authorize(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        (self.0)(request)
    }
}

impl<F> std::fmt::Debug for AuthorizeFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizeFn")
    }
}

/// A [`PolicySet`] that can be replaced while requests are served: a reload swaps an `Arc`, so
/// requests never wait on a lock, and a reload that fails keeps the policy in force.
///
/// Evaluating through the handle emits one `tracing` event per decision (target
/// `tower_iam_auth::policy`; `DEBUG` for allows, `INFO` for denials).
#[derive(Clone)]
pub struct PolicyHandle {
    current: Arc<ArcSwap<PolicySet>>,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("current", &self.current.load())
            .finish()
    }
}

impl PolicyHandle {
    /// A handle on `policies` (a [`Policy`] or a [`PolicySet`]).
    pub fn new(policies: impl Into<PolicySet>) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(policies.into())),
        }
    }

    /// The policies in force.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    /// Puts `policies` in force.
    pub fn replace(&self, policies: impl Into<PolicySet>) {
        let policies = policies.into();
        for (name, policy) in policies.layers() {
            tracing::info!(target: "tower_iam_auth::policy", layer = name, policy_id = policy.id(), policy_hash = policy.hash(), "policy loaded");
        }
        self.current.store(Arc::new(policies));
    }

    /// Loads a JSON document and puts it in force as the only policy. If it does not load, the
    /// policy in force stays, and the refusal is returned.
    pub fn reload_json(&self, json: &str, options: &PolicyOptions) -> Result<Policy, PolicyError> {
        match Policy::from_json_with(json, options) {
            Ok(policy) => {
                self.replace(policy.clone());
                Ok(policy)
            }
            Err(error) => {
                tracing::warn!(target: "tower_iam_auth::policy", code = %error.code(), pointer = error.pointer(), "policy reload refused; the previous policy stays in force: {}", error.message());
                Err(error)
            }
        }
    }
}

impl From<Policy> for PolicyHandle {
    fn from(policy: Policy) -> Self {
        PolicyHandle::new(policy)
    }
}

impl From<PolicySet> for PolicyHandle {
    fn from(set: PolicySet) -> Self {
        PolicyHandle::new(set)
    }
}

/// The longest path written to the audit log.
const MAX_LOGGED_PATH: usize = 256;

impl Authorize for PolicyHandle {
    fn authorize(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        let set = self.current.load();
        let started = Instant::now();
        let decision = set.evaluate(request)?;
        let elapsed_ns = started.elapsed().as_nanos() as u64;
        let (layer, policy, sid) = set.describe(&decision);
        let path = match request.path.char_indices().nth(MAX_LOGGED_PATH) {
            Some((cut, _)) => &request.path[..cut],
            None => request.path,
        };
        macro_rules! audit {
            ($level:ident) => {
                tracing::$level!(
                    target: "tower_iam_auth::policy",
                    decision = decision.outcome().as_str(),
                    dry_run = request.dry_run,
                    sid,
                    layer,
                    policy_id = policy.map(Policy::id),
                    policy_hash = policy.map(Policy::hash),
                    principal = request.principal.map(|p| p.arn()),
                    principal_id = request.principal.map(|p| p.principal_id()),
                    method = request.method.as_str(),
                    path,
                    elapsed_ns,
                    "policy decision"
                )
            };
        }
        if decision.outcome() == Outcome::Allow {
            audit!(debug);
        } else {
            audit!(info);
        }
        Ok(decision)
    }
}
