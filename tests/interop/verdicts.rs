//! `LocalSts` and ministack, two independent SigV4 verifiers, give the same verdict on the same
//! signed requests.
//!
//! Each emulator has its own key store, so the same identities (an IAM user and an assumed-role
//! session) are created in each, and every request of the table is signed once per emulator
//! with that emulator's keys (by aws-sigv4, which neither emulator uses), then changed the same
//! way and sent straight to it, without the layer (which would refuse some of them locally).
//! A verdict is "accepted" when the answer is `200` with a `GetCallerIdentityResponse`.
//!
//! They agree on every row but two, where ministack is laxer than AWS and `LocalSts` follows
//! AWS ([`ministack_expectation`]); the layer refuses both of those before any STS call.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity as SigningIdentity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_iam_auth::testing::LocalSts;

use crate::peers::{ACCOUNT, Emulator, Flavor, ROLE, SESSION, USER};

const HOST: &str = "sts.us-east-1.amazonaws.com";
const AUDIENCE_HEADER: &str = "x-iam-audience";
const AUDIENCE: &str = "orders-service";
const FORM: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const FORM_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The keys one emulator issued.
struct Keys {
    user: Credentials,
    session: Credentials,
}

/// A request ready to send: method, path and query, headers (Host included), body.
#[derive(Clone, Debug)]
struct Signed {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: &'static str,
}

/// How a request is signed before it is changed.
#[derive(Clone)]
struct Signing {
    credentials: Credentials,
    at: SystemTime,
    host: &'static str,
    region: &'static str,
    service: &'static str,
    expires_in: Duration,
}

impl Signing {
    fn new(credentials: &Credentials) -> Signing {
        Signing {
            credentials: credentials.clone(),
            at: SystemTime::now(),
            host: HOST,
            region: "us-east-1",
            service: "sts",
            expires_in: Duration::from_secs(900),
        }
    }

    fn at(mut self, at: SystemTime) -> Signing {
        self.at = at;
        self
    }

    fn secret(mut self, secret: &str) -> Signing {
        let c = &self.credentials;
        self.credentials = Credentials::new(
            c.access_key_id(),
            secret,
            c.session_token().map(str::to_owned),
            None,
            "interop",
        );
        self
    }

