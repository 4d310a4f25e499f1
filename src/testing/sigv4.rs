//! Verifying a request the way STS does: parse the SigV4 metadata, look up the key, check the
//! clock window, then RECOMPUTE the signature with aws-sigv4 and compare.
//!
//! This is a pure function of the request, the emulator's clock reading and its key store.
//! References: <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>
//! and <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-query-string-auth.html>.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::uri::Authority;

use super::amz_date;
use super::form;
use super::keys::IssuedKey;
use super::response::{CallerIdentity, StsError};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from STS's clock, either way.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest presigned validity SigV4 allows (7 days).
const MAX_EXPIRES: u64 = 604_800;
/// Query parameters that carry the signature itself; the signer re-adds them, so they are
/// removed from the query it is given.
const QUERY_AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];
/// Signed headers the signer inserts itself in header mode (plus `host`, which it takes from the
/// URI): passing them too would duplicate them in the canonical request.
const SIGNER_ADDED_HEADERS: [&str; 4] = [
    "host",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// The parts of an incoming HTTP request that the signature covers.
pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// The outcome, and the access key id it concerns when one could be read (for logs).
pub(crate) struct Verdict {
    pub(crate) access_key_id: Option<String>,
    pub(crate) result: Result<CallerIdentity, StsError>,
}

/// Where the client put the signature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Location {
    Query { expires: u64 },
    Header,
}

struct Scope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

/// SigV4 metadata as the client sent it.
struct Claimed {
    location: Location,
    scope: Scope,
    amz_date: String,
    time: SystemTime,
    signed_headers: String,
    signature: String,
    session_token: Option<String>,
}

/// Verifies `request` at time `now` against the keys `lookup` knows.
pub(crate) fn verify(
    request: &Incoming<'_>,
    now: SystemTime,
    lookup: impl FnOnce(&str) -> Option<IssuedKey>,
) -> Verdict {
    let query = form::decode(request.query.as_bytes());
    let claimed = match parse(request, &query) {
        Ok(claimed) => claimed,
        Err(error) => {
            return Verdict {
                access_key_id: None,
                result: Err(error),
            };
        }
    };
    let result = authenticate(request, &query, &claimed, now, lookup)
        .and_then(|identity| check_action(request, &query, claimed.location).map(|()| identity));
    Verdict {
        access_key_id: Some(claimed.scope.access_key_id),
        result,
    }
}

fn parse(request: &Incoming<'_>, query: &[(String, String)]) -> Result<Claimed, StsError> {
    let authorization: Vec<_> = request.headers.get_all(AUTHORIZATION).iter().collect();
    let query_auth = query.iter().any(|(name, _)| {
        matches!(
            name.as_str(),
            "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature"
        )
    });
    match (authorization.as_slice(), query_auth) {
        ([], false) => Err(StsError::missing_authentication_token()),
        ([], true) => parse_query_auth(query),
        ([value], false) => {
            let value = value.to_str().map_err(|_| {
                StsError::incomplete_signature("Authorization header is not valid ASCII.")
            })?;
            parse_header_auth(value, request.headers)
        }
        ([_, _, ..], false) => Err(StsError::incomplete_signature(
            "Only one Authorization header is allowed.",
        )),
        (_, true) => Err(StsError::incomplete_signature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        )),
    }
}

fn parse_query_auth(query: &[(String, String)]) -> Result<Claimed, StsError> {
    let single = |name: &str| -> Result<Option<&str>, StsError> {
        let mut values = query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        match values.next() {
            Some(_) => Err(StsError::incomplete_signature(format!(
                "Query parameter '{name}' appears more than once."
            ))),
            None => Ok(first),
        }
    };
    let required = |name: &str| -> Result<&str, StsError> {
        single(name)?.ok_or_else(|| {
            StsError::incomplete_signature(format!(
                "AWS query-string parameters must include '{name}'. \
                 Re-examine the query-string parameters."
            ))
        })
    };
    let algorithm = required("X-Amz-Algorithm")?;
    check_algorithm(algorithm)?;
    let credential = required("X-Amz-Credential")?;
    let amz_date = required("X-Amz-Date")?;
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let signature = required("X-Amz-Signature")?;
    let expires = parse_expires(required("X-Amz-Expires")?)?;
    let session_token = single("X-Amz-Security-Token")?;
    claimed(
        Location::Query { expires },
        credential,
        amz_date,
        signed_headers,
        signature,
        session_token,
    )
}

