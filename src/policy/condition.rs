//! Condition operators (AUTHZ §4): parsing `"Operator": {"key": values}` at load, and IAM's
//! evaluation rules per request.

use std::net::IpAddr;

use super::error::{PolicyError, PolicyErrorCode};
use super::json::{Json, pointer_index, pointer_push};
use super::keys::{Key, KeyType};
use super::options::PolicyOptions;
use super::request::{AuthzRequest, KeyConstants};
use super::values::{Decimal, IpNet, Pattern, PatternSyntax, parse_date};

/// The operator families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    String,
    Numeric,
    Date,
    Bool,
    Ip,
    Arn,
    Null,
}

/// `Equals`, `LessThan`...: the comparison of Numeric and Date operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetOp {
    None,
    AnyValue,
    AllValues,
}

/// A parsed operator name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) family: Family,
    pub(crate) negated: bool,
    pub(crate) ignore_case: bool,
    pub(crate) like: bool,
    pub(crate) cmp: Cmp,
    pub(crate) if_exists: bool,
    pub(crate) set: SetOp,
}

impl Operator {
    /// Parses an operator name exactly as IAM spells it (operator names are case-sensitive
    /// here: a mis-cased one is refused rather than guessed).
    pub(crate) fn parse(name: &str, pointer: &str) -> Result<Operator, PolicyError> {
        let unknown = |why: &str| {
            Err(PolicyError::new(
                PolicyErrorCode::UnknownOperator,
                pointer,
                format!("unknown condition operator {name:?}{why}"),
            ))
        };
        let (set, base) = match name.split_once(':') {
            None => (SetOp::None, name),
            Some(("ForAnyValue", rest)) => (SetOp::AnyValue, rest),
            Some(("ForAllValues", rest)) => (SetOp::AllValues, rest),
            Some(_) => return unknown(": the set prefixes are ForAnyValue: and ForAllValues:"),
        };
        let (base, if_exists) = match base.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (base, false),
        };
        let op = |family, negated, ignore_case, like, cmp| Operator {
            family,
            negated,
            ignore_case,
            like,
            cmp,
            if_exists,
            set,
        };
        use Cmp::*;
        use Family::*;
        let parsed = match base {
            "StringEquals" => op(String, false, false, false, Eq),
            "StringNotEquals" => op(String, true, false, false, Eq),
            "StringEqualsIgnoreCase" => op(String, false, true, false, Eq),
            "StringNotEqualsIgnoreCase" => op(String, true, true, false, Eq),
            "StringLike" => op(String, false, false, true, Eq),
            "StringNotLike" => op(String, true, false, true, Eq),
            "NumericEquals" => op(Numeric, false, false, false, Eq),
            "NumericNotEquals" => op(Numeric, true, false, false, Eq),
            "NumericLessThan" => op(Numeric, false, false, false, Lt),
            "NumericLessThanEquals" => op(Numeric, false, false, false, Le),
            "NumericGreaterThan" => op(Numeric, false, false, false, Gt),
            "NumericGreaterThanEquals" => op(Numeric, false, false, false, Ge),
            "DateEquals" => op(Date, false, false, false, Eq),
            "DateNotEquals" => op(Date, true, false, false, Eq),
            "DateLessThan" => op(Date, false, false, false, Lt),
            "DateLessThanEquals" => op(Date, false, false, false, Le),
            "DateGreaterThan" => op(Date, false, false, false, Gt),
            "DateGreaterThanEquals" => op(Date, false, false, false, Ge),
            "Bool" => op(Bool, false, false, false, Eq),
            "IpAddress" => op(Ip, false, false, false, Eq),
            "NotIpAddress" => op(Ip, true, false, false, Eq),
            "ArnEquals" | "ArnLike" => op(Arn, false, false, true, Eq),
            "ArnNotEquals" | "ArnNotLike" => op(Arn, true, false, true, Eq),
            "Null" if !if_exists => op(Null, false, false, false, Eq),
            "Null" => return unknown(": Null takes no IfExists"),
            "BinaryEquals" => {
                return unknown(": BinaryEquals applies to no key a request has here");
            }
            _ => return unknown(""),
        };
        Ok(parsed)
    }

    /// Whether this operator fits a key of type `key_type`.
    fn fits(&self, key_type: KeyType) -> bool {
        match self.family {
            Family::Null => true,
            Family::String => matches!(key_type, KeyType::String | KeyType::Arn),
            Family::Arn => key_type == KeyType::Arn,
            Family::Numeric => matches!(key_type, KeyType::Numeric | KeyType::NumericOrDate),
            Family::Date => matches!(key_type, KeyType::Date | KeyType::NumericOrDate),
            Family::Bool => key_type == KeyType::Bool,
            Family::Ip => key_type == KeyType::Ip,
        }
    }
}

