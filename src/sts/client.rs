//! The STS replay over HTTPS (DESIGN §4).
//!
//! The request is rebuilt from validated parts only: `GET https://<table host>/?<validated query>`
//! with the server's own audience header. Redirects are never followed, every call has a connect
//! timeout and a total deadline (retries included), answers are read up to a size cap, and a
//! semaphore bounds concurrent calls.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

use super::response::{self, CallerIdentity};
use crate::capped_body::CappedBodyError;
use crate::error::{AuthError, ReasonCode};
use crate::metrics::record;
use crate::proof::{GET_CALLER_IDENTITY_BODY, Replay, ValidatedProof};
use crate::sts::Partition;

/// Timeouts, limits and routing of STS calls.
#[derive(Clone, Debug)]
pub struct StsClientConfig {
    /// TCP+TLS connect timeout. Default 1 s.
    pub connect_timeout: Duration,
    /// Deadline for one verification, including waiting for a slot and a retry. Default 5 s.
    pub timeout: Duration,
    /// Largest answer read. Default 64 KiB.
    pub max_response_bytes: usize,
    /// Most STS calls in flight at once (at most 65 536); a call that finds none free is
    /// refused at once with `sts.busy`. Default 64.
    pub max_concurrent_calls: usize,
    /// Whether a throttled or 5xx answer is retried once (with jitter) inside the deadline.
    /// Default true.
    pub retry: bool,
    /// **Testing only.** Sends every request over plain HTTP to this `host:port`, keeping the
    /// signed `Host` header. It never widens which hosts a proof may name.
    pub dangerous_connect_to: Option<String>,
}

impl Default for StsClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
            max_concurrent_calls: 64,
            retry: true,
            dangerous_connect_to: None,
        }
    }
}

/// Why an attempt failed, and whether a retry may help.
enum Attempt {
    Retryable(AuthError),
    Final(AuthError),
}

/// Replays validated proofs to STS.
#[derive(Clone, Debug)]
pub struct StsClient {
    http: reqwest::Client,
    config: Arc<StsClientConfig>,
    slots: Arc<Semaphore>,
}

