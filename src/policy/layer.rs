//! Enforcing a policy on requests: the shared [`Enforcement`] used by
//! [`IamAuthLayer`](crate::server::IamAuthLayer), and [`PolicyLayer`], a standalone layer for
//! axum's `route_layer` that also sees the matched route.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::authorize::{Authorize, PolicyHandle};
use super::builder::StatementBuilder;
use super::compiled::{Decision, Outcome, Policy};
use super::request::{AuthMethod, AuthzRequest};
use super::values::IpNet;
use crate::clock::{Clock, SharedClock};
use crate::error::{AuthError, ReasonCode, RenderRefusal};
use crate::principal::IamPrincipal;
use crate::server::{ResponseBody, ResponseFuture};

/// Where `aws:SourceIp` comes from. Nothing is assumed: a policy that reads `aws:SourceIp` is
/// refused unless the layer names its source.
#[derive(Clone, Debug)]
pub enum SourceIp {
    /// The socket peer, from axum's `ConnectInfo<SocketAddr>` (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    SocketPeer,
    /// The right-most address of a forwarding header (e.g. `X-Forwarded-For`), believed only
    /// when the socket peer is one of the trusted proxies; otherwise the socket peer.
    TrustedProxyHeader {
        /// The header a trusted proxy appends the client address to.
        header: HeaderName,
        /// The proxies' addresses or networks.
        proxies: Vec<String>,
    },
}

/// [`SourceIp`] checked and parsed.
#[derive(Clone, Debug)]
pub(crate) enum SourceIpFrom {
    SocketPeer,
    Header {
        header: HeaderName,
        proxies: Vec<IpNet>,
    },
}

