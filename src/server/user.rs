//! [`UserLayer`]: principal → application user.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::{Decided, ResponseBody, ResponseFuture};
use crate::error::{AuthError, ReasonCode, RenderRefusal};
use crate::principal::IamPrincipal;

/// Finds the application's user for a verified principal.
pub trait ResolveUser: Send + Sync + 'static {
    /// The application's user.
    type User: Clone + Send + Sync + 'static;
    /// Why the lookup failed (logged; the caller gets `503`).
    type Error: fmt::Display + Send + Sync + 'static;

    /// The user for `principal`, or `None` when there is none.
    fn resolve(
        &self,
        principal: &IamPrincipal,
    ) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send;
}

/// A [`ResolveUser`] made from an async closure; see [`resolve_user_fn`].
#[derive(Clone)]
pub struct ResolveUserFn<F>(F);

impl<F> fmt::Debug for ResolveUserFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolveUserFn")
    }
}

/// Wraps `f(principal) -> async Result<Option<User>, Error>` as a [`ResolveUser`].
pub fn resolve_user_fn<F, Fut, U, E>(f: F) -> ResolveUserFn<F>
where
    F: Fn(IamPrincipal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
    U: Clone + Send + Sync + 'static,
    E: fmt::Display + Send + Sync + 'static,
{
    ResolveUserFn(f)
}

impl<F, Fut, U, E> ResolveUser for ResolveUserFn<F>
where
    F: Fn(IamPrincipal) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
    U: Clone + Send + Sync + 'static,
    E: fmt::Display + Send + Sync + 'static,
{
    type User = U;
    type Error = E;

    fn resolve(
        &self,
        principal: &IamPrincipal,
    ) -> impl Future<Output = Result<Option<U>, E>> + Send {
        (self.0)(principal.clone())
    }
}

/// The application user of the caller, put in the request extensions by [`UserLayer`].
/// As an extractor, it answers `500` on a route that is not behind a `UserLayer` (a programming
/// error); use `Option<AppUser<U>>` on routes that also admit anonymous callers.
#[derive(Clone, Debug)]
pub struct AppUser<U>(pub U);

/// The cache key: the normalized ARN and the unique id (a re-created role is someone else).
type UserKey = (Box<str>, Box<str>);

struct Shared<R: ResolveUser> {
    resolver: R,
    cache: moka::future::Cache<UserKey, Option<R::User>>,
}

/// Principal → application user: this layer looks the verified caller up in the
/// application's own user store (the pattern of a users table keyed by role ARN) and hands
/// handlers the result as [`AppUser`].
///
/// The lookup is an async hook ([`ResolveUser`], or a closure through [`resolve_user_fn`]). Its
/// answers, "this user" and "no such user" alike, are cached per principal (normalized ARN and
/// unique id) for a bounded time and number of entries, and concurrent lookups for one principal
/// make one call. No user is `403 principal.unknown`; a failing lookup is `503` (never an
/// allow, and never cached). Requests without a principal (anonymous callers admitted by a
/// policy) pass through without a user.
///
/// Apply it inside [`IamAuthLayer`](super::IamAuthLayer), which puts the principal in the
/// request extensions:
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_iam_auth::server::{AppUser, IamAuthConfig, IamAuthLayer, UserLayer, resolve_user_fn};
///
/// #[derive(Clone)]
/// struct User { name: String }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = UserLayer::new(resolve_user_fn(|principal| async move {
///     // Look the caller up by its normalized role ARN in your own store.
///     let user = (principal.arn() == "arn:aws:iam::123456789012:role/orders-reader")
///         .then(|| User { name: "orders".into() });
///     Ok::<_, std::io::Error>(user)
/// }));
/// let config = IamAuthConfig::builder()
///     .audience("orders-service")
///     .allowed_accounts(["123456789012"])
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|AppUser(user): AppUser<User>| async move { user.name }))
///     .layer(users)
///     .layer(IamAuthLayer::new(config));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub struct UserLayer<R: ResolveUser> {
    shared: Arc<Shared<R>>,
    renderer: Option<Arc<dyn RenderRefusal>>,
}

impl<R: ResolveUser> Clone for UserLayer<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            renderer: self.renderer.clone(),
        }
    }
}

