//! The claims of the tokens this crate issues, and how a verified token becomes an
//! [`IamPrincipal`](crate::principal::IamPrincipal) again.
//!
//! The AWS details sit in one namespaced claim, `"https://sts.amazonaws.com/"`, laid out as in
//! the tokens AWS STS issues for outbound identity federation (`sts:GetWebIdentityToken`,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_token_claims.html>):
//! `aws_account` is the account and `principal_id` the principal's ARN in both. This crate adds
//! `unique_id` (the role's or user's `AROA…`/`AIDA…` id), `session_name` and `raw_arn` (the ARN
//! exactly as `GetCallerIdentity` reported it), which AWS's tokens do not carry.

use serde::{Deserialize, Deserializer, Serialize};

use crate::arn::{self, NormalizedIdentity, PrincipalKind};
use crate::principal::IamPrincipal;

/// The name of the namespaced claim that holds the AWS details.
pub const AWS_CLAIMS_NAMESPACE: &str = "https://sts.amazonaws.com/";

/// The claims of an issued token.
#[derive(Serialize)]
pub(crate) struct IssuedClaims<'a> {
    pub(crate) iss: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) iat: u64,
    pub(crate) nbf: u64,
    pub(crate) exp: u64,
    pub(crate) jti: &'a str,
    #[serde(rename = "https://sts.amazonaws.com/")]
    pub(crate) aws: AwsDetails<'a>,
}

/// The namespaced AWS details of an issued token.
#[derive(Serialize)]
pub(crate) struct AwsDetails<'a> {
    aws_account: &'a str,
    principal_id: &'a str,
    unique_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_name: Option<&'a str>,
    raw_arn: &'a str,
}

impl<'a> AwsDetails<'a> {
    pub(crate) fn of(principal: &'a IamPrincipal) -> Self {
        Self {
            aws_account: principal.account(),
            principal_id: principal.arn(),
            unique_id: principal.principal_id(),
            session_name: principal.session_name(),
            raw_arn: principal.raw_arn(),
        }
    }
}

/// The claims of a received token, before they are checked.
#[derive(Deserialize)]
pub(crate) struct ReceivedClaims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub(crate) iat: Option<i64>,
    #[serde(rename = "https://sts.amazonaws.com/")]
    pub(crate) aws: Option<ReceivedAwsDetails>,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains_any(&self, accepted: &[String]) -> bool {
        match self {
            Audience::One(aud) => accepted.iter().any(|a| a == aud),
            Audience::Many(auds) => auds.iter().any(|aud| accepted.iter().any(|a| a == aud)),
        }
    }
}

/// The namespaced AWS details of a received token; members this crate does not read
/// (`org_id`, `principal_tags`...) are ignored.
#[derive(Deserialize)]
pub(crate) struct ReceivedAwsDetails {
    aws_account: Option<String>,
    principal_id: Option<String>,
    unique_id: Option<String>,
    session_name: Option<String>,
    raw_arn: Option<String>,
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    let seconds = match (number.as_i64(), number.as_f64()) {
        (Some(i), _) => i,
        (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => f.floor() as i64,
        _ => return Err(serde::de::Error::custom("NumericDate out of range")),
    };
    Ok(Some(seconds))
}

/// The identity in a token issued by a [`TokenExchange`](super::TokenExchange): rebuilt from
/// `raw_arn` and `unique_id` by the same normalization STS answers go through, and required to
/// agree with `sub`.
pub(crate) fn identity_from_exchange_token(
    sub: &str,
    aws: Option<&ReceivedAwsDetails>,
) -> Result<NormalizedIdentity, &'static str> {
    let aws = aws.ok_or("no AWS details claim")?;
    let raw_arn = aws.raw_arn.as_deref().ok_or("no raw_arn")?;
    let unique_id = aws.unique_id.as_deref().ok_or("no unique_id")?;
    let account = aws.aws_account.as_deref().ok_or("no aws_account")?;
    // GetCallerIdentity's UserId is `AROA…:SESSION` for role sessions, the unique id otherwise.
    let user_id = if raw_arn.contains(":assumed-role/") {
        let session = aws.session_name.as_deref().ok_or("no session_name")?;
        format!("{unique_id}:{session}")
    } else {
        unique_id.to_owned()
    };
    let identity = arn::normalize(raw_arn, &user_id).map_err(|_| "raw_arn is not a caller ARN")?;
    if identity.arn != sub {
        return Err("sub does not match raw_arn");
    }
    if identity.account != account {
        return Err("aws_account does not match raw_arn");
    }
    if aws.principal_id.as_deref().is_some_and(|p| p != sub) {
        return Err("principal_id does not match sub");
    }
    Ok(identity)
}

