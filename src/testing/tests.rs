//! LocalSts over real HTTP: requests signed with aws-sigv4 and sent over a raw TCP connection.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Fault, LocalSts, amz_date};

const HOST: &str = "sts.amazonaws.com";
const GCI: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const ACCOUNT: &str = "123456789012";

/// An HTTP response, parsed just enough for assertions.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn tag(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{name}>"))? + start;
        Some(&self.body[start..end])
    }

    fn code(&self) -> Option<&str> {
        self.tag("Code")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, Some(code)), "{self:?}");
        assert_eq!(self.header("content-type"), Some("text/xml"));
        assert_eq!(self.tag("Type"), Some("Sender"));
        assert!(
            self.body
                .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
        );
    }

    #[track_caller]
    fn assert_identity(&self, arn: &str, user_id: &str) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.header("content-type"), Some("text/xml"));
        assert!(self.body.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        ));
        assert_eq!(self.tag("Arn"), Some(arn));
        assert_eq!(self.tag("UserId"), Some(user_id));
        assert_eq!(self.tag("Account"), Some(ACCOUNT));
        assert_eq!(self.tag("RequestId").map(str::len), Some(36));
    }
}

/// Sends one HTTP/1.1 request; adds `Host: sts.amazonaws.com` unless `headers` has a Host.
async fn send(
    sts: &LocalSts,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {HOST}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = tokio::net::TcpStream::connect(sts.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    Reply {
        status: status.parse().unwrap(),
        headers: lines
            .map(|line| {
                let (n, v) = line.split_once(": ").unwrap();
                (n.to_owned(), v.to_owned())
            })
            .collect(),
        body: body.to_owned(),
    }
}

async fn get(sts: &LocalSts, target: &str) -> Reply {
    send(sts, "GET", target, &[], b"").await
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// How a test request is signed; `Default` is a presigned GetCallerIdentity signed now.
struct Signing<'a> {
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    time: SystemTime,
    service: &'a str,
    expires: u64,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Self {
            query: GCI,
            headers: &[],
            time: SystemTime::now(),
            service: "sts",
            expires: 900,
        }
    }
}

fn signing_params<'a>(
    identity: &'a Identity,
    service: &'a str,
    time: SystemTime,
    settings: SigningSettings,
) -> SigningParams<'a> {
    v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into()
}

/// Presigns `GET https://sts.amazonaws.com/?QUERY`; returns the request target (path and query).
fn presign(credentials: &Credentials, signing: Signing<'_>) -> String {
    let identity = Identity::from(credentials.clone());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(signing.expires));
    let params = signing_params(&identity, signing.service, signing.time, settings);
    let url = format!("https://{HOST}/?{}", signing.query);
    let signable = SignableRequest::new(
        "GET",
        &url,
        signing.headers.iter().copied(),
        SignableBody::empty(),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::get(&url).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request.uri().path_and_query().unwrap().to_string()
}

fn presign_now(credentials: &Credentials) -> String {
    presign(credentials, Signing::default())
}

/// Header-signs `METHOD https://sts.amazonaws.com{target}`; returns every header to send.
fn header_sign(
    credentials: &Credentials,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    settings: SigningSettings,
) -> Vec<(String, String)> {
    let identity = Identity::from(credentials.clone());
    let params = signing_params(&identity, "sts", SystemTime::now(), settings);
    let url = format!("https://{HOST}{target}");
    let signable = SignableRequest::new(
        method,
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

async fn post_gci(sts: &LocalSts, credentials: &Credentials, settings: SigningSettings) -> Reply {
    let headers = header_sign(
        credentials,
        "POST",
        "/",
        &[("content-type", FORM)],
        GCI.as_bytes(),
        settings,
    );
    send(sts, "POST", "/", &headers, GCI.as_bytes()).await
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

fn user_id(sts: &LocalSts, credentials: &Credentials) -> String {
    sts.shared
        .lock()
        .keys
        .get(credentials.access_key_id())
        .unwrap()
        .identity
        .user_id
        .clone()
}

fn fixed_clock(sts: &LocalSts, at: &str) -> SystemTime {
    let now = amz_date::parse(at).unwrap();
    sts.set_clock(Arc::new(move || now));
    now
}

fn replace_param(target: &str, name: &str, value: &str) -> String {
    let (path, query) = target.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|piece| match piece.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={value}"),
            _ => piece.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn param<'a>(target: &'a str, name: &str) -> &'a str {
    target
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|piece| piece.strip_prefix(name)?.strip_prefix('='))
        .unwrap()
}

// --- Accepted ---

#[tokio::test]
async fn accepts_presigned_get_for_user() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let reply = get(&sts, &presign_now(&alice)).await;
    let id = user_id(&sts, &alice);
    reply.assert_identity(&user_arn("alice"), &id);
    assert!(id.starts_with("AIDA") && id.len() == 21);
}

