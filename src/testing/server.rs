//! The HTTP side of [`LocalSts`](super::LocalSts): record, apply the fault, verify, answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use super::keys::KeyStore;
use super::response::{self, StsError};
use super::sigv4::{self, Incoming};
use super::{Fault, RecordedRequest};

/// STS request bodies are a few hundred bytes; anything bigger than this is not STS traffic.
const MAX_BODY: usize = 1024 * 1024;

/// The emulator's clock.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// State shared by the [`LocalSts`](super::LocalSts) handle and the server task.
pub(crate) struct Shared {
    pub(crate) calls: AtomicUsize,
    state: Mutex<EmulatorState>,
}

pub(crate) struct EmulatorState {
    pub(crate) keys: KeyStore,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) fault: Option<Fault>,
    pub(crate) clock: Clock,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            calls: AtomicUsize::new(0),
            state: Mutex::new(EmulatorState {
                keys: KeyStore::default(),
                requests: Vec::new(),
                fault: None,
                clock: Arc::new(SystemTime::now),
            }),
        }
    }

    /// Never held across an `.await`; a panicking test thread must not wedge the emulator, so
    /// poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, EmulatorState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> SystemTime {
        let clock = Arc::clone(&self.lock().clock);
        clock()
    }
}

/// Every path and method reaches [`handle`]: STS answers errors, not 404s.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let recorded_body = body.as_ref().cloned().unwrap_or_default();
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());

    // Count and record first: faults and rejections are calls too.
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let fault = {
        let mut state = shared.lock();
        state.requests.push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            uri,
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: recorded_body,
        });
        state.fault.clone()
    };

    if let Some(fault) = fault
        && let Some(response) = apply_fault(fault).await
    {
        return response;
    }

    let Ok(body) = body else {
        return response::raw(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "request body too large",
        );
    };
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
    };
    let now = shared.now();
    let verdict = sigv4::verify(&incoming, now, |access_key_id| {
        shared.lock().keys.get(access_key_id).cloned()
    });
    let access_key_id = verdict.access_key_id.as_deref().unwrap_or("-");
    match verdict.result {
        Ok(identity) => {
            tracing::debug!(access_key_id, arn = %identity.arn, "LocalSts: GetCallerIdentity");
            response::caller_identity(&identity)
        }
        Err(error) => {
            tracing::debug!(
                access_key_id,
                code = error.code,
                message = %error.message,
                "LocalSts: rejected"
            );
            error.into_response()
        }
    }
}

/// The fault's answer, or `None` when the request goes on to be answered normally.
async fn apply_fault(fault: Fault) -> Option<Response> {
    let response = match fault {
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            return None;
        }
        Fault::Throttling => StsError::throttling().into_response(),
        Fault::ServerError => StsError::internal_failure().into_response(),
        Fault::Redirect(location) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Fault::NonXml => response::raw(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><body><h1>not sts</h1></body></html>",
        ),
        Fault::Raw {
            status,
            content_type,
            body,
        } => response::raw(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &content_type,
            Bytes::from(body),
        ),
    };
    Some(response)
}
