//! [`IamAuthMiddleware`]: a [`reqwest_middleware`] middleware (reqwest 0.13) that attaches
//! `Authorization: Bearer <token>` from a [`BearerSource`] (an IAM proof from a
//! [`ProofSigner`](super::ProofSigner), or with `jwt` an exchanged JWT) to requests for the
//! configured origins only.

use http::{Extensions, HeaderValue, header};
use reqwest_middleware::reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next};

use super::layer::{BearerSource, BoxError};
use super::origin::{AllowedOrigins, Origin, OriginError};

/// The origin a request for `url` goes to, by the rule of [`Origin`] (`None` for a scheme other
/// than `https`, or `http` off loopback: no credential goes there).
fn origin_of(url: &Url) -> Option<Origin> {
    Origin::new(url.scheme(), url.host_str()?, url.port()).ok()
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
    origins: AllowedOrigins,
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

    /// Checks every origin ([`Origin::parse`]): at least one, each `https` or loopback `http`.
    pub fn build(self) -> Result<IamAuthMiddleware<T>, OriginError> {
        Ok(IamAuthMiddleware {
            source: self.source,
            origins: AllowedOrigins::new(&self.origins)?,
        })
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
        if origin_of(request.url()).is_some_and(|o| self.origins.contains(&o)) {
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
        let origins = AllowedOrigins::new([origin]).unwrap();
        origin_of(&Url::parse(url).unwrap()).is_some_and(|o| origins.contains(&o))
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
        for (text, insecure) in [
            ("http://api.example.com", true),
            ("http://10.0.0.1:80", true),
            ("ftp://api.example.com", true),
            ("https://api.example.com/path", false),
            ("https://user:pw@api.example.com", false),
            ("https://api.example.com?x", false),
            ("https://api.example.com#x", false),
            ("api.example.com", false),
        ] {
            let error = IamAuthMiddleware::builder(ProofSource)
                .origin(text)
                .build()
                .unwrap_err();
            assert_eq!(
                matches!(error, OriginError::Insecure(_)),
                insecure,
                "{text}: {error}"
            );
        }
        let none = IamAuthMiddleware::builder(ProofSource).build().unwrap_err();
        assert_eq!(none, OriginError::Empty);
    }

    /// A source that is never asked: these tests only build.
    #[derive(Clone)]
    struct ProofSource;

    impl BearerSource for ProofSource {
        async fn bearer_token(&self) -> Result<std::sync::Arc<str>, BoxError> {
            unreachable!("not asked by a build")
        }
    }
}
