//! [`BearerLayer`]: attaches `Authorization: Bearer <token>` from a [`BearerSource`] to outgoing
//! requests. [`IamProofLayer`] attaches proofs from a [`ProofSigner`]; with the `jwt` feature,
//! `JwtBearerLayer` attaches exchanged JWTs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, header};
use tower_layer::Layer;
use tower_service::Service;

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

/// A Tower layer for HTTP clients that sets `Authorization: Bearer <token>` on every request.
#[derive(Clone, Debug)]
pub struct BearerLayer<T> {
    source: T,
}

impl<T> BearerLayer<T> {
    /// A layer attaching tokens from `source`.
    pub fn new(source: T) -> Self {
        Self { source }
    }
}

impl<S, T: Clone> Layer<S> for BearerLayer<T> {
    type Service = Bearer<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct Bearer<S, T> {
    inner: S,
    source: T,
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
        Box::pin(async move {
            let token = source.bearer_token().await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}
