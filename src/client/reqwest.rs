//! [`IamAuthMiddleware`]: a [`reqwest_middleware`] middleware (reqwest 0.13) that attaches
//! `Authorization: Bearer <token>` from a [`BearerSource`] (an IAM proof from a
//! [`ProofSigner`](super::ProofSigner), or with `jwt` an exchanged JWT) to requests for the
//! configured origins only.

use std::net::IpAddr;
use std::sync::Arc;

use http::{Extensions, HeaderValue, header};
use reqwest_middleware::reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next};

use super::layer::{BearerSource, BoxError};

/// A configuration mistake found by [`IamAuthMiddlewareBuilder::build`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MiddlewareConfigError {
    /// No origin was configured: the middleware would attach nothing.
    #[error("configure at least one origin: .origin(\"https://api.example.com\")")]
    NoOrigins,
    /// An origin is not `scheme://host[:port]` with nothing after it.
    #[error("not an origin (scheme://host[:port]): {0:?}")]
    InvalidOrigin(String),
    /// An origin is plain `http` on a host that is not loopback.
    #[error("credentials are sent over https only (or http to a loopback address): {0:?}")]
    NotHttps(String),
}

/// Scheme, host and port: where a credential may go.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }
}

/// Whether a credential may be attached to a request for `url`: its origin is one of
/// `origins`, over `https` unless to a loopback host. The one place this rule lives.
fn may_carry_credential(origins: &[Origin], url: &Url) -> bool {
    let Some(origin) = Origin::of(url) else {
        return false;
    };
    let secure = match origin.scheme.as_str() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    };
    secure && origins.contains(&origin)
}

fn is_loopback(url: &Url) -> bool {
    // `Url` normalizes hosts: lower case, IPv4 in dotted decimal, IPv6 in brackets.
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Attaches bearer tokens from `T` to requests for the configured origins.
///
/// A credential is a bearer secret for its lifetime: sent to the wrong host, it lets that host
/// act as the caller. So the middleware attaches it only to requests whose scheme, host and port
/// equal one configured origin, and only over `https` unless the host is a loopback address;
/// every other request goes out untouched (and any `Authorization` it already carries is left
/// to the caller).
///
/// ```
/// use aws_credential_types::Credentials;
/// use tower_iam_auth::client::{IamAuthMiddleware, ProofSigner};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let signer = ProofSigner::builder(Credentials::for_tests())
///     .audience("orders-service")
///     .build()?;
/// let middleware = IamAuthMiddleware::builder(signer)
///     .origin("https://orders.internal.example.com")
///     .build()?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest_middleware::reqwest::Client::new())
///     .with(middleware)
///     .build();
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IamAuthMiddleware<T> {
    source: T,
    origins: Arc<[Origin]>,
}

impl<T> std::fmt::Debug for IamAuthMiddleware<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthMiddleware")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl<T: BearerSource> IamAuthMiddleware<T> {
    /// Starts a middleware taking tokens from `source`; at least one
    /// [`origin`](IamAuthMiddlewareBuilder::origin) is required.
    pub fn builder(source: T) -> IamAuthMiddlewareBuilder<T> {
        IamAuthMiddlewareBuilder {
            source,
            origins: Vec::new(),
        }
    }
}

/// Builder of [`IamAuthMiddleware`]; origins are checked in [`build`](Self::build).
#[must_use]
pub struct IamAuthMiddlewareBuilder<T> {
    source: T,
    origins: Vec<String>,
}

impl<T> std::fmt::Debug for IamAuthMiddlewareBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthMiddlewareBuilder")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl<T: BearerSource> IamAuthMiddlewareBuilder<T> {
    /// An origin that receives the credential: `https://host[:port]` (the port defaults to
    /// 443), or `http://` to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`). Requests
    /// to any other scheme, host or port go out without it.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Checks every origin.
    pub fn build(self) -> Result<IamAuthMiddleware<T>, MiddlewareConfigError> {
        if self.origins.is_empty() {
            return Err(MiddlewareConfigError::NoOrigins);
        }
        let origins = self
            .origins
            .iter()
            .map(|text| parse_origin(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IamAuthMiddleware {
            source: self.source,
            origins: origins.into(),
        })
    }
}

fn parse_origin(text: &str) -> Result<Origin, MiddlewareConfigError> {
    let invalid = || MiddlewareConfigError::InvalidOrigin(text.to_owned());
    let url = Url::parse(text).map_err(|_| invalid())?;
    // Only an origin: no userinfo, and nothing after the authority but an optional `/`.
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && !text.trim_end_matches('/').ends_with(['?', '#']);
    if !bare {
        return Err(invalid());
    }
    let origin = Origin::of(&url).ok_or_else(invalid)?;
    match origin.scheme.as_str() {
        "https" => Ok(origin),
        "http" if is_loopback(&url) => Ok(origin),
        "http" => Err(MiddlewareConfigError::NotHttps(text.to_owned())),
        _ => Err(invalid()),
    }
}

/// The token source failed: no request is sent without its credential.
#[derive(Debug, thiserror::Error)]
#[error("no credential for the request: {0}")]
struct CredentialError(#[source] BoxError);

#[async_trait::async_trait]
impl<T: BearerSource> Middleware for IamAuthMiddleware<T> {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if may_carry_credential(&self.origins, request.url()) {
            let token = self
                .source
                .bearer_token()
                .await
                .map_err(|e| reqwest_middleware::Error::middleware(CredentialError(e)))?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| reqwest_middleware::Error::middleware(CredentialError(e.into())))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        next.run(request, extensions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: &str, url: &str) -> bool {
        may_carry_credential(&[parse_origin(origin).unwrap()], &Url::parse(url).unwrap())
    }

    #[test]
    fn same_origin_only() {
        assert!(allowed(
            "https://api.example.com",
            "https://api.example.com/x?y"
        ));
        assert!(allowed(
            "https://api.example.com",
            "https://API.example.com:443/"
        ));
        assert!(allowed(
            "https://api.example.com:8443/",
            "https://api.example.com:8443/a"
        ));
        assert!(!allowed(
            "https://api.example.com",
            "https://api.example.com:8443/"
        ));
        assert!(!allowed(
            "https://api.example.com",
            "http://api.example.com/"
        ));
        assert!(!allowed(
            "https://api.example.com",
            "https://api.example.com.evil.io/"
        ));
        assert!(!allowed(
            "https://api.example.com",
            "https://evil.io/api.example.com"
        ));
        assert!(!allowed(
            "https://api.example.com",
            "https://x.api.example.com/"
        ));
        assert!(allowed(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/whoami"
        ));
        assert!(!allowed(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081/whoami"
        ));
        assert!(allowed("http://[::1]:8080", "http://[::1]:8080/"));
        assert!(allowed("http://localhost:3000", "http://localhost:3000/"));
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_non_origins() {
        for (text, https) in [
            ("http://api.example.com", true),
            ("http://10.0.0.1:80", true),
            ("https://api.example.com/path", false),
            ("https://user:pw@api.example.com", false),
            ("https://api.example.com?x", false),
            ("https://api.example.com#x", false),
            ("ftp://api.example.com", false),
            ("api.example.com", false),
        ] {
            let error = parse_origin(text).unwrap_err();
            assert_eq!(
                matches!(error, MiddlewareConfigError::NotHttps(_)),
                https,
                "{text}: {error}"
            );
        }
    }
}