fn parse_header_auth(authorization: &str, headers: &HeaderMap) -> Result<Claimed, StsError> {
    let (algorithm, rest) = authorization.split_once(' ').unwrap_or((authorization, ""));
    check_algorithm(algorithm)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim) {
        let (name, value) = component.split_once('=').ok_or_else(|| {
            // Not echoed: a malformed component may still hold signature material.
            StsError::incomplete_signature(
                "Authorization header requires each component to have the form name=value.",
            )
        })?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(StsError::incomplete_signature(format!(
                    "Unknown Authorization header component '{name}'."
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(StsError::incomplete_signature(format!(
                "Authorization header component '{name}' appears more than once."
            )));
        }
    }
    fn require<'v>(value: Option<&'v str>, name: &str) -> Result<&'v str, StsError> {
        value.ok_or_else(|| {
            StsError::incomplete_signature(format!(
                "Authorization header requires '{name}' parameter."
            ))
        })
    }
    let credential = require(credential, "Credential")?;
    let signed_headers = require(signed_headers, "SignedHeaders")?;
    let signature = require(signature, "Signature")?;
    let amz_date = single_header(headers, "x-amz-date")?.ok_or_else(|| {
        StsError::incomplete_signature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    })?;
    let session_token = single_header(headers, "x-amz-security-token")?;
    claimed(
        Location::Header,
        credential,
        amz_date,
        signed_headers,
        signature,
        session_token,
    )
}

fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, StsError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(StsError::incomplete_signature(format!(
            "Header '{name}' appears more than once."
        )));
    }
    first
        .map(|value| {
            value.to_str().map_err(|_| {
                StsError::incomplete_signature(format!("Header '{name}' is not valid ASCII."))
            })
        })
        .transpose()
}

fn check_algorithm(algorithm: &str) -> Result<(), StsError> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(StsError::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Supported: '{ALGORITHM}'."
        )))
    }
}

/// Only canonical decimal: the signer re-renders the number, so `0900` could not be reproduced.
fn parse_expires(value: &str) -> Result<u64, StsError> {
    let canonical = !value.is_empty()
        && value.len() <= 19
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    let seconds = value
        .parse::<u64>()
        .ok()
        .filter(|_| canonical)
        .ok_or_else(|| {
            StsError::authorization_query_parameters(format!(
                "X-Amz-Expires should be a number. Got '{value}'."
            ))
        })?;
    if !(1..=MAX_EXPIRES).contains(&seconds) {
        return Err(StsError::authorization_query_parameters(format!(
            "X-Amz-Expires must be between 1 and {MAX_EXPIRES} seconds. Got {seconds}."
        )));
    }
    Ok(seconds)
}

