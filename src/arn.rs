//! ARN parsing and normalization of the identities STS reports (DESIGN §5).
//!
//! STS reports an assumed-role session as `arn:P:sts::A:assumed-role/ROLE/SESSION`. The principal
//! a policy talks about is the role, `arn:P:iam::A:role/ROLE`; the session name is kept apart.
//!
//! **Assumed-role ARNs carry no role path.** A role created as `/team/deployer` is reported as
//! `assumed-role/deployer/...`, so the normalized ARN is `arn:P:iam::A:role/deployer` and a
//! pattern that names a path cannot be checked against it. Match role *names* (IAM treats them
//! case-insensitively) and pin the principal id (`AROA…`) when a role may be deleted and
//! re-created under the same name.

use std::fmt;

use crate::endpoints::Partition;

/// What kind of IAM principal an identity is.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// An IAM role, reached through an assumed-role session.
    Role,
    /// An IAM user with long-term or session credentials.
    User,
    /// The account's root user.
    Root,
    /// A federated user (`sts:GetFederationToken`).
    FederatedUser,
}

impl PrincipalKind {
    /// `role`, `user`, `root` or `federated-user`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Role => "role",
            PrincipalKind::User => "user",
            PrincipalKind::Root => "root",
            PrincipalKind::FederatedUser => "federated-user",
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an ARN reported by STS could not be normalized.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Not `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    #[error("not an ARN")]
    Malformed,
    /// The partition is not one of [`Partition::ALL`].
    #[error("unknown partition")]
    UnknownPartition,
    /// The account is not 12 digits.
    #[error("account is not 12 digits")]
    BadAccount,
    /// The resource is not a principal STS reports.
    #[error("resource is not a caller identity")]
    UnsupportedResource,
    /// A name contains characters IAM does not allow.
    #[error("name has characters IAM does not allow")]
    BadName,
    /// The `UserId` does not fit the ARN (e.g. another session name).
    #[error("UserId does not match the ARN")]
    UserIdMismatch,
}

/// A caller identity in normalized form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NormalizedIdentity {
    /// The normalized principal ARN (`arn:P:iam::A:role/R` for sessions).
    pub arn: String,
    /// The ARN exactly as STS reported it.
    pub raw_arn: String,
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`... one of [`Partition::ALL`]).
    pub partition: String,
    /// The 12-digit account id.
    pub account: String,
    /// What kind of principal this is.
    pub kind: PrincipalKind,
    /// The role or user name (for root: `root`).
    pub name: String,
    /// The role session name, for assumed-role sessions.
    pub session_name: Option<String>,
    /// The unique id of the role or user (`AROA…`, `AIDA…`); the account id for root.
    pub principal_id: String,
    /// STS's `UserId`: `AROA…:SESSION` for role sessions, the unique id for users, the account
    /// id for root; empty when the identity came from a token that does not carry it.
    pub user_id: String,
}

impl fmt::Debug for NormalizedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NormalizedIdentity")
            .field("arn", &self.arn)
            .field("kind", &self.kind)
            .field("session_name", &self.session_name)
            .field("principal_id", &self.principal_id)
            .finish()
    }
}

/// Normalizes an `Arn`/`UserId` pair from a `GetCallerIdentity` answer.
pub fn normalize(raw_arn: &str, user_id: &str) -> Result<NormalizedIdentity, ArnError> {
    let mut fields = raw_arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ArnError::Malformed);
    };
    if partition.parse::<Partition>().is_err() {
        return Err(ArnError::UnknownPartition);
    }
    if !region.is_empty() {
        return Err(ArnError::Malformed);
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArnError::BadAccount);
    }
    let identity = |arn: String, kind, name: &str, session: Option<&str>, principal_id: &str| {
        NormalizedIdentity {
            arn,
            raw_arn: raw_arn.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            kind,
            name: name.to_owned(),
            session_name: session.map(str::to_owned),
            principal_id: principal_id.to_owned(),
            user_id: user_id.to_owned(),
        }
    };

    match (service, resource.split_once('/')) {
        ("sts", Some(("assumed-role", rest))) => {
            let (role, session) = rest.split_once('/').ok_or(ArnError::UnsupportedResource)?;
            check_name(role)?;
            check_name(session)?;
            // UserId of a session is `AROA…:SESSION`.
            let (role_id, id_session) = user_id.split_once(':').ok_or(ArnError::UserIdMismatch)?;
            if id_session != session {
                return Err(ArnError::UserIdMismatch);
            }
            check_unique_id(role_id)?;
            let arn = format!("arn:{partition}:iam::{account}:role/{role}");
            Ok(identity(
                arn,
                PrincipalKind::Role,
                role,
                Some(session),
                role_id,
            ))
        }
        ("sts", Some(("federated-user", name))) => {
            check_name(name)?;
            if user_id != format!("{account}:{name}") {
                return Err(ArnError::UserIdMismatch);
            }
            let arn = raw_arn.to_owned();
            Ok(identity(
                arn,
                PrincipalKind::FederatedUser,
                name,
                None,
                user_id,
            ))
        }
        ("iam", Some(("user", path_and_name))) => {
            // A user ARN keeps its path: `user/division/team/name`.
            let name = path_and_name.rsplit('/').next().unwrap_or_default();
            // Path segments may use any printable ASCII but '/' (IAM's path pattern); the name
            // itself follows the name rule.
            let path = &path_and_name[..path_and_name.len() - name.len()];
            let path_ok = path
                .split('/')
                .all(|seg| seg.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            if !path_ok || path.len() > 512 {
                return Err(ArnError::BadName);
            }
            check_name(name)?;
            check_unique_id(user_id)?;
            Ok(identity(
                raw_arn.to_owned(),
                PrincipalKind::User,
                name,
                None,
                user_id,
            ))
        }
        ("iam", None) if resource == "root" => {
            if user_id != account {
                return Err(ArnError::UserIdMismatch);
            }
            Ok(identity(
                raw_arn.to_owned(),
                PrincipalKind::Root,
                "root",
                None,
                user_id,
            ))
        }
        _ => Err(ArnError::UnsupportedResource),
    }
}