/// An ARN pattern: six colon-separated parts, each matched on its own (`ArnLike` semantics), or
/// `*` for any ARN.
#[derive(Clone, Debug)]
pub(crate) enum ArnPattern {
    Any,
    Parts(Box<[Pattern; 6]>),
}

impl ArnPattern {
    fn matches<'v>(&self, value: &str, vars: &dyn Fn(u16) -> Option<&'v str>) -> Option<bool> {
        let ArnPattern::Parts(parts) = self else {
            return Some(true);
        };
        // The six fields, split by hand: the first five end at a ':', the last takes the rest.
        let bytes = value.as_bytes();
        let mut start = 0;
        for (n, part) in parts.iter().enumerate() {
            let end = if n == 5 {
                bytes.len()
            } else {
                match bytes[start..].iter().position(|&b| b == b':') {
                    Some(i) => start + i,
                    None => return Some(false),
                }
            };
            if !part.matches(&value[start..end], false, vars)? {
                return Some(false);
            }
            start = (end + 1).min(bytes.len());
        }
        Some(true)
    }

    fn variables(&self) -> impl Iterator<Item = u16> + '_ {
        let parts: &[Pattern] = match self {
            ArnPattern::Any => &[],
            ArnPattern::Parts(parts) => &parts[..],
        };
        parts.iter().flat_map(Pattern::variables)
    }

    /// The account field, when it is a literal (pins an account).
    fn literal_account(&self) -> Option<&str> {
        match self {
            ArnPattern::Any => None,
            ArnPattern::Parts(parts) => parts[4].literal().filter(|a| !a.is_empty()),
        }
    }

    /// The resource field's source text.
    fn resource_source(&self) -> Option<&str> {
        match self {
            ArnPattern::Any => None,
            ArnPattern::Parts(parts) => Some(parts[5].source()),
        }
    }
}

/// A number on an integer key, compared exactly (never as a float).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Number(Decimal);

impl Number {
    fn cmp_int(&self, value: i64) -> std::cmp::Ordering {
        // An i64 in decimal fits in 20 bytes; format it without allocating.
        let mut buf = [0u8; 24];
        let mut i = buf.len();
        let negative = value < 0;
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if negative {
            i -= 1;
            buf[i] = b'-';
        }
        let text = std::str::from_utf8(&buf[i..]).unwrap_or("0");
        Decimal::parse(text).map_or(std::cmp::Ordering::Equal, |d| d.cmp(&self.0))
    }
}

/// Pre-parsed condition values.
#[derive(Clone, Debug)]
pub(crate) enum Values {
    Strings(Vec<Pattern>),
    Numbers(Vec<Number>),
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Ips(Vec<IpNet>),
    Arns(Vec<ArnPattern>),
    Null(bool),
}

/// One `"Operator": {"key": values}` entry.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    pub(crate) op: Operator,
    pub(crate) op_name: String,
    pub(crate) key: Key,
    pub(crate) values: Values,
    pub(crate) pointer: String,
    /// Every policy variable the values use: if one is absent, the condition does not hold.
    pub(crate) variables: Vec<u16>,
}

/// The text form of a condition value: strings as they are, integers and booleans as written.
/// A JSON number with a fraction or exponent is `None`: it has passed through a float, which
/// may have changed it, and numbers are never compared as floats here.
fn value_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Context for parsing a condition block.
pub(crate) struct ParseContext<'a> {
    pub(crate) options: &'a PolicyOptions,
    pub(crate) variables: bool,
}