impl SourceIp {
    pub(crate) fn parse(self) -> Result<SourceIpFrom, String> {
        match self {
            SourceIp::SocketPeer => Ok(SourceIpFrom::SocketPeer),
            SourceIp::TrustedProxyHeader { header, proxies } => {
                if proxies.is_empty() {
                    return Err("a trusted proxy header needs at least one trusted proxy".into());
                }
                let proxies = proxies
                    .iter()
                    .map(|p| {
                        IpNet::parse(p).ok_or_else(|| format!("{p:?} is not an address or CIDR"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(SourceIpFrom::Header { header, proxies })
            }
        }
    }
}

impl SourceIpFrom {
    /// The client address of a request, or a `400` when a trusted proxy's header is ambiguous.
    pub(crate) fn read<B>(&self, request: &Request<B>) -> Result<Option<IpAddr>, AuthError> {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        match self {
            SourceIpFrom::SocketPeer => Ok(peer),
            SourceIpFrom::Header { header, proxies } => {
                let Some(peer_ip) = peer else {
                    return Ok(None);
                };
                if !proxies.iter().any(|p| p.contains(peer_ip)) {
                    return Ok(Some(peer_ip));
                }
                let mut values = request.headers().get_all(header).iter();
                let (Some(value), None) = (values.next(), values.next()) else {
                    return Err(
                        AuthError::new(ReasonCode::RequestHeaderRepeated).with_detail(format!(
                            "{header} from a trusted proxy is missing or repeated"
                        )),
                    );
                };
                let last = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.rsplit(',').next())
                    .and_then(|v| v.trim().parse::<IpAddr>().ok());
                match last {
                    Some(ip) => Ok(Some(ip)),
                    None => Err(AuthError::new(ReasonCode::RequestHeaderRepeated)
                        .with_detail(format!("{header} from a trusted proxy is not an address"))),
                }
            }
        }
    }
}

/// What decides after the allow list: a reloadable policy, or a custom engine.
#[derive(Clone)]
pub(crate) enum Authorizer {
    /// Kept as itself (not as a `dyn Authorize`), for its remembered decisions and its checks
    /// at build.
    Policy(PolicyHandle),
    Custom(Arc<dyn Authorize>),
}

impl Authorizer {
    #[inline]
    fn authorize(&self, request: &AuthzRequest<'_>) -> Result<Decision, AuthError> {
        match self {
            Authorizer::Policy(handle) => handle.authorize(request),
            Authorizer::Custom(custom) => custom.authorize(request),
        }
    }
}

/// Who may come in, as a builder collects it (`IamAuthConfigBuilder`, `TokenExchangeBuilder`).
#[derive(Clone, Default)]
pub(crate) struct Admission {
    pub(crate) authorizer: Option<Authorizer>,
    pub(crate) allowed: Vec<String>,
    pub(crate) allow_any_aws_account: bool,
    pub(crate) allow_anonymous: bool,
    pub(crate) dry_run: bool,
    pub(crate) source_ip: Option<SourceIp>,
}

/// Why an [`Admission`] does not build.
#[derive(Debug)]
pub(crate) enum AdmissionError {
    NoAdmission,
    AllowedPrincipal(super::PolicyError),
    Invalid(String),
}

impl Admission {
    pub(crate) fn policy(&mut self, handle: PolicyHandle) {
        self.authorizer = Some(Authorizer::Policy(handle));
    }

    pub(crate) fn authorize(&mut self, authorizer: Arc<dyn Authorize>) {
        self.authorizer = Some(Authorizer::Custom(authorizer));
    }

    /// Checks the settings; `None` when nothing is to be enforced (`allow_any_aws_account`).
    pub(crate) fn enforcement(
        &self,
        clock: &SharedClock,
    ) -> Result<Option<Enforcement>, AdmissionError> {
        if self.authorizer.is_none() && self.allowed.is_empty() && !self.allow_any_aws_account {
            return Err(AdmissionError::NoAdmission);
        }
        if self.allow_anonymous && self.authorizer.is_none() {
            return Err(AdmissionError::Invalid(
                "allow_anonymous needs a policy (or authorize) that says what anonymous callers may do".into(),
            ));
        }
        if let Some(Authorizer::Policy(handle)) = &self.authorizer {
            for (name, policy) in handle.current().layers() {
                if policy.reads_source_ip() && self.source_ip.is_none() {
                    return Err(AdmissionError::Invalid(format!(
                        "policy {name:?} reads aws:SourceIp: name its source with .source_ip(..)"
                    )));
                }
                if policy.reads_route() {
                    return Err(AdmissionError::Invalid(format!(
                        "policy {name:?} reads tower-iam-auth:Route, which only a PolicyLayer under route_layer sees"
                    )));
                }
            }
        }
        let admission = if self.allowed.is_empty() {
            None
        } else {
            let mut statement = StatementBuilder::allow().sid("AllowedPrincipals");
            for principal in &self.allowed {
                statement = statement.principal(principal.clone());
            }
            let policy = Policy::builder()
                .id("allowed-principals")
                .statement(statement)
                .build()
                .map_err(AdmissionError::AllowedPrincipal)?;
            Some(policy)
        };
        if admission.is_none() && self.authorizer.is_none() {
            // allow_any_aws_account alone: nothing to enforce.
            return Ok(None);
        }
        let source_ip = match self.source_ip.clone() {
            Some(source) => Some(source.parse().map_err(AdmissionError::Invalid)?),
            None => None,
        };
        Ok(Some(Enforcement {
            admission,
            authorizer: self.authorizer.clone(),
            dry_run: self.dry_run,
            source_ip,
            clock: clock.clone(),
            route: false,
        }))
    }
}

/// What decides, and how, for one layer.
#[derive(Clone)]
pub(crate) struct Enforcement {
    /// The principals let in at all (`allowed_accounts` / `allowed_principals`).
    pub(crate) admission: Option<Policy>,
    /// The policy or custom engine.
    pub(crate) authorizer: Option<Authorizer>,
    pub(crate) dry_run: bool,
    pub(crate) source_ip: Option<SourceIpFrom>,
    pub(crate) clock: SharedClock,
    /// Whether the matched route is supplied (a `PolicyLayer`).
    pub(crate) route: bool,
}

impl Enforcement {
    /// Decides one request for `principal` (`None`: anonymous). `Ok` lets it through.
    #[inline]
    pub(crate) fn enforce<B>(
        &self,
        request: &Request<B>,
        principal: Option<&IamPrincipal>,
        auth_method: Option<AuthMethod>,
    ) -> Result<(), AuthError> {
        let source_ip = match &self.source_ip {
            Some(from) => Some(from.read(request)?),
            None => None,
        };
        let original = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.path());
        // Under `nest`, the URI is stripped of its prefix: decide on what the client sent.
        let path = original.unwrap_or_else(|| request.uri().path());
        // An allow this thread remembers for the caller, method and path under the policy in
        // force (with nothing else to check first, and no audit event wanted for it) is the
        // decision: the request need not be described again.
        if let (Some(Authorizer::Policy(policy)), Some(caller), None) =
            (&self.authorizer, principal, &self.admission)
            && let Some(decision) = policy.remembered(caller, request.method(), path)
            && decision.is_allowed()
            && !super::authorize::audits_allows()
        {
            crate::metrics::record::policy_decision(decision.outcome().as_str());
            return Ok(());
        }
        let mut authz = AuthzRequest::new(request.method(), request.uri(), request.headers())
            .principal(principal)
            .auth_method(auth_method)
            .clock(&self.clock);
        if let Some(ip) = source_ip {
            authz = authz.source_ip(ip);
        }
        if self.route {
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(axum::extract::MatchedPath::as_str);
            authz = authz.route(route);
        }
        self.decide(authz.path(path))
    }

    /// Decides a request already described (the token exchange builds its own).
    #[inline]
    pub(crate) fn decide(&self, mut authz: AuthzRequest<'_>) -> Result<(), AuthError> {
        authz.dry_run = self.dry_run;
        let principal = authz.principal;
        // The allowed accounts and principals are a list, not a policy being tried out: dry-run
        // mode does not apply to them.
        if let Some(admission) = &self.admission
            && principal.is_some()
        {
            let decision = admission.evaluate(&authz)?;
            if !decision.is_allowed() {
                crate::metrics::record::policy_decision(decision.outcome().as_str());
                tracing::info!(target: "tower_iam_auth::policy", decision = decision.outcome().as_str(), principal = principal.map(|p| p.arn()), "principal not in the allowed accounts or principals");
                return Err(AuthError::new(ReasonCode::PolicyDenied)
                    .with_detail("not an allowed account or principal"));
            }
        }
        let Some(authorizer) = &self.authorizer else {
            if self.admission.is_some() && principal.is_some() {
                // One decision per request: the allow list's, when it is the only judge.
                crate::metrics::record::policy_decision("allow");
            }
            return Ok(());
        };
        let decision = authorizer.authorize(&authz)?;
        crate::metrics::record::policy_decision(decision.outcome().as_str());
        if decision.is_allowed() {
            return Ok(());
        }
        if principal.is_none() {
            // An anonymous caller that the policy does not admit is asked to authenticate, dry
            // run or not: dry-run mode lets through authenticated callers only.
            return Err(AuthError::new(ReasonCode::TokenMissing));
        }
        if self.dry_run {
            tracing::warn!(target: "tower_iam_auth::policy", principal = principal.map(|p| p.arn()), method = authz.method.as_str(), "dry run: a request the policy denies was let through");
            return Ok(());
        }
        Err(
            AuthError::new(ReasonCode::PolicyDenied).with_detail(match decision.outcome() {
                Outcome::ExplicitDeny => "explicit deny",
                _ => "implicit deny",
            }),
        )
    }
}

/// A Tower layer that enforces a policy on requests already authenticated by
/// [`IamAuthLayer`](crate::server::IamAuthLayer) (it reads the [`IamPrincipal`] from the
/// request extensions; with none, the caller is anonymous). Apply it with axum's `route_layer`
/// to give policies the matched route template as `tower-iam-auth:Route`.
///
/// Denials are `403` (`policy.denied`); an anonymous caller that the policy does not admit gets
/// `401`; a non-canonical path or an ambiguous header that the policy reads gets `400`.
#[derive(Clone)]
pub struct PolicyLayer {
    enforcement: Arc<Enforcement>,
    renderer: Option<Arc<dyn RenderRefusal>>,
}

impl std::fmt::Debug for PolicyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyLayer")
            .field("dry_run", &self.enforcement.dry_run)
            .finish_non_exhaustive()
    }
}

