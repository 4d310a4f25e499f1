//! [`IamProofLayer`]: attaches `Authorization: Bearer iam-v1.…` to outgoing requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, header};
use tower_layer::Layer;
use tower_service::Service;

use super::signer::ProofSigner;

/// The error type of [`IamProof`]: signing failures and the inner service's errors, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A Tower layer for HTTP clients that signs (or reuses) a proof for every request.
#[derive(Clone, Debug)]
pub struct IamProofLayer {
    signer: ProofSigner,
}

impl IamProofLayer {
    /// A layer attaching tokens from `signer`.
    pub fn new(signer: ProofSigner) -> Self {
        Self { signer }
    }
}

impl<S> Layer<S> for IamProofLayer {
    type Service = IamProof<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IamProof {
            inner,
            signer: self.signer.clone(),
        }
    }
}

/// The service made by [`IamProofLayer`].
#[derive(Clone, Debug)]
pub struct IamProof<S> {
    inner: S,
    signer: ProofSigner,
}

impl<S, B> Service<Request<B>> for IamProof<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        Box::pin(async move {
            let token = signer.token().await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.as_str()))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}