    fn session_token(mut self, token: Option<&str>) -> Signing {
        let c = &self.credentials;
        self.credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            token.map(str::to_owned),
            None,
            "interop",
        );
        self
    }

    fn access_key(mut self, key: &str) -> Signing {
        let c = &self.credentials;
        self.credentials = Credentials::new(
            key,
            c.secret_access_key(),
            c.session_token().map(str::to_owned),
            None,
            "interop",
        );
        self
    }

    /// A presigned `GET` with the audience header signed, as `ProofSigner` makes them.
    fn presigned_get(&self) -> Signed {
        let identity = SigningIdentity::from(self.credentials.clone());
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(self.expires_in);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = format!("https://{}/?{FORM}", self.host);
        let headers = [(AUDIENCE_HEADER, AUDIENCE)];
        let signable =
            SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::get(&url).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        Signed {
            method: "GET",
            target: request.uri().path_and_query().unwrap().to_string(),
            headers: vec![
                ("host".into(), self.host.into()),
                (AUDIENCE_HEADER.into(), AUDIENCE.into()),
            ],
            body: "",
        }
    }

    /// A header-signed form `POST`, as botocore and hvac make them for Vault logins.
    fn header_signed_post(&self) -> Signed {
        let identity = SigningIdentity::from(self.credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let url = format!("https://{}/", self.host);
        let headers = [("content-type", FORM_TYPE), (AUDIENCE_HEADER, AUDIENCE)];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(FORM.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::post(&url).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let mut headers = vec![
            ("host".to_owned(), self.host.to_owned()),
            ("content-type".to_owned(), FORM_TYPE.to_owned()),
            (AUDIENCE_HEADER.to_owned(), AUDIENCE.to_owned()),
        ];
        for (name, value) in request.headers() {
            headers.push((name.to_string(), value.to_str().unwrap().to_owned()));
        }
        Signed {
            method: "POST",
            target: "/".into(),
            headers,
            body: FORM,
        }
    }
}

/// One hex digit (or letter) changed: the value stays well-formed but is no longer the signed one.
fn alter(value: &str, from: usize) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let index = (from..bytes.len())
        .find(|&i| bytes[i].is_ascii_alphanumeric())
        .expect("something to change");
    bytes[index] = if bytes[index] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

impl Signed {
    fn param(&self, name: &str) -> &str {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} not in {}", self.target))
    }

    fn with_param(mut self, name: &str, value: &str) -> Signed {
        let old = format!("{name}={}", self.param(name));
        self.target = self.target.replacen(&old, &format!("{name}={value}"), 1);
        self
    }

    fn without_param(mut self, name: &str) -> Signed {
        let old = format!("&{name}={}", self.param(name));
        self.target = self.target.replacen(&old, "", 1);
        self
    }

    fn with_extra_param(mut self, pair: &str) -> Signed {
        self.target = format!("{}&{pair}", self.target);
        self
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn with_header(mut self, name: &str, value: &str) -> Signed {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
                return self;
            }
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn with_body(mut self, body: &'static str) -> Signed {
        self.body = body;
        self
    }

    /// The last hex digit of the signature changed, wherever it is carried.
    fn with_tampered_signature(self) -> Signed {
        if self.method == "GET" {
            let signature = self.param("X-Amz-Signature");
            let tampered = alter(signature, signature.len() - 1);
            self.with_param("X-Amz-Signature", &tampered)
        } else {
            let authorization = self.header("authorization");
            let tampered = alter(authorization, authorization.len() - 1);
            self.with_header("authorization", &tampered)
        }
    }

    /// One character of the session token changed after signing.
    fn with_altered_session_token(self) -> Signed {
        if self.method == "GET" {
            let token = alter(self.param("X-Amz-Security-Token"), 8);
            self.with_param("X-Amz-Security-Token", &token)
        } else {
            let token = alter(self.header("x-amz-security-token"), 8);
            self.with_header("x-amz-security-token", &token)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Accept,
    Refuse,
}

/// An emulator's answer, reduced to what the table compares (the code is kept for the report).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    status: u16,
    accepted: bool,
    code: String,
}

impl Verdict {
    fn expect(&self) -> Expect {
        if self.accepted {
            Expect::Accept
        } else {
            Expect::Refuse
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.accepted {
            write!(f, "{} accepted", self.status)
        } else {
            write!(f, "{} {}", self.status, self.code)
        }
    }
}

async fn send(addr: SocketAddr, request: &Signed) -> Verdict {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(format!("http://{addr}{}", request.target));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let outbound = builder
        .body(Full::new(Bytes::from_static(request.body.as_bytes())))
        .unwrap();
    let answer = client
        .request(outbound)
        .await
        .expect("the emulator answers");
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or_else(|| "-".to_owned(), |(code, _)| code.to_owned());
    Verdict {
        status,
        accepted: status == 200 && body.contains("<GetCallerIdentityResponse"),
        code,
    }
}

type Build = fn(&Keys, SystemTime) -> Signed;

const LOWER_CASE_SIGNATURE_NAME: &str = "presigned GET, parameter renamed x-amz-signature";
const EXPIRES_OVER_A_WEEK: &str = "presigned GET, X-Amz-Expires=604801 (over a week)";

/// What ministack 1.5.33 answers where it is laxer than AWS (and `LocalSts`, which follows AWS
/// here). Both are refused by the layer before any STS call.
fn ministack_expectation(name: &str, expect: Expect) -> Expect {
    match name {
        // It looks query parameter names up case-insensitively (`_query_value` in
        // ministack/core/sigv4.py); AWS's names are case-sensitive, and without an
        // `X-Amz-Signature` the request is incompletely signed.
        LOWER_CASE_SIGNATURE_NAME => Expect::Accept,
        // It does not look at X-Amz-Expires at all; AWS refuses more than 604800 seconds with
        // `AuthorizationQueryParametersError`.
        EXPIRES_OVER_A_WEEK => Expect::Accept,
        _ => expect,
    }
}

/// The table: what is signed and changed, and what any SigV4 verifier must answer.
fn cases() -> Vec<(&'static str, Expect, Build)> {
    const MINUTE: Duration = Duration::from_secs(60);
    vec![
        ("presigned GET, IAM user", Expect::Accept, |k, _| {
            Signing::new(&k.user).presigned_get()
        }),
        ("presigned GET, role session", Expect::Accept, |k, _| {
            Signing::new(&k.session).presigned_get()
        }),
        ("header-signed POST, IAM user", Expect::Accept, |k, _| {
            Signing::new(&k.user).header_signed_post()
        }),
        (
            "header-signed POST, role session",
            Expect::Accept,
            |k, _| Signing::new(&k.session).header_signed_post(),
        ),
        (
            "presigned GET, a signature digit changed",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .presigned_get()
                    .with_tampered_signature()
            },
        ),
        (
            "header-signed POST, a signature digit changed",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .header_signed_post()
                    .with_tampered_signature()
            },
        ),
        ("presigned GET, wrong secret", Expect::Refuse, |k, _| {
            Signing::new(&k.user)
                .secret("not-the-secret")
                .presigned_get()
        }),
        (
            "header-signed POST, wrong secret",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .secret("not-the-secret")
                    .header_signed_post()
            },
        ),
        (
            "presigned GET, unknown access key",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .access_key("AKIAUNKNOWNKEY000000")
                    .presigned_get()
            },
        ),
        (
            "presigned GET, signed audience sent with another value",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .presigned_get()
                    .with_header(AUDIENCE_HEADER, "billing-service")
            },
        ),
        (
            "header-signed POST, signed audience sent with another value",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .header_signed_post()
                    .with_header(AUDIENCE_HEADER, "billing-service")
            },
        ),
        (
            "presigned GET, dated 14 minutes ago",
            Expect::Accept,
            |k, now| Signing::new(&k.user).at(now - 14 * MINUTE).presigned_get(),
        ),
        (
            "presigned GET, dated 16 minutes ago",
            Expect::Refuse,
            |k, now| Signing::new(&k.user).at(now - 16 * MINUTE).presigned_get(),
        ),
        (
            "header-signed POST, dated 16 minutes ago",
            Expect::Refuse,
            |k, now| {
                Signing::new(&k.user)
                    .at(now - 16 * MINUTE)
                    .header_signed_post()
            },
        ),
        (
            "presigned GET, dated 16 minutes ahead",
            Expect::Refuse,
            |k, now| Signing::new(&k.user).at(now + 16 * MINUTE).presigned_get(),
        ),
        (
            "header-signed POST, dated 16 minutes ahead",
            Expect::Refuse,
            |k, now| {
                Signing::new(&k.user)
                    .at(now + 16 * MINUTE)
                    .header_signed_post()
            },
        ),
        // Neither real STS nor these emulators enforce X-Amz-Expires; the 15-minute window
        // rules (the layer enforces X-Amz-Expires itself for native tokens).
        (
            "presigned GET, X-Amz-Expires=1, signed 2 minutes ago",
            Expect::Accept,
            |k, now| {
                let mut signing = Signing::new(&k.user).at(now - 2 * MINUTE);
                signing.expires_in = Duration::from_secs(1);
                signing.presigned_get()
            },
        ),
        (
            "presigned GET, session token altered after signing",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.session)
                    .presigned_get()
                    .with_altered_session_token()
            },
        ),
        (
            "header-signed POST, session token altered after signing",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.session)
                    .header_signed_post()
                    .with_altered_session_token()
            },
        ),
        (
            "presigned GET, signed with another session token",
            Expect::Refuse,
            |k, _| {
                let token = alter(k.session.session_token().unwrap(), 8);
                Signing::new(&k.session)
                    .session_token(Some(&token))
                    .presigned_get()
            },
        ),
        (
            "presigned GET, session key without its session token",
            Expect::Refuse,
            |k, _| Signing::new(&k.session).session_token(None).presigned_get(),
        ),
        (
            "presigned GET, session token left out after signing",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.session)
                    .presigned_get()
                    .without_param("X-Amz-Security-Token")
            },
        ),
        (
            "presigned GET, unsigned extra header added",
            Expect::Accept,
            |k, _| {
                Signing::new(&k.user)
                    .presigned_get()
                    .with_header("x-forwarded-for", "10.0.0.1")
            },
        ),
        (
            "header-signed POST, unsigned extra header added",
            Expect::Accept,
            |k, _| {
                Signing::new(&k.user)
                    .header_signed_post()
                    .with_header("x-forwarded-for", "10.0.0.1")
            },
        ),
        (
            "presigned GET, extra query parameter added",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .presigned_get()
                    .with_extra_param("Extra=1")
            },
        ),
        (
            "header-signed POST, body changed after signing",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .header_signed_post()
                    .with_body("Action=GetCallerIdentity&Version=2011-06-15&Extra=1")
            },
        ),
        (
            "presigned GET, credential scoped to s3",
            Expect::Refuse,
            |k, _| {
                let mut signing = Signing::new(&k.user);
                signing.service = "s3";
                signing.presigned_get()
            },
        ),
        // Host allowlisting is the verifier's job: STS emulators check only that the Host sent
        // is the Host signed (PEERS.md). The layer refuses both of these before any call.
        (
            "presigned GET, signed for host evil.example.com",
            Expect::Accept,
            |k, _| {
                let mut signing = Signing::new(&k.user);
                signing.host = "evil.example.com";
                signing.presigned_get()
            },
        ),
        (
            "presigned GET, scope region eu-west-1 on the us-east-1 host",
            Expect::Accept,
            |k, _| {
                let mut signing = Signing::new(&k.user);
                signing.region = "eu-west-1";
                signing.presigned_get()
            },
        ),
        // SigV4 canonicalizes the query from decoded values: how the client encoded it does not
        // matter as long as it decodes to the signed values.
        (
            "presigned GET, credential slashes not percent-encoded",
            Expect::Accept,
            |k, _| {
                let signed = Signing::new(&k.user).presigned_get();
                let credential = signed.param("X-Amz-Credential").replace("%2F", "/");
                signed.with_param("X-Amz-Credential", &credential)
            },
        ),
        (
            "presigned GET, signature upper-case hex",
            Expect::Refuse,
            |k, _| {
                let signed = Signing::new(&k.user).presigned_get();
                let sig = signed.param("X-Amz-Signature").to_ascii_uppercase();
                signed.with_param("X-Amz-Signature", &sig)
            },
        ),
        (LOWER_CASE_SIGNATURE_NAME, Expect::Refuse, |k, _| {
            let mut signed = Signing::new(&k.user).presigned_get();
            signed.target = signed
                .target
                .replace("X-Amz-Signature=", "x-amz-signature=");
            signed
        }),
        (
            "header-signed POST dated 14 minutes ago",
            Expect::Accept,
            |k, now| {
                Signing::new(&k.user)
                    .at(now - 14 * MINUTE)
                    .header_signed_post()
            },
        ),
        ("header-signed POST sent as GET", Expect::Refuse, |k, _| {
            let mut signed = Signing::new(&k.user).header_signed_post();
            signed.method = "GET";
            signed
        }),
        (
            "presigned GET, duplicate Action appended",
            Expect::Refuse,
            |k, _| {
                Signing::new(&k.user)
                    .presigned_get()
                    .with_extra_param("Action=GetCallerIdentity")
            },
        ),
        (
            "presigned GET, 10 minutes ahead",
            Expect::Accept,
            |k, now| Signing::new(&k.user).at(now + 10 * MINUTE).presigned_get(),
        ),
        (EXPIRES_OVER_A_WEEK, Expect::Refuse, |k, _| {
            let mut signing = Signing::new(&k.user);
            signing.expires_in = Duration::from_secs(604801);
            signing.presigned_get()
        }),
        (
            "POST with both an Authorization header and a presigned query",
            Expect::Refuse,
            |k, _| {
                let mut signed = Signing::new(&k.user).header_signed_post();
                let get = Signing::new(&k.user).presigned_get();
                signed.target = get.target;
                signed
            },
        ),
        (
            "presigned GET, X-Amz-SignedHeaders without host",
            Expect::Refuse,
            |k, _| {
                let signed = Signing::new(&k.user).presigned_get();
                signed.with_param("X-Amz-SignedHeaders", "x-iam-audience")
            },
        ),
    ]
}