impl ParseContext<'_> {
    fn pattern(&self, src: &str, wildcards: bool, pointer: &str) -> Result<Pattern, PolicyError> {
        let options = self.options;
        let lookup = |name: &str| Key::variable_id(name, options);
        Pattern::parse(
            src,
            PatternSyntax {
                wildcards,
                variables: self.variables,
            },
            &lookup,
        )
        .map_err(|e| {
            PolicyError::new(
                PolicyErrorCode::Variable,
                pointer,
                format!("{e}: variables may name single-valued string keys of this policy"),
            )
        })
    }

    fn arn_pattern(&self, src: &str, pointer: &str) -> Result<ArnPattern, PolicyError> {
        if src == "*" {
            return Ok(ArnPattern::Any);
        }
        let parts = split_arn(src, self.variables);
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(PolicyError::new(
                PolicyErrorCode::BadValue,
                pointer,
                format!("{src:?} is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"),
            ));
        }
        let mut patterns = Vec::with_capacity(6);
        for part in parts {
            patterns.push(self.pattern(part, true, pointer)?);
        }
        let patterns: [Pattern; 6] = patterns
            .try_into()
            .map_err(|_| PolicyError::new(PolicyErrorCode::BadValue, pointer, "not an ARN"))?;
        Ok(ArnPattern::Parts(Box::new(patterns)))
    }

    /// Parses one condition block entry.
    pub(crate) fn condition(
        &self,
        op_name: &str,
        key_name: &str,
        values: &Json,
        pointer: &str,
    ) -> Result<Condition, PolicyError> {
        let op_pointer = pointer_push(pointer, op_name);
        let key_pointer = pointer_push(&op_pointer, key_name);
        let op = Operator::parse(op_name, &op_pointer)?;
        let key = Key::parse(key_name, self.options, &key_pointer)?;
        let mismatch = |why: String| {
            Err(PolicyError::new(
                PolicyErrorCode::TypeMismatch,
                key_pointer.as_str(),
                why,
            ))
        };
        if !op.fits(key.key_type()) {
            return mismatch(format!(
                "{op_name} does not apply to {key_name}, a {:?} key",
                key.key_type()
            ));
        }
        if op.family != Family::Null {
            match (op.set, key.multi_valued()) {
                (SetOp::None, true) => {
                    return mismatch(format!(
                        "{key_name} holds a set of values: use ForAnyValue:{op_name} or ForAllValues:{op_name}"
                    ));
                }
                (SetOp::AnyValue | SetOp::AllValues, false) => {
                    return mismatch(format!(
                        "{key_name} holds one value: ForAnyValue: and ForAllValues: apply to multi-valued keys only"
                    ));
                }
                _ => {}
            }
        } else if op.set != SetOp::None {
            return mismatch("Null takes no set prefix".to_owned());
        }

        let items: Vec<(&Json, String)> = match values {
            Json::Array(items) if items.is_empty() => {
                return Err(PolicyError::new(
                    PolicyErrorCode::BadValue,
                    key_pointer,
                    "a condition needs at least one value",
                ));
            }
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (v, pointer_index(&key_pointer, i)))
                .collect(),
            other => vec![(other, key_pointer.clone())],
        };
        let mut texts = Vec::with_capacity(items.len());
        for (value, at) in &items {
            let Some(text) = value_text(value) else {
                let (code, message) = match value {
                    Json::Number(_) => (
                        PolicyErrorCode::BadValue,
                        "write a number with a fraction or an exponent as a string (\"1.5\"): \
                         a JSON number goes through a float"
                            .to_owned(),
                    ),
                    _ => (
                        PolicyErrorCode::Malformed,
                        format!(
                            "a condition value is a string, number or boolean, not {}",
                            value.type_name()
                        ),
                    ),
                };
                return Err(PolicyError::new(code, at.as_str(), message));
            };
            texts.push((text, at.as_str()));
        }
        let bad = |at: &str, what: &str, text: &str| {
            Err(PolicyError::new(
                PolicyErrorCode::BadValue,
                at,
                format!("{text:?} is not {what}"),
            ))
        };
        let values = match op.family {
            Family::String => {
                let mut patterns = Vec::new();
                for (text, at) in &texts {
                    if key == Key::PrincipalArn {
                        check_principal_arn_value(text, at)?;
                    }
                    patterns.push(self.pattern(text, op.like, at)?);
                }
                Values::Strings(patterns)
            }
            Family::Arn => {
                let mut patterns = Vec::new();
                for (text, at) in &texts {
                    if key == Key::PrincipalArn {
                        check_principal_arn_value(text, at)?;
                    }
                    patterns.push(self.arn_pattern(text, at)?);
                }
                Values::Arns(patterns)
            }
            Family::Numeric => {
                let mut numbers = Vec::new();
                for (text, at) in &texts {
                    match Decimal::parse(text) {
                        Some(d) => numbers.push(Number(d)),
                        None => return bad(at, "a number", text),
                    }
                }
                Values::Numbers(numbers)
            }
            Family::Date => {
                let mut dates = Vec::new();
                for (text, at) in &texts {
                    match parse_date(text) {
                        Some(d) => dates.push(d),
                        None => return bad(at, "an ISO 8601 date or epoch seconds", text),
                    }
                }
                Values::Dates(dates)
            }
            Family::Bool => {
                let mut bools = Vec::new();
                for (text, at) in &texts {
                    match text.as_str() {
                        "true" => bools.push(true),
                        "false" => bools.push(false),
                        _ => return bad(at, "true or false", text),
                    }
                }
                Values::Bools(bools)
            }
            Family::Ip => {
                let mut nets = Vec::new();
                for (text, at) in &texts {
                    match IpNet::parse(text) {
                        Some(net) => nets.push(net),
                        None => {
                            return bad(at, "an IP address or CIDR without host bits", text);
                        }
                    }
                }
                Values::Ips(nets)
            }
            Family::Null => {
                let [(text, at)] = texts.as_slice() else {
                    return Err(PolicyError::new(
                        PolicyErrorCode::BadValue,
                        key_pointer,
                        "Null takes one value, true or false",
                    ));
                };
                match text.as_str() {
                    "true" => Values::Null(true),
                    "false" => Values::Null(false),
                    _ => return bad(at, "true or false", text),
                }
            }
        };
        let mut variables: Vec<u16> = match &values {
            Values::Strings(v) => v.iter().flat_map(Pattern::variables).collect(),
            Values::Arns(v) => v.iter().flat_map(ArnPattern::variables).collect(),
            _ => Vec::new(),
        };
        variables.sort_unstable();
        variables.dedup();
        Ok(Condition {
            op,
            op_name: op_name.to_owned(),
            key,
            values,
            pointer: key_pointer,
            variables,
        })
    }
}

