//! The request as a policy sees it (AUTHZ §4, §7): [`AuthzRequest`], the canonical-path check,
//! and the values of condition keys.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method};

use super::keys::Key;
use crate::arn::PrincipalKind;
use crate::error::{AuthError, ReasonCode};
use crate::principal::IamPrincipal;

pub use crate::principal::AuthMethod;

/// One request to authorize: who is calling (or nobody), and what they ask for. Built from
/// borrowed parts, so that authorizing allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct AuthzRequest<'a> {
    pub(crate) principal: Option<&'a IamPrincipal>,
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) auth_method: Option<AuthMethod>,
    pub(crate) source_ip: Option<IpAddr>,
    /// The time of the decision; read from `clock` (or the system clock) only if a policy asks.
    pub(crate) now: Option<SystemTime>,
    pub(crate) clock: Option<&'a crate::clock::SharedClock>,
    pub(crate) route: Option<&'a str>,
    pub(crate) token_audience: Option<&'a str>,
    /// Set by the enforcing layer in dry-run mode, for the audit event.
    pub(crate) dry_run: bool,
    /// Whether whoever built the request supplied `aws:SourceIp` (possibly as absent).
    pub(crate) source_ip_declared: bool,
    /// Whether whoever built the request supplied `tower-iam-auth:Route` (possibly as absent).
    pub(crate) route_declared: bool,
}

impl<'a> AuthzRequest<'a> {
    /// A request for `method` on `uri` with `headers`, from an anonymous caller, at the system
    /// time. Set the rest with the other methods.
    #[inline]
    pub fn new(method: &'a Method, uri: &'a http::Uri, headers: &'a HeaderMap) -> Self {
        Self {
            principal: None,
            method,
            path: uri.path(),
            query: uri.query(),
            headers,
            auth_method: None,
            source_ip: None,
            now: None,
            clock: None,
            route: None,
            token_audience: None,
            dry_run: false,
            source_ip_declared: false,
            route_declared: false,
        }
    }

    /// A request from the parts of an HTTP request.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers)
    }

    /// The verified caller; `None` for an anonymous caller.
    #[inline]
    pub fn principal(mut self, principal: Option<&'a IamPrincipal>) -> Self {
        self.principal = principal;
        self
    }

    /// How the caller authenticated.
    #[inline]
    pub fn auth_method(mut self, method: Option<AuthMethod>) -> Self {
        self.auth_method = method;
        self
    }

    /// The client address (`aws:SourceIp`); `None` when the source has none for this request.
    /// A policy that reads `aws:SourceIp` refuses to decide (`500 policy.not_enforceable`) for a
    /// request built without this call.
    #[inline]
    pub fn source_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.source_ip = ip;
        self.source_ip_declared = true;
        self
    }

    /// The time of the decision (`aws:CurrentTime`, `aws:EpochTime`).
    pub fn now(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The matched route template (`tower-iam-auth:Route`). As for
    /// [`source_ip`](Self::source_ip), a policy that reads it refuses to decide without it.
    #[inline]
    pub fn route(mut self, route: Option<&'a str>) -> Self {
        self.route = route;
        self.route_declared = true;
        self
    }

    /// The audience of the token asked for (`tower-iam-auth:TokenAudience`).
    pub fn token_audience(mut self, audience: Option<&'a str>) -> Self {
        self.token_audience = audience;
        self
    }

    /// Replaces the path (e.g. with axum's `OriginalUri` under `nest`).
    #[inline]
    pub fn path(mut self, path: &'a str) -> Self {
        self.path = path;
        self
    }

    /// The caller; `None` for an anonymous caller.
    pub fn caller(&self) -> Option<&'a IamPrincipal> {
        self.principal
    }

    /// The HTTP method.
    pub fn http_method(&self) -> &'a Method {
        self.method
    }

    /// The path the decision is about (the original one under axum `nest`). Custom engines
    /// should check it with [`check_canonical_path`] as the policies do.
    pub fn request_path(&self) -> &'a str {
        self.path
    }

    /// The raw query string.
    pub fn query_string(&self) -> Option<&'a str> {
        self.query
    }

    /// The request headers.
    pub fn header_map(&self) -> &'a HeaderMap {
        self.headers
    }

    /// How the caller authenticated.
    pub fn authenticated_with(&self) -> Option<AuthMethod> {
        self.auth_method
    }

    /// The client address, when the layer names its source.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// The time of the decision.
    pub fn time(&self) -> SystemTime {
        match (self.now, self.clock) {
            (Some(now), _) => now,
            (None, Some(clock)) => clock.now(),
            (None, None) => SystemTime::now(),
        }
    }

    /// Reads the time from `clock` when a policy asks for it (not on every request).
    #[inline]
    pub(crate) fn clock(mut self, clock: &'a crate::clock::SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The matched route template, under a [`PolicyLayer`](super::PolicyLayer).
    pub fn matched_route(&self) -> Option<&'a str> {
        self.route
    }

    /// The audience of the token asked for, at a token exchange.
    pub fn requested_audience(&self) -> Option<&'a str> {
        self.token_audience
    }

    /// `aws:PrincipalType`.
    pub(crate) fn principal_type(&self) -> &'static str {
        match self.principal.map(IamPrincipal::kind) {
            None => "Anonymous",
            Some(PrincipalKind::Role) => "AssumedRole",
            Some(PrincipalKind::User) => "User",
            Some(PrincipalKind::Root) => "Account",
            Some(PrincipalKind::FederatedUser) => "FederatedUser",
        }
    }

    /// The value of a single-valued string-like key, or `None` when absent. Values that are
    /// not text here (numbers, times, addresses) are read with their own accessors.
    pub(crate) fn string_value(&self, key: &Key, options: &KeyConstants) -> Option<&'a str>
    where
        Self: 'a,
    {
        let principal = self.principal;
        match key {
            Key::PrincipalArn => principal.map(IamPrincipal::arn),
            Key::PrincipalAccount => principal.map(IamPrincipal::account),
            Key::PrincipalType => Some(self.principal_type()),
            // IAM's value for anonymous callers.
            Key::UserId => match principal {
                None => Some("anonymous"),
                Some(p) => p.user_id(),
            },
            Key::Username => principal
                .filter(|p| p.kind() == PrincipalKind::User)
                .map(IamPrincipal::name),
            Key::RequestMethod => Some(self.method.as_str()),
            Key::RequestPath => Some(self.path),
            Key::RequestHeader(name) => {
                // Repeated headers were refused before evaluation; a non-text value too.
                self.headers.get(name).and_then(|v| v.to_str().ok())
            }
            Key::SessionName => principal.and_then(IamPrincipal::session_name),
            Key::AuthMethod => self.auth_method.map(AuthMethod::as_str),
            Key::TokenAudience => self.token_audience,
            Key::Route => self.route,
            Key::ServiceArn | Key::ServiceNetworkArn => {
                // Constants are 'static-ish but owned by the policy; see `constant_value`.
                let _ = options;
                None
            }
            _ => None,
        }
    }

    /// Milliseconds since the epoch (`aws:CurrentTime`).
    pub(crate) fn now_millis(&self) -> i64 {
        self.time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// The form-decoded values of a query key.
    pub(crate) fn query_values<'k>(
        &self,
        name: &'k str,
    ) -> impl Iterator<Item = Cow<'a, str>> + use<'a, 'k> {
        let query = self.query.unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Constant key values configured with the policy (service ARN, service network ARN, port).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyConstants {
    pub(crate) service_arn: Option<String>,
    pub(crate) service_network_arn: Option<String>,
    pub(crate) port: Option<u16>,
}

