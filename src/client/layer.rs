//! [`BearerLayer`]: attaches `Authorization: Bearer <token>` from a [`BearerSource`] to outgoing
//! requests. [`IamProofLayer`] attaches proofs from a [`ProofSigner`]; with the `jwt` feature,
//! `JwtBearerLayer` attaches exchanged JWTs. Each attaches its credential only to the origins it
//! was built for ([`AllowedOrigins`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, header};
use tower_layer::Layer;
use tower_service::Service;

use super::origin::{AllowedOrigins, OriginError};
use super::signer::ProofSigner;

/// The error type of [`Bearer`]: token failures and the inner service's errors, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Something that hands out bearer tokens for outgoing requests, reusing them while they last.
pub trait BearerSource: Clone + Send + Sync + 'static {
    /// The token to send after `Bearer `.
    fn bearer_token(&self) -> impl Future<Output = Result<Arc<str>, BoxError>> + Send;
}

impl BearerSource for ProofSigner {
    async fn bearer_token(&self) -> Result<Arc<str>, BoxError> {
        Ok(self.token().await?.as_str().into())
    }
}

/// A Tower layer for HTTP clients that sets `Authorization: Bearer <token>` on requests to the
/// origins it was built for, and on no others.
///
/// A request whose URI is another origin (another scheme, host or port), including the next hop
/// of a redirect that passes through the layer again, goes out without the credential. Plain
/// `http` origins are refused at build unless the host is loopback (see [`Origin`](super::Origin)).
///
/// ```
/// use aws_credential_types::Credentials;
/// use tower_iam_auth::client::{IamProofLayer, ProofSigner};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None, None, "example");
/// let signer = ProofSigner::builder(credentials).audience("orders-service").build()?;
/// let layer = IamProofLayer::builder(signer).origin("https://orders.example.com").build()?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BearerLayer<T> {
    source: T,
    origins: Arc<AllowedOrigins>,
    relative_uris: bool,
}

impl<T> BearerLayer<T> {
    /// Starts a layer attaching tokens from `source`; name its origins with
    /// [`origin`](BearerLayerBuilder::origin).
    pub fn builder(source: T) -> BearerLayerBuilder<T> {
        BearerLayerBuilder {
            source,
            origins: Vec::new(),
            relative_uris: false,
        }
    }

    /// The origins that receive the credential.
    pub fn origins(&self) -> &AllowedOrigins {
        &self.origins
    }
}

/// Builder for [`BearerLayer`] (and so [`IamProofLayer`] and `JwtBearerLayer`).
#[must_use]
#[derive(Debug)]
pub struct BearerLayerBuilder<T> {
    source: T,
    origins: Vec<String>,
    relative_uris: bool,
}

impl<T> BearerLayerBuilder<T> {
    /// An origin that receives the credential, `https://host[:port]` (or `http://` to a
    /// loopback host). At least one is required.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Also attach the credential to requests with a relative URI (no scheme or host), for an
    /// inner service bound to one destination that it adds itself (a connection to one server, a
    /// tonic `Channel`). Off by default: such requests go out without the credential, because the
    /// layer cannot tell where they go.
    pub fn attach_to_relative_uris(mut self, attach: bool) -> Self {
        self.relative_uris = attach;
        self
    }

    /// Checks the origins.
    pub fn build(self) -> Result<BearerLayer<T>, OriginError> {
        Ok(BearerLayer {
            source: self.source,
            origins: Arc::new(AllowedOrigins::new(&self.origins)?),
            relative_uris: self.relative_uris,
        })
    }
}

impl<S, T: Clone> Layer<S> for BearerLayer<T> {
    type Service = Bearer<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer {
            inner,
            source: self.source.clone(),
            origins: Arc::clone(&self.origins),
            relative_uris: self.relative_uris,
        }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct Bearer<S, T> {
    inner: S,
    source: T,
    origins: Arc<AllowedOrigins>,
    relative_uris: bool,
}

impl<S, T> Bearer<S, T> {
    fn attaches_to(&self, uri: &http::Uri) -> bool {
        if uri.scheme().is_none() && uri.authority().is_none() {
            return self.relative_uris;
        }
        self.origins.allows_uri(uri)
    }
}

/// Attaches IAM proofs signed by a [`ProofSigner`].
pub type IamProofLayer = BearerLayer<ProofSigner>;

/// The service made by [`IamProofLayer`].
pub type IamProof<S> = Bearer<S, ProofSigner>;

impl<S, T, B> Service<Request<B>> for Bearer<S, T>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    T: BearerSource,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        // Anywhere else, the request goes as the caller made it: with no credential of ours.
        if !self.attaches_to(request.uri()) {
            return Box::pin(async move { inner.call(request).await.map_err(Into::into) });
        }
        Box::pin(async move {
            let token = source.bearer_token().await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}
