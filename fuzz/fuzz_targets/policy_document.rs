//! An IAM policy document: parsed (duplicate keys, types, operators, variables, lints) and, when
//! it loads, evaluated for an anonymous and an authenticated caller.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use tower_iam_auth::policy::{AuthMethod, AuthzRequest, Policy};
use tower_iam_auth::principal::IamPrincipal;

static PRINCIPAL: LazyLock<IamPrincipal> = LazyLock::new(|| {
    tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/orders-reader/ci-42",
        "AROAEXAMPLEID1234567:ci-42",
    )
    .expect("a valid principal")
});

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::from_json(json) else {
        return;
    };
    let method = Method::GET;
    let uri: Uri = "/orders/7?view=full".parse().expect("a valid URI");
    let mut headers = HeaderMap::new();
    headers.insert("x-team", HeaderValue::from_static("orders"));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_363_124);
    for principal in [None, Some(&*PRINCIPAL)] {
        let request = AuthzRequest::new(&method, &uri, &headers)
            .principal(principal)
            .auth_method(principal.map(|_| AuthMethod::Proof))
            .source_ip(Some([192, 0, 2, 1].into()))
            .route(Some("/orders/{id}"))
            .now(now);
        let _ = policy.evaluate(&request);
    }
});
