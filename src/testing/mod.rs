//! [`LocalSts`]: an AWS STS emulator that really verifies SigV4, for tests (yours and ours).
//!
//! It answers `GetCallerIdentity` like STS does, after checking the signature by recomputing it
//! with the issued secret: a tampered byte, a wrong secret, an unknown or revoked key, a wrong
//! session token, a date outside the 15-minute window, a credential scoped to another service
//! or a changed signed header are each refused with the status and error code STS uses. Both
//! presigned `GET` URLs (the `iam-v1.` and `k8s-aws-v1.` token formats) and header-signed
//! requests (the Vault login format) are accepted. Fault injection ([`Fault`]) makes it
//! throttle, fail, redirect, stall or answer garbage, so that the upstream-failure paths of a
//! verifier can be tested too; [`LocalSts::calls`] and [`LocalSts::requests`] show what it
//! received.
//!
//! It listens on plain HTTP on `127.0.0.1`. Requests carry the STS host they were signed for
//! (for example `sts.amazonaws.com`) in the `Host` header; the emulator verifies against that
//! host and does not check which host it is, because choosing allowed hosts is the verifier's
//! job, not STS's. Point your service at it only through an explicit test-only endpoint override.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//!
//! use aws_sigv4::http_request::{
//!     SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings, sign,
//! };
//! use aws_sigv4::sign::v4;
//! use aws_smithy_runtime_api::client::identity::Identity;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tower_iam_auth::testing::LocalSts;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_all()
//!     .build()?;
//! runtime.block_on(async {
//!     let sts = LocalSts::start().await?;
//!     let credentials = sts.create_user("123456789012", "alice");
//!
//!     // Presign GetCallerIdentity for the global endpoint, as a client would.
//!     let identity = Identity::from(credentials);
//!     let mut settings = SigningSettings::default();
//!     settings.signature_location = SignatureLocation::QueryParams;
//!     settings.expires_in = Some(Duration::from_secs(900));
//!     let params: SigningParams = v4::SigningParams::builder()
//!         .identity(&identity)
//!         .region("us-east-1")
//!         .name("sts")
//!         .time(SystemTime::now())
//!         .settings(settings)
//!         .build()?
//!         .into();
//!     let url = "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15";
//!     let signable = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::empty())?;
//!     let (instructions, _signature) = sign(signable, &params)?.into_parts();
//!     let mut presigned = http::Request::get(url).body(())?;
//!     instructions.apply_to_request_http1x(&mut presigned);
//!
//!     // Replay it to the emulator over plain HTTP, with the Host it was signed for.
//!     let target = presigned.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
//!     let mut stream = tokio::net::TcpStream::connect(sts.addr()).await?;
//!     let head = format!(
//!         "GET {target} HTTP/1.1\r\nHost: sts.amazonaws.com\r\nConnection: close\r\n\r\n"
//!     );
//!     stream.write_all(head.as_bytes()).await?;
//!     let mut response = String::new();
//!     stream.read_to_string(&mut response).await?;
//!
//!     assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
//!     assert!(response.contains("<Arn>arn:aws:iam::123456789012:user/alice</Arn>"));
//!     assert_eq!(sts.calls(), 1);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # What it checks, in order
//!
//! 1. One auth mechanism: presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`,
//!    `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`, optional
//!    `X-Amz-Security-Token`) or an `Authorization: AWS4-HMAC-SHA256 …` header with `X-Amz-Date`
//!    (and optional `X-Amz-Security-Token`) headers. None: `403 MissingAuthenticationToken`;
//!    malformed: `400 IncompleteSignature`; `X-Amz-Expires` outside `1..=604800`:
//!    `400 AuthorizationQueryParametersError`.
//! 2. The access key is known and not revoked, and the session token is exactly the one issued
//!    with it (none for `AKIA…` keys): otherwise `403 InvalidClientTokenId`. A session past its
//!    one-hour expiry: `403 ExpiredToken`.
//! 3. `X-Amz-Date` within 15 minutes of the emulator's clock either way, the scope date equal
//!    to its day, the scope service `sts`: otherwise `403 SignatureDoesNotMatch`. As in real STS
//!    and other emulators, `X-Amz-Expires` is not enforced as a deadline; the window is.
//! 4. The signature and `SignedHeaders` list, recomputed with the issued secret, equal the
//!    client's: otherwise `403 SignatureDoesNotMatch`.
//! 5. `Action=GetCallerIdentity` and `Version=2011-06-15`, from the query or a form body:
//!    otherwise `400 InvalidAction`.
//!
//! Presigned URLs must be signed over the (empty) body's SHA-256 like every SigV4 client does
//! for non-S3 services, not `UNSIGNED-PAYLOAD`.

/// `X-Amz-Date` parsing and formatting, shared with the proof validator.
mod amz_date {
    pub(crate) use crate::proof::{format_amz_date as format, parse_amz_date as parse};
}
mod form;
mod keys;
mod response;
mod server;
mod sigv4;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use tokio::sync::oneshot;

use server::Shared;