impl<R: ResolveUser> fmt::Debug for UserLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserLayer")
            .field("cached", &self.shared.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl<R: ResolveUser> UserLayer<R> {
    /// A layer with the default cache: answers kept 60 seconds, at most 10 000 principals.
    pub fn new(resolver: R) -> Self {
        Self::with_cache(resolver, Duration::from_secs(60), 10_000)
    }

    /// A layer whose answers are kept `ttl` (at most one hour), for at most `max_entries`
    /// principals. A zero `ttl` disables the cache.
    pub fn with_cache(resolver: R, ttl: Duration, max_entries: u64) -> Self {
        let ttl = ttl.min(Duration::from_secs(3600));
        let cache = moka::future::Cache::builder()
            .max_capacity(if ttl.is_zero() { 0 } else { max_entries })
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            shared: Arc::new(Shared { resolver, cache }),
            renderer: None,
        }
    }

    /// Renders the body of this layer's refusals (`403 principal.unknown`, `503`), as
    /// [`IamAuthConfigBuilder::render_refusal`](crate::server::IamAuthConfigBuilder::render_refusal)
    /// does for `IamAuthLayer`.
    #[must_use]
    pub fn render_refusal(mut self, renderer: impl RenderRefusal) -> Self {
        self.renderer = Some(Arc::new(renderer));
        self
    }
}

impl<R: ResolveUser, S> Layer<S> for UserLayer<R> {
    type Service = UserService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        UserService {
            inner,
            shared: self.shared.clone(),
            renderer: self.renderer.clone(),
        }
    }
}

/// The service made by [`UserLayer`].
pub struct UserService<S, R: ResolveUser> {
    inner: S,
    shared: Arc<Shared<R>>,
    renderer: Option<Arc<dyn RenderRefusal>>,
}

impl<S: Clone, R: ResolveUser> Clone for UserService<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            renderer: self.renderer.clone(),
        }
    }
}

impl<S, R: ResolveUser> fmt::Debug for UserService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserService").finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for UserService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: ResolveUser,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let renderer = self.renderer.clone();
        ResponseFuture::waiting(async move {
            if let Some(principal) = request.extensions().get::<IamPrincipal>().cloned() {
                match resolve(&shared, &principal).await {
                    Ok(user) => {
                        request.extensions_mut().insert(AppUser(user));
                    }
                    Err(error) => {
                        let refusal = error.to_response_for(request.headers(), renderer.as_deref());
                        return Ok(Decided::Refused(refusal));
                    }
                }
            }
            Ok(Decided::Inner(inner.call(request).await?))
        })
    }
}

async fn resolve<R: ResolveUser>(
    shared: &Shared<R>,
    principal: &IamPrincipal,
) -> Result<R::User, AuthError> {
    let key: UserKey = (principal.arn().into(), principal.principal_id().into());
    let lookup = async {
        shared.resolver.resolve(principal).await.map_err(|e| {
            tracing::warn!(principal = %principal, error = %e, "user lookup failed");
            e
        })
    };
    match shared.cache.try_get_with(key, lookup).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            tracing::info!(principal = %principal, "no application user for this principal");
            Err(AuthError::new(ReasonCode::PrincipalUnknown)
                .with_detail(format!("no user for {}", principal.arn())))
        }
        Err(_) => Err(AuthError::new(ReasonCode::PrincipalResolverUnavailable)),
    }
}

mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::AppUser;

    /// Rejection of the [`AppUser`] extractor: the route is not behind `UserLayer`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct MissingAppUser;

    impl IntoResponse for MissingAppUser {
        fn into_response(self) -> Response {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "AppUser extractor used on a route that is not behind UserLayer (inside IamAuthLayer)",
            )
                .into_response()
        }
    }

    impl<S: Send + Sync, U: Clone + Send + Sync + 'static> FromRequestParts<S> for AppUser<U> {
        type Rejection = MissingAppUser;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<AppUser<U>>()
                .cloned()
                .ok_or(MissingAppUser)
        }
    }

    impl<S: Send + Sync, U: Clone + Send + Sync + 'static> OptionalFromRequestParts<S> for AppUser<U> {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AppUser<U>>().cloned())
        }
    }
}

pub use extract::MissingAppUser;
