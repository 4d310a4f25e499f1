//! [`Policy`]: a loaded document compiled for evaluation (AUTHZ §6).
//!
//! An index maps principal facts (partition + account, + lower-cased role name, session, user
//! ARN, unique id) to a bit set of candidate statements, so that a request probes a few hash
//! maps instead of scanning every statement. Deny candidates are tried first, then allow.
//! Nothing on this path allocates.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use super::condition::Condition;
use super::document::{self, Effect, MAX_DEPTH, MAX_POLICY_BYTES, Statement};
use super::error::{Lint, PolicyError, PolicyErrorCode};
use super::json::{self, Json, JsonErrorKind};
use super::options::PolicyOptions;
use super::principal::PrincipalEntry;
use super::request::{AuthzRequest, KeyConstants, check_canonical_path};
use crate::arn::PrincipalKind;
use crate::error::{AuthError, ReasonCode};
use crate::principal::IamPrincipal;

/// A set of statement indexes (at most [`document::MAX_STATEMENTS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits([u64; 4]);

impl Bits {
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn union(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn and(&self, other: &Bits) -> Bits {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        out
    }

    fn iter(self) -> BitsIter {
        BitsIter {
            words: self.0,
            word: 0,
        }
    }
}

/// The set bits of a [`Bits`], lowest first.
struct BitsIter {
    words: [u64; 4],
    word: usize,
}

impl Iterator for BitsIter {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.word < 4 {
            let w = self.words[self.word];
            if w != 0 {
                self.words[self.word] = w & (w - 1);
                return Some(self.word * 64 + w.trailing_zeros() as usize);
            }
            self.word += 1;
        }
        None
    }
}

/// Index keys: a 64-bit hash of a tagged tuple, role names folded to lower case. A collision
/// only adds a candidate; every candidate is checked exactly.
type IndexKey = u64;

#[derive(Clone, Default)]
struct Hashing(foldhash::fast::FixedState);

impl Hashing {
    fn key(&self, tag: u8, parts: &[&str], fold_last: bool) -> IndexKey {
        let mut h = self.0.build_hasher();
        h.write_u8(tag);
        for (i, part) in parts.iter().enumerate() {
            if fold_last && i + 1 == parts.len() {
                for b in part.bytes() {
                    h.write_u8(b.to_ascii_lowercase());
                }
            } else {
                h.write(part.as_bytes());
            }
            h.write_u8(0xff);
        }
        h.finish()
    }
}

const TAG_ACCOUNT: u8 = 1;
const TAG_ROLE: u8 = 2;
const TAG_SESSION: u8 = 3;
const TAG_USER: u8 = 4;
const TAG_UNIQUE_ID: u8 = 5;

/// The decision of one policy (or policy set) for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub(crate) outcome: Outcome,
    pub(crate) layer: u16,
    pub(crate) statement: Option<u16>,
}

/// What a [`Decision`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A statement allows, and none denies.
    Allow,
    /// A statement denies.
    ExplicitDeny,
    /// Nothing allows.
    ImplicitDeny,
}

impl Outcome {
    /// `allow`, `explicit_deny` or `implicit_deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::ExplicitDeny => "explicit_deny",
            Outcome::ImplicitDeny => "implicit_deny",
        }
    }
}

impl Decision {
    /// An allow not tied to a statement (for custom [`Authorize`](super::Authorize) impls).
    pub const fn allow() -> Self {
        Decision {
            outcome: Outcome::Allow,
            layer: 0,
            statement: None,
        }
    }

    /// A deny not tied to a statement (for custom [`Authorize`](super::Authorize) impls).
    pub const fn deny() -> Self {
        Decision {
            outcome: Outcome::ImplicitDeny,
            layer: 0,
            statement: None,
        }
    }

    /// What the decision says.
    #[inline]
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Whether the request may proceed.
    #[inline]
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// The index of the layer of a [`PolicySet`](super::PolicySet) that decided (0 for a single policy).
    pub fn layer(&self) -> usize {
        usize::from(self.layer)
    }