/// Checks AUTHZ §7 on the path: it starts with `/`, has no empty, `.` or `..` segment, no
/// backslash, no control character, no percent-encoded `/`, `\` or unreserved character, and
/// upper-case hex only. Anything else could be read differently by a router than by the policy.
pub fn check_canonical_path(path: &str) -> Result<(), AuthError> {
    let refuse = |why: &'static str| {
        Err(AuthError::new(ReasonCode::RequestPathNotCanonical).with_detail(why))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return refuse("path does not start with /");
    };
    // Segments in one pass over the bytes: empty (`//`, but a trailing `/` is allowed), `.`
    // and `..` are refused.
    let mut start = 0;
    for (i, b) in rest.bytes().chain(std::iter::once(b'/')).enumerate() {
        if b != b'/' {
            continue;
        }
        let segment = &rest.as_bytes()[start..i];
        let trailing = i == rest.len();
        match segment {
            b"" if trailing => {}
            b"" => return refuse("empty path segment"),
            b"." | b".." => return refuse("dot segment"),
            _ => {}
        }
        start = i + 1;
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            return refuse("backslash");
        }
        if b.is_ascii_control() || b >= 0x80 {
            return refuse("control or non-ASCII character");
        }
        if b == b'%' {
            let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return refuse("truncated percent-encoding");
            };
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            let (Some(h), Some(l)) = (hex(h), hex(l)) else {
                return refuse("percent-encoding is not upper-case hex");
            };
            let decoded = h << 4 | l;
            if decoded == b'/'
                || decoded == b'\\'
                || decoded.is_ascii_alphanumeric()
                || matches!(decoded, b'-' | b'.' | b'_' | b'~')
            {
                return refuse("percent-encoded '/', '\\' or unreserved character");
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_pass() {
        for path in [
            "/",
            "/orders",
            "/orders/",
            "/orders/42",
            "/a%20b",
            "/a%2Cb",
            "/~x",
        ] {
            assert!(check_canonical_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn non_canonical_paths_are_refused() {
        for path in [
            "", "orders", "//", "/a//b", "/./a", "/a/.", "/../a", "/a/..", "/a\\b", "/%2F", "/%2f",
            "/%2e", "/%61", "/%5C", "/%7E", "/a%2", "/a%zz", "/a\u{7f}",
        ] {
            let err = check_canonical_path(path).unwrap_err();
            assert_eq!(
                err.reason(),
                ReasonCode::RequestPathNotCanonical,
                "{path:?}"
            );
        }
    }
}