#[tokio::test]
async fn accepts_presigned_get_for_assumed_role_session() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci-42");
    let target = presign_now(&session);
    assert!(target.contains("X-Amz-Security-Token="));
    let reply = get(&sts, &target).await;
    let user_id = reply.tag("UserId").unwrap().to_owned();
    reply.assert_identity(
        &format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-42"),
        &user_id,
    );
    let (role_id, session_name) = user_id.split_once(':').unwrap();
    assert!(role_id.starts_with("AROA") && role_id.len() == 21);
    assert_eq!(session_name, "ci-42");
}

#[tokio::test]
async fn same_role_keeps_its_role_id_across_sessions() {
    let sts = LocalSts::start().await.unwrap();
    let first = sts.assume_role(ACCOUNT, "deployer", "one");
    let second = sts.assume_role(ACCOUNT, "deployer", "two");
    let first = get(&sts, &presign_now(&first)).await;
    let second = get(&sts, &presign_now(&second)).await;
    let role_id = |reply: &Reply| {
        reply
            .tag("UserId")
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(role_id(&first), role_id(&second));
}

#[tokio::test]
async fn accepts_header_signed_post_for_user() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let reply = post_gci(&sts, &alice, SigningSettings::default()).await;
    reply.assert_identity(&user_arn("alice"), &user_id(&sts, &alice));
}

#[tokio::test]
async fn accepts_header_signed_post_with_signed_session_token() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let headers = header_sign(
        &session,
        "POST",
        "/",
        &[("content-type", FORM)],
        GCI.as_bytes(),
        SigningSettings::default(),
    );
    let authorization = &headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    assert!(authorization.contains("x-amz-security-token"));
    let reply = send(&sts, "POST", "/", &headers, GCI.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.tag("Arn"),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci").as_str())
    );
}

#[tokio::test]
async fn accepts_header_signed_post_with_unsigned_session_token() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let mut settings = SigningSettings::default();
    settings.session_token_mode = SessionTokenMode::Exclude;
    let reply = post_gci(&sts, &session, settings).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn accepts_header_signed_post_with_signed_content_sha256() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let reply = post_gci(&sts, &alice, settings).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn accepts_header_signed_get_with_action_in_query() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = format!("/?{GCI}");
    let headers = header_sign(&alice, "GET", &target, &[], b"", SigningSettings::default());
    let reply = send(&sts, "GET", &target, &headers, b"").await;
    reply.assert_identity(&user_arn("alice"), &user_id(&sts, &alice));
}

#[tokio::test]
async fn accepts_signed_headers_that_signers_usually_exclude() {
    // The client chose to sign user-agent; the emulator must not drop it when recomputing.
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let headers = header_sign(
        &alice,
        "POST",
        "/",
        &[("content-type", FORM), ("user-agent", "vault/1.15")],
        GCI.as_bytes(),
        settings,
    );
    let reply = send(&sts, "POST", "/", &headers, GCI.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn accepts_signed_custom_header_sent_unchanged() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            headers: &[("x-iam-audience", "svc-a")],
            ..Signing::default()
        },
    );
    assert_eq!(
        param(&target, "X-Amz-SignedHeaders"),
        "host%3Bx-iam-audience"
    );
    let reply = send(
        &sts,
        "GET",
        &target,
        &owned(&[("x-iam-audience", "svc-a")]),
        b"",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn accepts_percent_encoded_reserved_characters_in_query() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let query = format!("{GCI}&Extra=a%20b%2Bc%2F~%3D%26");
    let target = presign(
        &alice,
        Signing {
            query: &query,
            ..Signing::default()
        },
    );
    assert_eq!(get(&sts, &target).await.status, 200);
    let changed = replace_param(&target, "Extra", "a%20b%2Bc%2F~%3D");
    get(&sts, &changed)
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn accepts_date_fourteen_minutes_old() {
    let sts = LocalSts::start().await.unwrap();
    let now = fixed_clock(&sts, "20261122T103000Z");
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            time: now - Duration::from_secs(14 * 60),
            ..Signing::default()
        },
    );
    assert_eq!(get(&sts, &target).await.status, 200);
}