#[tokio::test]
async fn local_sts_and_ministack_give_the_same_verdicts_except_where_ministack_is_laxer_than_aws() {
    let local = LocalSts::start().await.expect("LocalSts starts");
    let local_keys = Keys {
        user: local.create_user(ACCOUNT, USER),
        session: local.assume_role(ACCOUNT, ROLE, SESSION),
    };
    let ministack = Emulator::start(Flavor::Ministack).await;
    let ministack_keys = Keys {
        user: ministack.user.credentials.clone(),
        session: ministack.role_session.credentials.clone(),
    };

    let now = SystemTime::now();
    let mut table = String::new();
    let mut failures = Vec::new();
    for (name, expect, build) in cases() {
        let local_verdict = send(local.addr(), &build(&local_keys, now)).await;
        let ministack_request = build(&ministack_keys, now);
        let ministack_verdict = send(ministack.addr(), &ministack_request).await;
        let expected = format!("{expect:?}");
        table.push_str(&format!(
            "{name:<62} {expected:<7} LocalSts: {local_verdict:<32} ministack: {ministack_verdict}\n"
        ));
        let ministack_expect = ministack_expectation(name, expect);
        if local_verdict.expect() != expect {
            failures.push(format!(
                "LocalSts answered {name:?} with {local_verdict}, expected {expect:?}"
            ));
        }
        if ministack_verdict.expect() != ministack_expect {
            failures.push(format!(
                "ministack answered {name:?} with {ministack_verdict}, expected \
                 {ministack_expect:?}; request: {ministack_request:?}"
            ));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n"));
    // The exceptions are few and named: every other row is one verdict from both.
    let exceptions = cases()
        .into_iter()
        .filter(|(name, expect, _)| ministack_expectation(name, *expect) != *expect)
        .count();
    assert_eq!(exceptions, 2);
}
