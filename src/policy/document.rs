//! Loading a policy document (AUTHZ §3, §5): the elements, their checks, and the lints.

use super::condition::{Condition, Family, ParseContext};
use super::error::{Lint, PolicyError, PolicyErrorCode};
use super::json::{Json, pointer_index, pointer_push};
use super::keys::Key;
use super::options::PolicyOptions;
use super::principal::PrincipalClause;
use super::values::{Pattern, PatternSyntax};

/// The most statements one policy may hold.
pub(crate) const MAX_STATEMENTS: usize = 256;
/// The largest document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// The deepest nesting of arrays and objects accepted.
pub(crate) const MAX_DEPTH: usize = 16;

/// The only action a request here performs.
pub(crate) const INVOKE: &str = "vpc-lattice-svcs:Invoke";

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies, whatever else allows.
    Deny,
}

/// A statement, checked and with its values pre-parsed.
#[derive(Clone, Debug)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: PrincipalClause,
    pub(crate) resource: ResourceClause,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) pointer: String,
}

/// A parsed `Resource` / `NotResource`.
#[derive(Clone, Debug)]
pub(crate) struct ResourceClause {
    pub(crate) not: bool,
    pub(crate) patterns: Vec<Pattern>,
    /// The JSON pointer of each pattern.
    pub(crate) pointers: Vec<String>,
    /// Each pattern specialized for the configured service ARN (filled in by the compiler).
    pub(crate) matchers: Vec<PathMatcher>,
    /// `"Resource": "*"` (or a list holding it): every resource.
    pub(crate) everything: bool,
}

/// Whether `needle` (non-empty) stands in `hay`: short needles in short paths, where a
/// first-byte scan beats a general substring search.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while let Some(found) = hay[i..=last_start].iter().position(|&b| b == first) {
        let at = i + found;
        if hay[at + 1..at + needle.len()]
            .iter()
            .zip(rest)
            .all(|(a, b)| a == b)
        {
            return true;
        }
        i = at + 1;
        if i > last_start {
            break;
        }
    }
    false
}

/// A resource pattern with the constant service ARN already consumed, so that a request only
/// looks at its path.
#[derive(Clone, Debug)]
pub(crate) enum PathMatcher {
    /// `*l*` where the service ARN contains `l`: every path matches.
    Always,
    /// `*l*` otherwise: the path contains `l`, or starts with `l[k..]` where the service ARN
    /// ends with `l[..k]` (for each `k` listed).
    Contains {
        needle: Box<str>,
        straddle: Box<[usize]>,
    },
    /// `*l`: the path ends with `l` (when the path is at least as long as `l`).
    Suffix(Box<str>),
    /// Anything else: the general glob over service ARN + path.
    General,
}

impl PathMatcher {
    pub(crate) fn new(pattern: &Pattern, service: &str) -> Self {
        if let Some(l) = pattern.contained_literal() {
            if service.contains(l) {
                return PathMatcher::Always;
            }
            let straddle = (1..l.len())
                .filter(|&k| l.is_char_boundary(k) && service.ends_with(&l[..k]))
                .collect();
            return PathMatcher::Contains {
                needle: l.into(),
                straddle,
            };
        }
        match pattern.suffix_literal() {
            Some(l) => PathMatcher::Suffix(l.into()),
            None => PathMatcher::General,
        }
    }

    /// `Some(matched)`, or `None` when the general glob must decide.
    pub(crate) fn matches(&self, path: &str) -> Option<bool> {
        match self {
            PathMatcher::Always => Some(true),
            PathMatcher::Contains { needle, straddle } => Some(
                contains(path.as_bytes(), needle.as_bytes())
                    || straddle.iter().any(|&k| path.starts_with(&needle[k..])),
            ),
            PathMatcher::Suffix(l) if path.len() >= l.len() => Some(path.ends_with(&**l)),
            PathMatcher::Suffix(_) | PathMatcher::General => None,
        }
    }
}