// --- Refused ---

#[tokio::test]
async fn rejects_request_without_signature() {
    let sts = LocalSts::start().await.unwrap();
    let reply = get(&sts, &format!("/?{GCI}")).await;
    reply.assert_error(403, "MissingAuthenticationToken");
}

#[tokio::test]
async fn rejects_tampered_signature() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    let signature = param(&target, "X-Amz-Signature");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = replace_param(
        &target,
        "X-Amz-Signature",
        &format!("{flipped}{}", &signature[1..]),
    );
    let reply = get(&sts, &tampered).await;
    reply.assert_error(403, "SignatureDoesNotMatch");
    assert!(
        reply
            .tag("Message")
            .unwrap()
            .starts_with("The request signature we calculated")
    );
}

#[tokio::test]
async fn rejects_wrong_secret() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let forged = Credentials::new(
        alice.access_key_id(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    get(&sts, &presign_now(&forged))
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn rejects_unknown_key() {
    let sts = LocalSts::start().await.unwrap();
    let stranger = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    let reply = get(&sts, &presign_now(&stranger)).await;
    reply.assert_error(403, "InvalidClientTokenId");
    assert_eq!(
        reply.tag("Message"),
        Some("The security token included in the request is invalid.")
    );
}

#[tokio::test]
async fn rejects_revoked_key() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    assert_eq!(get(&sts, &target).await.status, 200);
    sts.revoke(alice.access_key_id());
    get(&sts, &target)
        .await
        .assert_error(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn rejects_wrong_session_token() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let other = sts.assume_role(ACCOUNT, "deployer", "ci");
    let mixed = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        other.session_token().map(str::to_owned),
        None,
        "test",
    );
    get(&sts, &presign_now(&mixed))
        .await
        .assert_error(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn rejects_missing_session_token_for_temporary_key() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let without = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        None,
        None,
        "test",
    );
    get(&sts, &presign_now(&without))
        .await
        .assert_error(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn rejects_session_token_on_long_term_key() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let with_token = Credentials::new(
        alice.access_key_id(),
        alice.secret_access_key(),
        session.session_token().map(str::to_owned),
        None,
        "test",
    );
    get(&sts, &presign_now(&with_token))
        .await
        .assert_error(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn rejects_expired_session() {
    let sts = LocalSts::start().await.unwrap();
    let start = fixed_clock(&sts, "20261122T100000Z");
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    let later = start + Duration::from_secs(2 * 3600);
    sts.set_clock(Arc::new(move || later));
    let target = presign(
        &session,
        Signing {
            time: later,
            ..Signing::default()
        },
    );
    get(&sts, &target).await.assert_error(403, "ExpiredToken");
}

#[tokio::test]
async fn rejects_date_sixteen_minutes_old() {
    let sts = LocalSts::start().await.unwrap();
    let now = fixed_clock(&sts, "20261122T103000Z");
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            time: now - Duration::from_secs(16 * 60),
            ..Signing::default()
        },
    );
    let reply = get(&sts, &target).await;
    reply.assert_error(403, "SignatureDoesNotMatch");
    assert_eq!(
        reply.tag("Message"),
        Some(
            "Signature expired: 20261122T101400Z is now earlier than 20261122T101500Z \
             (20261122T103000Z - 15 min.)"
        )
    );
}

#[tokio::test]
async fn rejects_date_sixteen_minutes_ahead() {
    let sts = LocalSts::start().await.unwrap();
    let now = fixed_clock(&sts, "20261122T103000Z");
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            time: now + Duration::from_secs(16 * 60),
            ..Signing::default()
        },
    );
    let reply = get(&sts, &target).await;
    reply.assert_error(403, "SignatureDoesNotMatch");
    assert_eq!(
        reply.tag("Message"),
        Some(
            "Signature not yet current: 20261122T104600Z is still later than \
             20261122T104500Z (20261122T103000Z + 15 min.)"
        )
    );
}