/// Splits an ARN pattern into at most six colon-separated fields, keeping `${…}` variables whole
/// (`${aws:PrincipalAccount}` has a colon of its own).
fn split_arn(src: &str, variables: bool) -> Vec<&str> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0;
    let mut depth = false;
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() && parts.len() < 5 {
        match bytes[i] {
            b'$' if variables && bytes.get(i + 1) == Some(&b'{') => {
                depth = true;
                i += 1;
            }
            b'}' if depth => depth = false,
            b':' if !depth => {
                parts.push(&src[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&src[start..]);
    parts
}

/// A pattern on `aws:PrincipalArn` that names a role path can never match: the ARN we know
/// has none (STS does not report it).
fn check_principal_arn_value(text: &str, at: &str) -> Result<(), PolicyError> {
    let resource = text.splitn(6, ':').nth(5).unwrap_or_default();
    if let Some(rest) = resource.strip_prefix("role/")
        && rest.contains('/')
    {
        return Err(PolicyError::new(
            PolicyErrorCode::NeedsRolePath,
            at,
            format!(
                "{text:?} needs a role path, which STS does not report: aws:PrincipalArn is arn:P:iam::A:role/NAME; match the role name, or pin the role's unique id"
            ),
        ));
    }
    Ok(())
}

impl Condition {
    /// Whether this condition pins the caller to an account, an ARN with a literal account, or
    /// a unique id (for the `policy.unpinned_allow` rule).
    pub(crate) fn pins_principal(&self) -> bool {
        let positive = !self.op.negated
            && !self.op.if_exists
            && self.op.set == SetOp::None
            && self.op.family != Family::Null;
        if !positive {
            return false;
        }
        match (&self.key, &self.values) {
            (Key::PrincipalAccount, Values::Strings(values)) => values
                .iter()
                .all(|p| p.literal().is_some_and(|a| !a.is_empty())),
            (Key::PrincipalArn, Values::Arns(values)) => {
                values.iter().all(|p| p.literal_account().is_some())
            }
            // A string pattern's `*` spans `:`, so every field up to the account must be literal
            // for the account field to mean what it seems to.
            (Key::PrincipalArn, Values::Strings(values)) => values.iter().all(|p| {
                let fields: Vec<&str> = p.source().splitn(6, ':').collect();
                fields.len() == 6
                    && !fields[4].is_empty()
                    && !fields[..5].iter().any(|f| f.contains(['*', '?', '$']))
            }),
            (Key::UserId, Values::Strings(values)) => values.iter().all(|p| {
                let src = p.source();
                let id = src.split(':').next().unwrap_or_default();
                // `anonymous` is every anonymous caller, not a principal.
                !id.is_empty()
                    && !id.contains(['*', '?', '$'])
                    && !id.eq_ignore_ascii_case("anonymous")
            }),
            _ => false,
        }
    }

    /// Source texts of string values (for lints).
    pub(crate) fn value_sources(&self) -> Vec<&str> {
        match &self.values {
            Values::Strings(v) => v.iter().map(Pattern::source).collect(),
            Values::Arns(v) => v.iter().filter_map(ArnPattern::resource_source).collect(),
            _ => Vec::new(),
        }
    }

    /// Evaluates the condition for `request` (IAM's rules, AUTHZ §4).
    pub(crate) fn evaluate(&self, request: &AuthzRequest<'_>, constants: &KeyConstants) -> bool {
        let vars = |id: u16| -> Option<&str> {
            let key = Key::from_variable_id(id);
            request
                .string_value(key, constants)
                .or_else(|| constant_string(key, constants))
        };
        if let Key::RequestQueryString(name) = &self.key {
            let mut values = request.query_values(name).peekable();
            let empty = values.peek().is_none();
            if let Values::Null(expect_absent) = self.values {
                return empty == expect_absent;
            }
            if empty {
                return match self.op.set {
                    SetOp::AllValues => true,
                    _ => self.op.if_exists,
                };
            }
            if !self.variables_present(&vars) {
                return false;
            }
            let mut all = true;
            let mut any = false;
            for value in values {
                let Some(matched) = self.matches_value(&Value::Text(&value), &vars) else {
                    return false;
                };
                let hit = matched != self.op.negated;
                all &= hit;
                any |= hit;
            }
            return match self.op.set {
                SetOp::AllValues => all,
                _ => any,
            };
        }

        let value = self.read(request, constants);
        if let Values::Null(expect_absent) = self.values {
            return value.is_none() == expect_absent;
        }
        let Some(value) = value else {
            // IAM: a missing key makes a positive operator false and a negated one true,
            // unless `…IfExists` makes the condition true.
            return self.op.if_exists || self.op.negated;
        };
        if !self.variables_present(&vars) {
            // A policy variable whose key is absent: the condition does not hold, whichever
            // value it stands in.
            return false;
        }
        match self.matches_value(&value, &vars) {
            Some(matched) => matched != self.op.negated,
            // A policy variable whose key is absent: the condition does not hold.
            None => false,
        }
    }

    fn variables_present<'v>(&self, vars: &dyn Fn(u16) -> Option<&'v str>) -> bool {
        self.variables.iter().all(|id| vars(*id).is_some())
    }

    fn read<'r>(
        &self,
        request: &AuthzRequest<'r>,
        constants: &'r KeyConstants,
    ) -> Option<Value<'r>> {
        match &self.key {
            Key::CurrentTime => Some(Value::Millis(request.now_millis())),
            Key::EpochTime => Some(Value::Millis(request.now_millis())),
            Key::SourceIp => request.source_ip.map(Value::Ip),
            Key::Port => constants.port.map(|p| Value::Int(i64::from(p))),
            Key::Anonymous => Some(Value::Bool(request.principal.is_none())),
            key => request
                .string_value(key, constants)
                .or_else(|| constant_string(key, constants))
                .map(Value::Text),
        }
    }

    /// Whether `value` matches any of the policy's values (before negation); `None` when a
    /// policy variable's key is absent.
    fn matches_value<'v>(
        &self,
        value: &Value<'_>,
        vars: &dyn Fn(u16) -> Option<&'v str>,
    ) -> Option<bool> {
        let op = &self.op;
        match (&self.values, value) {
            (Values::Strings(patterns), Value::Text(text)) => {
                for p in patterns {
                    if p.matches(text, op.ignore_case, vars)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            (Values::Arns(patterns), Value::Text(text)) => {
                for p in patterns {
                    if p.matches(text, vars)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            (Values::Numbers(numbers), Value::Int(v)) => {
                Some(numbers.iter().any(|n| compare(n.cmp_int(*v), op.cmp)))
            }
            (Values::Numbers(numbers), Value::Millis(ms)) => {
                let secs = ms.div_euclid(1000);
                Some(numbers.iter().any(|n| compare(n.cmp_int(secs), op.cmp)))
            }
            (Values::Dates(dates), Value::Millis(ms)) => {
                Some(dates.iter().any(|d| compare(ms.cmp(d), op.cmp)))
            }
            (Values::Bools(bools), Value::Bool(b)) => Some(bools.contains(b)),
            (Values::Ips(nets), Value::Ip(ip)) => Some(nets.iter().any(|n| n.contains(*ip))),
            _ => Some(false),
        }
    }
}

fn constant_string<'r>(key: &Key, constants: &'r KeyConstants) -> Option<&'r str> {
    match key {
        Key::ServiceArn => constants.service_arn.as_deref(),
        Key::ServiceNetworkArn => constants.service_network_arn.as_deref(),
        _ => None,
    }
}

fn compare(ordering: std::cmp::Ordering, cmp: Cmp) -> bool {
    use std::cmp::Ordering::*;
    match cmp {
        Cmp::Eq => ordering == Equal,
        Cmp::Lt => ordering == Less,
        Cmp::Le => ordering != Greater,
        Cmp::Gt => ordering == Greater,
        Cmp::Ge => ordering != Less,
    }
}

/// A request value of a key.
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Millis(i64),
    Bool(bool),
    Ip(IpAddr),
}