impl ResourceClause {
    /// Whether every resource matches (`"Resource": "*"`).
    pub(crate) fn is_everything(&self) -> bool {
        self.everything
    }
}

/// A loaded document: statements and lints.
pub(crate) struct Loaded {
    pub(crate) statements: Vec<Statement>,
    pub(crate) lints: Vec<Lint>,
    pub(crate) id: Option<String>,
}

fn malformed(pointer: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::new(PolicyErrorCode::Malformed, pointer, message)
}

/// Loads a parsed document.
pub(crate) fn load(doc: &Json, options: &PolicyOptions) -> Result<Loaded, PolicyError> {
    let Json::Object(members) = doc else {
        return Err(malformed("", "a policy is a JSON object"));
    };
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for (name, value) in members {
        let at = pointer_push("", name);
        match name.as_str() {
            "Version" => match value {
                Json::String(v) if v == "2012-10-17" || v == "2008-10-17" => {
                    version = Some(v.as_str());
                }
                _ => {
                    return Err(PolicyError::new(
                        PolicyErrorCode::BadValue,
                        at,
                        "Version is \"2012-10-17\" (or \"2008-10-17\")",
                    ));
                }
            },
            "Id" => match value {
                Json::String(v) => id = Some(v.clone()),
                _ => return Err(malformed(&at, "Id is a string")),
            },
            "Statement" => statement = Some(value),
            _ => return Err(unknown_element(name, &at, &["Version", "Id", "Statement"])),
        }
    }
    // Policy variables exist only in 2012-10-17 documents; before, `${…}` is literal text.
    let variables = version == Some("2012-10-17");
    let statement = statement.ok_or_else(|| malformed("", "no Statement"))?;
    let items: Vec<(&Json, String)> = match statement {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| (s, pointer_index("/Statement", i)))
            .collect(),
        Json::Object(_) => vec![(statement, "/Statement".to_owned())],
        other => {
            return Err(malformed(
                "/Statement",
                format!(
                    "Statement is an object or an array, not {}",
                    other.type_name()
                ),
            ));
        }
    };
    if items.is_empty() {
        return Err(malformed("/Statement", "no statements"));
    }
    if items.len() > MAX_STATEMENTS {
        return Err(PolicyError::new(
            PolicyErrorCode::TooLarge,
            "/Statement",
            format!("{} statements; at most {MAX_STATEMENTS}", items.len()),
        ));
    }
    let ctx = ParseContext { options, variables };
    let mut statements = Vec::with_capacity(items.len());
    let mut lints = Vec::new();
    for (value, at) in items {
        let statement = load_statement(value, &at, &ctx, &mut lints)?;
        if let Some(sid) = &statement.sid
            && statements
                .iter()
                .any(|s: &Statement| s.sid.as_deref() == Some(sid.as_str()))
        {
            return Err(PolicyError::new(
                PolicyErrorCode::DuplicateSid,
                pointer_push(&at, "Sid"),
                format!("Sid {sid:?} is used by another statement"),
            ));
        }
        statements.push(statement);
    }
    for sid in &options.public_sids {
        if !statements.iter().any(|s| s.sid.as_deref() == Some(sid)) {
            lints.push(Lint::new(
                "lint.public_sid_unused",
                "",
                format!("public Sid {sid:?} names no statement"),
            ));
        }
    }
    if !statements.iter().any(|s| s.effect == Effect::Allow) {
        lints.push(Lint::new(
            "lint.no_allow",
            "/Statement",
            "no statement allows anything: every request is denied",
        ));
    }
    Ok(Loaded {
        statements,
        lints,
        id,
    })
}

fn unknown_element(name: &str, at: &str, known: &[&str]) -> PolicyError {
    let hint = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| format!(" (element names are case-sensitive: {k})"))
        .unwrap_or_default();
    malformed(at, format!("unknown element {name:?}{hint}"))
}

