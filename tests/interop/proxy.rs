//! A counting HTTP proxy in front of an emulator, so that tests can assert how many STS calls the
//! layer made (and what it sent) to a peer that does not count them itself.
//!
//! It forwards every request unchanged (the `Host` the proof was signed for included) and
//! records it before forwarding. HTTP/1.1 only, plain text, `127.0.0.1`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

/// One request the proxy forwarded.
#[derive(Clone, Debug)]
pub struct ForwardedRequest {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    /// The emulator's status and body (`None` until it answered).
    pub answer: Option<(u16, String)>,
}

impl ForwardedRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    upstream: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    requests: Mutex<Vec<ForwardedRequest>>,
}

/// The proxy; dropping it stops it.
pub struct CountingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

impl CountingProxy {
    /// Listens on a free port of `127.0.0.1` and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await;
        });
        CountingProxy {
            addr,
            shared,
            _shutdown: shutdown,
        }
    }

    /// `127.0.0.1:PORT` of the proxy: what the layer's `dangerous_sts_connect_to` gets.
    pub fn connect_to(&self) -> String {
        self.addr.to_string()
    }

    /// How many requests went through.
    pub fn calls(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// The requests that went through, oldest first.
    pub fn requests(&self) -> Vec<ForwardedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let index = {
        let mut requests = shared.requests.lock().unwrap();
        requests.push(ForwardedRequest {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
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
            answer: None,
        });
        requests.len() - 1
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut outbound = http::Request::builder()
        .method(parts.method)
        .uri(format!("http://{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        // The client sets the Host it finds in the headers, so the signed host travels on.
        outbound = outbound.header(name, value);
    }
    let outbound = outbound.body(Full::new(body)).expect("a valid request");
    match shared.client.request(outbound).await {
        Ok(answer) => {
            let (mut parts, body) = answer.into_parts();
            // The body is re-sent whole: its framing is the proxy's own.
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            parts.headers.remove(http::header::CONNECTION);
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            shared.requests.lock().unwrap()[index].answer = Some((
                parts.status.as_u16(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(error) => (StatusCode::BAD_GATEWAY, format!("proxy: {error}")).into_response(),
    }
}