impl StsClient {
    /// Builds the HTTP client. Fails if the TLS backend cannot be initialised.
    pub fn new(config: StsClientConfig) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("tower-iam-auth/", env!("CARGO_PKG_VERSION")));
        builder = match config.dangerous_connect_to {
            // The emulator route is plain HTTP on loopback: no proxy in between.
            Some(_) => builder.no_proxy(),
            None => builder.https_only(true),
        };
        Ok(Self {
            http: builder.build()?,
            // Clamped: tokio's semaphore panics above `Semaphore::MAX_PERMITS`.
            slots: Arc::new(Semaphore::new(
                config.max_concurrent_calls.clamp(1, Semaphore::MAX_PERMITS),
            )),
            config: Arc::new(config),
        })
    }

    /// Replays `proof` with `audience` as its audience header and returns the caller identity.
    pub async fn get_caller_identity(
        &self,
        proof: &ValidatedProof,
        audience: &HeaderValue,
    ) -> Result<CallerIdentity, AuthError> {
        let deadline = Instant::now()
            .checked_add(self.config.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        let work = async {
            // Waiting for a slot would hold the request until the deadline while STS is slow
            // or flooded: a busy answer at once lets the client retry elsewhere or later.
            let _slot = self.slots.try_acquire().map_err(|_| {
                AuthError::new(ReasonCode::StsBusy).with_detail(format!(
                    "all {} STS call slots are busy",
                    self.config.max_concurrent_calls
                ))
            })?;
            record::sts_in_flight(1.0);
            let _in_flight = InFlight;
            match self.traced_attempt(proof, audience, deadline, 1).await {
                Ok(identity) => Ok(identity),
                Err(Attempt::Final(e)) => Err(e),
                Err(Attempt::Retryable(e)) if !self.config.retry => Err(e),
                Err(Attempt::Retryable(first)) => {
                    // One retry, after 50..250 ms of jitter, only if it can finish in time.
                    let pause = Duration::from_millis(fastrand::u64(50..250));
                    if Instant::now() + pause * 2 >= deadline {
                        return Err(first);
                    }
                    tracing::debug!(reason = %first.reason(), "retrying STS call once");
                    tokio::time::sleep(pause).await;
                    match self.traced_attempt(proof, audience, deadline, 2).await {
                        Ok(identity) => Ok(identity),
                        Err(Attempt::Final(e) | Attempt::Retryable(e)) => Err(e),
                    }
                }
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(AuthError::new(ReasonCode::StsTimeout)
                .with_detail(format!("no answer within {:?}", self.config.timeout))),
        }
    }

    /// One attempt in its `sts.GetCallerIdentity` span, counted and timed.
    async fn traced_attempt(
        &self,
        proof: &ValidatedProof,
        audience: &HeaderValue,
        deadline: Instant,
        attempt: u32,
    ) -> Result<CallerIdentity, Attempt> {
        let region = proof.endpoint().region();
        let span = tracing::info_span!(
            "sts.GetCallerIdentity",
            region,
            attempt,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            result = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = self
            .attempt(proof, audience, deadline)
            .instrument(span.clone())
            .await;
        let label = match &result {
            Ok(_) => "ok",
            Err(Attempt::Final(e) | Attempt::Retryable(e)) => match e.reason() {
                ReasonCode::StsRejected => "rejected",
                ReasonCode::StsThrottled => "throttled",
                _ => "error",
            },
        };
        span.record("result", label);
        record::sts_attempt(label, region, started.elapsed());
        result
    }

    async fn attempt(
        &self,
        proof: &ValidatedProof,
        audience: &HeaderValue,
        deadline: Instant,
    ) -> Result<CallerIdentity, Attempt> {
        let host = proof.endpoint().host();
        let base = match &self.config.dangerous_connect_to {
            Some(addr) => format!("http://{addr}/"),
            None => format!("https://{host}/"),
        };
        let mut request = match proof.replay() {
            Replay::Get { query } => self.http.get(format!("{base}?{query}")),
            Replay::Post { headers } => {
                let mut post = self.http.post(base).body(GET_CALLER_IDENTITY_BODY);
                if !headers
                    .iter()
                    .any(|(name, _)| name == http::header::CONTENT_TYPE)
                {
                    // STS reads the body only as a form; an unsigned default is harmless.
                    post = post.header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded; charset=utf-8",
                    );
                }
                for (name, value) in headers {
                    post = post.header(name, value.clone());
                }
                post
            }
        };
        if self.config.dangerous_connect_to.is_some() {
            request = request.header(http::header::HOST, host);
        }
        // The server's own audience replaces whatever the client sent; for Vault logins the
        // validator has already checked that the signed value is this one.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = request
            .header(proof.audience_header().clone(), audience.clone())
            .timeout(remaining)
            .send()
            .await
            .map_err(transport_error)?;

        let status = response.status();
        let span = tracing::Span::current();
        span.record("status", status.as_u16());
        if let Some(id) = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
        {
            // STS's own id for this call: what AWS support asks for.
            span.record("request_id", id);
        }
        if status.is_redirection() {
            return Err(Attempt::Final(
                AuthError::new(ReasonCode::StsRedirect)
                    .with_detail(format!("STS answered {status}")),
            ));
        }
        let body = read_capped(response, self.config.max_response_bytes).await?;
        if status == StatusCode::OK {
            let identity = response::parse_get_caller_identity(&body).map_err(|e| {
                Attempt::Final(
                    AuthError::new(ReasonCode::StsBadResponse).with_detail(e.to_string()),
                )
            })?;
            return check_partition(identity, proof.endpoint().partition()).map_err(Attempt::Final);
        }
        Err(classify_failure(status, &body))
    }
}

/// Refuses an identity whose ARN names another partition than the endpoint that answered: STS
/// in `aws` never speaks for an `aws-cn` or `aws-us-gov` principal, so such an answer comes
/// from something else than STS (a proxy, a misrouted emulator) and is not believed.
fn check_partition(
    identity: CallerIdentity,
    endpoint: Partition,
) -> Result<CallerIdentity, AuthError> {
    let named = identity
        .arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(':'))
        .map(|(partition, _)| partition);
    if named == Some(endpoint.as_str()) {
        return Ok(identity);
    }
    Err(
        AuthError::new(ReasonCode::StsPartitionMismatch).with_detail(format!(
            "an {} endpoint answered with an ARN of partition {:?}",
            endpoint.as_str(),
            named.unwrap_or_default()
        )),
    )
}

/// Counts an STS verification as in flight until dropped (finished, failed or cancelled).
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        record::sts_in_flight(-1.0);
    }
}

