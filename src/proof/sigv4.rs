//! SigV4 metadata: `X-Amz-Date` timestamps, credential scopes and signed-header lists.
//!
//! Only the shape is checked here; the signature itself is STS's to verify.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{AuthError, ReasonCode};

/// Parses `yyyymmddThhmmssZ` (SigV4's ISO 8601 basic format, always UTC).
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[range];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Formats a time as `yyyymmddThhmmssZ`.
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A parsed credential scope `KEY/yyyymmdd/region/sts/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialScope<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
}

/// Parses a credential scope; the service must be `sts`.
pub(crate) fn parse_credential_scope(s: &str) -> Result<CredentialScope<'_>, AuthError> {
    let bad = |why: &'static str| AuthError::new(ReasonCode::ProofCredentialScope).with_detail(why);
    let mut parts = s.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad("scope does not have five parts"));
    };
    // Access key ids are 16..=128 upper-case letters and digits (AKIA…, ASIA…).
    if !(16..=128).contains(&key.len())
        || !key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(bad("access key id is malformed"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("scope date is not yyyymmdd"));
    }
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("scope region is malformed"));
    }
    if service != "sts" {
        return Err(bad("scope service is not sts"));
    }
    if terminator != "aws4_request" {
        return Err(bad("scope does not end in aws4_request"));
    }
    Ok(CredentialScope {
        access_key_id: key,
        date,
        region,
    })
}

/// Checks a `SignedHeaders` list: lower-case names, sorted, unique, a subset of `replayed`, and
/// containing `host` and `audience_header`.
pub(crate) fn check_signed_headers(
    list: &str,
    replayed: &[&str],
    audience_header: &str,
) -> Result<(), AuthError> {
    let mut previous: Option<&str> = None;
    let (mut host, mut audience) = (false, false);
    for name in list.split(';') {
        let well_formed = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed || previous.is_some_and(|p| p >= name) {
            return Err(AuthError::new(ReasonCode::ProofSignedHeaders)
                .with_detail("signed headers are not sorted lower-case unique names"));
        }
        if !replayed.contains(&name) {
            return Err(
                AuthError::new(ReasonCode::ProofSignedHeaders).with_detail(format!(
                    "signed header {name} is not replayed by the server"
                )),
            );
        }
        host |= name == "host";
        audience |= name == audience_header;
        previous = Some(name);
    }
    if !host {
        return Err(ReasonCode::ProofHostUnsigned.into());
    }
    if !audience {
        return Err(AuthError::new(ReasonCode::ProofAudienceUnsigned)
            .with_detail(format!("{audience_header} is not signed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for s in [
            "19700101T000000Z",
            "20261122T155834Z",
            "20240229T235959Z",
            "21000301T000000Z",
        ] {
            let t = parse_amz_date(s).unwrap();
            assert_eq!(format_amz_date(t), s);
        }
        assert_eq!(
            parse_amz_date("20261122T155834Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_795_363_114)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in [
            "20250229T000000Z",
            "20261322T000000Z",
            "20261100T000000Z",
            "20261122T240000Z",
            "20261122T156034Z",
            "20261122 155834Z",
            "20261122T155834",
            "2026-11-22T15:58:34Z",
            "+0261122T155834Z",
        ] {
            assert_eq!(parse_amz_date(s), None, "{s}");
        }
    }

    #[test]
    fn scope_parses() {
        let scope =
            parse_credential_scope("AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/sts/aws4_request")
                .unwrap();
        assert_eq!(scope.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(scope.region, "us-east-1");
        assert_eq!(scope.date, "20261122");
    }

    #[test]
    fn scope_for_another_service_is_refused() {
        let err = parse_credential_scope("AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/s3/aws4_request")
            .unwrap_err();
        assert_eq!(err.reason(), ReasonCode::ProofCredentialScope);
    }

    #[test]
    fn signed_headers_must_be_sorted_subset_with_host_and_audience() {
        let replayed = ["host", "x-iam-audience"];
        assert!(check_signed_headers("host;x-iam-audience", &replayed, "x-iam-audience").is_ok());
        let code = |list| {
            check_signed_headers(list, &replayed, "x-iam-audience")
                .unwrap_err()
                .reason()
        };
        assert_eq!(code("x-iam-audience;host"), ReasonCode::ProofSignedHeaders);
        assert_eq!(
            code("host;host;x-iam-audience"),
            ReasonCode::ProofSignedHeaders
        );
        assert_eq!(
            code("host;x-amz-date;x-iam-audience"),
            ReasonCode::ProofSignedHeaders
        );
        assert_eq!(code("Host;x-iam-audience"), ReasonCode::ProofSignedHeaders);
        assert_eq!(code("x-iam-audience"), ReasonCode::ProofHostUnsigned);
        assert_eq!(code("host"), ReasonCode::ProofAudienceUnsigned);
        assert_eq!(code(""), ReasonCode::ProofSignedHeaders);
    }
}
