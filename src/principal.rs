//! [`IamPrincipal`], the verified caller, and its axum extractors.
//!
//! Handlers take `IamPrincipal` (the request is refused by [`IamAuthLayer`] before the handler
//! runs if there is none) or `Option<IamPrincipal>` (for routes that also serve anonymous
//! callers). Extracting `IamPrincipal` from a route that is not behind the layer is a
//! programming error and answers `500` with a message naming the layer.
//!
//! [`IamAuthLayer`]: crate::server::IamAuthLayer

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::arn::{NormalizedIdentity, PrincipalKind};

/// How the caller authenticated: the value of `tower-iam-auth:AuthMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// An IAM proof (`iam-v1.`, `k8s-aws-v1.`, or a Vault-format login), verified by STS.
    Proof,
    /// A JWT, verified against its issuer's keys.
    Jwt,
}

impl AuthMethod {
    /// `proof` or `jwt`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Proof => "proof",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// A caller whose identity was verified by STS (or by a trusted token).
///
/// Only verification creates one, so a handler holding an `IamPrincipal` knows the request was
/// authenticated. Cloning is cheap (one reference count). Two principals are equal when they
/// name the same identity, however each authenticated.
#[derive(Clone)]
pub struct IamPrincipal {
    identity: Arc<NormalizedIdentity>,
    method: AuthMethod,
}

impl PartialEq for IamPrincipal {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for IamPrincipal {}

impl std::hash::Hash for IamPrincipal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity.hash(state);
    }
}

impl IamPrincipal {
    /// A principal proved by an IAM proof (see [`with_method`](Self::with_method)).
    #[cfg_attr(not(any(feature = "server", feature = "testing")), allow(dead_code))]
    pub(crate) fn from_identity(identity: NormalizedIdentity) -> Self {
        Self {
            identity: Arc::new(identity),
            method: AuthMethod::Proof,
        }
    }

    /// The same identity, authenticated by `method`.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    #[inline]
    pub(crate) fn with_method(self, method: AuthMethod) -> Self {
        Self { method, ..self }
    }

    /// How this caller authenticated (the policy key `tower-iam-auth:AuthMethod`).
    #[inline]
    pub fn auth_method(&self) -> AuthMethod {
        self.method
    }

    /// The normalized principal ARN: `arn:P:iam::A:role/R` for role sessions (no role path,
    /// see [`crate::arn`]), the user ARN for users.
    pub fn arn(&self) -> &str {
        &self.identity.arn
    }

    /// The ARN exactly as STS reported it, e.g. `arn:aws:sts::A:assumed-role/R/S`.
    pub fn raw_arn(&self) -> &str {
        &self.identity.raw_arn
    }

    /// The partition: `aws`, `aws-cn`, `aws-us-gov`... (one of [`Partition::ALL`](crate::endpoints::Partition::ALL)).
    pub fn partition(&self) -> &str {
        &self.identity.partition
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.identity.account
    }

    /// Role, user, root or federated user.
    pub fn kind(&self) -> PrincipalKind {
        self.identity.kind
    }

    /// The role or user name. IAM compares these case-insensitively.
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    /// The role session name, for role sessions.
    pub fn session_name(&self) -> Option<&str> {
        self.identity.session_name.as_deref()
    }

    /// The role's or user's unique id (`AROA…`, `AIDA…`), which changes when a role is deleted
    /// and re-created under the same name.
    pub fn principal_id(&self) -> &str {
        &self.identity.principal_id
    }

    /// STS's `UserId` (the policy key `aws:userid`): `AROA…:SESSION` for role sessions, the
    /// unique id for users, the account id for root; `None` when the token that proved this
    /// principal did not carry it.
    pub fn user_id(&self) -> Option<&str> {
        Some(self.identity.user_id.as_str()).filter(|id| !id.is_empty())
    }
}

impl IamPrincipal {
    /// Whether both are the same verified identity object (a cheap identity test for caches).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    #[inline]
    pub(crate) fn same_as(&self, other: &IamPrincipal) -> bool {
        Arc::ptr_eq(&self.identity, &other.identity)
    }

    /// The address of the identity, for hashing alongside [`same_as`](Self::same_as).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    #[inline]
    pub(crate) fn identity_addr(&self) -> usize {
        Arc::as_ptr(&self.identity) as usize
    }

    /// Refuses root and federated users unless allowed: the one rule behind the layer's and the
    /// JWT verifier's `allow_root` / `allow_federated_users`.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    #[inline]
    pub(crate) fn check_kind(
        self,
        allow_root: bool,
        allow_federated_users: bool,
    ) -> Result<Self, crate::error::AuthError> {
        let refused = match self.kind() {
            PrincipalKind::Root => !allow_root,
            PrincipalKind::FederatedUser => !allow_federated_users,
            _ => false,
        };
        if refused {
            return Err(crate::error::AuthError::new(
                crate::error::ReasonCode::PrincipalKindRefused,
            )
            .with_detail(format!("{} refused", self.kind())));
        }
        Ok(self)
    }
}

impl fmt::Debug for IamPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamPrincipal")
            .field("arn", &self.arn())
            .field("session_name", &self.session_name())
            .field("principal_id", &self.principal_id())
            .finish()
    }
}

impl fmt::Display for IamPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn())
    }
}

/// Serializes as `{arn, raw_arn, account, kind, name, session_name, principal_id}`.
impl Serialize for IamPrincipal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("IamPrincipal", 7)?;
        s.serialize_field("arn", self.arn())?;
        s.serialize_field("raw_arn", self.raw_arn())?;
        s.serialize_field("account", self.account())?;
        s.serialize_field("kind", self.kind().as_str())?;
        s.serialize_field("name", self.name())?;
        s.serialize_field("session_name", &self.session_name())?;
        s.serialize_field("principal_id", self.principal_id())?;
        s.end()
    }
}

#[cfg(feature = "server")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::IamPrincipal;

    /// Rejection of the [`IamPrincipal`] extractor: the route is not behind `IamAuthLayer`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct MissingIamPrincipal;

    impl IntoResponse for MissingIamPrincipal {
        fn into_response(self) -> Response {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "IamPrincipal extractor used on a route that is not behind IamAuthLayer; \
                 add .layer(IamAuthLayer::new(..)) to the router",
            )
                .into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for IamPrincipal {
        type Rejection = MissingIamPrincipal;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<IamPrincipal>()
                .cloned()
                .ok_or(MissingIamPrincipal)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for IamPrincipal {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<IamPrincipal>().cloned())
        }
    }
}

#[cfg(feature = "server")]
pub use extract::MissingIamPrincipal;