impl PolicyLayer {
    /// A layer enforcing `policy` (a [`Policy`], [`PolicySet`](super::PolicySet) or
    /// [`PolicyHandle`]).
    pub fn new(policy: impl Into<PolicyHandle>) -> Self {
        Self::enforcing(Authorizer::Policy(policy.into()))
    }

    /// A layer enforcing a custom [`Authorize`].
    pub fn with_authorizer(authorizer: impl Authorize) -> Self {
        Self::enforcing(Authorizer::Custom(Arc::new(authorizer)))
    }

    fn enforcing(authorizer: Authorizer) -> Self {
        Self {
            enforcement: Arc::new(Enforcement {
                admission: None,
                authorizer: Some(authorizer),
                dry_run: false,
                source_ip: None,
                clock: SharedClock::default(),
                route: true,
            }),
            renderer: None,
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Enforcement)) -> Self {
        f(Arc::make_mut(&mut self.enforcement));
        self
    }

    /// Evaluates and logs, but lets denied requests through (to try a policy on live traffic).
    #[must_use]
    pub fn dry_run(self, dry_run: bool) -> Self {
        self.edit(|e| e.dry_run = dry_run)
    }

    /// Where `aws:SourceIp` comes from.
    pub fn source_ip(self, source: SourceIp) -> Result<Self, String> {
        let parsed = source.parse()?;
        Ok(self.edit(|e| e.source_ip = Some(parsed)))
    }