    /// The index of the deciding statement, if one decided.
    pub fn statement(&self) -> Option<usize> {
        self.statement.map(usize::from)
    }
}

pub(crate) struct Compiled {
    pub(crate) source: Json,
    pub(crate) statements: Vec<Statement>,
    pub(crate) lints: Vec<Lint>,
    pub(crate) id: String,
    pub(crate) hash: String,
    pub(crate) constants: KeyConstants,
    /// Statements that apply to any caller as far as the index goes (`*`, `NotPrincipal`).
    any: Bits,
    deny: Bits,
    /// Principal entries by the hash of their facts; a probe checks each entry exactly, so a
    /// statement reached through the index needs no principal check of its own.
    index: HashMap<IndexKey, Vec<(PrincipalEntry, Bits)>, foldhash::fast::FixedState>,
    /// Which index tags have entries (bit `1 << tag`): probes for the others are skipped.
    tags: u8,
    hashing: Hashing,
    /// Whether any statement looks at the path (so it must be canonical).
    pub(crate) reads_path: bool,
    /// Headers some condition reads (each must arrive at most once).
    pub(crate) read_headers: Vec<http::HeaderName>,
    reads_source_ip: bool,
    reads_route: bool,
    /// Whether decisions depend only on the principal, the method and the path (and constants),
    /// so that they can be remembered.
    pub(crate) static_inputs: bool,
    /// Per statement, the packed necessary conditions tried before the full check.
    prefilters: Vec<super::prefilter::Prefilter>,
}

/// An IAM policy document, loaded, checked and compiled. Cloning is cheap.
///
/// A document means what it would mean as an AWS VPC Lattice auth policy, or it is refused at
/// load with a [`PolicyError`]. See the [module documentation](super) for the grammar.
#[derive(Clone)]
pub struct Policy {
    pub(crate) inner: Arc<Compiled>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("id", &self.inner.id)
            .field("hash", &self.inner.hash)
            .field("statements", &self.inner.statements.len())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Loads a JSON policy document with the default [`PolicyOptions`].
    pub fn from_json(json: &str) -> Result<Policy, PolicyError> {
        Self::from_json_with(json, &PolicyOptions::default())
    }

    /// Loads a JSON policy document.
    pub fn from_json_with(json: &str, options: &PolicyOptions) -> Result<Policy, PolicyError> {
        let doc = json::parse(json, MAX_POLICY_BYTES, MAX_DEPTH).map_err(|e| {
            let code = match e.kind {
                JsonErrorKind::Malformed => PolicyErrorCode::Malformed,
                JsonErrorKind::DuplicateKey => PolicyErrorCode::DuplicateKey,
                JsonErrorKind::TooLarge | JsonErrorKind::TooDeep => PolicyErrorCode::TooLarge,
            };
            PolicyError::new(code, e.pointer, e.message)
        })?;
        Self::from_document(doc, options)
    }

    pub(crate) fn from_document(doc: Json, options: &PolicyOptions) -> Result<Policy, PolicyError> {
        let loaded = document::load(&doc, options)?;
        Ok(Policy {
            inner: Arc::new(Compiled::new(doc, loaded, options)),
        })
    }

    /// The warnings found at load.
    pub fn lints(&self) -> &[Lint] {
        &self.inner.lints
    }

    /// The document as JSON (pretty, in its original order): for review, or to paste into
    /// VPC Lattice.
    pub fn to_json(&self) -> String {
        self.inner.source.to_string_pretty()
    }

