//! [`ResponseFuture`] and [`ResponseBody`] of [`IamAuth`](super::IamAuth).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

type BoxedFuture<B, E> = Pin<Box<dyn Future<Output = Result<Decided<B>, E>> + Send>>;

/// What a decision that waited ends with: the inner service's response, or a refusal.
pub(crate) enum Decided<B> {
    Inner(Response<B>),
    Refused(Response<Bytes>),
}

/// How [`IamAuth`](super::IamAuth) carries a response body: [`Wrapped`] in a [`ResponseBody`],
/// which takes any inner body (the default, and the only mode of the policy and user layers), or
/// as the inner service's own body type, [`InnerBody`], which must be [`FromRefusal`]. Sealed:
/// these two are the modes.
pub trait BodyMode<B>: sealed::Sealed {
    /// The body of the responses.
    type Body;
    /// The inner service's body.
    fn inner(body: B) -> Self::Body;
    /// A refusal's body (empty for a gRPC refusal).
    fn refusal(body: Bytes) -> Self::Body;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Wrapped {}
    impl Sealed for super::InnerBody {}
}

/// The default [`BodyMode`]: responses have a [`ResponseBody`], the inner service's body or a
/// refusal's.
#[derive(Debug, Clone, Copy)]
pub struct Wrapped;

/// The [`BodyMode`] of [`IamAuthLayer::inner_body`](super::IamAuthLayer::inner_body): responses
/// have the inner service's own body type, and refusals are written in it. With axum this saves
/// the boxing of every response's body (axum boxes any body type but its own).
#[derive(Debug, Clone, Copy)]
pub struct InnerBody;

impl<B> BodyMode<B> for Wrapped {
    type Body = ResponseBody<B>;

    fn inner(body: B) -> ResponseBody<B> {
        ResponseBody::inner(body)
    }

    fn refusal(body: Bytes) -> ResponseBody<B> {
        ResponseBody::rejection(body)
    }
}

impl<B: FromRefusal> BodyMode<B> for InnerBody {
    type Body = B;

    fn inner(body: B) -> B {
        body
    }

    fn refusal(body: Bytes) -> B {
        B::from_refusal(body)
    }
}

/// A response body type that can carry a refusal's body, for
/// [`IamAuthLayer::inner_body`](super::IamAuthLayer::inner_body). (The body a
/// [`RenderRefusal`](crate::error::RenderRefusal) writes is
/// [`error::RefusalBody`](crate::error::RefusalBody), which ends up in this type.)
pub trait FromRefusal: Body<Data = Bytes> {
    /// A body of exactly `body`, which ends with the headers when `body` is empty (a gRPC
    /// refusal is Trailers-Only).
    fn from_refusal(body: Bytes) -> Self;
}

impl FromRefusal for axum_core::body::Body {
    fn from_refusal(body: Bytes) -> Self {
        if body.is_empty() {
            Self::empty()
        } else {
            Self::from(body)
        }
    }
}

impl<B: Body<Data = Bytes>> FromRefusal for ResponseBody<B> {
    fn from_refusal(body: Bytes) -> Self {
        ResponseBody::rejection(body)
    }
}

pin_project! {
    /// The future returned by [`IamAuth`](super::IamAuth) (and by the policy and user layers):
    /// the inner service's future when the request was decided at once (a token verified
    /// before), a ready refusal, or a boxed future when the decision waits on something (STS, a
    /// JWKS fetch). `M`: how the response carries its body (a [`BodyMode`]).
    pub struct ResponseFuture<F, B, E, M = Wrapped> {
        #[pin]
        kind: FutureKind<F, B, E>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = FutureKindProj]
    enum FutureKind<F, B, E> {
        Inner { #[pin] future: F },
        // Boxed: a response is large, and this future is moved (and boxed by routers) on
        // every request, refused or not.
        Refused { response: Option<Box<Response<Bytes>>> },
        Waiting { future: BoxedFuture<B, E> },
    }
}

impl<F, B, E, M> ResponseFuture<F, B, E, M> {
    fn new(kind: FutureKind<F, B, E>) -> Self {
        Self {
            kind,
            mode: PhantomData,
        }
    }

    /// The inner service's future, for a request let through at once.
    pub(crate) fn inner(future: F) -> Self {
        Self::new(FutureKind::Inner { future })
    }

    /// A refusal decided at once.
    pub(crate) fn refused(response: Box<Response<Bytes>>) -> Self {
        Self::new(FutureKind::Refused {
            response: Some(response),
        })
    }

    /// A decision that waits (and then, maybe, the inner service).
    pub(crate) fn waiting<W>(future: W) -> Self
    where
        W: Future<Output = Result<Decided<B>, E>> + Send + 'static,
    {
        Self::new(FutureKind::Waiting {
            future: Box::pin(future),
        })
    }
}

impl<F, B, E, M> Future for ResponseFuture<F, B, E, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureKindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(M::inner))),
            FutureKindProj::Refused { response } => {
                let response = response
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(Ok((*response).map(M::refusal)))
            }
            FutureKindProj::Waiting { future } => future.as_mut().poll(cx).map(|result| {
                result.map(|decided| match decided {
                    Decided::Inner(response) => response.map(M::inner),
                    Decided::Refused(response) => response.map(M::refusal),
                })
            }),
        }
    }
}

impl<F, B, E, M> fmt::Debug for ResponseFuture<F, B, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The response body of [`IamAuth`](super::IamAuth): the inner service's body, or the small
    /// JSON body of a refusal.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { body: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn rejection(body: Bytes) -> Self {
        // An empty body ends with the headers (a gRPC Trailers-Only refusal is one HEADERS
        // frame with END_STREAM).
        Self {
            kind: Kind::Rejection {
                body: (!body.is_empty()).then_some(body),
            },
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Inner { .. } => "ResponseBody::Inner",
            Kind::Rejection { .. } => "ResponseBody::Rejection",
        })
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { body } => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