/// The identity in an AWS outbound identity federation token: `sub` is the IAM role (possibly
/// with a path) or user ARN. These tokens carry no unique id or session name, so
/// [`IamPrincipal::principal_id`] is empty and the session name is `None`.
pub(crate) fn identity_from_aws_token(
    sub: &str,
    aws: Option<&ReceivedAwsDetails>,
) -> Result<NormalizedIdentity, &'static str> {
    let mut fields = sub.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err("sub is not an IAM role or user ARN");
    };
    if partition.parse::<crate::endpoints::Partition>().is_err() {
        return Err("sub has an unknown partition");
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err("sub has a malformed account");
    }
    if aws
        .and_then(|a| a.aws_account.as_deref())
        .is_some_and(|a| a != account)
    {
        return Err("aws_account does not match sub");
    }
    let (kind, path_and_name) = match resource.split_once('/') {
        Some(("role", rest)) => (PrincipalKind::Role, rest),
        Some(("user", rest)) => (PrincipalKind::User, rest),
        _ => return Err("sub is not an IAM role or user ARN"),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    if !path_and_name.split('/').all(valid) {
        return Err("sub has a malformed name");
    }
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    // Assumed-role ARNs carry no role path, so neither do normalized role ARNs (see crate::arn).
    let arn = match kind {
        PrincipalKind::Role => format!("arn:{partition}:iam::{account}:role/{name}"),
        _ => sub.to_owned(),
    };
    Ok(NormalizedIdentity {
        arn,
        raw_arn: sub.to_owned(),
        partition: partition.to_owned(),
        account: account.to_owned(),
        kind,
        name: name.to_owned(),
        session_name: None,
        principal_id: String::new(),
        user_id: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(json: &str) -> ReceivedAwsDetails {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn exchange_token_identity_is_rebuilt_and_checked_against_sub() {
        let aws = details(
            r#"{"aws_account":"123456789012","principal_id":"arn:aws:iam::123456789012:role/r",
                "unique_id":"AROAEXAMPLE","session_name":"s",
                "raw_arn":"arn:aws:sts::123456789012:assumed-role/r/s"}"#,
        );
        let id =
            identity_from_exchange_token("arn:aws:iam::123456789012:role/r", Some(&aws)).unwrap();
        assert_eq!(id.principal_id, "AROAEXAMPLE");
        assert_eq!(id.session_name.as_deref(), Some("s"));
        assert!(
            identity_from_exchange_token("arn:aws:iam::123456789012:role/other", Some(&aws))
                .is_err()
        );
    }

    #[test]
    fn aws_token_role_path_is_dropped_from_the_normalized_arn() {
        let sub =
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0a";
        let id = identity_from_aws_token(sub, None).unwrap();
        assert_eq!(
            id.arn,
            "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_0a"
        );
        assert_eq!(id.raw_arn, sub);
        assert_eq!(id.name, "AWSReservedSSO_Admin_0a");
        assert_eq!(id.kind, PrincipalKind::Role);
    }

    #[test]
    fn aws_token_account_claim_must_match_sub() {
        let aws = details(r#"{"aws_account":"999999999999"}"#);
        assert!(identity_from_aws_token("arn:aws:iam::123456789012:role/r", Some(&aws)).is_err());
        for bad in [
            "arn:aws:sts::123456789012:assumed-role/r/s",
            "arn:aws:iam::123456789012:group/g",
            "arn:evil:iam::123456789012:role/r",
            "arn:aws:iam::123456789012:role/r s",
        ] {
            assert!(identity_from_aws_token(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_dates_may_be_fractional() {
        let claims: ReceivedClaims =
            serde_json::from_str(r#"{"exp": 1700000000.9, "nbf": 5}"#).unwrap();
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert_eq!(claims.nbf, Some(5));
        assert_eq!(claims.iat, None);
    }

    #[test]
    fn aws_token_subjects_of_every_partition_and_no_other() {
        for partition in crate::endpoints::Partition::ALL {
            let sub = format!("arn:{partition}:iam::123456789012:role/r");
            let id = identity_from_aws_token(&sub, None).unwrap();
            assert_eq!(id.partition, partition.as_str());
        }
        for partition in ["aws-iso-z", "AWS-CN", "aws-eu"] {
            let sub = format!("arn:{partition}:iam::123456789012:role/r");
            assert_eq!(
                identity_from_aws_token(&sub, None).err(),
                Some("sub has an unknown partition")
            );
        }
    }
}