/// An STS emulator listening on `127.0.0.1`, verifying SigV4 for the keys it issued.
///
/// Dropping it stops the server: it stops accepting connections and closes the open ones once
/// their in-flight requests are answered.
pub struct LocalSts {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl LocalSts {
    /// Binds `127.0.0.1` on a free port and serves on a spawned tokio task.
    ///
    /// Must be called within a tokio runtime; the runtime must keep running while the emulator
    /// is used (a `current_thread` runtime serves it whenever the test awaits).
    pub async fn start() -> std::io::Result<LocalSts> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // A dropped sender is a shutdown too.
                let _ = stop.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "LocalSts: server stopped");
            }
        });
        tracing::debug!(%addr, "LocalSts: listening");
        Ok(LocalSts {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"127.0.0.1:PORT"`: where to connect, whatever host a request was signed for.
    pub fn connect_to(&self) -> String {
        self.addr.to_string()
    }

    /// `"http://127.0.0.1:PORT"`, for clients configured with an endpoint URL.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Issues a long-term access key (`AKIA…`, no session token) for IAM user `name` in
    /// `account`, identified as `arn:aws:iam::ACCOUNT:user/NAME`.
    ///
    /// Each call issues a new key; the user's unique id (`AIDA…`) is the same for every key of
    /// the same user.
    pub fn create_user(&self, account: &str, name: &str) -> Credentials {
        self.shared.lock().keys.create_user(account, name)
    }

    /// Issues temporary credentials (`ASIA…` key, session token, one-hour expiry by the
    /// emulator's clock) for a session of role `role` in `account`, identified as
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` with user id `AROA…:SESSION`.
    ///
    /// The role id (`AROA…`) is stable per `(account, role)`. Session tokens are standard
    /// base64 and always contain `+`, `/` and `=`, so that their percent-encoding is exercised.
    pub fn assume_role(&self, account: &str, role: &str, session: &str) -> Credentials {
        let now = self.shared.now();
        self.shared
            .lock()
            .keys
            .assume_role(account, role, session, now)
    }

    /// How many HTTP requests it has received since start or [`reset_calls`](Self::reset_calls),
    /// whatever their outcome (rejected and faulted requests included).
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Sets [`calls`](Self::calls) back to zero and forgets the [`requests`](Self::requests).
    pub fn reset_calls(&self) {
        let mut state = self.shared.lock();
        self.shared.calls.store(0, Ordering::SeqCst);
        state.requests.clear();
    }

    /// Every request received since start or [`reset_calls`](Self::reset_calls), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Makes every following request fail (or stall) this way, until set to `None`.
    ///
    /// Requests are still counted and recorded first.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.lock().fault = fault;
    }

    /// Replaces the emulator's clock (default [`SystemTime::now`]), which decides the
    /// 15-minute signature window and session expiry.
    pub fn set_clock(&self, clock: Arc<dyn Fn() -> SystemTime + Send + Sync>) {
        self.shared.lock().clock = clock;
    }

    /// Forgets `access_key_id`: requests signed with it get `403 InvalidClientTokenId`.
    pub fn revoke(&self, access_key_id: &str) {
        self.shared.lock().keys.revoke(access_key_id);
    }
}

impl Drop for LocalSts {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl fmt::Debug for LocalSts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSts")
            .field("addr", &self.addr)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

/// A failure [`LocalSts`] injects instead of (or before) answering.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Sleep this long, then answer normally.
    Latency(Duration),
    /// `400` `ErrorResponse` with `Code` `Throttling` and `Message` `Rate exceeded`, as STS
    /// throttles.
    Throttling,
    /// `500` `ErrorResponse` with `Code` `InternalFailure` and `Type` `Receiver`.
    ServerError,
    /// `302 Found` with this `Location` (omitted if it is not a valid header value).
    Redirect(String),
    /// `200` with a `text/html` body that is not STS XML, as a captive portal or a wrong
    /// endpoint would answer.
    NonXml,
    /// Exactly this status, content type and body (a status outside `100..=999` becomes `500`;
    /// a content type that is not a valid header value is left out).
    Raw {
        /// The HTTP status code.
        status: u16,
        /// The `Content-Type` header value.
        content_type: String,
        /// The body bytes.
        body: Vec<u8>,
    },
}

/// One HTTP request as [`LocalSts`] received it.
///
/// `Debug` redacts signatures, session tokens and the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target: path and query, as sent.
    pub uri: String,
    /// Header names (lower case) and values, in order, repeated headers included.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: bytes::Bytes,
}

impl RecordedRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = match self.uri.split_once('?') {
            None => self.uri.clone(),
            Some((path, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|piece| match piece.split_once('=') {
                        Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
                        _ => piece.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", query.join("&"))
            }
        };
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let secret = name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("x-amz-security-token");
                (
                    name.as_str(),
                    if secret { REDACTED } else { value.as_str() },
                )
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("uri", &uri)
            .field("headers", &headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

fn is_secret_param(name: &str) -> bool {
    name.eq_ignore_ascii_case("X-Amz-Signature")
        || name.eq_ignore_ascii_case("X-Amz-Security-Token")
}

/// An [`IamPrincipal`](crate::principal::IamPrincipal) as if STS had answered `raw_arn` and
/// `user_id` to `GetCallerIdentity`, for unit tests of handlers and policies. Only this testing
/// feature offers it: in a server, principals come from verification alone.
///
/// ```
/// let p = tower_iam_auth::testing::principal(
///     "arn:aws:sts::123456789012:assumed-role/deployer/ci",
///     "AROAEXAMPLEID1234567:ci",
/// )?;
/// assert_eq!(p.arn(), "arn:aws:iam::123456789012:role/deployer");
/// # Ok::<(), tower_iam_auth::arn::ArnError>(())
/// ```
pub fn principal(
    raw_arn: &str,
    user_id: &str,
) -> Result<crate::principal::IamPrincipal, crate::arn::ArnError> {
    crate::arn::normalize(raw_arn, user_id).map(crate::principal::IamPrincipal::from_identity)
}
