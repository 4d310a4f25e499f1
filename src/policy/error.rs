//! [`PolicyError`], the refusal of a policy at load, and [`Lint`], a warning about one.

use std::fmt;

macro_rules! policy_error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal; )*) => {
        /// Why a policy was refused at load. Each variant has a stable string form.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum PolicyErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl PolicyErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [PolicyErrorCode] = &[$(PolicyErrorCode::$variant),*];

            /// The stable machine-readable code, e.g. `policy.duplicate_key`.
            pub const fn as_str(self) -> &'static str {
                match self { $( PolicyErrorCode::$variant => $code, )* }
            }
        }
    };
}

policy_error_codes! {
    /// Not JSON, or not the shape of a policy document (unknown or mis-cased element, wrong
    /// JSON type, missing element).
    Malformed => "policy.malformed";
    /// An object repeats a key, at any depth.
    DuplicateKey => "policy.duplicate_key";
    /// Two statements share a `Sid`.
    DuplicateSid => "policy.duplicate_sid";
    /// A condition key that does not exist.
    UnknownConditionKey => "policy.unknown_condition_key";
    /// A condition key that exists in AWS but cannot be evaluated here, or only with a setting
    /// that is not made.
    KeyUnavailable => "policy.key_unavailable";
    /// A condition operator or set prefix that does not exist (or is mis-cased).
    UnknownOperator => "policy.unknown_operator";
    /// An operator whose type does not fit the key, or a set prefix on a single-valued key.
    TypeMismatch => "policy.type_mismatch";
    /// A `Principal` / `NotPrincipal` that is refused or malformed.
    Principal => "policy.principal";
    /// A statement whose actions can never include `vpc-lattice-svcs:Invoke`.
    ActionNeverApplies => "policy.action_never_applies";
    /// A value that does not parse for its operator: number, date, CIDR, ARN, boolean, header.
    BadValue => "policy.bad_value";
    /// A `Resource` / `NotResource` that is malformed or cannot match this service.
    Resource => "policy.resource";
    /// A policy variable where IAM does not allow one, or naming an unknown key.
    Variable => "policy.variable";
    /// A pattern on `aws:PrincipalArn` that needs a role path, which STS does not report.
    NeedsRolePath => "policy.needs_role_path";
    /// An `Allow` that no account, ARN or unique id pins, whose `Sid` is not listed as public.
    UnpinnedAllow => "policy.unpinned_allow";
    /// The document, a statement list or a nesting is larger than allowed.
    TooLarge => "policy.too_large";
}

impl fmt::Display for PolicyErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy refused at load: a stable [`code`](Self::code), the RFC 6901 JSON
/// [`pointer`](Self::pointer) of the offending element, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    code: PolicyErrorCode,
    pointer: String,
    message: String,
}

impl PolicyError {
    pub(crate) fn new(
        code: PolicyErrorCode,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> PolicyErrorCode {
        self.code
    }

    /// The JSON pointer of the offending element (`""` for the whole document).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What is wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {:?}: {}", self.code, self.pointer, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// A warning about a policy that loads: legal, but probably not what its author meant.
/// Returned by [`Policy::lints`](super::Policy::lints) and logged once at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    pub(crate) code: &'static str,
    pub(crate) pointer: String,
    pub(crate) message: String,
}

impl Lint {
    pub(crate) fn new(code: &'static str, pointer: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }

    /// A stable code, e.g. `lint.literal_wildcard`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The JSON pointer of the element.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What may be wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {:?}: {}", self.code, self.pointer, self.message)
    }
}