/// The string-or-array-of-strings shape IAM allows for `Action` and `Resource`.
fn strings<'a>(value: &'a Json, at: &str) -> Result<Vec<(&'a str, String)>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![(s.as_str(), at.to_owned())]),
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Json::String(s) => Ok((s.as_str(), pointer_index(at, i))),
                other => Err(malformed(
                    &pointer_index(at, i),
                    format!("a string, not {}", other.type_name()),
                )),
            })
            .collect(),
        Json::Array(_) => Err(malformed(at, "an empty list")),
        other => Err(malformed(
            at,
            format!("a string or a list of strings, not {}", other.type_name()),
        )),
    }
}

fn load_statement(
    value: &Json,
    at: &str,
    ctx: &ParseContext<'_>,
    lints: &mut Vec<Lint>,
) -> Result<Statement, PolicyError> {
    let Json::Object(members) = value else {
        return Err(malformed(at, "a statement is a JSON object"));
    };
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut action = None;
    let mut resource = None;
    let mut condition = None;
    const KNOWN: &[&str] = &[
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    for (name, value) in members {
        let el = pointer_push(at, name);
        let twice = |what: &str| {
            Err(malformed(
                &el,
                format!("a statement has exactly one of {what}"),
            ))
        };
        match name.as_str() {
            "Sid" => match value {
                Json::String(s)
                    if !s.is_empty()
                        && s.len() <= 128
                        && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
                {
                    sid = Some(s.clone());
                }
                _ => {
                    return Err(PolicyError::new(
                        PolicyErrorCode::BadValue,
                        el,
                        "Sid is 1 to 128 printable ASCII characters",
                    ));
                }
            },
            "Effect" => match value {
                Json::String(s) if s == "Allow" => effect = Some(Effect::Allow),
                Json::String(s) if s == "Deny" => effect = Some(Effect::Deny),
                _ => {
                    return Err(PolicyError::new(
                        PolicyErrorCode::BadValue,
                        el,
                        "Effect is \"Allow\" or \"Deny\" (exact case)",
                    ));
                }
            },
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return twice("Principal or NotPrincipal");
                }
                principal = Some((name == "NotPrincipal", value, el));
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return twice("Action or NotAction");
                }
                action = Some((name == "NotAction", value, el));
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return twice("Resource or NotResource");
                }
                resource = Some((name == "NotResource", value, el));
            }
            "Condition" => condition = Some((value, el)),
            _ => return Err(unknown_element(name, &el, KNOWN)),
        }
    }
    let effect = effect.ok_or_else(|| malformed(at, "no Effect"))?;
    let (not_principal, principal_value, principal_at) = principal.ok_or_else(|| {
        PolicyError::new(
            PolicyErrorCode::Principal,
            at,
            "no Principal: a resource policy names who it applies to",
        )
    })?;
    if not_principal && effect == Effect::Allow {
        return Err(PolicyError::new(
            PolicyErrorCode::Principal,
            principal_at,
            "NotPrincipal is accepted with Deny only (Allow with NotPrincipal lets in everyone else)",
        ));
    }
    let principal = PrincipalClause::parse(
        not_principal,
        principal_value,
        &principal_at,
        &ctx.options.default_partition,
    )?;
    for (role, at) in &principal.role_paths {
        lints.push(Lint::new(
            "lint.role_path",
            at,
            format!(
                "{role:?} has a path, which STS does not report: it matches the role by name alone"
            ),
        ));
    }

    let (not_action, action_value, action_at) =
        action.ok_or_else(|| malformed(at, "no Action or NotAction"))?;
    let mut invokes = false;
    for (text, a) in strings(action_value, &action_at)? {
        if text.contains("${") && ctx.variables {
            return Err(PolicyError::new(
                PolicyErrorCode::Variable,
                a,
                "IAM allows no policy variables in Action",
            ));
        }
        let no_vars = |_: &str| None;
        let pattern = Pattern::parse(
            text,
            PatternSyntax {
                wildcards: true,
                variables: false,
            },
            &no_vars,
        )
        .map_err(|e| PolicyError::new(PolicyErrorCode::BadValue, a.as_str(), e.to_string()))?;
        if text != "*" && !text.contains(':') {
            return Err(PolicyError::new(
                PolicyErrorCode::BadValue,
                a,
                format!("{text:?} is not SERVICE:ACTION"),
            ));
        }
        invokes |= pattern.matches(INVOKE, true, &|_| None) == Some(true);
    }
    if invokes == not_action {
        return Err(PolicyError::new(
            PolicyErrorCode::ActionNeverApplies,
            action_at,
            format!("this statement can never apply: requests here are {INVOKE}"),
        ));
    }

    let (not_resource, resource_value, resource_at) =
        resource.ok_or_else(|| malformed(at, "no Resource or NotResource"))?;
    let mut patterns = Vec::new();
    let mut pointers = Vec::new();
    for (text, r) in strings(resource_value, &resource_at)? {
        patterns.push(resource_pattern(text, &r, ctx)?);
        pointers.push(r);
    }
    let everything = !not_resource && patterns.iter().any(|p| p.source() == "*");
    let resource = ResourceClause {
        not: not_resource,
        patterns,
        pointers,
        matchers: Vec::new(),
        everything,
    };

    let mut conditions = Vec::new();
    if let Some((value, cond_at)) = condition {
        let Json::Object(blocks) = value else {
            return Err(malformed(&cond_at, "Condition is an object"));
        };
        for (op_name, keys) in blocks {
            let Json::Object(keys) = keys else {
                return Err(malformed(
                    &pointer_push(&cond_at, op_name),
                    "an operator maps condition keys to values",
                ));
            };
            if keys.is_empty() {
                return Err(malformed(
                    &pointer_push(&cond_at, op_name),
                    "an operator with no condition key",
                ));
            }
            for (key_name, values) in keys {
                let condition = ctx.condition(op_name, key_name, values, &cond_at)?;
                // The same key twice under one operator with different case is a duplicate
                // (key names are case-insensitive).
                if conditions
                    .iter()
                    .any(|c: &Condition| c.op_name == *op_name && c.key == condition.key)
                {
                    return Err(PolicyError::new(
                        PolicyErrorCode::DuplicateKey,
                        condition.pointer,
                        format!(
                            "{key_name:?} appears twice under {op_name} (key names are case-insensitive)"
                        ),
                    ));
                }
                conditions.push(condition);
            }
        }
    }

    let statement = Statement {
        sid: sid.clone(),
        effect,
        principal,
        resource,
        conditions,
        pointer: at.to_owned(),
    };
    lint_statement(&statement, lints);
    if effect == Effect::Allow
        && statement.principal.is_wildcard()
        && !statement.conditions.iter().any(Condition::pins_principal)
        && !sid
            .as_ref()
            .is_some_and(|s| ctx.options.public_sids.contains(s))
    {
        return Err(PolicyError::new(
            PolicyErrorCode::UnpinnedAllow,
            principal_at,
            "this Allow admits every caller of every AWS account: pin an account, ARN or unique id \
             (Principal, or a condition on aws:PrincipalAccount / aws:PrincipalArn / aws:userid), \
             or list its Sid with PolicyOptions::public_sid if it is meant to be public",
        ));
    }
    Ok(statement)
}