#[tokio::test]
async fn does_not_enforce_expires_as_a_deadline() {
    let sts = LocalSts::start().await.unwrap();
    let now = fixed_clock(&sts, "20261122T103000Z");
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            time: now - Duration::from_secs(5 * 60),
            expires: 60,
            ..Signing::default()
        },
    );
    assert_eq!(get(&sts, &target).await.status, 200);
}

#[tokio::test]
async fn rejects_expires_out_of_range() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            expires: 604_801,
            ..Signing::default()
        },
    );
    get(&sts, &target)
        .await
        .assert_error(400, "AuthorizationQueryParametersError");
}

#[tokio::test]
async fn rejects_wrong_service_in_scope() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            service: "iam",
            ..Signing::default()
        },
    );
    let reply = get(&sts, &target).await;
    reply.assert_error(403, "SignatureDoesNotMatch");
    assert!(reply.tag("Message").unwrap().contains("correct service"));
}

#[tokio::test]
async fn rejects_malformed_credential_scope() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice).replace("%2Faws4_request", "");
    get(&sts, &target)
        .await
        .assert_error(400, "IncompleteSignature");
}

#[tokio::test]
async fn rejects_two_auth_mechanisms() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    let headers = owned(&[(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
    )]);
    send(&sts, "GET", &target, &headers, b"")
        .await
        .assert_error(400, "IncompleteSignature");
}

#[tokio::test]
async fn rejects_wrong_action() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            query: "Action=GetSessionToken&Version=2011-06-15",
            ..Signing::default()
        },
    );
    let reply = get(&sts, &target).await;
    reply.assert_error(400, "InvalidAction");
    assert_eq!(
        reply.tag("Message"),
        Some("Could not find operation GetSessionToken for version 2011-06-15")
    );
}

#[tokio::test]
async fn rejects_wrong_version() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            query: "Action=GetCallerIdentity&Version=2010-01-01",
            ..Signing::default()
        },
    );
    get(&sts, &target).await.assert_error(400, "InvalidAction");
}

#[tokio::test]
async fn rejects_signed_custom_header_changed_on_the_wire() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign(
        &alice,
        Signing {
            headers: &[("x-iam-audience", "svc-a")],
            ..Signing::default()
        },
    );
    let changed = owned(&[("x-iam-audience", "svc-b")]);
    send(&sts, "GET", &target, &changed, b"")
        .await
        .assert_error(403, "SignatureDoesNotMatch");
    get(&sts, &target)
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn rejects_header_signed_body_changed_on_the_wire() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let headers = header_sign(
        &alice,
        "POST",
        "/",
        &[("content-type", FORM)],
        GCI.as_bytes(),
        SigningSettings::default(),
    );
    let body = b"Action=GetCallerIdentity&Version=2011-06-15&X=1";
    send(&sts, "POST", "/", &headers, body)
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn rejects_request_replayed_to_another_host() {
    // The emulator does not allowlist hosts, but the host is signed.
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    let other_host = owned(&[("host", "sts.us-west-2.amazonaws.com")]);
    send(&sts, "GET", &target, &other_host, b"")
        .await
        .assert_error(403, "SignatureDoesNotMatch");
}

// --- Faults, counting, recording ---

#[tokio::test]
async fn throttling_fault_answers_rate_exceeded() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    sts.set_fault(Some(Fault::Throttling));
    let reply = get(&sts, &presign_now(&alice)).await;
    reply.assert_error(400, "Throttling");
    assert_eq!(reply.tag("Message"), Some("Rate exceeded"));
}

#[tokio::test]
async fn server_error_fault_answers_internal_failure() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    sts.set_fault(Some(Fault::ServerError));
    let reply = get(&sts, &presign_now(&alice)).await;
    assert_eq!((reply.status, reply.code()), (500, Some("InternalFailure")));
    assert_eq!(reply.tag("Type"), Some("Receiver"));
}