    /// The clock for `aws:CurrentTime` and `aws:EpochTime`. Default: the system clock.
    #[must_use]
    pub fn clock(self, clock: impl Clock) -> Self {
        self.edit(|e| e.clock = SharedClock::new(clock))
    }

    /// Renders the body of this layer's refusals, as
    /// [`IamAuthConfigBuilder::render_refusal`](crate::server::IamAuthConfigBuilder::render_refusal)
    /// does for `IamAuthLayer`.
    #[must_use]
    pub fn render_refusal(mut self, renderer: impl RenderRefusal) -> Self {
        self.renderer = Some(Arc::new(renderer));
        self
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            enforcement: self.enforcement.clone(),
            renderer: self.renderer.clone(),
        }
    }
}

/// The service made by [`PolicyLayer`].
#[derive(Clone)]
pub struct PolicyService<S> {
    inner: S,
    enforcement: Arc<Enforcement>,
    renderer: Option<Arc<dyn RenderRefusal>>,
}

impl<S> std::fmt::Debug for PolicyService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PolicyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let principal = request.extensions().get::<IamPrincipal>().cloned();
        let method = principal.as_ref().map(IamPrincipal::auth_method);
        let decided = self
            .enforcement
            .enforce(&request, principal.as_ref(), method);
        match decided {
            // Decided at once: the service polled ready is the one called, with no clone.
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(error) => {
                let refusal = error.to_response_for(request.headers(), self.renderer.as_deref());
                ResponseFuture::refused(Box::new(refusal))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> IamPrincipal {
        IamPrincipal::from_identity(
            crate::arn::normalize(
                "arn:aws:sts::123456789012:assumed-role/reader/s",
                "AROAEXAMPLEREADER0001:s",
            )
            .unwrap(),
        )
    }

    /// Lets account 123456789012 call `/api/*`.
    fn handle() -> PolicyHandle {
        PolicyHandle::new(
            Policy::from_json(
                r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
                    "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*/api/*"}}"#,
            )
            .unwrap(),
        )
    }

    fn enforcement(handle: &PolicyHandle, allowed: &[&str]) -> Enforcement {
        let mut admission = Admission {
            allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
            ..Admission::default()
        };
        admission.policy(handle.clone());
        admission
            .enforcement(&SharedClock::default())
            .unwrap()
            .unwrap()
    }

    fn request(uri: &str, original: Option<&str>) -> Request<()> {
        let mut request = Request::get(uri).body(()).unwrap();
        if let Some(original) = original {
            let original = axum::extract::OriginalUri(original.parse().unwrap());
            request.extensions_mut().insert(original);
        }
        request
    }

    /// An allow remembered through one layer is no pass through another layer sharing the policy
    /// but also holding an allow list; under `nest`, the path remembered is the original one.
    #[test]
    fn a_remembered_allow_is_only_taken_where_nothing_else_decides() {
        let (handle, caller) = (handle(), caller());
        let open = enforcement(&handle, &[]);
        let listed = enforcement(&handle, &["111111111111"]);
        let decide = |e: &Enforcement, request: &Request<()>| {
            e.enforce(request, Some(&caller), Some(AuthMethod::Proof))
                .map_err(|e| e.reason())
        };
        let nested = request("/x", Some("/api/x"));
        for _ in 0..2 {
            assert_eq!(decide(&open, &nested), Ok(()));
            assert_eq!(decide(&open, &request("/api/x", None)), Ok(()));
            assert_eq!(
                decide(&open, &request("/x", None)),
                Err(ReasonCode::PolicyDenied)
            );
        }
        // The allow is remembered for the original path, and the policy's denial for `/x`.
        assert!(
            handle
                .remembered(&caller, &http::Method::GET, "/api/x")
                .is_some_and(|d| d.is_allowed())
        );
        assert!(
            handle
                .remembered(&caller, &http::Method::GET, "/x")
                .is_some_and(|d| !d.is_allowed())
        );
        for _ in 0..2 {
            assert_eq!(decide(&listed, &nested), Err(ReasonCode::PolicyDenied));
            // Anonymous: asked to authenticate.
            assert_eq!(
                listed.enforce(&nested, None, None).map_err(|e| e.reason()),
                Err(ReasonCode::TokenMissing)
            );
        }
    }
}