    /// The document's `Id`, or its short hash when it has none.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// A short hash of the document, to tell versions apart in logs.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.inner.statements.len()
    }

    /// Whether the policy has no statements (never true for a loaded policy).
    pub fn is_empty(&self) -> bool {
        self.inner.statements.is_empty()
    }

    /// The `Sid` of statement `index`.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.inner.statements.get(index)?.sid.as_deref()
    }

    /// The effect of statement `index`.
    pub fn effect(&self, index: usize) -> Option<Effect> {
        Some(self.inner.statements.get(index)?.effect)
    }

    /// Whether a condition reads `aws:SourceIp`.
    pub(crate) fn reads_source_ip(&self) -> bool {
        self.inner.reads_source_ip
    }

    /// Whether a condition reads `tower-iam-auth:Route`.
    pub(crate) fn reads_route(&self) -> bool {
        self.inner.reads_route
    }

    /// Decides `request`. A path that is not canonical (when the policy reads the path) and a
    /// header the policy reads that arrives twice are refused (`400`) before evaluation.
    pub fn evaluate(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        self.inner.check_request(request)?;
        Ok(self.inner.decide(request, 0))
    }
}

impl Compiled {
    fn new(source: Json, mut loaded: document::Loaded, options: &PolicyOptions) -> Self {
        let service = options
            .service_arn
            .as_deref()
            .unwrap_or(PLACEHOLDER_SERVICE);
        for statement in &mut loaded.statements {
            statement.resource.matchers = statement
                .resource
                .patterns
                .iter()
                .map(|p| document::PathMatcher::new(p, service))
                .collect();
        }
        let hashing = Hashing::default();
        let mut any = Bits::default();
        let mut deny = Bits::default();
        let mut index: HashMap<IndexKey, Vec<(PrincipalEntry, Bits)>, _> = HashMap::default();
        let mut tags = 0u8;
        let mut reads_path = false;
        let mut read_headers = Vec::new();
        let mut reads_source_ip = false;
        let mut reads_route = false;
        let mut static_inputs = true;
        for (i, s) in loaded.statements.iter().enumerate() {
            if s.effect == Effect::Deny {
                deny.insert(i);
            }
            if s.principal.not || s.principal.is_wildcard() {
                any.insert(i);
            } else {
                for entry in &s.principal.entries {
                    let key = match entry {
                        PrincipalEntry::Any => unreachable_any(),
                        PrincipalEntry::Account { partition, account } => {
                            hashing.key(TAG_ACCOUNT, &[partition, account], false)
                        }
                        PrincipalEntry::Role {
                            partition,
                            account,
                            name,
                        } => hashing.key(TAG_ROLE, &[partition, account, name], true),
                        PrincipalEntry::Session {
                            partition,
                            account,
                            role,
                            session,
                        } => hashing.key(TAG_SESSION, &[partition, account, session, role], true),
                        PrincipalEntry::User { arn } => hashing.key(TAG_USER, &[arn], false),
                        PrincipalEntry::UniqueId(id) => hashing.key(TAG_UNIQUE_ID, &[id], false),
                    };
                    tags |= 1 << entry_tag(entry);
                    let bucket = index.entry(key).or_default();
                    match bucket.iter_mut().find(|(e, _)| e == entry) {
                        Some((_, bits)) => bits.insert(i),
                        None => {
                            let mut bits = Bits::default();
                            bits.insert(i);
                            bucket.push((entry.clone(), bits));
                        }
                    }
                }
            }
            reads_path |= !s.resource.is_everything();
            // What the statement reads: its condition keys, and the keys of the `${…}`
            // variables in its conditions' values and in its `Resource`.
            let variables = s
                .resource
                .patterns
                .iter()
                .flat_map(|p| p.variables())
                .chain(
                    s.conditions
                        .iter()
                        .flat_map(|c| c.variables.iter().copied()),
                )
                .map(|id| -> &super::keys::Key { super::keys::Key::from_variable_id(id) });
            let keys = s.conditions.iter().map(|c| &c.key);
            for key in keys.chain(variables) {
                use super::keys::Key as K;
                static_inputs &= matches!(
                    key,
                    K::PrincipalArn
                        | K::PrincipalAccount
                        | K::PrincipalType
                        | K::UserId
                        | K::Username
                        | K::SessionName
                        | K::RequestMethod
                        | K::RequestPath
                        | K::Anonymous
                        | K::Port
                        | K::ServiceArn
                        | K::ServiceNetworkArn
                );
                match key {
                    K::RequestPath => reads_path = true,
                    K::SourceIp => reads_source_ip = true,
                    K::Route => reads_route = true,
                    K::RequestHeader(h) if !read_headers.contains(h) => {
                        read_headers.push(h.clone());
                    }
                    _ => {}
                }
            }
        }
        let compact = source.to_string_compact();
        let hash = {
            // FNV-1a: an identifier for logs, not a security measure.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in compact.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}")[..12].to_owned()
        };
        for lint in &loaded.lints {
            tracing::warn!(target: "tower_iam_auth::policy", code = lint.code, pointer = %lint.pointer, "policy lint: {}", lint.message);
        }
        let prefilters = loaded
            .statements
            .iter()
            .map(super::prefilter::Prefilter::new)
            .collect();
        Compiled {
            id: loaded.id.clone().unwrap_or_else(|| hash.clone()),
            hash,
            source,
            statements: loaded.statements,
            lints: loaded.lints,
            constants: KeyConstants {
                service_arn: options.service_arn.clone(),
                service_network_arn: options.service_network_arn.clone(),
                port: options.port,
            },
            any,
            deny,
            index,
            tags,
            hashing,
            reads_path,
            read_headers,
            reads_source_ip,
            reads_route,
            static_inputs,
            prefilters,
        }
    }