#[tokio::test]
async fn redirect_fault_answers_found_with_location() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    sts.set_fault(Some(Fault::Redirect("https://evil.example/".to_owned())));
    let reply = get(&sts, &presign_now(&alice)).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("https://evil.example/"));
}

#[tokio::test]
async fn non_xml_fault_answers_html() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    sts.set_fault(Some(Fault::NonXml));
    let reply = get(&sts, &presign_now(&alice)).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(reply.body.contains("not sts"));
    assert!(reply.tag("Arn").is_none());
}

#[tokio::test]
async fn raw_fault_answers_exactly_what_was_asked() {
    let sts = LocalSts::start().await.unwrap();
    sts.set_fault(Some(Fault::Raw {
        status: 418,
        content_type: "application/json".to_owned(),
        body: b"{\"teapot\":true}".to_vec(),
    }));
    let reply = get(&sts, "/").await;
    assert_eq!(reply.status, 418);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body, "{\"teapot\":true}");
}

#[tokio::test]
async fn latency_fault_delays_then_answers_normally() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    sts.set_fault(Some(Fault::Latency(Duration::from_millis(200))));
    let started = Instant::now();
    let reply = get(&sts, &presign_now(&alice)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn clearing_the_fault_restores_normal_answers() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    sts.set_fault(Some(Fault::ServerError));
    assert_eq!(get(&sts, &target).await.status, 500);
    sts.set_fault(None);
    assert_eq!(get(&sts, &target).await.status, 200);
}

#[tokio::test]
async fn counts_every_request_whatever_the_outcome() {
    let sts = LocalSts::start().await.unwrap();
    let alice = sts.create_user(ACCOUNT, "alice");
    let target = presign_now(&alice);
    assert_eq!(sts.calls(), 0);
    assert_eq!(get(&sts, &target).await.status, 200);
    assert_eq!(get(&sts, "/").await.status, 403);
    assert_eq!(get(&sts, "/nowhere?x=1").await.status, 403);
    sts.set_fault(Some(Fault::Throttling));
    assert_eq!(get(&sts, &target).await.status, 400);
    assert_eq!(sts.calls(), 4);
    assert_eq!(sts.requests().len(), 4);
    sts.reset_calls();
    assert_eq!(sts.calls(), 0);
    assert!(sts.requests().is_empty());
}

#[tokio::test]
async fn records_method_uri_headers_and_body() {
    let sts = LocalSts::start().await.unwrap();
    let session = sts.assume_role(ACCOUNT, "deployer", "ci");
    assert_eq!(
        post_gci(&sts, &session, SigningSettings::default())
            .await
            .status,
        200
    );
    let target = presign_now(&session);
    assert_eq!(get(&sts, &target).await.status, 200);

    let requests = sts.requests();
    let [post, get] = requests.as_slice() else {
        panic!("expected two requests, got {requests:?}");
    };
    assert_eq!((post.method.as_str(), post.uri.as_str()), ("POST", "/"));
    assert_eq!(post.body, GCI.as_bytes());
    assert_eq!(post.header("Host"), Some(HOST));
    assert_eq!(post.header("content-type"), Some(FORM));
    assert!(
        post.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 ")
    );
    assert_eq!(
        (get.method.as_str(), get.uri.as_str()),
        ("GET", target.as_str())
    );
    assert!(get.body.is_empty());

    // Debug output must not leak signatures or session tokens.
    let token = session.session_token().unwrap();
    let header_signature = post
        .header("authorization")
        .and_then(|value| value.split("Signature=").nth(1))
        .unwrap();
    let secrets = [
        header_signature,
        token,
        param(&target, "X-Amz-Signature"),
        param(&target, "X-Amz-Security-Token"),
    ];
    for request in [post, get] {
        let debug = format!("{request:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}

#[tokio::test]
async fn stops_serving_when_dropped() {
    let sts = LocalSts::start().await.unwrap();
    let addr = sts.addr();
    assert_eq!(sts.connect_to(), addr.to_string());
    assert_eq!(sts.endpoint_url(), format!("http://{addr}"));
    drop(sts);
    // Let the server task see the shutdown signal.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("LocalSts still accepts connections after drop");
}
