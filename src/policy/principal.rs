//! The `Principal` / `NotPrincipal` element (AUTHZ §3): what each entry means, and matching it.

use super::error::{PolicyError, PolicyErrorCode};
use super::json::{Json, pointer_index, pointer_push};
use crate::arn::PrincipalKind;
use crate::principal::IamPrincipal;

/// One entry of a `Principal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `*`: every caller, anonymous included.
    Any,
    /// Every principal of an account.
    Account { partition: String, account: String },
    /// Sessions of a role (name compared ASCII case-insensitively; path ignored).
    Role {
        partition: String,
        account: String,
        name: String,
    },
    /// Exactly one role session.
    Session {
        partition: String,
        account: String,
        role: String,
        session: String,
    },
    /// One IAM user, by ARN (with its path).
    User { arn: String },
    /// The principal whose unique id (`AROA…`, `AIDA…`) is this.
    UniqueId(String),
}

impl PrincipalEntry {
    /// Whether `principal` (or an anonymous caller, `None`) is this entry.
    pub(crate) fn matches(&self, principal: Option<&IamPrincipal>) -> bool {
        let Some(p) = principal else {
            return *self == PrincipalEntry::Any;
        };
        match self {
            PrincipalEntry::Any => true,
            PrincipalEntry::Account { partition, account } => {
                p.partition() == partition && p.account() == account
            }
            PrincipalEntry::Role {
                partition,
                account,
                name,
            } => {
                p.kind() == PrincipalKind::Role
                    && p.partition() == partition
                    && p.account() == account
                    && p.name().eq_ignore_ascii_case(name)
            }
            PrincipalEntry::Session {
                partition,
                account,
                role,
                session,
            } => {
                p.kind() == PrincipalKind::Role
                    && p.partition() == partition
                    && p.account() == account
                    && p.name().eq_ignore_ascii_case(role)
                    && p.session_name() == Some(session.as_str())
            }
            PrincipalEntry::User { arn } => p.kind() == PrincipalKind::User && p.arn() == arn,
            PrincipalEntry::UniqueId(id) => !p.principal_id().is_empty() && p.principal_id() == id,
        }
    }
}

/// A parsed `Principal` or `NotPrincipal`.
#[derive(Clone, Debug)]
pub(crate) struct PrincipalClause {
    pub(crate) not: bool,
    pub(crate) entries: Vec<PrincipalEntry>,
    /// Role ARNs written with a path (a lint), with their JSON pointers.
    pub(crate) role_paths: Vec<(String, String)>,
}

impl PrincipalClause {
    /// Whether the statement applies to this caller, as far as the principal goes.
    pub(crate) fn matches(&self, principal: Option<&IamPrincipal>) -> bool {
        let any = self.entries.iter().any(|e| e.matches(principal));
        any != self.not
    }

    /// Whether some entry pins an account, ARN or unique id (not `*`).
    pub(crate) fn is_wildcard(&self) -> bool {
        self.entries.contains(&PrincipalEntry::Any)
    }

