//! [`Authorize`], the seam between the layers and whatever decides, and [`PolicyHandle`], the
//! reloadable policy that is its usual implementation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::compiled::{Decision, Outcome, Policy};
use super::error::PolicyError;
use super::options::PolicyOptions;
use super::request::AuthzRequest;
use super::set::PolicySet;
use crate::error::AuthError;
use crate::principal::IamPrincipal;

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
    inner: Arc<HandleInner>,
}

struct HandleInner {
    current: ArcSwap<InForce>,
    /// The generation of `current`, read on its own by [`PolicyHandle::remembered`]. Stored
    /// before `current`, under `replacing`: while a replace runs, `remembered` finds nothing (no
    /// decision was made under the new generation yet) and requests are decided by the set that
    /// `current` holds; once it returns, both name the new set.
    generation: AtomicU64,
    /// Held by `replace`, so that two replacing at once cannot leave `generation` naming the set
    /// that the other one stored.
    replacing: Mutex<()>,
}

/// A set in force and its generation: a number no other set of any handle in the process ever
/// had, so that a decision remembered under it is one this set made.
struct InForce {
    generation: u64,
    set: Arc<PolicySet>,
}

impl InForce {
    fn new(set: PolicySet) -> Self {
        /// Generations are drawn from one counter for every handle: a `u64` counted up by one
        /// does not wrap.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            generation: NEXT.fetch_add(1, Ordering::Relaxed),
            set: Arc::new(set),
        }
    }
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("current", &self.inner.current.load().set)
            .finish()
    }
}

impl PolicyHandle {
    /// A handle on `policies` (a [`Policy`] or a [`PolicySet`]).
    pub fn new(policies: impl Into<PolicySet>) -> Self {
        let in_force = InForce::new(policies.into());
        Self {
            inner: Arc::new(HandleInner {
                generation: AtomicU64::new(in_force.generation),
                current: ArcSwap::from_pointee(in_force),
                replacing: Mutex::new(()),
            }),
        }
    }

    /// The policies in force.
    pub fn current(&self) -> Arc<PolicySet> {
        self.inner.current.load().set.clone()
    }

    /// Puts `policies` in force.
    pub fn replace(&self, policies: impl Into<PolicySet>) {
        let policies = policies.into();
        for (name, policy) in policies.layers() {
            tracing::info!(target: "tower_iam_auth::policy", layer = name, policy_id = policy.id(), policy_hash = policy.hash(), "policy loaded");
        }
        // Guards no data of its own: a poisoned lock is as good as a held one.
        let _one_at_a_time = self
            .inner
            .replacing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let in_force = InForce::new(policies);
        self.inner
            .generation
            .store(in_force.generation, Ordering::Release);
        self.inner.current.store(Arc::new(in_force));
    }