    /// The checks made before evaluation (AUTHZ §7).
    pub(crate) fn check_request(&self, request: &AuthzRequest<'_>) -> Result<(), AuthError> {
        // A key that nobody supplies would read as absent and silently flip negated operators
        // and deny statements: refuse to decide instead (a policy reloaded into a layer that
        // does not supply it, or a layer built without the source).
        if self.reads_source_ip && !request.source_ip_declared {
            return Err(
                AuthError::new(ReasonCode::PolicyNotEnforceable).with_detail(
                    "the policy reads aws:SourceIp, and this layer names no source for it",
                ),
            );
        }
        if self.reads_route && !request.route_declared {
            return Err(AuthError::new(ReasonCode::PolicyNotEnforceable).with_detail(
                "the policy reads tower-iam-auth:Route, which only a PolicyLayer under route_layer supplies",
            ));
        }
        if self.reads_path {
            check_canonical_path(request.path)?;
        }
        for name in &self.read_headers {
            let mut values = request.headers.get_all(name).iter();
            if let (Some(first), second) = (values.next(), values.next()) {
                if second.is_some() {
                    return Err(AuthError::new(ReasonCode::RequestHeaderRepeated)
                        .with_detail(format!("{name} arrived more than once")));
                }
                if first.to_str().is_err() {
                    return Err(AuthError::new(ReasonCode::RequestHeaderRepeated)
                        .with_detail(format!("{name} is not visible ASCII")));
                }
            }
        }
        Ok(())
    }

    /// The candidate statements for this caller.
    fn candidates(&self, principal: Option<&IamPrincipal>) -> Bits {
        let mut bits = self.any;
        let Some(p) = principal else {
            return bits;
        };
        let h = &self.hashing;
        let (partition, account) = (p.partition(), p.account());
        let tags = self.tags;
        let has = |tag: u8| tags & (1 << tag) != 0;
        let mut probe = |key: IndexKey| {
            for (entry, found) in self.index.get(&key).map_or(&[][..], Vec::as_slice) {
                if entry.matches(principal) {
                    bits.union(found);
                }
            }
        };
        if has(TAG_ACCOUNT) {
            probe(h.key(TAG_ACCOUNT, &[partition, account], false));
        }
        match p.kind() {
            PrincipalKind::Role => {
                if has(TAG_ROLE) {
                    probe(h.key(TAG_ROLE, &[partition, account, p.name()], true));
                }
                if let Some(session) = p.session_name()
                    && has(TAG_SESSION)
                {
                    probe(h.key(TAG_SESSION, &[partition, account, session, p.name()], true));
                }
            }
            PrincipalKind::User if has(TAG_USER) => probe(h.key(TAG_USER, &[p.arn()], false)),
            _ => {}
        }
        if !p.principal_id().is_empty() && has(TAG_UNIQUE_ID) {
            probe(h.key(TAG_UNIQUE_ID, &[p.principal_id()], false));
        }
        bits
    }