/// IAM names and session names: `[\w+=,.@-]`, 1..=128 characters.
fn check_name(name: &str) -> Result<(), ArnError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok { Ok(()) } else { Err(ArnError::BadName) }
}

/// Unique ids (`AROA…`, `AIDA…`) are letters and digits (upper-case at AWS; moto uses
/// lower-case for users).
fn check_unique_id(id: &str) -> Result<(), ArnError> {
    let ok = (4..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ArnError::UserIdMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_becomes_role_with_session_and_id() {
        let id = normalize(
            "arn:aws:sts::123456789012:assumed-role/deployer/ci-42",
            "AROAEXAMPLEID1234567:ci-42",
        )
        .unwrap();
        assert_eq!(id.arn, "arn:aws:iam::123456789012:role/deployer");
        assert_eq!(
            id.raw_arn,
            "arn:aws:sts::123456789012:assumed-role/deployer/ci-42"
        );
        assert_eq!(id.kind, PrincipalKind::Role);
        assert_eq!(id.name, "deployer");
        assert_eq!(id.session_name.as_deref(), Some("ci-42"));
        assert_eq!(id.principal_id, "AROAEXAMPLEID1234567");
        assert_eq!(id.account, "123456789012");
    }

    #[test]
    fn sso_session_names_with_at_sign_are_kept() {
        let id = normalize(
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/jane@example.com",
            "AROAEXAMPLEID1234567:jane@example.com",
        )
        .unwrap();
        assert_eq!(
            id.arn,
            "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0123abcd"
        );
        assert_eq!(id.session_name.as_deref(), Some("jane@example.com"));
    }

    #[test]
    fn users_stay_users_with_their_path() {
        let id = normalize(
            "arn:aws-cn:iam::123456789012:user/ops/alice",
            "AIDAEXAMPLE123",
        )
        .unwrap();
        assert_eq!(id.arn, "arn:aws-cn:iam::123456789012:user/ops/alice");
        assert_eq!(id.kind, PrincipalKind::User);
        assert_eq!(id.name, "alice");
        assert_eq!(id.session_name, None);
        assert_eq!(id.partition, "aws-cn");
    }

    #[test]
    fn user_paths_may_hold_any_printable_character() {
        let id = normalize(
            "arn:aws:iam::123456789012:user/a!b~c/alice",
            "AIDAEXAMPLE123",
        )
        .unwrap();
        assert_eq!(id.name, "alice");
        assert_eq!(id.arn, "arn:aws:iam::123456789012:user/a!b~c/alice");
        assert_eq!(
            normalize("arn:aws:iam::123456789012:user/a b/alice", "AIDAEXAMPLE123"),
            Err(ArnError::BadName)
        );
    }

    #[test]
    fn root_and_federated_users_are_recognized() {
        let root = normalize("arn:aws:iam::123456789012:root", "123456789012").unwrap();
        assert_eq!(root.kind, PrincipalKind::Root);
        let fed = normalize(
            "arn:aws:sts::123456789012:federated-user/bob",
            "123456789012:bob",
        )
        .unwrap();
        assert_eq!(fed.kind, PrincipalKind::FederatedUser);
    }

    #[test]
    fn session_name_must_match_user_id() {
        let err = normalize(
            "arn:aws:sts::123456789012:assumed-role/deployer/ci-42",
            "AROAEXAMPLEID1234567:other",
        );
        assert_eq!(err, Err(ArnError::UserIdMismatch));
    }

    #[test]
    fn every_known_partition_is_accepted_and_no_other() {
        for partition in Partition::ALL {
            let raw = format!("arn:{partition}:sts::123456789012:assumed-role/deployer/ci");
            let id = normalize(&raw, "AROAEXAMPLEID1234567:ci").unwrap();
            assert_eq!(id.partition, partition.as_str());
            assert_eq!(
                id.arn,
                format!("arn:{partition}:iam::123456789012:role/deployer")
            );
        }
        for partition in ["aws-iso-z", "AWS", "aws-eu", "aws-isob", ""] {
            let raw = format!("arn:{partition}:iam::123456789012:user/alice");
            assert_eq!(
                normalize(&raw, "AIDAEXAMPLEUSERID0001"),
                Err(ArnError::UnknownPartition),
                "{partition:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_and_foreign_arns() {
        let cases = [
            (
                "arn:aws:sts::123456789012:assumed-role/deployer",
                ArnError::UnsupportedResource,
            ),
            (
                "arn:aws:sts::12345678901:assumed-role/r/s",
                ArnError::BadAccount,
            ),
            (
                "arn:evil:sts::123456789012:assumed-role/r/s",
                ArnError::UnknownPartition,
            ),
            (
                "arn:aws:sts:us-east-1:123456789012:assumed-role/r/s",
                ArnError::Malformed,
            ),
            ("arn:aws:s3:::bucket", ArnError::BadAccount),
            (
                "arn:aws:iam::123456789012:group/admins",
                ArnError::UnsupportedResource,
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/r/s/extra",
                ArnError::BadName,
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/r s/s",
                ArnError::BadName,
            ),
            ("not-an-arn", ArnError::Malformed),
        ];
        for (arn, want) in cases {
            assert_eq!(normalize(arn, "AROAX:s").err(), Some(want), "{arn}");
        }
    }
}
