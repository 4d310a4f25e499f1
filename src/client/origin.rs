//! Which destinations may receive a credential: [`Origin`] and [`AllowedOrigins`].
//!
//! A bearer credential is good for anyone who holds it until its window closes, so a client
//! attaches it only to the origins (scheme, host, port) it was configured for, and only over
//! `https` unless the host is a loopback address. Every client integration of this crate applies
//! this one rule; a redirect to another origin therefore never carries the credential.
//!
//! ```
//! use tower_iam_auth::client::{AllowedOrigins, Origin};
//!
//! let allowed = AllowedOrigins::new(["https://api.example.com"]).unwrap();
//! let uri: http::Uri = "https://api.example.com:443/orders".parse().unwrap();
//! assert!(allowed.allows_uri(&uri));
//! assert!(!allowed.allows_uri(&"https://api.example.com:8443/".parse().unwrap()));
//! assert!(!allowed.allows_uri(&"http://api.example.com/".parse().unwrap()));
//! // Plain http only to loopback hosts.
//! assert!(Origin::parse("http://api.example.com").is_err());
//! assert!(Origin::parse("http://127.0.0.1:8080").is_ok());
//! ```

use std::fmt;
use std::net::IpAddr;

use http::Uri;

/// A configured origin that is not acceptable.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not an absolute `scheme://host[:port]` URL (a path other than `/`, a query, a fragment or
    /// userinfo are refused too: an origin names where to connect, nothing more).
    #[error("{0:?} is not an origin (scheme://host[:port])")]
    Malformed(String),
    /// The scheme is not `https`, or `http` for a host that is not loopback.
    #[error(
        "{0:?}: credentials go over https only (plain http only to 127.0.0.1, ::1 or localhost)"
    )]
    Insecure(String),
    /// No origin was configured.
    #[error("no origin configured: say where the credential may be sent")]
    Empty,
}

/// The scheme of an [`Origin`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `https`.
    Https,
    /// `http`, to a loopback host only.
    Http,
}

impl Scheme {
    /// `"https"` or `"http"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
}

/// A scheme, a host (lower-case; IPv6 in brackets) and a port (the scheme's default when not
/// written), compared exactly. Only secure origins can be built: `https`, or `http` to a loopback
/// host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `https://host[:port]` (a trailing `/` is allowed).
    pub fn parse(url: &str) -> Result<Origin, OriginError> {
        let malformed = || OriginError::Malformed(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| malformed())?;
        let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
        // `http::Uri` keeps userinfo inside the authority; an origin has none.
        let userinfo = uri.authority().is_some_and(|a| a.as_str().contains('@'));
        if !path_ok || userinfo || url.contains('#') {
            return Err(malformed());
        }
        let scheme = uri.scheme_str().ok_or_else(malformed)?;
        let host = uri.host().ok_or_else(malformed)?;
        Origin::new(scheme, host, uri.port_u16()).map_err(|e| match e {
            OriginError::Malformed(_) => malformed(),
            OriginError::Insecure(_) => OriginError::Insecure(url.to_owned()),
            other => other,
        })
    }

    /// An origin from its parts, e.g. from another HTTP library's URL type. `port` `None` is
    /// the scheme's default.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Result<Origin, OriginError> {
        let described = || format!("{scheme}://{host}");
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else {
            return Err(OriginError::Insecure(described()));
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OriginError::Malformed(described()));
        }
        let host = host.to_ascii_lowercase();
        if scheme == Scheme::Http && !is_loopback(&host) {
            return Err(OriginError::Insecure(described()));
        }
        Ok(Origin {
            port: port.unwrap_or(scheme.default_port()),
            scheme,
            host,
        })
    }

    /// The origin a request goes to, or `None` for a relative URI or a scheme other than
    /// `http`/`https`. `http` to a host that is not loopback is `None` too: no credential can be
    /// sent there.
    pub fn of_uri(uri: &Uri) -> Option<Origin> {
        Origin::new(uri.scheme_str()?, uri.host()?, uri.port_u16()).ok()
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lower-case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// `localhost`, or an IP address that is loopback (`127.0.0.0/8`, `::1`).
fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The origins a credential may be sent to: at least one, each secure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<Origin>,
}

impl AllowedOrigins {
    /// Parses each origin with [`Origin::parse`]; an empty list is refused.
    pub fn new<I, S>(origins: I) -> Result<AllowedOrigins, OriginError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|o| Origin::parse(o.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        AllowedOrigins::from_origins(origins)
    }

    /// From already parsed origins; an empty list is refused.
    pub fn from_origins(
        origins: impl IntoIterator<Item = Origin>,
    ) -> Result<AllowedOrigins, OriginError> {
        let origins: Vec<Origin> = origins.into_iter().collect();
        if origins.is_empty() {
            return Err(OriginError::Empty);
        }
        Ok(AllowedOrigins { origins })
    }

    /// Whether `origin` is one of them (exact scheme, host and port).
    pub fn contains(&self, origin: &Origin) -> bool {
        self.origins.contains(origin)
    }

    /// Whether a request to `uri` may carry the credential: an absolute URI to one of the
    /// origins. A relative URI is not allowed here (see the layers' `attach_to_relative_uris`).
    pub fn allows_uri(&self, uri: &Uri) -> bool {
        Origin::of_uri(uri).is_some_and(|o| self.contains(&o))
    }

    /// The origins.
    pub fn iter(&self) -> impl Iterator<Item = &Origin> {
        self.origins.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(origins: &[&str], uri: &str) -> bool {
        AllowedOrigins::new(origins)
            .unwrap()
            .allows_uri(&uri.parse().unwrap())
    }

    #[test]
    fn matches_scheme_host_and_port_exactly() {
        let o = ["https://api.example.com"];
        assert!(allows(&o, "https://api.example.com/x?y=1"));
        assert!(allows(&o, "https://API.example.com:443/"));
        assert!(!allows(&o, "https://api.example.com:444/"));
        assert!(!allows(&o, "https://api.example.com.evil.example/"));
        assert!(!allows(&o, "https://evil.example/api.example.com"));
        assert!(!allows(&o, "https://sub.api.example.com/"));
        assert!(!allows(&o, "http://api.example.com/"), "downgrade to http");
        assert!(!allows(&o, "/relative"));
    }

    #[test]
    fn http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.1.2.3",
            "http://[::1]:8080/",
            "http://localhost:80",
        ] {
            assert!(Origin::parse(ok).is_ok(), "{ok}");
        }
        for insecure in [
            "http://api.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://[::2]",
            "ftp://127.0.0.1",
        ] {
            assert!(
                matches!(Origin::parse(insecure), Err(OriginError::Insecure(_))),
                "{insecure}"
            );
        }
        assert!(allows(
            &["http://127.0.0.1:3000"],
            "http://127.0.0.1:3000/a"
        ));
        assert!(!allows(
            &["http://127.0.0.1:3000"],
            "http://127.0.0.1:3001/a"
        ));
    }

    #[test]
    fn an_origin_names_only_where_to_connect() {
        for bad in [
            "https://api.example.com/path",
            "https://api.example.com/?q=1",
            "https://user:pw@api.example.com",
            "https://api.example.com#frag",
            "api.example.com",
            "",
        ] {
            assert!(
                matches!(Origin::parse(bad), Err(OriginError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            AllowedOrigins::new(Vec::<String>::new()),
            Err(OriginError::Empty)
        );
    }
}
