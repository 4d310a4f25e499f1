//! `explain`: the slow path that says, statement by statement, why a request is allowed or
//! denied. For tests, support and the command line; never on the request path.

use std::fmt;

use super::compiled::{Compiled, Decision, Policy};
use super::document::Effect;
use super::request::AuthzRequest;
use super::set::PolicySet;
use crate::error::AuthError;

/// What one statement made of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementExplanation {
    /// The layer's name in the [`PolicySet`].
    pub layer: String,
    /// The statement's index in its policy.
    pub index: usize,
    /// Its `Sid`.
    pub sid: Option<String>,
    /// Its effect.
    pub effect: Effect,
    /// Whether it applies to the request.
    pub applies: bool,
    /// Why it applies, or the first clause that does not hold.
    pub reason: String,
}

/// The decision for a request, with every statement's part in it.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The decision (as [`PolicySet::evaluate`] makes it).
    pub decision: Result<Decision, AuthError>,
    /// Every statement of every layer.
    pub statements: Vec<StatementExplanation>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.decision {
            Ok(d) => writeln!(f, "decision: {}", d.outcome().as_str())?,
            Err(e) => writeln!(f, "refused before evaluation: {e}")?,
        }
        for s in &self.statements {
            writeln!(
                f,
                "  [{}] #{} {} {:?}: {} ({})",
                s.layer,
                s.index,
                s.sid.as_deref().unwrap_or("-"),
                s.effect,
                if s.applies {
                    "applies"
                } else {
                    "does not apply"
                },
                s.reason
            )?;
        }
        Ok(())
    }
}

fn explain_layer(
    name: &str,
    compiled: &Compiled,
    request: &AuthzRequest<'_>,
    out: &mut Vec<StatementExplanation>,
) {
    for (index, s) in compiled.statements.iter().enumerate() {
        let reason = if !s.principal.matches(request.principal) {
            Some(format!(
                "{} does not match {}",
                if s.principal.not {
                    "NotPrincipal"
                } else {
                    "Principal"
                },
                request.principal.map_or("an anonymous caller", |p| p.arn())
            ))
        } else if !compiled.resource_matches(s, request) {
            Some(format!(
                "{} does not match path {:?}",
                if s.resource.not {
                    "NotResource"
                } else {
                    "Resource"
                },
                request.path
            ))
        } else {
            s.conditions
                .iter()
                .find(|c| !c.evaluate(request, &compiled.constants))
                .map(|c| {
                    format!(
                        "condition {} on {} is false (at {})",
                        c.op_name,
                        c.key.name(),
                        c.pointer
                    )
                })
        };
        out.push(StatementExplanation {
            layer: name.to_owned(),
            index,
            sid: s.sid.clone(),
            effect: s.effect,
            applies: reason.is_none(),
            reason: reason
                .unwrap_or_else(|| "principal, resource and every condition match".to_owned()),
        });
    }
}

impl PolicySet {
    /// Explains the decision for `request`, statement by statement.
    pub fn explain(&self, request: &AuthzRequest<'_>) -> Explanation {
        let mut statements = Vec::new();
        for (name, policy) in &self.layers {
            explain_layer(name, &policy.inner, request, &mut statements);
        }
        Explanation {
            decision: self.evaluate(request),
            statements,
        }
    }
}

impl Policy {
    /// Explains the decision for `request`, statement by statement.
    pub fn explain(&self, request: &AuthzRequest<'_>) -> Explanation {
        PolicySet::from(self.clone()).explain(request)
    }
}
