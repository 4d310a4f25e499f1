//! Shared pieces of the integration tests: a LocalSts, a protected router, a signer.
#![allow(dead_code)]

pub mod examples;
pub mod logs;
pub mod vault;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{IamAuthConfig, IamAuthConfigBuilder, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;

pub const ACCOUNT: &str = "123456789012";
pub const AUDIENCE: &str = "orders-service";

/// A clock the test moves by hand, shared by server and signer.
#[derive(Clone, Default)]
pub struct TestClock {
    offset_secs: Arc<AtomicI64>,
}

impl TestClock {
    pub fn now(&self) -> SystemTime {
        let offset = self.offset_secs.load(Ordering::SeqCst);
        let now = SystemTime::now();
        if offset >= 0 {
            now + Duration::from_secs(offset as u64)
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        }
    }

    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }

    pub fn set_offset_secs(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::SeqCst);
    }

    pub fn as_fn(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.now()
    }
}

/// The router every test protects: `/whoami` answers the principal as JSON.
pub fn whoami_router() -> Router {
    Router::new().route(
        "/whoami",
        get(|principal: IamPrincipal| async move { axum::Json(principal) }),
    )
}

pub struct Harness {
    pub sts: LocalSts,
    pub app: Router,
    pub layer: IamAuthLayer,
    pub clock: TestClock,
}

/// A LocalSts and `whoami_router()` behind an `IamAuthLayer` pointed at it.
pub async fn harness() -> Harness {
    harness_with(|b| b).await
}

pub async fn harness_with(
    configure: impl FnOnce(IamAuthConfigBuilder) -> IamAuthConfigBuilder,
) -> Harness {
    let sts = LocalSts::start().await.expect("LocalSts starts");
    let clock = TestClock::default();
    let builder = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allow_any_aws_account()
        .dangerous_sts_connect_to(sts.connect_to())
        .clock(clock.as_fn());
    let layer = IamAuthLayer::new(configure(builder).build().expect("valid config"));
    let app = whoami_router().layer(layer.clone());
    Harness {
        sts,
        app,
        layer,
        clock,
    }
}

pub fn signer(credentials: Credentials) -> ProofSigner {
    signer_for(credentials, AUDIENCE, ProofFormat::IamV1)
}

pub fn signer_for(credentials: Credentials, audience: &str, format: ProofFormat) -> ProofSigner {
    ProofSigner::builder(credentials)
        .audience(audience)
        .region("us-east-1")
        .format(format)
        .build()
        .expect("valid signer")
}

pub async fn token_for(credentials: Credentials) -> String {
    signer(credentials)
        .token()
        .await
        .expect("signs")
        .as_str()
        .to_owned()
}

/// A fresh token signed at `at`, for time-window tests.
pub async fn token_signed_at(
    credentials: Credentials,
    at: SystemTime,
    format: ProofFormat,
) -> String {
    token_signed_at_for(credentials, AUDIENCE, at, format).await
}

/// A fresh token for `audience`, signed at `at`.
pub async fn token_signed_at_for(
    credentials: Credentials,
    audience: &str,
    at: SystemTime,
    format: ProofFormat,
) -> String {
    ProofSigner::builder(credentials)
        .audience(audience)
        .format(format)
        .clock(move || at)
        .build()
        .unwrap()
        .sign_new()
        .await
        .unwrap()
        .as_str()
        .to_owned()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

impl Answer {
    pub fn reason(&self) -> &str {
        self.json["reason"].as_str().unwrap_or("<no reason>")
    }
}

pub async fn call(app: &Router, authorization: Option<&str>) -> Answer {
    let mut request = Request::get("/whoami");
    if let Some(token) = authorization {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    call_request(app, request.body(Body::empty()).unwrap()).await
}

/// Calls `app` with `token` and checks that it answers `arn` (through STS or a cache).
pub async fn assert_serves(app: &Router, token: &str, arn: &str) {
    let answer = call(app, Some(token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["arn"], arn);
}

pub async fn call_request(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    Answer {
        status,
        headers,
        json,
    }
}

/// The presigned URL inside a token.
pub fn url_of(token: &str) -> String {
    let (_, body) = token.split_once('.').unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

/// A token of `format` carrying `url`.
pub fn token_of(format: ProofFormat, url: &str) -> String {
    tower_iam_auth::proof::encode_token(format, url)
}

/// Re-encodes a token after changing its URL.
pub fn mutate(token: &str, change: impl FnOnce(String) -> String) -> String {
    let format = ProofFormat::split_token(token).unwrap().0;
    token_of(format, &change(url_of(token)))
}

/// The value of a query parameter in a presigned URL.
pub fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not in URL"))
        .to_owned()
}

/// Replaces the value of one query parameter (already encoded).
pub fn set_param(url: &str, name: &str, value: &str) -> String {
    let old = format!("{name}={}", param(url, name));
    url.replacen(&old, &format!("{name}={value}"), 1)
}