/// A `Resource` entry: `*`, `*/PATH-GLOB`, or the configured service ARN followed by a path.
fn resource_pattern(text: &str, at: &str, ctx: &ParseContext<'_>) -> Result<Pattern, PolicyError> {
    let refuse = |why: String| Err(PolicyError::new(PolicyErrorCode::Resource, at, why));
    if text != "*" && !text.starts_with("*/") {
        let Some(service) = ctx.options.service_arn.as_deref() else {
            return refuse(format!(
                "{text:?}: without a configured service ARN (PolicyOptions::service_arn), a resource is \"*\" or \"*/PATH\""
            ));
        };
        if !text.starts_with("arn:") {
            return refuse(format!("{text:?} is not \"*\", \"*/PATH\" or an ARN"));
        }
        // A pattern for another service would never match: refuse it rather than ignore it.
        // Compare the literal prefix with the service ARN byte by byte; where the prefix runs
        // past the ARN, the next character must start the path or a wildcard (`svc-1ab` is
        // another service than `svc-1`); a literal shorter than the ARN names another one.
        let literal_len = text
            .bytes()
            .position(|b| matches!(b, b'*' | b'?' | b'$'))
            .unwrap_or(text.len());
        let (literal, service) = (&text.as_bytes()[..literal_len], service.as_bytes());
        let common = literal.len().min(service.len());
        let same_service = literal[..common] == service[..common]
            && match literal.len().cmp(&service.len()) {
                std::cmp::Ordering::Less => literal_len < text.len(),
                std::cmp::Ordering::Equal => true,
                std::cmp::Ordering::Greater => literal[service.len()] == b'/',
            };
        if !same_service {
            return refuse(format!(
                "{text:?} names another service than the configured {:?}",
                ctx.options.service_arn.as_deref().unwrap_or_default()
            ));
        }
    }
    let options = ctx.options;
    let lookup = |name: &str| Key::variable_id(name, options);
    Pattern::parse(
        text,
        PatternSyntax {
            wildcards: true,
            variables: ctx.variables,
        },
        &lookup,
    )
    .map_err(|e| PolicyError::new(PolicyErrorCode::Variable, at, e.to_string()))
}