    /// The decision this thread remembers for `principal`, `method` and `path` under the set in
    /// force, without loading the set: what [`authorize`](Authorize::authorize) returned for a
    /// request with these parts under this set (only sets whose decisions depend on nothing else
    /// are remembered, see `PolicySet::memoizable`). `None`: nothing remembered; authorize the
    /// request.
    #[inline]
    pub(crate) fn remembered(
        &self,
        principal: &IamPrincipal,
        method: &http::Method,
        path: &str,
    ) -> Option<Decision> {
        let generation = self.inner.generation.load(Ordering::Acquire);
        memo::remembered(generation, Some(principal), method, path)
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

/// Whether an allow is written to the audit log (`DEBUG` on `tower_iam_auth::policy`): one
/// callsite for every path that decides, so that a filter cannot tell them apart.
#[inline]
pub(crate) fn audits_allows() -> bool {
    tracing::enabled!(target: "tower_iam_auth::policy", tracing::Level::DEBUG)
}

/// The longest path written to the audit log.
const MAX_LOGGED_PATH: usize = 256;

impl Authorize for PolicyHandle {
    fn authorize(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        let in_force = self.inner.current.load();
        let set = &in_force.set;
        // The audit event is `DEBUG` for allows and `INFO` for denials: when neither level is
        // on, skip its clock reads and field work entirely.
        let debug = audits_allows();
        let info =
            debug || tracing::enabled!(target: "tower_iam_auth::policy", tracing::Level::INFO);
        let started = info.then(Instant::now);
        let decision = memo::decide(in_force.generation, set, request)?;
        let allowed = decision.outcome() == Outcome::Allow;
        if !(debug || (info && !allowed)) {
            return Ok(decision);
        }
        let elapsed_ns = started.map(|s| s.elapsed().as_nanos() as u64);
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
        if allowed {
            audit!(debug);
        } else {
            audit!(info);
        }
        Ok(decision)
    }
}

/// Remembered decisions, per thread: a policy set whose decisions depend only on the principal,
/// the method and the path is evaluated once per (set, principal, method, path), as a proof is
/// verified once per token. Each thread keeps a small direct-mapped table; an entry holds the
/// set's generation (never reused, see [`InForce`]) and the principal itself, so that its
/// address cannot be reused while the entry stands, and a reload (a new generation) never meets
/// an old entry.
mod memo {
    use std::cell::RefCell;
    use std::hash::{BuildHasher, Hasher};

    use super::super::compiled::Decision;
    use super::super::request::AuthzRequest;
    use super::super::set::PolicySet;
    use crate::error::AuthError;
    use crate::principal::IamPrincipal;

    const SLOTS: usize = 256;

    struct Slot {
        generation: u64,
        principal: Option<IamPrincipal>,
        method: http::Method,
        /// Reused when the slot is taken over, so that two requests sharing a slot do not
        /// allocate each time they evict each other.
        path: String,
        decision: Decision,
    }

    thread_local! {
        static TABLE: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
    }

    #[inline]
    fn index(
        generation: u64,
        principal: Option<&IamPrincipal>,
        method: &http::Method,
        path: &str,
    ) -> usize {
        let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
        h.write_u64(generation);
        h.write_usize(principal.map_or(0, IamPrincipal::identity_addr));
        h.write(method.as_str().as_bytes());
        h.write(path.as_bytes());
        (h.finish() as usize) % SLOTS
    }

    /// The decision remembered on this thread for these parts under `generation`.
    #[inline]
    pub(super) fn remembered(
        generation: u64,
        principal: Option<&IamPrincipal>,
        method: &http::Method,
        path: &str,
    ) -> Option<Decision> {
        let i = index(generation, principal, method, path);
        remembered_at(i, generation, principal, method, path)
    }

    /// [`remembered`], in slot `i` (its [`index`]).
    #[inline]
    fn remembered_at(
        i: usize,
        generation: u64,
        principal: Option<&IamPrincipal>,
        method: &http::Method,
        path: &str,
    ) -> Option<Decision> {
        TABLE.with(|table| {
            let table = table.borrow();
            let slot = table.get(i)?.as_ref()?;
            let same_principal = match (&slot.principal, principal) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same_as(b),
                _ => false,
            };
            (slot.generation == generation
                && same_principal
                && slot.method == *method
                && *slot.path == *path)
                .then_some(slot.decision)
        })
    }

    /// The decision for `request` by `set` (of `generation`): the one remembered, or evaluated
    /// and then remembered (allow or deny) when the set's decisions can be.
    #[inline]
    pub(super) fn decide(
        generation: u64,
        set: &PolicySet,
        request: &AuthzRequest<'_>,
    ) -> Result<Decision, AuthError> {
        if !set.memoizable() {
            return set.evaluate(request);
        }
        let (principal, method, path) = (request.principal, request.method, request.path);
        let i = index(generation, principal, method, path);
        if let Some(decision) = remembered_at(i, generation, principal, method, path) {
            return Ok(decision);
        }
        // Refusals before evaluation (a non-canonical path...) are not remembered.
        let decision = set.evaluate(request)?;
        TABLE.with(|table| {
            let mut table = table.borrow_mut();
            if table.is_empty() {
                table.resize_with(SLOTS, || None);
            }
            let mut owned = table[i].take().map(|slot| slot.path).unwrap_or_default();
            owned.clear();
            owned.push_str(path);
            table[i] = Some(Slot {
                generation,
                principal: principal.cloned(),
                method: method.clone(),
                path: owned,
                decision,
            });
        });
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    fn principal(role: &str, id: &str) -> crate::principal::IamPrincipal {
        crate::principal::IamPrincipal::from_identity(
            crate::arn::normalize(
                &format!("arn:aws:sts::123456789012:assumed-role/{role}/s"),
                &format!("{id}:s"),
            )
            .unwrap(),
        )
    }

    fn policy(role: &str) -> Policy {
        Policy::from_json(&format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow",
                "Principal": {{"AWS": "arn:aws:iam::123456789012:role/{role}"}},
                "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/x"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn remembered_decisions_are_per_principal_path_and_policy() {
        let handle = PolicyHandle::new(policy("reader"));
        let (reader, other) = (
            principal("reader", "AROAEXAMPLEREADER0001"),
            principal("other", "AROAEXAMPLEOTHER00001"),
        );
        let (method, headers) = (http::Method::GET, http::HeaderMap::new());
        let (x, y): (http::Uri, http::Uri) = ("/x".parse().unwrap(), "/y".parse().unwrap());
        let decide = |p: &crate::principal::IamPrincipal, uri: &http::Uri| {
            let request = AuthzRequest::new(&method, uri, &headers).principal(Some(p));
            handle.authorize(&request).unwrap().outcome()
        };
        for _ in 0..2 {
            assert_eq!(decide(&reader, &x), Outcome::Allow);
            assert_eq!(decide(&other, &x), Outcome::ImplicitDeny);
            assert_eq!(decide(&reader, &y), Outcome::ImplicitDeny);
        }
        // A reload is a new set: nothing remembered for the old one applies.
        handle.replace(policy("other"));
        assert_eq!(decide(&reader, &x), Outcome::ImplicitDeny);
        assert_eq!(decide(&other, &x), Outcome::Allow);
    }

    #[test]
    fn a_remembered_decision_is_only_for_its_handle_and_the_set_in_force() {
        let (reads, denies) = (
            PolicyHandle::new(policy("reader")),
            PolicyHandle::new(policy("other")),
        );
        let reader = principal("reader", "AROAEXAMPLEREADER0001");
        let (method, headers, x) = (
            http::Method::GET,
            http::HeaderMap::new(),
            http::Uri::from_static("/x"),
        );
        let request = AuthzRequest::new(&method, &x, &headers).principal(Some(&reader));
        assert_eq!(reads.remembered(&reader, &method, "/x"), None);
        assert!(reads.authorize(&request).unwrap().is_allowed());
        let remembered =
            |h: &PolicyHandle, path| h.remembered(&reader, &method, path).map(|d| d.outcome());
        assert_eq!(remembered(&reads, "/x"), Some(Outcome::Allow));
        // A clone shares the set in force.
        assert_eq!(remembered(&reads.clone(), "/x"), Some(Outcome::Allow));
        // Another path, method or principal (even with the same ARN) is not remembered.
        assert_eq!(remembered(&reads, "/x/"), None);
        assert_eq!(reads.remembered(&reader, &http::Method::POST, "/x"), None);
        let again = principal("reader", "AROAEXAMPLEREADER0001");
        assert_eq!(reads.remembered(&again, &method, "/x"), None);
        // Another handle's decision for the same parts is its own (it may take the slot of the
        // first: then the first has nothing remembered, never the other's denial).
        assert!(!denies.authorize(&request).unwrap().is_allowed());
        assert_eq!(remembered(&denies, "/x"), Some(Outcome::ImplicitDeny));
        assert_ne!(remembered(&reads, "/x"), Some(Outcome::ImplicitDeny));
        // A replace (even by the same policy) forgets.
        assert!(reads.authorize(&request).unwrap().is_allowed());
        assert_eq!(remembered(&reads, "/x"), Some(Outcome::Allow));
        reads.replace(policy("reader"));
        assert_eq!(remembered(&reads, "/x"), None);
        assert!(reads.authorize(&request).unwrap().is_allowed());
        reads.replace(policy("other"));
        assert_eq!(remembered(&reads, "/x"), None);
        assert!(!reads.authorize(&request).unwrap().is_allowed());
        assert_eq!(remembered(&reads, "/x"), Some(Outcome::ImplicitDeny));
    }

    /// The invariant `replacing` keeps, checked after rounds of concurrent replaces (a smoke
    /// test: an interleaving that breaks it without the lock is rare).
    #[test]
    fn replaces_racing_leave_the_generation_of_the_set_in_force() {
        let handle = PolicyHandle::new(policy("reader"));
        for _ in 0..20 {
            std::thread::scope(|scope| {
                for role in ["a", "b", "c", "d"] {
                    let handle = &handle;
                    scope.spawn(move || {
                        for _ in 0..50 {
                            handle.replace(policy(role));
                        }
                    });
                }
            });
            let in_force = handle.inner.current.load();
            assert_eq!(
                handle.inner.generation.load(Ordering::Acquire),
                in_force.generation
            );
        }
    }

    /// A `${…}` variable reads its key as a condition on it would: the token audience, the
    /// authentication method and the route are not principal, method or path, so decisions
    /// using them are made afresh every time.
    #[test]
    fn decisions_on_variables_of_other_inputs_are_not_remembered() {
        let reader = principal("reader", "AROAEXAMPLEREADER0001");
        let (method, headers, x) = (
            http::Method::GET,
            http::HeaderMap::new(),
            http::Uri::from_static("/x"),
        );
        let options = PolicyOptions::new().token_audience(true).route(true);
        let load = |role: &str, resource: &str, path: &str| {
            let policy = Policy::from_json_with(
                &format!(
                    r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow",
                        "Principal": {{"AWS": "123456789012"}}, "Action": "*", "Resource": "{resource}",
                        "Condition": {{"StringLike": {{"aws:PrincipalArn": "arn:aws:iam::123456789012:role/{role}",
                            "vpc-lattice-svcs:RequestPath": "{path}"}}}}}}}}"#
                ),
                &options,
            )
            .unwrap();
            PolicyHandle::new(policy)
        };
        let proof: http::Uri = "/proof".parse().unwrap();
        let base = AuthzRequest::new(&method, &x, &headers).principal(Some(&reader));
        let cases: [(PolicyHandle, [AuthzRequest<'_>; 2]); 3] = [
            (
                load("${tower-iam-auth:TokenAudience}", "*", "*"),
                [
                    base.token_audience(Some("reader")),
                    base.token_audience(Some("writer")),
                ],
            ),
            (
                load("*", "*/${tower-iam-auth:AuthMethod}", "*"),
                [
                    AuthzRequest::new(&method, &proof, &headers)
                        .principal(Some(&reader))
                        .auth_method(Some(crate::principal::AuthMethod::Proof)),
                    AuthzRequest::new(&method, &proof, &headers)
                        .principal(Some(&reader))
                        .auth_method(Some(crate::principal::AuthMethod::Jwt)),
                ],
            ),
            (
                load("*", "*", "${tower-iam-auth:Route}"),
                [base.route(Some("/x")), base.route(Some("/{id}"))],
            ),
        ];
        for (case, (handle, [allowed, denied])) in cases.iter().enumerate() {
            for _ in 0..2 {
                assert!(handle.authorize(allowed).unwrap().is_allowed(), "{case}");
                assert!(!handle.authorize(denied).unwrap().is_allowed(), "{case}");
            }
            assert_eq!(handle.remembered(&reader, &method, allowed.path), None);
            assert!(!handle.current().memoizable(), "{case}");
        }
    }

    #[test]
    fn decisions_on_headers_are_not_remembered() {
        let handle = PolicyHandle::new(
            Policy::from_json(
                r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
                    "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
                    "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "red"}}}}"#,
            )
            .unwrap(),
        );
        let reader = principal("reader", "AROAEXAMPLEREADER0001");
        let (method, uri) = (http::Method::GET, http::Uri::from_static("/x"));
        let mut red = http::HeaderMap::new();
        red.insert("x-team", http::HeaderValue::from_static("red"));
        let blue = {
            let mut h = http::HeaderMap::new();
            h.insert("x-team", http::HeaderValue::from_static("blue"));
            h
        };
        let allowed = |headers: &http::HeaderMap| {
            let request = AuthzRequest::new(&method, &uri, headers).principal(Some(&reader));
            handle.authorize(&request).unwrap().is_allowed()
        };
        assert!(allowed(&red));
        assert!(!allowed(&blue));
        assert!(allowed(&red));
        assert_eq!(handle.remembered(&reader, &method, "/x"), None);
    }
}