fn claimed(
    location: Location,
    credential: &str,
    amz_date: &str,
    signed_headers: &str,
    signature: &str,
    session_token: Option<&str>,
) -> Result<Claimed, StsError> {
    let scope = parse_scope(credential)?;
    let time = amz_date::parse(amz_date).ok_or_else(|| {
        StsError::incomplete_signature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. \
             See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    if signed_headers.is_empty() || signature.is_empty() {
        return Err(StsError::incomplete_signature(
            "SignedHeaders and Signature must not be empty.",
        ));
    }
    Ok(Claimed {
        location,
        scope,
        amz_date: amz_date.to_owned(),
        time,
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        session_token: session_token.map(str::to_owned),
    })
}

/// `KEY/yyyymmdd/region/service/aws4_request`.
fn parse_scope(credential: &str) -> Result<Scope, StsError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(StsError::incomplete_signature(format!(
            "Credential must have exactly 5 slash-separated components: \
             KEY/yyyymmdd/region/service/aws4_request; got {}.",
            parts.len()
        )));
    };
    if *terminator != "aws4_request" {
        return Err(StsError::incomplete_signature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(StsError::incomplete_signature(
            "Credential key, region and service must not be empty.",
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StsError::incomplete_signature(format!(
            "Credential date must be yyyymmdd; got '{date}'."
        )));
    }
    Ok(Scope {
        access_key_id: (*key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

fn authenticate(
    request: &Incoming<'_>,
    query: &[(String, String)],
    claimed: &Claimed,
    now: SystemTime,
    lookup: impl FnOnce(&str) -> Option<IssuedKey>,
) -> Result<CallerIdentity, StsError> {
    let key = lookup(&claimed.scope.access_key_id).ok_or_else(StsError::invalid_client_token_id)?;
    let token_ok = match (&key.session_token, &claimed.session_token) {
        (None, None) => true,
        (Some(issued), Some(sent)) => constant_time_eq(issued.as_bytes(), sent.as_bytes()),
        _ => false,
    };
    if !token_ok {
        return Err(StsError::invalid_client_token_id());
    }
    if key.expires.is_some_and(|expires| now >= expires) {
        return Err(StsError::expired_token());
    }
    check_window(&claimed.amz_date, claimed.time, now)?;
    if claimed.scope.date != claimed.amz_date[..8] {
        return Err(StsError::signature_does_not_match(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            claimed.scope.date,
            &claimed.amz_date[..8],
            claimed.amz_date
        )));
    }
    if claimed.scope.service != "sts" {
        return Err(StsError::signature_does_not_match(format!(
            "Credential should be scoped to correct service: 'sts'. Got '{}'.",
            claimed.scope.service
        )));
    }
    let (signed_headers, signature) = recompute(request, query, claimed, &key)?;
    // Compare both; only the signature is secret-derived and needs constant time.
    let headers_match = signed_headers == claimed.signed_headers;
    let signature_match = constant_time_eq(signature.as_bytes(), claimed.signature.as_bytes());
    if headers_match && signature_match {
        Ok(key.identity)
    } else {
        Err(StsError::signature_mismatch())
    }
}

/// STS accepts a signature dated up to 15 minutes either side of its clock.
fn check_window(amz_date: &str, time: SystemTime, now: SystemTime) -> Result<(), StsError> {
    let earliest = now.checked_sub(WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
    if time < earliest {
        return Err(StsError::signature_does_not_match(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            amz_date::format(earliest),
            amz_date::format(now)
        )));
    }
    let latest = now + WINDOW;
    if time > latest {
        return Err(StsError::signature_does_not_match(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            amz_date::format(latest),
            amz_date::format(now)
        )));
    }
    Ok(())
}

/// Signs the request again with the issued secret; returns the SignedHeaders list and signature
/// the signer produced.
fn recompute(
    request: &Incoming<'_>,
    query: &[(String, String)],
    claimed: &Claimed,
    key: &IssuedKey,
) -> Result<(String, String), StsError> {
    let host = single_header(request.headers, HOST.as_str())?
        .filter(|host| !host.contains('@') && host.parse::<Authority>().is_ok())
        .ok_or_else(|| StsError::incomplete_signature("The Host header is missing or invalid."))?;

    // The signer canonicalises the query itself (form-decodes, re-encodes, sorts); give it the
    // non-auth parameters only, since it adds the X-Amz-* ones from the settings.
    let params = query.iter().filter(|(name, _)| match claimed.location {
        Location::Query { .. } => !QUERY_AUTH_PARAMS.contains(&name.as_str()),
        Location::Header => true,
    });
    let encoded_query = form::encode(params.map(|(n, v)| (n.as_str(), v.as_str())));
    let mut uri = format!("https://{host}{}", request.path);
    if !encoded_query.is_empty() {
        uri.push('?');
        uri.push_str(&encoded_query);
    }

    let not_passed: &[&str] = match claimed.location {
        Location::Query { .. } => &["host"],
        Location::Header => &SIGNER_ADDED_HEADERS,
    };
    let named: Vec<String> = claimed
        .signed_headers
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    let mut seen = HashSet::new();
    let mut headers = Vec::new();
    for name in &named {
        if not_passed.contains(&name.as_str()) || !seen.insert(name.as_str()) {
            continue;
        }
        for value in request.headers.get_all(name.as_str()) {
            // Non-ASCII header values cannot be canonicalised by the signer, nor by STS.
            let value = value.to_str().map_err(|_| StsError::signature_mismatch())?;
            headers.push((name.as_str(), value));
        }
    }

    let mut settings = SigningSettings::default();
    // The client chose what to sign; exclude nothing it listed (the default would silently drop
    // `user-agent` and friends and make such a signature unverifiable).
    settings.excluded_headers = None;
    match claimed.location {
        Location::Query { expires } => {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(expires));
        }
        Location::Header => {
            settings.signature_location = SignatureLocation::Headers;
            if named.iter().any(|n| n == "x-amz-content-sha256") {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            }
            if claimed.session_token.is_some() && !named.iter().any(|n| n == "x-amz-security-token")
            {
                settings.session_token_mode = SessionTokenMode::Exclude;
            }
        }
    }

    let identity = Identity::from(Credentials::new(
        &claimed.scope.access_key_id,
        &key.secret_access_key,
        key.session_token.clone(),
        None,
        "LocalSts",
    ));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&claimed.scope.region)
        .name(&claimed.scope.service)
        .time(claimed.time)
        .settings(settings)
        .build()
        .map_err(|_| StsError::internal_failure())?
        .into();
    let signable = SignableRequest::new(
        request.method,
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|_| StsError::incomplete_signature("The request URI cannot be canonicalised."))?;
    // aws-sigv4 traces the canonical request (session token included): keep it out of the
    // logs of whoever runs this emulator.
    let silent = tracing::subscriber::NoSubscriber::default();
    let (instructions, signature) =
        tracing::subscriber::with_default(silent, || sign(signable, &params))
            .map_err(|_| StsError::signature_mismatch())?
            .into_parts();
    let signed_headers = match claimed.location {
        Location::Query { .. } => instructions
            .params()
            .iter()
            .find(|(name, _)| *name == "X-Amz-SignedHeaders")
            .map(|(_, value)| value.to_string()),
        Location::Header => instructions
            .headers()
            .find(|(name, _)| *name == "authorization")
            .and_then(|(_, value)| {
                value
                    .split(", ")
                    .find_map(|part| part.strip_prefix("SignedHeaders="))
                    .map(str::to_owned)
            }),
    }
    .ok_or_else(StsError::internal_failure)?;
    Ok((signed_headers, signature))
}

/// `Action=GetCallerIdentity&Version=2011-06-15`, from the query or a form body.
fn check_action(
    request: &Incoming<'_>,
    query: &[(String, String)],
    location: Location,
) -> Result<(), StsError> {
    let mut params: Vec<&(String, String)> = query
        .iter()
        .filter(|(name, _)| {
            matches!(location, Location::Header) || !QUERY_AUTH_PARAMS.contains(&name.as_str())
        })
        .collect();
    let body_params;
    if is_form(request.headers) {
        body_params = form::decode(request.body);
        params.extend(body_params.iter());
    }
    let values = |wanted: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    let (action, version) = (values("Action"), values("Version"));
    if action == ["GetCallerIdentity"] && version == ["2011-06-15"] {
        return Ok(());
    }
    Err(StsError::invalid_action(format!(
        "Could not find operation {} for version {}",
        action.join(","),
        if version.is_empty() {
            "NO_VERSION_SPECIFIED".to_owned()
        } else {
            version.join(",")
        }
    )))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Equality whose running time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn scope_needs_five_components_and_the_terminator() {
        assert!(parse_scope("AKIA/20261122/us-east-1/sts/aws4_request").is_ok());
        for bad in [
            "AKIA/20261122/us-east-1/sts",
            "AKIA/20261122/us-east-1/sts/aws4_request/x",
            "AKIA/20261122/us-east-1/sts/aws5_request",
            "AKIA/2026112/us-east-1/sts/aws4_request",
            "/20261122/us-east-1/sts/aws4_request",
            "AKIA/20261122//sts/aws4_request",
        ] {
            let error = parse_scope(bad).err().expect(bad);
            assert_eq!(error.code, "IncompleteSignature", "{bad}");
        }
    }

    #[test]
    fn expires_must_be_canonical_and_in_range() {
        assert_eq!(parse_expires("1").ok(), Some(1));
        assert_eq!(parse_expires("604800").ok(), Some(604_800));
        for bad in [
            "0",
            "604801",
            "0900",
            "+900",
            "-1",
            "",
            "9e2",
            "99999999999999999999",
        ] {
            let error = parse_expires(bad).expect_err(bad);
            assert_eq!(error.code, "AuthorizationQueryParametersError", "{bad}");
        }
    }

    #[test]
    fn window_is_fifteen_minutes_each_way() {
        let now = amz_date::parse("20261122T103000Z").unwrap();
        let at = |text: &str| check_window(text, amz_date::parse(text).unwrap(), now);
        assert!(at("20261122T101500Z").is_ok());
        assert!(at("20261122T104500Z").is_ok());
        assert_eq!(
            at("20261122T101459Z").unwrap_err().message,
            "Signature expired: 20261122T101459Z is now earlier than 20261122T101500Z \
             (20261122T103000Z - 15 min.)"
        );
        assert_eq!(
            at("20261122T104501Z").unwrap_err().message,
            "Signature not yet current: 20261122T104501Z is still later than \
             20261122T104500Z (20261122T103000Z + 15 min.)"
        );
    }
}
