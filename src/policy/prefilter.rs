//! [`Prefilter`]: per statement, a few necessary conditions packed in one small, contiguous
//! record (the methods it admits, a literal its path must contain or end with), so that the
//! evaluator skips most statements without following a pointer.
//!
//! A prefilter is only ever a necessary condition: when it passes, the statement is checked in
//! full; when it fails, the statement cannot apply.

use http::Method;

use super::condition::{Family, SetOp, Values};
use super::document::{PathMatcher, Statement};
use super::keys::Key;

const NEEDLE: usize = 32;
/// Every method bit set.
const ALL_METHODS: u16 = u16::MAX;

#[derive(Clone, Copy, Debug)]
enum PathKind {
    Any,
    Contains,
    Suffix,
}

/// The packed necessary conditions of one statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prefilter {
    methods: u16,
    kind: PathKind,
    len: u8,
    needle: [u8; NEEDLE],
}

/// The bit of a method: the standard ones have their own, extension methods share the last.
pub(crate) fn method_bit(method: &str) -> u16 {
    1 << match method {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "PATCH" => 5,
        "OPTIONS" => 6,
        "CONNECT" => 7,
        "TRACE" => 8,
        _ => 15,
    }
}

impl Prefilter {
    pub(crate) fn new(statement: &Statement) -> Self {
        let mut methods = ALL_METHODS;
        for c in &statement.conditions {
            let plain_equals = c.key == Key::RequestMethod
                && c.op.family == Family::String
                && !c.op.negated
                && !c.op.if_exists
                && !c.op.ignore_case
                && c.op.set == SetOp::None;
            let Values::Strings(values) = &c.values else {
                continue;
            };
            if !plain_equals {
                continue;
            }
            // Wildcards are literal in StringEquals, so every value is literal text unless it
            // holds a variable.
            let literals: Option<Vec<&str>> = values.iter().map(|p| p.literal()).collect();
            if let Some(literals) = literals {
                methods &= literals.iter().fold(0, |mask, m| mask | method_bit(m));
            }
        }
        let mut prefilter = Prefilter {
            methods,
            kind: PathKind::Any,
            len: 0,
            needle: [0; NEEDLE],
        };
        let resource = &statement.resource;
        if let ([matcher], false) = (&resource.matchers[..], resource.not) {
            let (kind, needle) = match matcher {
                PathMatcher::Contains { needle, straddle } if straddle.is_empty() => {
                    (PathKind::Contains, needle)
                }
                PathMatcher::Suffix(needle) => (PathKind::Suffix, needle),
                _ => return prefilter,
            };
            if needle.len() <= NEEDLE && !needle.is_empty() {
                prefilter.kind = kind;
                prefilter.len = needle.len() as u8;
                prefilter.needle[..needle.len()].copy_from_slice(needle.as_bytes());
            }
        }
        prefilter
    }

    /// Whether the statement may apply to a request with this method bit and path.
    #[inline]
    pub(crate) fn admits(&self, method_bit: u16, path: &[u8]) -> bool {
        if self.methods & method_bit == 0 {
            return false;
        }
        let needle = &self.needle[..usize::from(self.len)];
        match self.kind {
            PathKind::Any => true,
            // A suffix may also be satisfied by the service ARN when the path is shorter: the
            // full check decides those.
            PathKind::Suffix => path.len() < needle.len() || path.ends_with(needle),
            PathKind::Contains => {
                path.len() >= needle.len() && path.windows(needle.len()).any(|w| w == needle)
            }
        }
    }
}

/// The method bit of a request.
pub(crate) fn request_method_bit(method: &Method) -> u16 {
    method_bit(method.as_str())
}
