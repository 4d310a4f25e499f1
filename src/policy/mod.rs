//! Authorization with IAM policy documents, as AWS VPC Lattice auth policies use them.
//!
//! Authentication says who is calling; a [`Policy`] says who may do what. A document means what
//! it would mean as a VPC Lattice auth policy (action `vpc-lattice-svcs:Invoke`, the resource
//! the service ARN followed by the request path), or it is refused at load with a
//! [`PolicyError`] that has a stable [`code`](PolicyError::code) and the JSON pointer of the
//! offending element. Nothing is silently ignored: an unknown condition key, a key that a
//! `GetCallerIdentity` answer cannot prove (`aws:PrincipalOrgID`, tags...), a duplicate JSON key
//! at any depth, or an `Allow` that admits every AWS account is an error, not a guess.
//!
//! ```
//! use tower_iam_auth::policy::{AuthzRequest, Outcome, Policy};
//!
//! let policy = Policy::from_json(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [{
//!         "Sid": "ReadersMayRead",
//!         "Effect": "Allow",
//!         "Principal": {"AWS": "arn:aws:iam::123456789012:role/orders-reader"},
//!         "Action": "vpc-lattice-svcs:Invoke",
//!         "Resource": "*/orders/*",
//!         "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}
//!     }]
//! }"#)?;
//!
//! let (method, uri, headers) = (http::Method::POST, "/orders/7".parse()?, http::HeaderMap::new());
//! let request = AuthzRequest::new(&method, &uri, &headers); // anonymous
//! assert_eq!(policy.evaluate(&request)?.outcome(), Outcome::ImplicitDeny);
//!
//! // A policy that lets in any AWS account by accident does not load.
//! let open = Policy::from_json(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
//!     "Principal": "*", "Action": "*", "Resource": "*"}}"#);
//! assert_eq!(open.unwrap_err().code().as_str(), "policy.unpinned_allow");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What is accepted:
//!
//! - `Principal`: `"*"` or `{"AWS": …}` with 12-digit accounts, `arn:P:iam::A:root`, role ARNs
//!   (the role *name* is compared case-insensitively; a path is ignored with a lint, because STS
//!   does not report it), assumed-role session ARNs, user ARNs, and unique ids (`AROA…`,
//!   `AIDA…`, which pin a role against deletion and re-creation under the same name).
//!   `NotPrincipal` with `Deny` only. `Service`, `Federated`, `CanonicalUser` and partial
//!   wildcards are refused: use `ArnLike` on `aws:PrincipalArn`.
//! - `Action`: anything that covers `vpc-lattice-svcs:Invoke`; a statement whose actions never
//!   do is refused.
//! - `Resource`: `*`, `*/PATH-GLOB`, or a service ARN and path when
//!   [`PolicyOptions::service_arn`] is set. IAM's `*` spans `/`.
//! - Condition keys (names case-insensitive): `aws:PrincipalArn`, `aws:PrincipalAccount`,
//!   `aws:PrincipalType` (`AssumedRole`, `User`, `Account`, `FederatedUser`, `Anonymous`),
//!   `aws:userid`, `aws:username`, `aws:CurrentTime`, `aws:EpochTime`, `aws:SourceIp` (when a
//!   source is named), `vpc-lattice-svcs:RequestMethod`, `…:RequestPath`,
//!   `…:RequestHeader/NAME` (never a credential header), `…:RequestQueryString/KEY` (a set:
//!   `ForAnyValue:` / `ForAllValues:`), `…:Port`, `…:ServiceArn`, `…:ServiceNetworkArn` (when
//!   configured), `tower-iam-auth:SessionName`, `tower-iam-auth:AuthMethod` (`proof`, `jwt`),
//!   `tower-iam-auth:Anonymous` (Bool), `tower-iam-auth:TokenAudience` (token exchange
//!   policies) and `tower-iam-auth:Route` (under [`PolicyLayer`]).
//! - Every String, Numeric, Date, Bool, IpAddress, Arn and Null operator, `…IfExists`, and the
//!   set prefixes, with IAM's semantics: operators AND, keys AND, values OR; a negated operator
//!   needs no value to match; a missing key makes a positive operator false and a negated one
//!   true. Numbers and dates are parsed at load and never compared as floats. Policy variables
//!   (`${aws:username}`…) in 2012-10-17 documents; a condition whose variable names an absent key
//!   does not hold.
//!
//! Evaluation: default deny; any matching `Deny` wins; otherwise a matching `Allow` allows. A
//! [`PolicySet`] stacks policies as VPC Lattice stacks the service-network and the service
//! policy. Before evaluation, the path must be canonical (no `//`, dot segments, backslash,
//! encoded `/` or unreserved characters) and a header the policy reads must arrive at most once;
//! otherwise the request is refused with `400`, so that the decision cannot differ from what a
//! router makes of the request.

mod authorize;
mod builder;
mod compiled;
mod condition;
mod document;
mod error;
mod explain;
mod json;
mod keys;
pub(crate) mod layer;
mod options;
mod prefilter;
mod principal;
mod request;
mod set;
mod values;

pub use authorize::{Authorize, AuthorizeFn, PolicyHandle, authorize_fn};
pub use builder::{PolicyBuilder, StatementBuilder};
pub use compiled::{Decision, Outcome, Policy};
pub use document::{Effect, MAX_POLICY_BYTES};
pub use error::{Lint, PolicyError, PolicyErrorCode};
pub use explain::{Explanation, StatementExplanation};
pub use layer::{PolicyLayer, PolicyService, SourceIp};
pub use options::PolicyOptions;
pub use request::{AuthMethod, AuthzRequest, check_canonical_path};
pub use set::PolicySet;
