//! Refusals in the gRPC form: a gRPC client reads `grpc-status` and `grpc-message`, never an HTTP
//! status or body, so a `401` with JSON would reach it as an opaque transport error.
//!
//! The answer is a *Trailers-Only* response ([gRPC over HTTP/2]): HTTP `200`,
//! `content-type: application/grpc`, no body, and the status in the headers. The message is
//! `<reason code>: <message>`, percent-encoded as the protocol requires.
//!
//! [gRPC over HTTP/2]: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md

use std::fmt::Write as _;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::AuthError;

/// The gRPC status codes a refusal maps to ([status codes]).
///
/// [status codes]: https://grpc.github.io/grpc/core/md_doc_statuscodes.html
fn grpc_status(refusal: &AuthError) -> u16 {
    use super::ReasonCode;
    match refusal.status() {
        // A malformed credential is an authentication failure to a gRPC client, not a bad
        // argument of the call.
        _ if refusal.reason() == ReasonCode::TokenMalformed => 16, // UNAUTHENTICATED
        StatusCode::UNAUTHORIZED => 16,                            // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,                                // PERMISSION_DENIED
        StatusCode::SERVICE_UNAVAILABLE => 14,                     // UNAVAILABLE
        StatusCode::TOO_MANY_REQUESTS => 8,                        // RESOURCE_EXHAUSTED
        StatusCode::BAD_REQUEST => 3,                              // INVALID_ARGUMENT
        StatusCode::INTERNAL_SERVER_ERROR => 13,                   // INTERNAL
        _ => 2,                                                    // UNKNOWN
    }
}

/// Whether a request with these headers is a gRPC call: `content-type` is `application/grpc`
/// or one of its forms (`application/grpc+proto`, `application/grpc-web`, ...).
pub fn is_grpc_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.as_bytes().get(..16))
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"application/grpc"))
}

/// Percent-encodes `message` as `grpc-message` requires: every byte outside visible ASCII and
/// space, and `%` itself.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

impl AuthError {
    /// This refusal as a gRPC Trailers-Only response: HTTP `200`, `grpc-status` 16
    /// (UNAUTHENTICATED) for bad or missing credentials, 7 (PERMISSION_DENIED) for a refused
    /// principal, 14 (UNAVAILABLE) when STS cannot answer (with `Retry-After` kept as
    /// metadata), 8 (RESOURCE_EXHAUSTED) for `429`; `grpc-message` is
    /// `<reason code>: <message>`.
    pub fn to_grpc_response(&self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::new());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from(grpc_status(self)));
        let message = percent_encode(&format!("{}: {}", self.reason().as_str(), self.message()));
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", value);
        }
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ReasonCode;

    fn grpc(content_type: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        is_grpc_request(&headers)
    }

    #[test]
    fn recognizes_grpc_content_types_only() {
        assert!(grpc("application/grpc"));
        assert!(grpc("application/grpc+proto"));
        assert!(grpc("Application/GRPC-web+proto"));
        assert!(!grpc("application/json"));
        assert!(!grpc("application/grp"));
        assert!(!is_grpc_request(&HeaderMap::new()));
    }

    #[test]
    fn statuses_follow_the_http_class() {
        let status = |reason| {
            AuthError::new(reason).to_grpc_response().headers()["grpc-status"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(status(ReasonCode::TokenMissing), "16");
        assert_eq!(status(ReasonCode::TokenMalformed), "16");
        assert_eq!(status(ReasonCode::ProofExpired), "16");
        assert_eq!(status(ReasonCode::PolicyDenied), "7");
        assert_eq!(status(ReasonCode::StsThrottled), "14");
        assert_eq!(status(ReasonCode::RequestPathNotCanonical), "3");
        assert_eq!(status(ReasonCode::PolicyNotEnforceable), "13");
    }

    #[test]
    fn response_is_trailers_only() {
        let response = AuthError::new(ReasonCode::StsUnavailable).to_grpc_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/grpc");
        assert!(response.body().is_empty());
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn message_is_percent_encoded() {
        assert_eq!(percent_encode("a: b"), "a: b");
        assert_eq!(percent_encode("100%"), "100%25");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
        let response = AuthError::new(ReasonCode::ProofExpired)
            .with_message("très\r\n100%")
            .to_grpc_response();
        assert_eq!(
            response.headers()["grpc-message"],
            "proof.expired: tr%C3%A8s%0D%0A100%25"
        );
    }
}