fn lint_statement(statement: &Statement, lints: &mut Vec<Lint>) {
    for c in &statement.conditions {
        let sources = c.value_sources();
        if c.op.family == Family::String && !c.op.like && sources.iter().any(|s| s.contains('*')) {
            lints.push(Lint::new(
                "lint.literal_wildcard",
                &c.pointer,
                format!(
                    "{} compares '*' literally; use StringLike for a wildcard",
                    c.op_name
                ),
            ));
        }
        if c.key == Key::RequestPath && c.op.like {
            for s in &sources {
                if let Some(prefix) = s.strip_suffix("/*")
                    && !prefix.is_empty()
                    && !sources.contains(&prefix)
                {
                    lints.push(Lint::new(
                        "lint.path_prefix",
                        &c.pointer,
                        format!("{s:?} does not match {prefix:?} itself; add it if it is meant"),
                    ));
                }
            }
        }
        if statement.effect == Effect::Allow
            && c.op.negated
            && !c.op.if_exists
            && c.key.can_be_absent()
        {
            lints.push(Lint::new(
                "lint.negated_absent",
                &c.pointer,
                format!(
                    "{} is true when {} is absent, so this Allow admits requests without it",
                    c.op_name,
                    c.key.name()
                ),
            ));
        }
    }
    if statement.effect == Effect::Allow
        && !statement.conditions.is_empty()
        && statement.principal.is_wildcard()
        && statement
            .conditions
            .iter()
            .all(|c| c.key.caller_controlled())
    {
        lints.push(Lint::new(
            "lint.caller_controlled",
            &statement.pointer,
            "this Allow is conditioned only on what the caller chooses (headers, query, session name, method, path)",
        ));
    }
    for (pattern, at) in statement
        .resource
        .patterns
        .iter()
        .zip(&statement.resource.pointers)
    {
        if let Some(prefix) = pattern.source().strip_suffix("/*")
            && !prefix.ends_with('*')
            && !statement
                .resource
                .patterns
                .iter()
                .any(|p| p.source() == prefix)
        {
            lints.push(Lint::new(
                "lint.path_prefix",
                at,
                format!(
                    "{:?} does not match {prefix:?} itself; add it if it is meant",
                    pattern.source()
                ),
            ));
        }
    }
}