    /// Parses the element's value. `default_partition` is the partition of bare account ids.
    pub(crate) fn parse(
        not: bool,
        value: &Json,
        pointer: &str,
        default_partition: &str,
    ) -> Result<PrincipalClause, PolicyError> {
        let mut clause = PrincipalClause {
            not,
            entries: Vec::new(),
            role_paths: Vec::new(),
        };
        match value {
            Json::String(s) if s == "*" => clause.entries.push(PrincipalEntry::Any),
            Json::Object(members) if !members.is_empty() => {
                for (name, value) in members {
                    let at = pointer_push(pointer, name);
                    if name != "AWS" {
                        let why = match name.as_str() {
                            "Service" | "Federated" | "CanonicalUser" => format!(
                                "{name} principals cannot present a GetCallerIdentity proof; \
                                 only \"AWS\" principals are accepted"
                            ),
                            _ => format!("unknown principal type {name:?}; use \"AWS\""),
                        };
                        return Err(PolicyError::new(PolicyErrorCode::Principal, at, why));
                    }
                    let items: Vec<(&Json, String)> = match value {
                        Json::Array(items) if !items.is_empty() => items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (v, pointer_index(&at, i)))
                            .collect(),
                        Json::Array(_) => {
                            return Err(PolicyError::new(
                                PolicyErrorCode::Principal,
                                at,
                                "an empty principal list",
                            ));
                        }
                        other => vec![(other, at.clone())],
                    };
                    for (item, at) in items {
                        let Json::String(text) = item else {
                            return Err(PolicyError::new(
                                PolicyErrorCode::Malformed,
                                at,
                                format!("a principal is a string, not {}", item.type_name()),
                            ));
                        };
                        clause.push(text, &at, default_partition)?;
                    }
                }
            }
            _ => {
                return Err(PolicyError::new(
                    PolicyErrorCode::Principal,
                    pointer,
                    "Principal is \"*\" or an object such as {\"AWS\": [...]}",
                ));
            }
        }
        Ok(clause)
    }

    fn push(&mut self, text: &str, at: &str, default_partition: &str) -> Result<(), PolicyError> {
        let refuse = |why: String| Err(PolicyError::new(PolicyErrorCode::Principal, at, why));
        if text == "*" {
            self.entries.push(PrincipalEntry::Any);
            return Ok(());
        }
        if text.contains(['*', '?']) {
            return refuse(format!(
                "{text:?}: Principal takes no partial wildcards; use ArnLike on aws:PrincipalArn"
            ));
        }
        if text.contains("${") {
            return Err(PolicyError::new(
                PolicyErrorCode::Variable,
                at,
                format!("{text:?}: IAM allows no policy variables in Principal"),
            ));
        }
        if is_account(text) {
            self.entries.push(PrincipalEntry::Account {
                partition: default_partition.to_owned(),
                account: text.to_owned(),
            });
            return Ok(());
        }
        if (text.starts_with("AROA") || text.starts_with("AIDA"))
            && (16..=128).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            self.entries.push(PrincipalEntry::UniqueId(text.to_owned()));
            return Ok(());
        }
        let mut fields = text.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return refuse(format!(
                "{text:?} is not a 12-digit account, an IAM or STS ARN, or a unique id (AROA…, AIDA…)"
            ));
        };
        if partition.parse::<crate::endpoints::Partition>().is_err() {
            return refuse(format!("{text:?}: unknown partition {partition:?}"));
        }
        if !is_account(account) {
            return refuse(format!("{text:?}: the account is not 12 digits"));
        }
        let (partition, account) = (partition.to_owned(), account.to_owned());
        match (service, resource.split_once('/')) {
            ("iam", None) if resource == "root" => {
                self.entries
                    .push(PrincipalEntry::Account { partition, account });
            }
            ("iam", Some(("role", path_and_name))) => {
                let name = path_and_name.rsplit('/').next().unwrap_or_default();
                if !is_name(name) || path_and_name.split('/').any(str::is_empty) {
                    return refuse(format!("{text:?}: malformed role name"));
                }
                if path_and_name.contains('/') {
                    self.role_paths.push((text.to_owned(), at.to_owned()));
                }
                self.entries.push(PrincipalEntry::Role {
                    partition,
                    account,
                    name: name.to_owned(),
                });
            }
            ("sts", Some(("assumed-role", rest))) => {
                let Some((role, session)) = rest.split_once('/') else {
                    return refuse(format!("{text:?}: assumed-role/ROLE/SESSION expected"));
                };
                if !is_name(role) || !is_name(session) {
                    return refuse(format!("{text:?}: malformed role or session name"));
                }
                self.entries.push(PrincipalEntry::Session {
                    partition,
                    account,
                    role: role.to_owned(),
                    session: session.to_owned(),
                });
            }
            ("iam", Some(("user", path_and_name))) => {
                let name = path_and_name.rsplit('/').next().unwrap_or_default();
                if !is_name(name) || path_and_name.split('/').any(str::is_empty) {
                    return refuse(format!("{text:?}: malformed user name"));
                }
                self.entries.push(PrincipalEntry::User {
                    arn: text.to_owned(),
                });
            }
            _ => {
                return refuse(format!(
                    "{text:?}: only account roots, roles, role sessions and users can be principals here"
                ));
            }
        }
        Ok(())
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}
