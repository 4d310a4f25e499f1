//! The condition keys a policy may read (AUTHZ §4): their names, types, and when they exist.

use http::HeaderName;

use super::error::{PolicyError, PolicyErrorCode};
use super::options::PolicyOptions;

/// The type of a condition key's value, which decides the operators that fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    String,
    Arn,
    Numeric,
    /// `aws:EpochTime`: Numeric or Date operators.
    NumericOrDate,
    Date,
    Bool,
    Ip,
}

/// A condition key, resolved at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    PrincipalArn,
    PrincipalAccount,
    PrincipalType,
    UserId,
    Username,
    CurrentTime,
    EpochTime,
    SourceIp,
    RequestMethod,
    RequestPath,
    RequestHeader(HeaderName),
    RequestQueryString(Box<str>),
    Port,
    ServiceArn,
    ServiceNetworkArn,
    SessionName,
    AuthMethod,
    TokenAudience,
    Anonymous,
    Route,
}

/// Keys without a parameter, by canonical name. The index in this table is the variable id of
/// the key when it appears as `${name}`.
const SIMPLE: &[(&str, Key)] = &[
    ("aws:PrincipalArn", Key::PrincipalArn),
    ("aws:PrincipalAccount", Key::PrincipalAccount),
    ("aws:PrincipalType", Key::PrincipalType),
    ("aws:userid", Key::UserId),
    ("aws:username", Key::Username),
    ("aws:CurrentTime", Key::CurrentTime),
    ("aws:EpochTime", Key::EpochTime),
    ("aws:SourceIp", Key::SourceIp),
    ("vpc-lattice-svcs:RequestMethod", Key::RequestMethod),
    ("vpc-lattice-svcs:RequestPath", Key::RequestPath),
    ("vpc-lattice-svcs:Port", Key::Port),
    ("vpc-lattice-svcs:ServiceArn", Key::ServiceArn),
    ("vpc-lattice-svcs:ServiceNetworkArn", Key::ServiceNetworkArn),
    ("tower-iam-auth:SessionName", Key::SessionName),
    ("tower-iam-auth:AuthMethod", Key::AuthMethod),
    ("tower-iam-auth:TokenAudience", Key::TokenAudience),
    ("tower-iam-auth:Anonymous", Key::Anonymous),
    ("tower-iam-auth:Route", Key::Route),
];

const HEADER_PREFIX: &str = "vpc-lattice-svcs:requestheader/";
const QUERY_PREFIX: &str = "vpc-lattice-svcs:requestquerystring/";

/// AWS keys that a `GetCallerIdentity` answer cannot prove, with the reason given at load.
const UNPROVABLE: &[(&str, &str)] = &[
    (
        "aws:principalorgid",
        "GetCallerIdentity does not say which organization an account belongs to",
    ),
    (
        "aws:principalorgpaths",
        "GetCallerIdentity does not say which organization an account belongs to",
    ),
    (
        "aws:sourcevpc",
        "a plain HTTP service does not know the caller's VPC",
    ),
    (
        "aws:sourcevpce",
        "a plain HTTP service does not know the caller's VPC endpoint",
    ),
    (
        "aws:sourcevpcarn",
        "a plain HTTP service does not know the caller's VPC",
    ),
    (
        "aws:vpcsourceip",
        "a plain HTTP service does not know the caller's VPC",
    ),
    (
        "aws:principalisawsservice",
        "service principals cannot present a GetCallerIdentity proof",
    ),
    (
        "aws:principalservicename",
        "service principals cannot present a GetCallerIdentity proof",
    ),
    (
        "aws:multifactorauthpresent",
        "GetCallerIdentity does not say how the credentials were obtained",
    ),
    (
        "aws:multifactorauthage",
        "GetCallerIdentity does not say how the credentials were obtained",
    ),
    (
        "aws:securetransport",
        "the layer does not know how the connection reached this process",
    ),
    (
        "aws:sourceaccount",
        "only AWS services acting for a caller set it",
    ),
    (
        "aws:sourcearn",
        "only AWS services acting for a caller set it",
    ),
    (
        "aws:tokenissuetime",
        "GetCallerIdentity does not say when the session began",
    ),
    ("aws:requestedregion", "the request is not an AWS API call"),
    (
        "aws:referer",
        "read the header with vpc-lattice-svcs:RequestHeader/referer",
    ),
    (
        "aws:useragent",
        "read the header with vpc-lattice-svcs:RequestHeader/user-agent",
    ),
];

/// Headers a policy may not read: they carry credentials.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-amz-security-token",
];