fn transport_error(e: reqwest::Error) -> Attempt {
    // reqwest's Display appends the URL, which holds the signature and session token.
    let e = e.without_url();
    if e.is_timeout() {
        Attempt::Final(AuthError::new(ReasonCode::StsTimeout).with_detail("STS call timed out"))
    } else {
        // Connection refused, reset, TLS failure: STS is unreachable from here.
        Attempt::Retryable(
            AuthError::new(ReasonCode::StsUnavailable).with_detail(format!("transport: {e}")),
        )
    }
}

async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Vec<u8>, Attempt> {
    crate::capped_body::read_capped(response, cap)
        .await
        .map_err(|e| match e {
            CappedBodyError::TooLarge => Attempt::Final(
                AuthError::new(ReasonCode::StsBadResponse)
                    .with_detail("STS answer larger than the cap"),
            ),
            CappedBodyError::Transport(e) => transport_error(e),
        })
}

/// Sorts a non-200 answer into "the caller is not authenticated" and "STS cannot answer".
fn classify_failure(status: StatusCode, body: &[u8]) -> Attempt {
    let doc = response::parse_error_response(body);
    let code = doc.as_ref().map(|d| d.code.as_str()).unwrap_or("");
    let detail = format!("STS answered {status} {code}");
    let throttled = status == StatusCode::TOO_MANY_REQUESTS
        || matches!(
            code,
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
        );
    if throttled {
        Attempt::Retryable(AuthError::new(ReasonCode::StsThrottled).with_detail(detail))
    } else if status.is_server_error() {
        Attempt::Retryable(AuthError::new(ReasonCode::StsUnavailable).with_detail(detail))
    } else if matches!(status.as_u16(), 400 | 401 | 403) && doc.is_some() {
        // SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken, AccessDenied...
        Attempt::Final(AuthError::new(ReasonCode::StsRejected).with_detail(detail))
    } else {
        Attempt::Final(AuthError::new(ReasonCode::StsBadResponse).with_detail(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_doc(code: &str) -> Vec<u8> {
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error></ErrorResponse>"
        )
        .into_bytes()
    }

    fn reason(attempt: Attempt) -> (ReasonCode, bool) {
        match attempt {
            Attempt::Retryable(e) => (e.reason(), true),
            Attempt::Final(e) => (e.reason(), false),
        }
    }

    fn identity(arn: &str) -> CallerIdentity {
        CallerIdentity {
            arn: arn.to_owned(),
            account: "123456789012".to_owned(),
            user_id: "AIDAEXAMPLE".to_owned(),
        }
    }

    #[test]
    fn an_arn_of_another_partition_than_the_endpoint_is_refused() {
        let aws = "arn:aws:iam::123456789012:user/alice";
        assert!(check_partition(identity(aws), Partition::Aws).is_ok());
        for (arn, endpoint) in [
            (aws, Partition::AwsCn),
            (aws, Partition::AwsUsGov),
            ("arn:aws-cn:iam::123456789012:user/alice", Partition::Aws),
            (
                "arn:aws-us-gov:iam::123456789012:user/alice",
                Partition::Aws,
            ),
            ("arn:awsx:iam::123456789012:user/alice", Partition::Aws),
            ("arn:", Partition::Aws),
        ] {
            let refused = check_partition(identity(arn), endpoint).unwrap_err();
            assert_eq!(refused.reason(), ReasonCode::StsPartitionMismatch, "{arn}");
        }
    }

    #[test]
    fn signature_mismatch_is_a_final_rejection() {
        let got = reason(classify_failure(
            StatusCode::FORBIDDEN,
            &error_doc("SignatureDoesNotMatch"),
        ));
        assert_eq!(got, (ReasonCode::StsRejected, false));
    }

    #[test]
    fn throttling_is_retryable_and_unavailable() {
        let got = reason(classify_failure(
            StatusCode::BAD_REQUEST,
            &error_doc("Throttling"),
        ));
        assert_eq!(got, (ReasonCode::StsThrottled, true));
        let got = reason(classify_failure(
            StatusCode::TOO_MANY_REQUESTS,
            b"slow down",
        ));
        assert_eq!(got, (ReasonCode::StsThrottled, true));
    }

    #[test]
    fn server_errors_are_retryable() {
        let got = reason(classify_failure(StatusCode::BAD_GATEWAY, b"<html>"));
        assert_eq!(got, (ReasonCode::StsUnavailable, true));
    }

    #[test]
    fn a_403_without_an_sts_error_document_is_not_trusted_as_a_verdict() {
        let got = reason(classify_failure(
            StatusCode::FORBIDDEN,
            b"<html>proxy says no</html>",
        ));
        assert_eq!(got, (ReasonCode::StsBadResponse, false));
    }
}