    /// Evaluates after [`check_request`](Self::check_request): deny candidates first.
    pub(crate) fn decide(&self, request: &AuthzRequest<'_>, layer: u16) -> Decision {
        let candidates = self.candidates(request.principal);
        let method_bit = super::prefilter::request_method_bit(request.method);
        for i in candidates.and(&self.deny).iter() {
            if self.applies_to_candidate(i, request, method_bit) {
                return Decision {
                    outcome: Outcome::ExplicitDeny,
                    layer,
                    statement: Some(i as u16),
                };
            }
        }
        for i in candidates.iter() {
            if self.statements[i].effect == Effect::Allow
                && self.applies_to_candidate(i, request, method_bit)
            {
                return Decision {
                    outcome: Outcome::Allow,
                    layer,
                    statement: Some(i as u16),
                };
            }
        }
        Decision {
            outcome: Outcome::ImplicitDeny,
            layer,
            statement: None,
        }
    }

    /// Whether candidate `i` applies: statements reached through the index already match the
    /// principal (the probe checked the entry exactly); the others (`*`, `NotPrincipal`) are
    /// checked here.
    fn applies_to_candidate(&self, i: usize, request: &AuthzRequest<'_>, method_bit: u16) -> bool {
        if !self.prefilters[i].admits(method_bit, request.path.as_bytes()) {
            return false;
        }
        let s = &self.statements[i];
        (!self.any.contains(i) || s.principal.matches(request.principal))
            && self.resource_matches(s, request)
            && s.conditions
                .iter()
                .all(|c: &Condition| c.evaluate(request, &self.constants))
    }

    pub(crate) fn resource_matches(&self, s: &Statement, request: &AuthzRequest<'_>) -> bool {
        if s.resource.is_everything() {
            return true;
        }
        let constants = &self.constants;
        let vars = |id: u16| -> Option<&str> {
            request.string_value(super::keys::Key::from_variable_id(id), constants)
        };
        let service = constants
            .service_arn
            .as_deref()
            .unwrap_or(PLACEHOLDER_SERVICE);
        let mut matched = false;
        for (i, pattern) in s.resource.patterns.iter().enumerate() {
            let fast = s
                .resource
                .matchers
                .get(i)
                .and_then(|m| m.matches(request.path));
            let result = match fast {
                Some(hit) => Some(hit),
                None => pattern.matches_split(service, request.path, false, &vars),
            };
            match result {
                Some(true) => matched = true,
                Some(false) => {}
                // A policy variable whose key is absent: the statement does not apply, with
                // `Resource` or `NotResource` alike.
                None => return false,
            }
        }
        matched != s.resource.not
    }
}

/// The service part of a request's resource when no service ARN is configured: `*` and
/// `*/PATH` patterns match it, an ARN naming a real service does not.
pub(crate) const PLACEHOLDER_SERVICE: &str = "arn:aws:vpc-lattice:::service/unconfigured";

/// The index tag of an entry.
fn entry_tag(entry: &PrincipalEntry) -> u8 {
    match entry {
        PrincipalEntry::Any => 0,
        PrincipalEntry::Account { .. } => TAG_ACCOUNT,
        PrincipalEntry::Role { .. } => TAG_ROLE,
        PrincipalEntry::Session { .. } => TAG_SESSION,
        PrincipalEntry::User { .. } => TAG_USER,
        PrincipalEntry::UniqueId(_) => TAG_UNIQUE_ID,
    }
}

fn unreachable_any() -> IndexKey {
    // `*` entries make the statement a member of `any`, so they are never indexed.
    0
}
