//! STS's query-protocol XML answers: `GetCallerIdentityResponse` and `ErrorResponse`.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Who signed a request, as `GetCallerIdentity` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallerIdentity {
    pub(crate) arn: String,
    pub(crate) user_id: String,
    pub(crate) account: String,
}

/// Which side STS blames in `<Type>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blame {
    Sender,
    Receiver,
}

/// An STS error answer: status, `<Code>`, `<Message>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StsError {
    pub(crate) status: StatusCode,
    pub(crate) blame: Blame,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl StsError {
    fn sender(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            blame: Blame::Sender,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn missing_authentication_token() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    }

    pub(crate) fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "IncompleteSignature", message)
    }

    pub(crate) fn authorization_query_parameters(message: impl Into<String>) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    }

    pub(crate) fn invalid_client_token_id() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    pub(crate) fn expired_token() -> Self {
        Self::sender(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    }

    pub(crate) fn signature_does_not_match(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
    }

    pub(crate) fn signature_mismatch() -> Self {
        Self::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. \
             Consult the service documentation for details.",
        )
    }

    pub(crate) fn invalid_action(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "InvalidAction", message)
    }

    pub(crate) fn throttling() -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
    }

    pub(crate) fn internal_failure() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            blame: Blame::Receiver,
            code: "InternalFailure",
            message: "The request processing has failed because of an unknown error, \
                      exception or failure."
                .to_owned(),
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let blame = match self.blame {
            Blame::Sender => "Sender",
            Blame::Receiver => "Receiver",
        };
        let id = request_id();
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{blame}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            self.code,
            escape(&self.message),
            id
        );
        xml(self.status, body, &id)
    }
}

/// The `200` answer to a verified `GetCallerIdentity`.
pub(crate) fn caller_identity(identity: &CallerIdentity) -> Response {
    let id = request_id();
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    \
         <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        escape(&identity.arn),
        escape(&identity.user_id),
        escape(&identity.account),
        id
    );
    xml(StatusCode::OK, body, &id)
}

/// A response with exactly this status, content type and body.
pub(crate) fn raw(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// An XML answer carrying its request id in `x-amzn-RequestId` too, as STS sends it.
fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = raw(status, "text/xml", body);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// A random request id shaped like STS's (a v4 UUID).
pub(crate) fn request_id() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-4{}-{}{}-{}",
        hex(8),
        hex(4),
        hex(3),
        ['8', '9', 'a', 'b'][fastrand::usize(0..4)],
        hex(3),
        hex(12)
    )
}

/// XML text escaping; messages can echo caller-chosen values such as an unknown action name.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn escapes_markup_in_text() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