impl Key {
    /// Resolves a key name (case-insensitively, as IAM does) under `options`.
    pub(crate) fn parse(
        name: &str,
        options: &PolicyOptions,
        pointer: &str,
    ) -> Result<Key, PolicyError> {
        let lower = name.to_ascii_lowercase();
        let error = |code, message: String| Err(PolicyError::new(code, pointer, message));
        if let Some(header) = lower.strip_prefix(HEADER_PREFIX) {
            let Ok(header) = HeaderName::from_bytes(header.as_bytes()) else {
                return error(
                    PolicyErrorCode::BadValue,
                    format!("{name:?} does not name a valid header"),
                );
            };
            if CREDENTIAL_HEADERS.contains(&header.as_str())
                || options
                    .credential_header
                    .as_ref()
                    .is_some_and(|h| *h == header)
            {
                return error(
                    PolicyErrorCode::KeyUnavailable,
                    format!(
                        "{name:?}: the {header} header carries credentials and cannot be read by a policy"
                    ),
                );
            }
            return Ok(Key::RequestHeader(header));
        }
        if let Some(query) = name
            .get(QUERY_PREFIX.len()..)
            .filter(|_| lower.starts_with(QUERY_PREFIX))
        {
            if query.is_empty() {
                return error(
                    PolicyErrorCode::BadValue,
                    format!("{name:?} names no query key"),
                );
            }
            // Query keys are case-sensitive: keep the name as written.
            return Ok(Key::RequestQueryString(query.into()));
        }
        let Some((_, key)) = SIMPLE.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            if let Some((_, why)) = UNPROVABLE.iter().find(|(n, _)| *n == lower).or_else(|| {
                ["aws:principaltag/", "aws:resourcetag/", "aws:requesttag/"]
                    .iter()
                    .find(|p| lower.starts_with(**p))
                    .map(|_| &("", "tags are not part of a GetCallerIdentity answer"))
            }) {
                return error(
                    PolicyErrorCode::KeyUnavailable,
                    format!("{name:?} cannot be evaluated here: {why}"),
                );
            }
            return error(
                PolicyErrorCode::UnknownConditionKey,
                format!("unknown condition key {name:?}"),
            );
        };
        let unavailable = |what: &str| {
            error(
                PolicyErrorCode::KeyUnavailable,
                format!("{name:?} is only available when {what}"),
            )
        };
        match key {
            Key::SourceIp if !options.source_ip => unavailable(
                "the layer names the source of the client address (socket peer or a trusted proxy header)",
            ),
            Key::Port if options.port.is_none() => unavailable("PolicyOptions::port is set"),
            Key::ServiceArn if options.service_arn.is_none() => {
                unavailable("PolicyOptions::service_arn is set")
            }
            Key::ServiceNetworkArn if options.service_network_arn.is_none() => {
                unavailable("PolicyOptions::service_network_arn is set")
            }
            Key::TokenAudience if !options.token_audience => {
                unavailable("the policy decides who may obtain tokens (TokenExchange)")
            }
            Key::Route if !options.route => {
                unavailable("the policy is enforced by a PolicyLayer under axum's route_layer")
            }
            key => Ok(key.clone()),
        }
    }

    /// Resolves `${name}` in a 2012-10-17 policy: only single-valued string keys are variables.
    pub(crate) fn variable_id(name: &str, options: &PolicyOptions) -> Option<u16> {
        let index = SIMPLE
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        let key = Key::parse(name, options, "").ok()?;
        matches!(key.key_type(), KeyType::String | KeyType::Arn).then_some(index as u16)
    }

    /// The key a variable id stands for.
    pub(crate) fn from_variable_id(id: u16) -> &'static Key {
        &SIMPLE[usize::from(id)].1
    }

    /// The canonical name, for messages and `explain`.
    pub(crate) fn name(&self) -> String {
        match self {
            Key::RequestHeader(h) => format!("vpc-lattice-svcs:RequestHeader/{h}"),
            Key::RequestQueryString(q) => format!("vpc-lattice-svcs:RequestQueryString/{q}"),
            key => SIMPLE
                .iter()
                .find(|(_, k)| k == key)
                .map(|(n, _)| (*n).to_owned())
                .unwrap_or_default(),
        }
    }

    /// The value type.
    pub(crate) fn key_type(&self) -> KeyType {
        match self {
            Key::PrincipalArn | Key::ServiceArn | Key::ServiceNetworkArn => KeyType::Arn,
            Key::CurrentTime => KeyType::Date,
            Key::EpochTime => KeyType::NumericOrDate,
            Key::Port => KeyType::Numeric,
            Key::SourceIp => KeyType::Ip,
            Key::Anonymous => KeyType::Bool,
            _ => KeyType::String,
        }
    }

    /// Whether the key holds a set of values (`ForAnyValue:` / `ForAllValues:` apply).
    pub(crate) fn multi_valued(&self) -> bool {
        matches!(self, Key::RequestQueryString(_))
    }

    /// Whether the caller alone chooses the value (headers, query, session name, method,
    /// path): an `Allow` conditioned only on these is a lint.
    pub(crate) fn caller_controlled(&self) -> bool {
        matches!(
            self,
            Key::RequestHeader(_)
                | Key::RequestQueryString(_)
                | Key::SessionName
                | Key::RequestMethod
                | Key::RequestPath
                | Key::Route
        )
    }

    /// Whether the key can be absent from a request (a negated operator on it in an `Allow`
    /// is then true for requests that lack it).
    pub(crate) fn can_be_absent(&self) -> bool {
        matches!(
            self,
            Key::PrincipalArn
                | Key::PrincipalAccount
                | Key::UserId
                | Key::Username
                | Key::SourceIp
                | Key::RequestHeader(_)
                | Key::RequestQueryString(_)
                | Key::SessionName
                | Key::AuthMethod
                | Key::Route
        )
    }
}
