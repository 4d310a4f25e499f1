//! [`PolicySet`]: policies stacked as VPC Lattice stacks the service-network and the service
//! policy — every layer must allow, and a deny in any layer wins.

use super::compiled::{Decision, Outcome, Policy};
use super::request::AuthzRequest;
use crate::error::AuthError;

/// Named policies that must all allow a request. An explicit deny in any of them wins.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    pub(crate) layers: Vec<(String, Policy)>,
}

impl PolicySet {
    /// An empty set, which denies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer (e.g. `"service-network"`, then `"service"`).
    #[must_use]
    pub fn with_layer(mut self, name: impl Into<String>, policy: Policy) -> Self {
        self.layers.push((name.into(), policy));
        self
    }

    /// The layers, in order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &Policy)> {
        self.layers.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// Decides `request`: `Allow` only if every layer allows; an explicit deny anywhere wins.
    pub fn evaluate(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        for (_, policy) in &self.layers {
            policy.inner.check_request(request)?;
        }
        let mut allow = None;
        let mut implicit = None;
        for (i, (_, policy)) in self.layers.iter().enumerate() {
            let decision = policy.inner.decide(request, i as u16);
            match decision.outcome {
                Outcome::ExplicitDeny => return Ok(decision),
                Outcome::Allow => allow = Some(decision),
                Outcome::ImplicitDeny => {
                    implicit.get_or_insert(decision);
                }
            }
        }
        Ok(match (implicit, allow) {
            (Some(deny), _) => deny,
            (None, Some(allow)) => allow,
            (None, None) => Decision::deny(),
        })
    }

    /// Whether every layer decides on the principal, the method and the path alone.
    #[inline]
    pub(crate) fn memoizable(&self) -> bool {
        self.layers.iter().all(|(_, p)| p.inner.static_inputs)
    }

    /// The policy and `Sid` behind a decision, for logs.
    pub(crate) fn describe(
        &self,
        decision: &Decision,
    ) -> (Option<&str>, Option<&Policy>, Option<&str>) {
        match self.layers.get(decision.layer()) {
            Some((name, policy)) => (
                Some(name.as_str()),
                Some(policy),
                decision.statement().and_then(|i| policy.sid(i)),
            ),
            None => (None, None, None),
        }
    }
}

impl From<Policy> for PolicySet {
    fn from(policy: Policy) -> Self {
        PolicySet::new().with_layer("policy", policy)
    }
}
