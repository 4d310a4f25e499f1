//! Policy evaluation as IAM documents it (AUTHZ §3–§7): every condition operator with the key
//! present and matching, present and not matching, and absent; the set operators; the principal
//! matrix; default deny and explicit deny; `PolicySet` stacking; the request checks made before
//! evaluation; and `explain`.
//!
//! Each case names the IAM rule it checks, so that a failure says which rule broke.

#![cfg(all(feature = "server", feature = "testing"))]

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use tower_iam_auth::error::AuthError;
use tower_iam_auth::policy::{
    AuthMethod, AuthzRequest, Decision, Effect, Outcome, Policy, PolicyOptions, PolicySet,
};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::testing::principal;

const ACCOUNT: &str = "123456789012";
const SERVICE_ARN: &str =
    "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0";
/// 2024-06-01T12:00:00Z.
const NOW_SECS: u64 = 1_717_243_200;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

fn p(raw_arn: &str, user_id: &str) -> IamPrincipal {
    principal(raw_arn, user_id).unwrap_or_else(|e| panic!("{raw_arn} / {user_id}: {e:?}"))
}

/// Role `Deployer`, session `ci`, role id `AROAEXAMPLEID1234567`.
fn deployer() -> IamPrincipal {
    p(
        "arn:aws:sts::123456789012:assumed-role/Deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    )
}

/// User `alice` with path `/ops/`.
fn alice() -> IamPrincipal {
    p(
        "arn:aws:iam::123456789012:user/ops/alice",
        "AIDAEXAMPLEID1234567",
    )
}

fn root() -> IamPrincipal {
    p("arn:aws:iam::123456789012:root", ACCOUNT)
}

fn federated() -> IamPrincipal {
    p(
        "arn:aws:sts::123456789012:federated-user/bob",
        "123456789012:bob",
    )
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// An owned request, from which an `AuthzRequest` is borrowed.
#[derive(Clone)]
struct Call {
    method: Method,
    uri: Uri,
    raw_path: Option<&'static str>,
    headers: HeaderMap,
    principal: Option<IamPrincipal>,
    ip: Option<IpAddr>,
    now: SystemTime,
    audience: Option<&'static str>,
    route: Option<&'static str>,
}

impl Call {
    /// `GET uri` by the `Deployer/ci` role session, at [`NOW_SECS`].
    fn new(uri: &str) -> Self {
        Call {
            method: Method::GET,
            uri: uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}")),
            raw_path: None,
            headers: HeaderMap::new(),
            principal: Some(deployer()),
            ip: None,
            now: now(),
            audience: None,
            route: None,
        }
    }

    fn by(mut self, principal: Option<IamPrincipal>) -> Self {
        self.principal = principal;
        self
    }

    fn anonymous(self) -> Self {
        self.by(None)
    }

    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }

    fn ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.parse().expect("ip"));
        self
    }

    fn at(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    fn audience(mut self, audience: &'static str) -> Self {
        self.audience = Some(audience);
        self
    }

    fn route(mut self, route: &'static str) -> Self {
        self.route = Some(route);
        self
    }

    /// A path that `http::Uri` would not carry as is.
    fn raw_path(mut self, path: &'static str) -> Self {
        self.raw_path = Some(path);
        self
    }

    fn request(&self) -> AuthzRequest<'_> {
        let mut req = AuthzRequest::new(&self.method, &self.uri, &self.headers)
            .principal(self.principal.as_ref())
            .now(self.now)
            .source_ip(self.ip)
            .auth_method(Some(AuthMethod::Proof))
            .token_audience(self.audience)
            .route(self.route);
        if let Some(path) = self.raw_path {
            req = req.path(path);
        }
        req
    }

    fn decide(&self, policy: &Policy) -> Result<Decision, AuthError> {
        policy.evaluate(&self.request())
    }

    fn outcome(&self, policy: &Policy) -> Outcome {
        match self.decide(policy) {
            Ok(d) => d.outcome(),
            Err(e) => panic!("evaluation refused the request {}: {e}", self.uri),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// Options that make every key available, with Sid `Public` deliberately public.
fn options() -> PolicyOptions {
    PolicyOptions::new()
        .source_ip(true)
        .port(8443)
        .service_arn(SERVICE_ARN)
        .token_audience(true)
        .route(true)
        .public_sid("Public")
}

fn load(json: &str) -> Policy {
    load_with(json, &options())
}

fn load_with(json: &str, options: &PolicyOptions) -> Policy {
    Policy::from_json_with(json, options).unwrap_or_else(|e| panic!("{json}\nrefused: {e}"))
}

/// A policy of statements (a JSON array body).
fn statements(body: &str) -> Policy {
    load(&format!(
        r#"{{"Version": "2012-10-17", "Statement": [{body}]}}"#
    ))
}

/// One public Allow statement whose only clause is `condition` (so the principal never
/// interferes).
fn public(condition: &str) -> Policy {
    statements(&format!(
        r#"{{"Sid": "Public", "Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*", "Condition": {condition}}}"#
    ))
}

/// One Allow for `principal` (a JSON value for `"AWS"`), unconditioned.
fn allow_principal(principal: &str) -> Policy {
    allow_principal_with(principal, &options())
}

fn allow_principal_with(principal: &str, options: &PolicyOptions) -> Policy {
    load_with(
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Sid": "Who", "Effect": "Allow",
                "Principal": {{"AWS": {principal}}}, "Action": "vpc-lattice-svcs:Invoke",
                "Resource": "*"}}}}"#
        ),
        options,
    )
}

fn allows(policy: &Policy, call: &Call) -> bool {
    call.outcome(policy) == Outcome::Allow
}

/// Checks every `(condition, request, expected, rule)` case and reports all that fail at once.
fn check_conditions(cases: &[(&str, &Call, bool, &str)]) {
    let mut failures = Vec::new();
    for (condition, call, expected, rule) in cases {
        let got = allows(&public(condition), call);
        if got != *expected {
            failures.push(format!(
                "{rule}\n    condition {condition}\n    expected {expected}, got {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) broke IAM's rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checks every `(policy, request, expected outcome, rule)` case and reports all that fail.
fn check_outcomes(cases: &[(&Policy, &Call, Outcome, &str)]) {
    let mut failures = Vec::new();
    for (policy, call, expected, rule) in cases {
        let got = call.outcome(policy);
        if got != *expected {
            failures.push(format!("{rule}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) broke IAM's rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// =============================================================================================
// 1. Operators
// =============================================================================================

#[test]
fn string_operators_present_matching_not_matching_and_absent() {
    let blue = Call::new("/orders/1").header("x-team", "Blue");
    let none = Call::new("/orders/1");
    let h = "vpc-lattice-svcs:RequestHeader/x-team";
    let c = |op: &str, v: &str| format!(r#"{{"{op}": {{"{h}": "{v}"}}}}"#);
    let cases = [
        (
            c("StringEquals", "Blue"),
            &blue,
            true,
            "StringEquals: equal value holds",
        ),
        (
            c("StringEquals", "Red"),
            &blue,
            false,
            "StringEquals: other value fails",
        ),
        (
            c("StringEquals", "blue"),
            &blue,
            false,
            "StringEquals is case-sensitive",
        ),
        (
            c("StringEquals", "Blue"),
            &none,
            false,
            "positive operator on an absent key is false",
        ),
        (
            c("StringNotEquals", "Blue"),
            &blue,
            false,
            "StringNotEquals: equal value fails",
        ),
        (
            c("StringNotEquals", "Red"),
            &blue,
            true,
            "StringNotEquals: other value holds",
        ),
        (
            c("StringNotEquals", "Blue"),
            &none,
            true,
            "negated operator on an absent key is true",
        ),
        (
            c("StringEqualsIgnoreCase", "bLUE"),
            &blue,
            true,
            "StringEqualsIgnoreCase ignores case",
        ),
        (
            c("StringEqualsIgnoreCase", "Red"),
            &blue,
            false,
            "StringEqualsIgnoreCase: other value fails",
        ),
        (
            c("StringEqualsIgnoreCase", "blue"),
            &none,
            false,
            "positive operator on an absent key is false",
        ),
        (
            c("StringNotEqualsIgnoreCase", "BLUE"),
            &blue,
            false,
            "StringNotEqualsIgnoreCase: same value in other case fails",
        ),
        (
            c("StringNotEqualsIgnoreCase", "red"),
            &blue,
            true,
            "StringNotEqualsIgnoreCase: other value holds",
        ),
        (
            c("StringNotEqualsIgnoreCase", "blue"),
            &none,
            true,
            "negated operator on an absent key is true",
        ),
        (
            c("StringLike", "Bl*"),
            &blue,
            true,
            "StringLike: * matches a run",
        ),
        (
            c("StringLike", "B?ue"),
            &blue,
            true,
            "StringLike: ? matches one character",
        ),
        (
            c("StringLike", "B?e"),
            &blue,
            false,
            "StringLike: ? matches exactly one character",
        ),
        (
            c("StringLike", "bl*"),
            &blue,
            false,
            "StringLike is case-sensitive",
        ),
        (
            c("StringLike", "Re*"),
            &blue,
            false,
            "StringLike: non-matching glob fails",
        ),
        (
            c("StringLike", "*"),
            &none,
            false,
            "positive operator on an absent key is false, even with *",
        ),
        (
            c("StringNotLike", "Bl*"),
            &blue,
            false,
            "StringNotLike: matching glob fails",
        ),
        (
            c("StringNotLike", "Re*"),
            &blue,
            true,
            "StringNotLike: non-matching glob holds",
        ),
        (
            c("StringNotLike", "*"),
            &none,
            true,
            "negated operator on an absent key is true",
        ),
        (
            c("StringEquals", "Bl*"),
            &blue,
            false,
            "StringEquals compares * literally",
        ),
        (
            c("StringEqualsIfExists", "Red"),
            &none,
            true,
            "…IfExists is true when the key is absent",
        ),
        (
            c("StringEqualsIfExists", "Red"),
            &blue,
            false,
            "…IfExists evaluates normally when present (mismatch)",
        ),
        (
            c("StringEqualsIfExists", "Blue"),
            &blue,
            true,
            "…IfExists evaluates normally when present (match)",
        ),
        (
            c("StringNotEqualsIfExists", "Blue"),
            &none,
            true,
            "negated …IfExists is true when absent",
        ),
        (
            c("StringNotEqualsIfExists", "Blue"),
            &blue,
            false,
            "negated …IfExists evaluates normally when present",
        ),
        (
            c("StringLikeIfExists", "R*"),
            &blue,
            false,
            "StringLikeIfExists evaluates normally when present",
        ),
        (
            c("StringLikeIfExists", "R*"),
            &none,
            true,
            "StringLikeIfExists is true when absent",
        ),
        (
            c("StringEqualsIgnoreCaseIfExists", "BLUE"),
            &blue,
            true,
            "IgnoreCaseIfExists when present",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, r, e, why)| (c.as_str(), *r, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn string_operators_on_principal_keys_absent_for_the_caller() {
    // aws:username exists for IAM users only (IAM: not present for roles).
    let role = Call::new("/");
    let user = Call::new("/").by(Some(alice()));
    check_conditions(&[
        (
            r#"{"StringEquals": {"aws:username": "alice"}}"#,
            &user,
            true,
            "aws:username is the user name for users",
        ),
        (
            r#"{"StringEquals": {"aws:username": "Deployer"}}"#,
            &role,
            false,
            "aws:username is absent for roles: positive false",
        ),
        (
            r#"{"StringNotEquals": {"aws:username": "alice"}}"#,
            &role,
            true,
            "aws:username absent: negated true",
        ),
        (
            r#"{"StringLikeIfExists": {"aws:username": "a*"}}"#,
            &role,
            true,
            "aws:username absent: IfExists true",
        ),
        (
            r#"{"StringLikeIfExists": {"aws:username": "b*"}}"#,
            &user,
            false,
            "aws:username present: IfExists normal",
        ),
    ]);
}

#[test]
fn null_operator_tests_presence() {
    let role = Call::new("/");
    let user = Call::new("/").by(Some(alice()));
    let with_ip = Call::new("/").ip("10.1.2.3");
    let with_header = Call::new("/").header("x-team", "Blue");
    check_conditions(&[
        (
            r#"{"Null": {"aws:username": "true"}}"#,
            &role,
            true,
            "Null true holds when the key is absent",
        ),
        (
            r#"{"Null": {"aws:username": "true"}}"#,
            &user,
            false,
            "Null true fails when the key is present",
        ),
        (
            r#"{"Null": {"aws:username": "false"}}"#,
            &user,
            true,
            "Null false holds when the key is present",
        ),
        (
            r#"{"Null": {"aws:username": "false"}}"#,
            &role,
            false,
            "Null false fails when the key is absent",
        ),
        (
            r#"{"Null": {"aws:SourceIp": "true"}}"#,
            &role,
            true,
            "aws:SourceIp not supplied is absent",
        ),
        (
            r#"{"Null": {"aws:SourceIp": "false"}}"#,
            &with_ip,
            true,
            "aws:SourceIp supplied is present",
        ),
        (
            r#"{"Null": {"vpc-lattice-svcs:RequestHeader/x-team": "true"}}"#,
            &role,
            true,
            "a header not sent is absent",
        ),
        (
            r#"{"Null": {"vpc-lattice-svcs:RequestHeader/x-team": false}}"#,
            &with_header,
            true,
            "a header sent is present (JSON boolean value)",
        ),
        (
            r#"{"Null": {"vpc-lattice-svcs:RequestQueryString/tag": "true"}}"#,
            &role,
            true,
            "a query key not sent is absent",
        ),
        (
            r#"{"Null": {"vpc-lattice-svcs:RequestQueryString/tag": "false"}}"#,
            &Call::new("/?tag=a"),
            true,
            "a query key sent is present",
        ),
    ]);
}

#[test]
fn numeric_operators_on_port_compare_exact_decimals() {
    let call = Call::new("/");
    let c = |op: &str, v: &str| format!(r#"{{"{op}": {{"vpc-lattice-svcs:Port": "{v}"}}}}"#);
    let cases = [
        (
            c("NumericEquals", "8443"),
            true,
            "NumericEquals: same number",
        ),
        (
            c("NumericEquals", "8443.0"),
            true,
            "NumericEquals: 8443.0 is 8443",
        ),
        (
            c("NumericEquals", "08443"),
            true,
            "NumericEquals: 08443 is 8443",
        ),
        (
            c("NumericEquals", "8443.0000000000000000001"),
            false,
            "NumericEquals: no float rounding",
        ),
        (
            c("NumericEquals", "8444"),
            false,
            "NumericEquals: other number fails",
        ),
        (
            c("NumericNotEquals", "8444"),
            true,
            "NumericNotEquals: other number holds",
        ),
        (
            c("NumericNotEquals", "8443.00"),
            false,
            "NumericNotEquals: same number fails",
        ),
        (
            c("NumericLessThan", "8443.5"),
            true,
            "NumericLessThan: 8443 < 8443.5",
        ),
        (
            c("NumericLessThan", "8443"),
            false,
            "NumericLessThan is strict",
        ),
        (
            c("NumericLessThanEquals", "8443"),
            true,
            "NumericLessThanEquals: equal holds",
        ),
        (
            c("NumericLessThanEquals", "8442.9"),
            false,
            "NumericLessThanEquals: smaller bound fails",
        ),
        (
            c("NumericGreaterThan", "8442.999"),
            true,
            "NumericGreaterThan: 8443 > 8442.999",
        ),
        (
            c("NumericGreaterThan", "8443"),
            false,
            "NumericGreaterThan is strict",
        ),
        (
            c("NumericGreaterThanEquals", "8443"),
            true,
            "NumericGreaterThanEquals: equal holds",
        ),
        (
            c("NumericGreaterThanEquals", "8443.0001"),
            false,
            "NumericGreaterThanEquals: larger bound fails",
        ),
        (
            c("NumericGreaterThanEquals", "-1"),
            true,
            "NumericGreaterThanEquals: negative bound",
        ),
        (
            c("NumericEqualsIfExists", "8443"),
            true,
            "NumericEqualsIfExists when present: normal (match)",
        ),
        (
            c("NumericEqualsIfExists", "1"),
            false,
            "NumericEqualsIfExists when present: normal (mismatch)",
        ),
    ];
    let mut all: Vec<_> = cases
        .iter()
        .map(|(c, e, why)| (c.as_str(), &call, *e, *why))
        .collect();
    let multi = r#"{"NumericEquals": {"vpc-lattice-svcs:Port": ["80", "8443"]}}"#;
    all.push((
        multi,
        &call,
        true,
        "values OR: one of several numbers matches",
    ));
    let number = r#"{"NumericEquals": {"vpc-lattice-svcs:Port": 8443}}"#;
    all.push((number, &call, true, "a JSON number value is a number"));
    check_conditions(&all);
}

#[test]
fn numeric_operators_on_epoch_time_have_no_float_rounding() {
    let call = Call::new("/");
    let c = |op: &str, v: &str| format!(r#"{{"{op}": {{"aws:EpochTime": "{v}"}}}}"#);
    let cases = [
        (
            c("NumericEquals", "1717243200"),
            true,
            "aws:EpochTime is the clock in seconds",
        ),
        (
            c("NumericEquals", "1717243200.0000000001"),
            false,
            "no float rounding: 16+ significant digits differ",
        ),
        (
            c("NumericLessThan", "1717243200.0000000001"),
            true,
            "no float rounding: just above now",
        ),
        (
            c("NumericGreaterThan", "1717243199.9999999999"),
            true,
            "no float rounding: just below now",
        ),
        (
            c("NumericGreaterThan", "1717243200"),
            false,
            "NumericGreaterThan is strict",
        ),
        (
            c("NumericNotEquals", "1717243201"),
            true,
            "NumericNotEquals on the clock",
        ),
        (
            c("NumericLessThanEquals", "1717243200"),
            true,
            "NumericLessThanEquals on the clock",
        ),
        (
            c("NumericGreaterThanEquals", "1717243201"),
            false,
            "NumericGreaterThanEquals on the clock",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, e, why)| (c.as_str(), &call, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn numeric_json_number_value_is_not_rounded_through_a_float() {
    // AUTHZ §4: "Numbers and dates are parsed at load, never compared as floats". A JSON number
    // literal with more precision than an f64 must either keep its exact value or be refused at
    // load; silently rounding 1717243200.0000000001 to 1717243200 flips NumericLessThan.
    let json = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Public", "Effect": "Allow",
        "Principal": "*", "Action": "*", "Resource": "*",
        "Condition": {"NumericLessThan": {"aws:EpochTime": 1717243200.0000000001}}}]}"#;
    match Policy::from_json_with(json, &options()) {
        Err(e) => assert_eq!(e.code().as_str(), "policy.bad_value", "{e}"),
        Ok(policy) => assert_eq!(
            Call::new("/").outcome(&policy),
            Outcome::Allow,
            "NumericLessThan: now (1717243200) < 1717243200.0000000001 exactly; the JSON number was rounded through an f64"
        ),
    }
}

#[test]
fn date_operators_on_current_time() {
    let call = Call::new("/");
    let c = |op: &str, v: &str| format!(r#"{{"{op}": {{"aws:CurrentTime": "{v}"}}}}"#);
    let cases = [
        (
            c("DateEquals", "2024-06-01T12:00:00Z"),
            true,
            "DateEquals: same instant",
        ),
        (
            c("DateEquals", "2024-06-01T14:00:00+02:00"),
            true,
            "DateEquals: same instant in another offset",
        ),
        (
            c("DateEquals", "1717243200"),
            true,
            "DateEquals: epoch seconds are a date",
        ),
        (
            c("DateEquals", "2024-06-01T12:00:01Z"),
            false,
            "DateEquals: other instant fails",
        ),
        (
            c("DateNotEquals", "2024-06-01T12:00:01Z"),
            true,
            "DateNotEquals: other instant holds",
        ),
        (
            c("DateNotEquals", "2024-06-01T12:00:00Z"),
            false,
            "DateNotEquals: same instant fails",
        ),
        (
            c("DateLessThan", "2024-06-01T12:00:01Z"),
            true,
            "DateLessThan: before the bound",
        ),
        (
            c("DateLessThan", "2024-06-01T12:00:00Z"),
            false,
            "DateLessThan is strict",
        ),
        (
            c("DateLessThanEquals", "2024-06-01T12:00:00Z"),
            true,
            "DateLessThanEquals: equal holds",
        ),
        (
            c("DateLessThanEquals", "2024-06-01"),
            false,
            "DateLessThanEquals: midnight is before noon",
        ),
        (
            c("DateGreaterThan", "2024-06-01T11:59:59Z"),
            true,
            "DateGreaterThan: after the bound",
        ),
        (
            c("DateGreaterThan", "2024-06-01T12:00:00Z"),
            false,
            "DateGreaterThan is strict",
        ),
        (
            c("DateGreaterThanEquals", "2024-06-01T12:00:00Z"),
            true,
            "DateGreaterThanEquals: equal holds",
        ),
        (
            c("DateGreaterThanEquals", "2024-06-02"),
            false,
            "DateGreaterThanEquals: tomorrow is later",
        ),
        (
            c("DateLessThanIfExists", "2030-01-01T00:00:00Z"),
            true,
            "DateLessThanIfExists when present: normal",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, e, why)| (c.as_str(), &call, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn date_operators_on_epoch_time_take_dates() {
    let call = Call::new("/");
    let c = |op: &str, v: &str| format!(r#"{{"{op}": {{"aws:EpochTime": "{v}"}}}}"#);
    let cases = [
        (
            c("DateEquals", "2024-06-01T12:00:00Z"),
            true,
            "aws:EpochTime with a Date operator: same instant",
        ),
        (
            c("DateNotEquals", "2024-06-01T12:00:00Z"),
            false,
            "DateNotEquals on aws:EpochTime",
        ),
        (
            c("DateLessThan", "2024-06-02"),
            true,
            "DateLessThan on aws:EpochTime",
        ),
        (
            c("DateLessThanEquals", "2024-06-01T11:00:00Z"),
            false,
            "DateLessThanEquals on aws:EpochTime",
        ),
        (
            c("DateGreaterThan", "2024-05-31"),
            true,
            "DateGreaterThan on aws:EpochTime",
        ),
        (
            c("DateGreaterThanEquals", "2024-06-01T12:00:00.001Z"),
            false,
            "DateGreaterThanEquals: a millisecond later",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, e, why)| (c.as_str(), &call, *e, *why))
        .collect();
    check_conditions(&cases);
    // A time window: two Date operators AND.
    let window = r#"{"DateGreaterThan": {"aws:CurrentTime": "2024-06-01T00:00:00Z"},
                     "DateLessThan": {"aws:CurrentTime": "2024-06-02T00:00:00Z"}}"#;
    let later = Call::new("/").at(now() + Duration::from_secs(86_400));
    check_conditions(&[
        (window, &call, true, "operators AND: inside the window"),
        (window, &later, false, "operators AND: after the window"),
    ]);
}

#[test]
fn bool_operator_on_anonymous() {
    let signed = Call::new("/");
    let anonymous = Call::new("/").anonymous();
    let c = r#"{"Bool": {"tower-iam-auth:Anonymous": "true"}}"#;
    let f = r#"{"Bool": {"tower-iam-auth:Anonymous": "false"}}"#;
    let json_bool = r#"{"Bool": {"tower-iam-auth:Anonymous": true}}"#;
    check_conditions(&[
        (c, &anonymous, true, "Bool true: anonymous caller"),
        (
            c,
            &signed,
            false,
            "Bool true: signed caller is not anonymous",
        ),
        (f, &signed, true, "Bool false: signed caller"),
        (f, &anonymous, false, "Bool false: anonymous caller"),
        (
            json_bool,
            &anonymous,
            true,
            "Bool with a JSON boolean value",
        ),
        (
            r#"{"BoolIfExists": {"tower-iam-auth:Anonymous": "false"}}"#,
            &anonymous,
            false,
            "BoolIfExists when present: normal",
        ),
    ]);
}

#[test]
fn ip_operators_v4_v6_and_v4_mapped() {
    let v4 = Call::new("/").ip("10.1.2.3");
    let other_v4 = Call::new("/").ip("192.168.0.1");
    let v6 = Call::new("/").ip("2001:db8::1");
    let other_v6 = Call::new("/").ip("2001:db9::1");
    let mapped = Call::new("/").ip("::ffff:10.1.2.3");
    let absent = Call::new("/");
    let ip = |op: &str, v: &str| format!(r#"{{"{op}": {{"aws:SourceIp": "{v}"}}}}"#);
    let cases = [
        (
            ip("IpAddress", "10.0.0.0/8"),
            &v4,
            true,
            "IpAddress: address inside the CIDR",
        ),
        (
            ip("IpAddress", "10.0.0.0/8"),
            &other_v4,
            false,
            "IpAddress: address outside the CIDR",
        ),
        (
            ip("IpAddress", "10.1.2.3"),
            &v4,
            true,
            "IpAddress: a bare address is /32",
        ),
        (
            ip("IpAddress", "10.0.0.0/8"),
            &absent,
            false,
            "IpAddress: aws:SourceIp absent is false",
        ),
        (
            ip("NotIpAddress", "10.0.0.0/8"),
            &v4,
            false,
            "NotIpAddress: inside fails",
        ),
        (
            ip("NotIpAddress", "10.0.0.0/8"),
            &other_v4,
            true,
            "NotIpAddress: outside holds",
        ),
        (
            ip("NotIpAddress", "10.0.0.0/8"),
            &absent,
            true,
            "NotIpAddress: absent is true (negated)",
        ),
        (
            ip("IpAddress", "2001:db8::/32"),
            &v6,
            true,
            "IpAddress: IPv6 inside",
        ),
        (
            ip("IpAddress", "2001:db8::/32"),
            &other_v6,
            false,
            "IpAddress: IPv6 outside",
        ),
        (
            ip("IpAddress", "2001:db8::/32"),
            &v4,
            false,
            "IpAddress: an IPv4 caller is not in an IPv6 range",
        ),
        (
            ip("NotIpAddress", "2001:db8::/32"),
            &other_v6,
            true,
            "NotIpAddress: IPv6 outside",
        ),
        (
            ip("IpAddress", "10.0.0.0/8"),
            &mapped,
            true,
            "IpAddress: ::ffff:10.1.2.3 is 10.1.2.3",
        ),
        (
            ip("NotIpAddress", "10.0.0.0/8"),
            &mapped,
            false,
            "NotIpAddress: a v4-mapped address cannot dodge a v4 rule",
        ),
        (
            ip("IpAddress", "::ffff:10.0.0.0/104"),
            &v4,
            true,
            "IpAddress: a v4-mapped range holds the v4 address",
        ),
        (
            ip("IpAddressIfExists", "10.0.0.0/8"),
            &absent,
            true,
            "IpAddressIfExists: absent is true",
        ),
        (
            ip("IpAddressIfExists", "10.0.0.0/8"),
            &other_v4,
            false,
            "IpAddressIfExists: present is normal",
        ),
        (
            ip("NotIpAddressIfExists", "10.0.0.0/8"),
            &v4,
            false,
            "NotIpAddressIfExists: present is normal",
        ),
    ];
    let mut all: Vec<_> = cases
        .iter()
        .map(|(c, r, e, why)| (c.as_str(), *r, *e, *why))
        .collect();
    let list = r#"{"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]}}"#;
    all.push((list, &v4, true, "values OR: the second range holds"));
    all.push((list, &v6, false, "values OR: no range holds"));
    check_conditions(&all);
}

#[test]
fn arn_operators_match_each_colon_part_separately() {
    let role = Call::new("/");
    let anonymous = Call::new("/").anonymous();
    // A user whose path holds a colon: the sixth ARN part is `user/team:x/carol`.
    let colon_user = Call::new("/").by(Some(p(
        "arn:aws:iam::123456789012:user/team:x/carol",
        "AIDAEXAMPLECAROL1234",
    )));
    let arn = |op: &str, v: &str| format!(r#"{{"{op}": {{"aws:PrincipalArn": "{v}"}}}}"#);
    let cases = [
        (
            arn("ArnEquals", "arn:aws:iam::123456789012:role/Deployer"),
            &role,
            true,
            "aws:PrincipalArn of a session is the role ARN",
        ),
        (
            arn(
                "ArnEquals",
                "arn:aws:sts::123456789012:assumed-role/Deployer/ci",
            ),
            &role,
            false,
            "aws:PrincipalArn is not the session ARN",
        ),
        (
            arn("ArnEquals", "arn:aws:iam::123456789012:role/deployer"),
            &role,
            false,
            "ArnEquals is case-sensitive",
        ),
        (
            arn("ArnLike", "arn:aws:iam::*:role/Deploy*"),
            &role,
            true,
            "ArnLike: wildcards per part",
        ),
        (
            arn("ArnLike", "arn:aws:iam::12345678901?:role/*"),
            &role,
            true,
            "ArnLike: ? in the account part",
        ),
        (
            arn("ArnLike", "arn:*:iam:*:*:*"),
            &role,
            true,
            "ArnLike: * matches the empty region part",
        ),
        (
            arn("ArnLike", "arn:aws:iam::*:role/Other"),
            &role,
            false,
            "ArnLike: other role fails",
        ),
        (
            arn("ArnLike", "arn:aws:iam::*:role/Deployer"),
            &anonymous,
            false,
            "ArnLike: absent key is false",
        ),
        (
            arn("ArnNotEquals", "arn:aws:iam::123456789012:role/Other"),
            &role,
            true,
            "ArnNotEquals: other ARN holds",
        ),
        (
            arn("ArnNotEquals", "arn:aws:iam::123456789012:role/Deployer"),
            &role,
            false,
            "ArnNotEquals: same ARN fails",
        ),
        (
            arn("ArnNotEquals", "arn:aws:iam::123456789012:role/Deployer"),
            &anonymous,
            true,
            "ArnNotEquals: absent key is true",
        ),
        (
            arn("ArnNotLike", "arn:aws:iam::*:role/Dep*"),
            &role,
            false,
            "ArnNotLike: matching pattern fails",
        ),
        (
            arn("ArnNotLike", "arn:aws:iam::*:user/*"),
            &role,
            true,
            "ArnNotLike: non-matching pattern holds",
        ),
        (
            arn("ArnNotLike", "arn:aws:iam::*:user/*"),
            &anonymous,
            true,
            "ArnNotLike: absent key is true",
        ),
        (
            arn("ArnLikeIfExists", "arn:aws:iam::*:user/*"),
            &anonymous,
            true,
            "ArnLikeIfExists: absent is true",
        ),
        (
            arn("ArnLikeIfExists", "arn:aws:iam::*:user/*"),
            &role,
            false,
            "ArnLikeIfExists: present is normal",
        ),
        (
            arn("ArnLike", "arn:aws:iam::*:user/*"),
            &colon_user,
            true,
            "ArnLike: the resource part is the rest of the ARN, colons included",
        ),
        (
            arn("ArnLike", "arn:aws:iam::*:x/carol"),
            &colon_user,
            false,
            "ArnLike: a * in the account part does not cross ':'",
        ),
        (
            arn("StringLike", "arn:aws:iam::*:x/carol"),
            &colon_user,
            true,
            "StringLike: a * crosses ':' (contrast with ArnLike)",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, r, e, why)| (c.as_str(), *r, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn values_or_keys_and_operators_and() {
    let blue_get = Call::new("/orders/1").header("x-team", "Blue");
    let blue_post = blue_get.clone().method(Method::POST);
    let red_get = Call::new("/orders/1").header("x-team", "Red");
    let two_keys = r#"{"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "Blue",
                                        "vpc-lattice-svcs:RequestMethod": "GET"}}"#;
    let two_ops = r#"{"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "Blue"},
                      "StringLike": {"vpc-lattice-svcs:RequestPath": "/orders/*"}}"#;
    let or = r#"{"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": ["Red", "Blue"]}}"#;
    let not_or =
        r#"{"StringNotEquals": {"vpc-lattice-svcs:RequestHeader/x-team": ["Red", "Green"]}}"#;
    check_conditions(&[
        (or, &blue_get, true, "values OR: Blue is one of Red, Blue"),
        (or, &red_get, true, "values OR: Red is one of Red, Blue"),
        (
            not_or,
            &red_get,
            false,
            "negated operator: the value must match none of the values",
        ),
        (
            not_or,
            &blue_get,
            true,
            "negated operator: Blue matches none of Red, Green",
        ),
        (two_keys, &blue_get, true, "keys AND: both hold"),
        (two_keys, &blue_post, false, "keys AND: the method fails"),
        (two_keys, &red_get, false, "keys AND: the header fails"),
        (two_ops, &blue_get, true, "operators AND: both hold"),
        (
            two_ops,
            &Call::new("/other").header("x-team", "Blue"),
            false,
            "operators AND: the path fails",
        ),
        (two_ops, &red_get, false, "operators AND: the header fails"),
    ]);
}

#[test]
fn for_any_value_and_for_all_values_on_query_strings() {
    let ab = Call::new("/?tag=a&tag=b");
    let a = Call::new("/?tag=a");
    let ax = Call::new("/?tag=a&tag=x");
    let none = Call::new("/?other=1");
    let no_query = Call::new("/");
    let globbed = Call::new("/?tag=abc&tag=bcd");
    let globbed_out = Call::new("/?tag=abc&tag=cde");
    let q = |op: &str, v: &str| {
        format!(r#"{{"{op}": {{"vpc-lattice-svcs:RequestQueryString/tag": {v}}}}}"#)
    };
    let cases = [
        (
            q("ForAnyValue:StringEquals", r#"["b", "z"]"#),
            &ab,
            true,
            "ForAnyValue: some request value is in the policy set",
        ),
        (
            q("ForAnyValue:StringEquals", r#"["z"]"#),
            &ab,
            false,
            "ForAnyValue: no request value is in the policy set",
        ),
        (
            q("ForAnyValue:StringEquals", r#"["a"]"#),
            &none,
            false,
            "ForAnyValue: false when the key is absent",
        ),
        (
            q("ForAnyValue:StringEquals", r#"["a"]"#),
            &no_query,
            false,
            "ForAnyValue: false with no query at all",
        ),
        (
            q("ForAllValues:StringEquals", r#"["a", "b", "c"]"#),
            &ab,
            true,
            "ForAllValues: every request value is in the set",
        ),
        (
            q("ForAllValues:StringEquals", r#"["a"]"#),
            &ab,
            false,
            "ForAllValues: b is not in the set",
        ),
        (
            q("ForAllValues:StringEquals", r#"["a"]"#),
            &none,
            true,
            "ForAllValues is TRUE when the key is absent (IAM's documented trap)",
        ),
        (
            q("ForAllValues:StringEquals", r#"["a"]"#),
            &no_query,
            true,
            "ForAllValues is TRUE on an empty set",
        ),
        (
            q("ForAllValues:StringLike", r#"["a*", "b*"]"#),
            &globbed,
            true,
            "ForAllValues:StringLike: each value matches a glob",
        ),
        (
            q("ForAllValues:StringLike", r#"["a*", "b*"]"#),
            &globbed_out,
            false,
            "ForAllValues:StringLike: cde matches no glob",
        ),
        (
            q("ForAnyValue:StringLike", r#"["c*"]"#),
            &globbed_out,
            true,
            "ForAnyValue:StringLike: cde matches c*",
        ),
        (
            q("ForAnyValue:StringNotEquals", r#"["a"]"#),
            &ab,
            true,
            "ForAnyValue:StringNotEquals: b is not a",
        ),
        (
            q("ForAnyValue:StringNotEquals", r#"["a"]"#),
            &a,
            false,
            "ForAnyValue:StringNotEquals: every value is a",
        ),
        (
            q("ForAllValues:StringNotEquals", r#"["x"]"#),
            &ab,
            true,
            "ForAllValues:StringNotEquals: no value is x",
        ),
        (
            q("ForAllValues:StringNotEquals", r#"["x"]"#),
            &ax,
            false,
            "ForAllValues:StringNotEquals: x is a value",
        ),
        (
            q("ForAnyValue:StringEqualsIgnoreCase", r#"["B"]"#),
            &ab,
            true,
            "ForAnyValue:StringEqualsIgnoreCase",
        ),
        (
            q("ForAnyValue:StringEqualsIfExists", r#"["z"]"#),
            &none,
            true,
            "ForAnyValue …IfExists: absent is true",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, r, e, why)| (c.as_str(), *r, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn query_string_values_are_form_decoded_and_keys_are_case_sensitive() {
    let encoded = Call::new("/?tag=hello%20world&tag=a+b&tag=%2Fx%26y");
    let all = r#"{"ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestQueryString/tag":
                  ["hello world", "a b", "/x&y"]}}"#;
    let any_raw = r#"{"ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestQueryString/tag":
                  ["hello%20world", "a+b"]}}"#;
    let upper = r#"{"ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestQueryString/TAG": "a"}}"#;
    check_conditions(&[
        (
            all,
            &encoded,
            true,
            "query values are percent- and plus-decoded",
        ),
        (
            any_raw,
            &encoded,
            false,
            "query values are compared decoded, not raw",
        ),
        (
            upper,
            &Call::new("/?tag=a"),
            false,
            "query keys are case-sensitive (TAG is not tag)",
        ),
        (upper, &Call::new("/?TAG=a"), true, "query key TAG"),
    ]);
}

#[test]
fn key_names_are_case_insensitive_values_are_not() {
    let call = Call::new("/").header("x-team", "Blue");
    check_conditions(&[
        (
            r#"{"StringEquals": {"AWS:PRINCIPALACCOUNT": "123456789012"}}"#,
            &call,
            true,
            "key names match case-insensitively",
        ),
        (
            r#"{"StringEquals": {"aws:principalaccount": "123456789012"}}"#,
            &call,
            true,
            "key names match case-insensitively (lower)",
        ),
        (
            r#"{"StringEquals": {"VPC-Lattice-Svcs:RequestHeader/X-TEAM": "Blue"}}"#,
            &call,
            true,
            "header key names are case-insensitive",
        ),
        (
            r#"{"StringEquals": {"aws:PrincipalType": "assumedrole"}}"#,
            &call,
            false,
            "StringEquals values stay case-sensitive",
        ),
        (
            r#"{"StringEqualsIgnoreCase": {"aws:PrincipalType": "assumedrole"}}"#,
            &call,
            true,
            "IgnoreCase values fold case",
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Policy variables
// ---------------------------------------------------------------------------------------------

#[test]
fn variable_of_the_callers_own_account_holds() {
    let policy = statements(
        r#"{"Sid": "OwnAccount", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}}}"#,
    );
    assert_eq!(
        Call::new("/").outcome(&policy),
        Outcome::Allow,
        "StringEquals aws:PrincipalAccount = ${{aws:PrincipalAccount}} is true"
    );
}

#[test]
fn resource_variable_username_scopes_users_to_their_path() {
    let policy = statements(
        r#"{"Sid": "Home", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/users/${aws:username}/*"}"#,
    );
    check_outcomes(&[
        (
            &policy,
            &Call::new("/users/alice/notes").by(Some(alice())),
            Outcome::Allow,
            "Resource ${aws:username}: alice's own path",
        ),
        (
            &policy,
            &Call::new("/users/bob/notes").by(Some(alice())),
            Outcome::ImplicitDeny,
            "Resource ${aws:username}: another user's path",
        ),
        (
            &policy,
            &Call::new("/users/Deployer/notes"),
            Outcome::ImplicitDeny,
            "Resource ${aws:username}: absent for a role, no match",
        ),
        (
            &policy,
            &Call::new("/users/alice/notes"),
            Outcome::ImplicitDeny,
            "Resource ${aws:username}: absent for a role, no match",
        ),
    ]);
}

#[test]
fn variable_whose_key_is_absent_makes_the_condition_false() {
    let role = Call::new("/").header("x-owner", "Deployer");
    let user = Call::new("/").by(Some(alice())).header("x-owner", "alice");
    let eq = r#"{"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-owner": "${aws:username}"}}"#;
    let ne =
        r#"{"StringNotEquals": {"vpc-lattice-svcs:RequestHeader/x-owner": "${aws:username}"}}"#;
    let like = r#"{"StringLike": {"vpc-lattice-svcs:RequestHeader/x-owner": "*${aws:username}*"}}"#;
    check_conditions(&[
        (eq, &user, true, "variable present: compared with its value"),
        (
            eq,
            &role,
            false,
            "variable absent (aws:username of a role): the condition does not hold",
        ),
        (
            ne,
            &role,
            false,
            "variable absent: even a negated operator does not hold",
        ),
        (
            like,
            &role,
            false,
            "variable absent in StringLike: the condition does not hold",
        ),
    ]);
}

#[test]
fn variable_values_match_literally_and_dollar_star_is_a_literal_star() {
    let cond = r#"{"StringLike": {"vpc-lattice-svcs:RequestHeader/x-aud": "${tower-iam-auth:TokenAudience}"}}"#;
    let star_aud = |header: &str| Call::new("/").audience("orders*").header("x-aud", header);
    let literal_star = r#"{"StringLike": {"vpc-lattice-svcs:RequestHeader/x-team": "Bl${*}"}}"#;
    let literal_q = r#"{"StringLike": {"vpc-lattice-svcs:RequestHeader/x-team": "Bl${?}"}}"#;
    check_conditions(&[
        (
            cond,
            &star_aud("orders*"),
            true,
            "a variable value containing '*' matches itself",
        ),
        (
            cond,
            &star_aud("orders-api"),
            false,
            "a '*' inside a variable value is literal, not a wildcard",
        ),
        (
            literal_star,
            &Call::new("/").header("x-team", "Bl*"),
            true,
            "${*} is a literal star",
        ),
        (
            literal_star,
            &Call::new("/").header("x-team", "Blue"),
            false,
            "${*} is not a wildcard",
        ),
        (
            literal_q,
            &Call::new("/").header("x-team", "Blu"),
            false,
            "${?} is not a wildcard",
        ),
        (
            literal_q,
            &Call::new("/").header("x-team", "Bl?"),
            true,
            "${?} is a literal question mark",
        ),
    ]);
}

#[test]
fn variables_are_literal_text_in_2008_10_17_policies() {
    let policy = load(
        r#"{"Version": "2008-10-17", "Statement": {"Sid": "Old", "Effect": "Allow",
            "Principal": {"AWS": "123456789012"}, "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*", "Condition": {"StringEquals":
                {"vpc-lattice-svcs:RequestHeader/x-v": "${aws:username}"}}}}"#,
    );
    let alice_call = |v: &str| Call::new("/").by(Some(alice())).header("x-v", v);
    check_outcomes(&[
        (
            &policy,
            &alice_call("${aws:username}"),
            Outcome::Allow,
            "2008-10-17: ${…} is literal text",
        ),
        (
            &policy,
            &alice_call("alice"),
            Outcome::ImplicitDeny,
            "2008-10-17: ${…} is not substituted",
        ),
    ]);
}

// =============================================================================================
// 2. Principals
// =============================================================================================

#[test]
fn account_id_and_account_root_match_every_principal_of_the_account() {
    let other = p(
        "arn:aws:sts::210987654321:assumed-role/Deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    );
    let look_alike = p(
        "arn:aws:sts::123456789013:assumed-role/Deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    );
    let china = p(
        "arn:aws-cn:sts::123456789012:assumed-role/Deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    );
    let china_user = p(
        "arn:aws-cn:iam::123456789012:user/alice",
        "AIDAEXAMPLEID1234567",
    );
    for written in [r#""123456789012""#, r#""arn:aws:iam::123456789012:root""#] {
        let policy = allow_principal(written);
        let mut failures = Vec::new();
        for (who, principal, expected) in [
            ("role session of A", deployer(), true),
            ("user of A", alice(), true),
            ("root of A", root(), true),
            ("federated user of A", federated(), true),
            ("role session of another account", other.clone(), false),
            (
                "look-alike account (one digit off)",
                look_alike.clone(),
                false,
            ),
            ("same account number in aws-cn", china.clone(), false),
            (
                "user with the same account number in aws-cn",
                china_user.clone(),
                false,
            ),
        ] {
            let got = allows(&policy, &Call::new("/").by(Some(principal)));
            if got != expected {
                failures.push(format!("{who}: expected {expected}, got {got}"));
            }
        }
        let anonymous = allows(&policy, &Call::new("/").anonymous());
        if anonymous {
            failures.push("anonymous: an account principal must not match".to_owned());
        }
        assert!(
            failures.is_empty(),
            "Principal {written}:\n{}",
            failures.join("\n")
        );
    }
}

#[test]
fn partition_of_an_account_principal_is_explicit_or_the_default_partition() {
    let china = Call::new("/").by(Some(p(
        "arn:aws-cn:sts::123456789012:assumed-role/Deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    )));
    let aws = Call::new("/");
    let cn_root = allow_principal(r#""arn:aws-cn:iam::123456789012:root""#);
    let cn_default = allow_principal_with(
        r#""123456789012""#,
        &PolicyOptions::new().default_partition("aws-cn"),
    );
    check_outcomes(&[
        (
            &cn_root,
            &china,
            Outcome::Allow,
            "arn:aws-cn:iam::A:root matches A in aws-cn",
        ),
        (
            &cn_root,
            &aws,
            Outcome::ImplicitDeny,
            "arn:aws-cn:iam::A:root does not match A in aws",
        ),
        (
            &cn_default,
            &china,
            Outcome::Allow,
            "a bare account in default_partition(aws-cn) matches aws-cn",
        ),
        (
            &cn_default,
            &aws,
            Outcome::ImplicitDeny,
            "a bare account in default_partition(aws-cn) does not match aws",
        ),
    ]);
}

#[test]
fn role_arn_name_is_case_insensitive() {
    let session = Call::new("/");
    let lower_session = Call::new("/").by(Some(p(
        "arn:aws:sts::123456789012:assumed-role/deployer/ci",
        "AROAEXAMPLEID1234567:ci",
    )));
    for name in ["Deployer", "deployer", "DEPLOYER", "dEpLoYeR"] {
        let policy = allow_principal(&format!(r#""arn:aws:iam::123456789012:role/{name}""#));
        assert_eq!(
            session.outcome(&policy),
            Outcome::Allow,
            "role/{name} matches Deployer: IAM names are case-insensitive"
        );
        assert_eq!(
            lower_session.outcome(&policy),
            Outcome::Allow,
            "role/{name} matches deployer: IAM names are case-insensitive"
        );
    }
    let other_account = allow_principal(r#""arn:aws:iam::210987654321:role/Deployer""#);
    assert_eq!(
        session.outcome(&other_account),
        Outcome::ImplicitDeny,
        "a role of another account does not match"
    );
    let other_role = allow_principal(r#""arn:aws:iam::123456789012:role/Deployer2""#);
    assert_eq!(
        session.outcome(&other_role),
        Outcome::ImplicitDeny,
        "a role whose name extends ours does not match"
    );
}

#[test]
fn role_arn_with_a_path_matches_by_name_and_lints() {
    let policy = allow_principal(r#""arn:aws:iam::123456789012:role/team/deployer""#);
    assert_eq!(
        Call::new("/").outcome(&policy),
        Outcome::Allow,
        "a role ARN with a path matches the role by name (STS reports no path)"
    );
    let codes: Vec<&str> = policy.lints().iter().map(|l| l.code()).collect();
    assert!(
        codes.contains(&"lint.role_path"),
        "a role path is a lint: {codes:?}"
    );
}

#[test]
fn role_arn_does_not_match_a_user_of_the_same_name() {
    let policy = allow_principal(r#""arn:aws:iam::123456789012:role/alice""#);
    let user_alice = Call::new("/").by(Some(p(
        "arn:aws:iam::123456789012:user/alice",
        "AIDAEXAMPLEID1234567",
    )));
    assert_eq!(
        user_alice.outcome(&policy),
        Outcome::ImplicitDeny,
        "role/alice is not user/alice"
    );
    let user_policy = allow_principal(r#""arn:aws:iam::123456789012:user/Deployer""#);
    assert_eq!(
        Call::new("/").outcome(&user_policy),
        Outcome::ImplicitDeny,
        "user/Deployer is not role Deployer"
    );
}

#[test]
fn session_arn_matches_only_that_session() {
    let policy = allow_principal(r#""arn:aws:sts::123456789012:assumed-role/Deployer/ci""#);
    let other_session = Call::new("/").by(Some(p(
        "arn:aws:sts::123456789012:assumed-role/Deployer/laptop",
        "AROAEXAMPLEID1234567:laptop",
    )));
    let other_role = Call::new("/").by(Some(p(
        "arn:aws:sts::123456789012:assumed-role/Builder/ci",
        "AROAEXAMPLEBUILDER12:ci",
    )));
    check_outcomes(&[
        (
            &policy,
            &Call::new("/"),
            Outcome::Allow,
            "session ARN: that session",
        ),
        (
            &policy,
            &other_session,
            Outcome::ImplicitDeny,
            "session ARN: another session of the role",
        ),
        (
            &policy,
            &other_role,
            Outcome::ImplicitDeny,
            "session ARN: the same session name of another role",
        ),
        (
            &policy,
            &Call::new("/").by(Some(alice())),
            Outcome::ImplicitDeny,
            "session ARN: a user",
        ),
    ]);
}

#[test]
fn user_arn_with_path_matches_that_user() {
    let policy = allow_principal(r#""arn:aws:iam::123456789012:user/ops/alice""#);
    let other_user = Call::new("/").by(Some(p(
        "arn:aws:iam::123456789012:user/ops/mallory",
        "AIDAEXAMPLEMALLORY12",
    )));
    check_outcomes(&[
        (
            &policy,
            &Call::new("/").by(Some(alice())),
            Outcome::Allow,
            "user ARN with path: that user",
        ),
        (
            &policy,
            &other_user,
            Outcome::ImplicitDeny,
            "user ARN: another user",
        ),
        (
            &policy,
            &Call::new("/"),
            Outcome::ImplicitDeny,
            "user ARN: a role session",
        ),
        (
            &policy,
            &Call::new("/").by(Some(root())),
            Outcome::ImplicitDeny,
            "user ARN: the account root",
        ),
    ]);
}

#[test]
fn unique_id_pins_a_role_against_re_creation() {
    let by_id = allow_principal(r#""AROAEXAMPLEID1234567""#);
    let by_arn = allow_principal(r#""arn:aws:iam::123456789012:role/Deployer""#);
    // Same ARN, new role id: the role was deleted and re-created under the same name.
    let recreated = Call::new("/").by(Some(p(
        "arn:aws:sts::123456789012:assumed-role/Deployer/ci",
        "AROAEXAMPLEOTHER1234:ci",
    )));
    let user_by_id = allow_principal(r#""AIDAEXAMPLEID1234567""#);
    check_outcomes(&[
        (
            &by_id,
            &Call::new("/"),
            Outcome::Allow,
            "unique id AROA…: the role's sessions",
        ),
        (
            &by_id,
            &recreated,
            Outcome::ImplicitDeny,
            "unique id: a re-created role (new id) no longer matches",
        ),
        (
            &by_arn,
            &recreated,
            Outcome::Allow,
            "role ARN: the re-created role still matches",
        ),
        (
            &user_by_id,
            &Call::new("/").by(Some(alice())),
            Outcome::Allow,
            "unique id AIDA…: that user",
        ),
        (
            &user_by_id,
            &Call::new("/"),
            Outcome::ImplicitDeny,
            "unique id AIDA…: not a role session",
        ),
    ]);
}

#[test]
fn not_principal_with_deny_denies_everyone_else() {
    let policy = statements(
        r#"{"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"},
           {"Sid": "OnlyDeployer", "Effect": "Deny",
            "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:role/Deployer"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#,
    );
    check_outcomes(&[
        (
            &policy,
            &Call::new("/"),
            Outcome::Allow,
            "NotPrincipal Deny: the listed principal is not denied",
        ),
        (
            &policy,
            &Call::new("/").by(Some(alice())),
            Outcome::ExplicitDeny,
            "NotPrincipal Deny: everyone else is denied",
        ),
        (
            &policy,
            &Call::new("/").by(Some(root())),
            Outcome::ExplicitDeny,
            "NotPrincipal Deny: even the account root",
        ),
        (
            &policy,
            &Call::new("/").anonymous(),
            Outcome::ExplicitDeny,
            "NotPrincipal Deny: the anonymous caller too",
        ),
    ]);
    let decision = Call::new("/").by(Some(alice())).decide(&policy).unwrap();
    assert_eq!(
        decision.statement(),
        Some(1),
        "the NotPrincipal statement decides"
    );
}

#[test]
fn not_principal_with_allow_is_refused() {
    let err = Policy::from_json(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "NotPrincipal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.code().as_str(),
        "policy.principal",
        "NotPrincipal is accepted with Deny only"
    );
}

#[test]
fn anonymous_matches_only_principal_star() {
    let anonymous = Call::new("/").anonymous();
    let star = statements(
        r#"{"Sid": "Public", "Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#,
    );
    let aws_star = statements(
        r#"{"Sid": "Public", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#,
    );
    check_outcomes(&[
        (
            &star,
            &anonymous,
            Outcome::Allow,
            "Principal * admits the anonymous caller",
        ),
        (
            &aws_star,
            &anonymous,
            Outcome::Allow,
            "Principal {AWS: *} admits the anonymous caller",
        ),
        (
            &allow_principal(r#""123456789012""#),
            &anonymous,
            Outcome::ImplicitDeny,
            "an account does not match anonymous",
        ),
        (
            &allow_principal(r#""arn:aws:iam::123456789012:role/Deployer""#),
            &anonymous,
            Outcome::ImplicitDeny,
            "a role does not match anonymous",
        ),
        (
            &allow_principal(r#""AROAEXAMPLEID1234567""#),
            &anonymous,
            Outcome::ImplicitDeny,
            "a unique id does not match anonymous",
        ),
    ]);
}

#[test]
fn principal_type_values() {
    let c = |t: &str| format!(r#"{{"StringEquals": {{"aws:PrincipalType": "{t}"}}}}"#);
    let cases = [
        (
            c("AssumedRole"),
            Call::new("/"),
            "role session: AssumedRole",
        ),
        (
            c("User"),
            Call::new("/").by(Some(alice())),
            "IAM user: User",
        ),
        (
            c("Account"),
            Call::new("/").by(Some(root())),
            "account root: Account",
        ),
        (
            c("FederatedUser"),
            Call::new("/").by(Some(federated())),
            "federated user: FederatedUser",
        ),
        (
            c("Anonymous"),
            Call::new("/").anonymous(),
            "no principal: Anonymous",
        ),
    ];
    let mut all: Vec<_> = cases
        .iter()
        .map(|(c, r, why)| (c.as_str(), r, true, *why))
        .collect();
    let wrong = c("User");
    let role = Call::new("/");
    all.push((wrong.as_str(), &role, false, "a role session is not User"));
    check_conditions(&all);
}

#[test]
fn userid_and_username_values() {
    let role = Call::new("/");
    let user = Call::new("/").by(Some(alice()));
    let root = Call::new("/").by(Some(root()));
    let fed = Call::new("/").by(Some(federated()));
    let uid = |v: &str| format!(r#"{{"StringEquals": {{"aws:userid": "{v}"}}}}"#);
    let uname = |v: &str| format!(r#"{{"StringEquals": {{"aws:username": "{v}"}}}}"#);
    let cases = [
        (
            uid("AROAEXAMPLEID1234567:ci"),
            &role,
            true,
            "aws:userid of a role session is ROLEID:SESSION",
        ),
        (
            uid("AROAEXAMPLEID1234567"),
            &role,
            false,
            "aws:userid of a session is not the bare role id",
        ),
        (
            uid("AIDAEXAMPLEID1234567"),
            &user,
            true,
            "aws:userid of a user is its unique id",
        ),
        (
            uid("123456789012"),
            &root,
            true,
            "aws:userid of the root is the account id",
        ),
        (
            uid("123456789012:bob"),
            &fed,
            true,
            "aws:userid of a federated user is ACCOUNT:NAME",
        ),
        (
            uname("alice"),
            &user,
            true,
            "aws:username of a user is its name (no path)",
        ),
        (
            uname("ops/alice"),
            &user,
            false,
            "aws:username carries no path",
        ),
        (
            "{\"Null\": {\"aws:username\": \"true\"}}".to_owned(),
            &root,
            true,
            "aws:username is absent for the root",
        ),
        (
            "{\"Null\": {\"aws:username\": \"true\"}}".to_owned(),
            &fed,
            true,
            "aws:username is absent for a federated user",
        ),
        (
            "{\"StringLike\": {\"aws:userid\": \"AROA*:ci\"}}".to_owned(),
            &role,
            true,
            "StringLike on aws:userid",
        ),
    ];
    let cases: Vec<_> = cases
        .iter()
        .map(|(c, r, e, why)| (c.as_str(), *r, *e, *why))
        .collect();
    check_conditions(&cases);
}

#[test]
fn userid_of_an_anonymous_caller_is_anonymous() {
    // AUTHZ §4 (and IAM's table of aws:userid values): an anonymous caller's aws:userid is
    // `anonymous`.
    check_conditions(&[
        (
            r#"{"StringEquals": {"aws:userid": "anonymous"}}"#,
            &Call::new("/").anonymous(),
            true,
            "aws:userid of an anonymous caller is \"anonymous\"",
        ),
        (
            r#"{"Null": {"aws:userid": "false"}}"#,
            &Call::new("/").anonymous(),
            true,
            "aws:userid is present for an anonymous caller",
        ),
    ]);
}

#[test]
fn principal_pin_by_string_like_with_a_wildcard_before_the_account_is_not_a_pin() {
    // AUTHZ §5: an Allow with Principal "*" loads only when an account, ARN or unique id pins
    // it. StringLike's `*` crosses ':', so "arn:*:iam::123456789012:*" pins nothing: an IAM
    // user of ANOTHER account whose path holds ":iam::123456789012:" matches it.
    let json = r#"{"Version": "2012-10-17", "Statement": {"Sid": "Pinned?", "Effect": "Allow",
        "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
        "Condition": {"StringLike": {"aws:PrincipalArn": "arn:*:iam::123456789012:*"}}}}"#;
    let outsider = p(
        "arn:aws:iam::999999999999:user/p:iam::123456789012:/mallory",
        "AIDAEXAMPLEMALLORY12",
    );
    match Policy::from_json(json) {
        Err(e) => assert_eq!(e.code().as_str(), "policy.unpinned_allow", "{e}"),
        Ok(policy) => assert_eq!(
            Call::new("/").by(Some(outsider)).outcome(&policy),
            Outcome::ImplicitDeny,
            "the policy loaded as pinned to 123456789012, yet admits a user of account 999999999999"
        ),
    }
}

// =============================================================================================
// 3. Evaluation rules
// =============================================================================================

#[test]
fn default_deny_when_no_statement_applies() {
    let policy = statements(
        r#"{"Sid": "Reads", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/orders/*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}}"#,
    );
    let post = Call::new("/orders/1").method(Method::POST);
    let decision = post.decide(&policy).unwrap();
    assert_eq!(
        decision.outcome(),
        Outcome::ImplicitDeny,
        "default deny: nothing allows a POST"
    );
    assert_eq!(
        decision.statement(),
        None,
        "an implicit deny has no deciding statement"
    );
    let elsewhere = Call::new("/users/1");
    assert_eq!(
        elsewhere.outcome(&policy),
        Outcome::ImplicitDeny,
        "default deny: resource outside */orders/*"
    );
    let ok = Call::new("/orders/1").decide(&policy).unwrap();
    assert_eq!(
        (ok.outcome(), ok.statement()),
        (Outcome::Allow, Some(0)),
        "the Allow decides"
    );
}

#[test]
fn explicit_deny_beats_allow_in_either_order() {
    let allow = r#"{"Sid": "Allow", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
                    "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#;
    let deny = r#"{"Sid": "DenyAdmin", "Effect": "Deny", "Principal": "*",
                   "Action": "vpc-lattice-svcs:*", "Resource": "*/admin/*"}"#;
    let allow_first = statements(&format!("{allow}, {deny}"));
    let deny_first = statements(&format!("{deny}, {allow}"));
    let admin = Call::new("/admin/x");
    for (policy, deny_index, order) in [
        (&allow_first, 1, "Allow then Deny"),
        (&deny_first, 0, "Deny then Allow"),
    ] {
        let d = admin.decide(policy).unwrap();
        assert_eq!(
            d.outcome(),
            Outcome::ExplicitDeny,
            "{order}: explicit Deny wins over Allow"
        );
        assert_eq!(d.statement(), Some(deny_index), "{order}: the Deny decides");
        assert_eq!(policy.sid(deny_index), Some("DenyAdmin"));
        assert_eq!(
            Call::new("/orders/1").outcome(policy),
            Outcome::Allow,
            "{order}: the Deny does not reach /orders"
        );
    }
}

#[test]
fn policy_set_truth_table_every_layer_must_allow_any_deny_wins() {
    let allow = allow_principal(r#""123456789012""#);
    let implicit = allow_principal(r#""210987654321""#);
    let deny = statements(
        r#"{"Sid": "Allow", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"},
           {"Sid": "Deny", "Effect": "Deny", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#,
    );
    let call = Call::new("/");
    for (policy, expected) in [
        (&allow, Outcome::Allow),
        (&implicit, Outcome::ImplicitDeny),
        (&deny, Outcome::ExplicitDeny),
    ] {
        assert_eq!(call.outcome(policy), expected, "single layer sanity");
    }
    let layers = [
        ("allow", &allow, Outcome::Allow),
        ("implicit", &implicit, Outcome::ImplicitDeny),
        ("deny", &deny, Outcome::ExplicitDeny),
    ];
    let mut failures = Vec::new();
    for (n1, p1, o1) in &layers {
        for (n2, p2, o2) in &layers {
            let expected = if *o1 == Outcome::ExplicitDeny || *o2 == Outcome::ExplicitDeny {
                Outcome::ExplicitDeny
            } else if *o1 == Outcome::Allow && *o2 == Outcome::Allow {
                Outcome::Allow
            } else {
                Outcome::ImplicitDeny
            };
            let set = PolicySet::new()
                .with_layer("network", (*p1).clone())
                .with_layer("service", (*p2).clone());
            let d = set.evaluate(&call.request()).expect("evaluates");
            if d.outcome() != expected {
                failures.push(format!(
                    "network={n1} service={n2}: expected {expected:?}, got {:?}",
                    d.outcome()
                ));
            }
            if d.outcome() == Outcome::ExplicitDeny {
                let deny_layer = if *o1 == Outcome::ExplicitDeny { 0 } else { 1 };
                if d.layer() != deny_layer {
                    failures.push(format!(
                        "network={n1} service={n2}: deny from layer {}, expected {deny_layer}",
                        d.layer()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "PolicySet (Lattice stacking: every layer allows, any deny wins):\n{}",
        failures.join("\n")
    );
}

#[test]
fn empty_policy_set_denies() {
    let call = Call::new("/");
    let d = PolicySet::new()
        .evaluate(&call.request())
        .expect("evaluates");
    assert_eq!(
        d.outcome(),
        Outcome::ImplicitDeny,
        "an empty PolicySet denies"
    );
    assert!(!d.is_allowed());
}

// =============================================================================================
// 4. Request checks
// =============================================================================================

const NON_CANONICAL: &[&str] = &[
    "//x",
    "/x//y",
    "/./x",
    "/x/.",
    "/../x",
    "/x/../y",
    "/%2F",
    "/x%2fy",
    "/%2e",
    "/%2E%2E/x",
    "/%61",
    "/x%7E",
    "/a%5Cb",
    "/a\\b",
    "/a%zz",
    "/a%2",
    "/x%3a",
];

#[test]
fn non_canonical_paths_are_refused_when_the_policy_reads_the_path() {
    let by_resource = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/x/*"}"#,
    );
    let by_condition = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringLike": {"vpc-lattice-svcs:RequestPath": "*"}}}"#,
    );
    let by_deny_only = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"},
           {"Sid": "NoAdmin", "Effect": "Deny", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/admin"}"#,
    );
    let mut failures = Vec::new();
    for path in NON_CANONICAL {
        let call = Call::new("/").raw_path(path);
        for (policy, how) in [
            (&by_resource, "Resource */x/*"),
            (&by_condition, "a RequestPath condition"),
            (&by_deny_only, "a Deny's Resource"),
        ] {
            match call.decide(policy) {
                Err(e) if e.reason().as_str() == "request.path_not_canonical" => {}
                other => failures.push(format!("{path:?} under {how}: {other:?}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "non-canonical paths must be refused with request.path_not_canonical:\n{}",
        failures.join("\n")
    );
}

#[test]
fn non_canonical_paths_parsed_by_http_uri_are_refused() {
    let policy = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/x/*"}"#,
    );
    for uri in [
        "/x//y",
        "/./x",
        "/../x",
        "/%2F",
        "/%2e",
        "/%61",
        "/a%5Cb",
        "/x/%2e%2e/y?q=1",
    ] {
        let call = Call::new(uri);
        let err = call.decide(&policy).expect_err(uri);
        assert_eq!(err.reason().as_str(), "request.path_not_canonical", "{uri}");
    }
}

#[test]
fn non_canonical_paths_evaluate_normally_when_the_policy_ignores_the_path() {
    let policy = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}"#,
    );
    for path in NON_CANONICAL {
        let call = Call::new("/").raw_path(path);
        assert_eq!(
            call.decide(&policy).map(|d| d.outcome()).ok(),
            Some(Outcome::Allow),
            "{path:?}: Resource \"*\" does not read the path"
        );
    }
}

#[test]
fn canonical_paths_evaluate() {
    let policy = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": ["*/x", "*/x/*"]}"#,
    );
    check_outcomes(&[
        (&policy, &Call::new("/x"), Outcome::Allow, "/x matches */x"),
        (
            &policy,
            &Call::new("/x/"),
            Outcome::Allow,
            "a trailing slash is canonical",
        ),
        (
            &policy,
            &Call::new("/x/a%20b"),
            Outcome::Allow,
            "an encoded space is canonical",
        ),
        (
            &policy,
            &Call::new("/x/a/b/c"),
            Outcome::Allow,
            "IAM's * spans '/'",
        ),
        (
            &policy,
            &Call::new("/xy"),
            Outcome::ImplicitDeny,
            "/xy is not under /x",
        ),
        (
            &policy,
            &Call::new("/"),
            Outcome::ImplicitDeny,
            "/ is not under /x",
        ),
    ]);
}

#[test]
fn a_header_the_policy_reads_may_not_repeat() {
    let policy = statements(
        r#"{"Sid": "Team", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/X-Team": "Blue"}}}"#,
    );
    let twice = Call::new("/")
        .header("x-team", "Blue")
        .header("x-team", "Red");
    let err = twice
        .decide(&policy)
        .expect_err("a read header twice is ambiguous");
    assert_eq!(err.reason().as_str(), "request.header_ambiguous");
    let twice_same = Call::new("/")
        .header("x-team", "Blue")
        .header("x-team", "Blue");
    assert_eq!(
        twice_same
            .decide(&policy)
            .expect_err("even identical repeats")
            .reason()
            .as_str(),
        "request.header_ambiguous"
    );
    let other_twice = Call::new("/")
        .header("x-team", "Blue")
        .header("x-other", "1")
        .header("x-other", "2");
    assert_eq!(
        other_twice.outcome(&policy),
        Outcome::Allow,
        "a header the policy does not read may repeat"
    );
    assert_eq!(
        Call::new("/").outcome(&policy),
        Outcome::ImplicitDeny,
        "the header absent: StringEquals false"
    );
}

#[test]
fn a_header_read_only_by_a_deny_may_not_repeat() {
    let policy = statements(
        r#"{"Sid": "Allow", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"},
           {"Sid": "NoDebug", "Effect": "Deny", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-debug": "1"}}}"#,
    );
    // Smuggling "x-debug: 0, x-debug: 1" past the Deny must not work.
    let twice = Call::new("/").header("x-debug", "0").header("x-debug", "1");
    assert_eq!(
        twice
            .decide(&policy)
            .expect_err("ambiguous")
            .reason()
            .as_str(),
        "request.header_ambiguous"
    );
    assert_eq!(
        Call::new("/").header("x-debug", "1").outcome(&policy),
        Outcome::ExplicitDeny
    );
}

#[test]
fn a_policy_set_checks_the_request_for_every_layer() {
    let reads_path = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/x/*"}"#,
    );
    let ignores = allow_principal(r#""123456789012""#);
    let set = PolicySet::new()
        .with_layer("network", ignores)
        .with_layer("service", reads_path);
    let call = Call::new("/").raw_path("/x/../admin");
    let err = set
        .evaluate(&call.request())
        .expect_err("a layer reads the path");
    assert_eq!(err.reason().as_str(), "request.path_not_canonical");
}

#[test]
fn credential_headers_cannot_be_read_by_a_policy() {
    let mut failures = Vec::new();
    for header in [
        "authorization",
        "Authorization",
        "cookie",
        "proxy-authorization",
        "x-amz-security-token",
    ] {
        let json = format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow",
                "Principal": {{"AWS": "123456789012"}}, "Action": "*", "Resource": "*",
                "Condition": {{"StringLike": {{"vpc-lattice-svcs:RequestHeader/{header}": "*"}}}}}}}}"#
        );
        match Policy::from_json(&json) {
            Err(e) if e.code().as_str() == "policy.key_unavailable" => {}
            other => failures.push(format!("{header}: {other:?}")),
        }
    }
    let custom = PolicyOptions::new().credential_header(HeaderName::from_static("x-proof"));
    let json = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
        "Condition": {"Null": {"vpc-lattice-svcs:RequestHeader/X-Proof": "false"}}}}"#;
    match Policy::from_json_with(json, &custom) {
        Err(e) if e.code().as_str() == "policy.key_unavailable" => {}
        other => failures.push(format!("configured credential header x-proof: {other:?}")),
    }
    assert!(
        failures.is_empty(),
        "credential headers must be refused at load:\n{}",
        failures.join("\n")
    );
}

// =============================================================================================
// 5. explain
// =============================================================================================

#[test]
fn explain_names_the_failing_condition() {
    let policy = statements(
        r#"{"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/orders/*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}}"#,
    );
    let call = Call::new("/orders/1").method(Method::POST);
    let explanation = policy.explain(&call.request());
    let text = explanation.to_string();
    assert!(text.contains("decision: implicit_deny"), "{text}");
    assert!(text.contains("ReadOnly"), "{text}");
    assert!(text.contains("does not apply"), "{text}");
    assert!(
        text.contains("condition StringEquals on vpc-lattice-svcs:RequestMethod is false"),
        "explain names the failing clause: {text}"
    );
    assert_eq!(explanation.statements.len(), 1);
    let s = &explanation.statements[0];
    assert!(!s.applies);
    assert_eq!(s.sid.as_deref(), Some("ReadOnly"));
    assert_eq!(s.effect, Effect::Allow);
    assert!(
        s.reason.contains("/Condition/StringEquals"),
        "the pointer: {}",
        s.reason
    );
}

#[test]
fn explain_names_principal_and_resource_mismatches() {
    let policy = statements(
        r#"{"Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/Reader"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"},
           {"Sid": "Orders", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/orders/*"},
           {"Sid": "NoAdmin", "Effect": "Deny", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/admin/*"}"#,
    );
    let call = Call::new("/users/1");
    let e = policy.explain(&call.request());
    let text = e.to_string();
    assert!(text.contains("decision: implicit_deny"), "{text}");
    assert_eq!(
        e.statements.iter().map(|s| s.applies).collect::<Vec<_>>(),
        [false, false, false]
    );
    assert!(
        e.statements[0].reason.contains("Principal does not match"),
        "{text}"
    );
    assert!(
        e.statements[0]
            .reason
            .contains("arn:aws:iam::123456789012:role/Deployer"),
        "{text}"
    );
    assert!(
        e.statements[1]
            .reason
            .contains("Resource does not match path \"/users/1\""),
        "{text}"
    );
    assert!(
        e.statements[2].reason.contains("Resource does not match"),
        "{text}"
    );
    assert_eq!(e.statements[2].effect, Effect::Deny);

    let admin = Call::new("/admin/1");
    let e = policy.explain(&admin.request());
    assert!(e.to_string().contains("decision: explicit_deny"), "{e}");
    assert!(e.statements[2].applies, "the Deny applies: {e}");
    assert!(
        e.statements[2].reason.contains("every condition match"),
        "{e}"
    );
}

#[test]
fn explain_covers_every_layer_of_a_policy_set() {
    let network = allow_principal(r#""123456789012""#);
    let service = statements(
        r#"{"Sid": "Blue", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "Blue"}}}"#,
    );
    let set = PolicySet::new()
        .with_layer("network", network)
        .with_layer("service", service);
    let call = Call::new("/").header("x-team", "Red");
    let e = set.explain(&call.request());
    let text = e.to_string();
    assert!(text.contains("decision: implicit_deny"), "{text}");
    assert_eq!(e.statements.len(), 2);
    assert_eq!(
        (e.statements[0].layer.as_str(), e.statements[0].applies),
        ("network", true)
    );
    assert_eq!(
        (e.statements[1].layer.as_str(), e.statements[1].applies),
        ("service", false)
    );
    assert!(text.contains("[service]"), "{text}");
    assert!(
        text.contains("condition StringEquals on vpc-lattice-svcs:RequestHeader/x-team is false"),
        "{text}"
    );
}

#[test]
fn explain_reports_a_request_refused_before_evaluation() {
    let policy = statements(
        r#"{"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/x/*"}"#,
    );
    let call = Call::new("/").raw_path("/x/../y");
    let e = policy.explain(&call.request());
    assert!(e.decision.is_err());
    assert!(e.to_string().contains("refused before evaluation"), "{e}");
}

// =============================================================================================
// Route and token-audience keys (options-gated keys evaluate when configured)
// =============================================================================================

#[test]
fn route_and_token_audience_keys() {
    let route = Call::new("/orders/7").route("/orders/{id}");
    let aud = Call::new("/").audience("orders-api");
    check_conditions(&[
        (
            r#"{"StringEquals": {"tower-iam-auth:Route": "/orders/{id}"}}"#,
            &route,
            true,
            "Route: the matched template",
        ),
        (
            r#"{"StringEquals": {"tower-iam-auth:Route": "/orders/{id}"}}"#,
            &Call::new("/orders/7"),
            false,
            "Route absent: positive false",
        ),
        (
            r#"{"StringEquals": {"tower-iam-auth:TokenAudience": "orders-api"}}"#,
            &aud,
            true,
            "TokenAudience: the audience asked for",
        ),
        (
            r#"{"StringNotEquals": {"tower-iam-auth:TokenAudience": "orders-api"}}"#,
            &Call::new("/"),
            true,
            "TokenAudience absent: negated true",
        ),
        (
            r#"{"StringEquals": {"tower-iam-auth:AuthMethod": "proof"}}"#,
            &Call::new("/"),
            true,
            "AuthMethod proof",
        ),
        (
            r#"{"StringEquals": {"tower-iam-auth:SessionName": "ci"}}"#,
            &Call::new("/"),
            true,
            "SessionName of the role session",
        ),
        (
            r#"{"Null": {"tower-iam-auth:SessionName": "true"}}"#,
            &Call::new("/").by(Some(alice())),
            true,
            "SessionName absent for a user",
        ),
    ]);
}
