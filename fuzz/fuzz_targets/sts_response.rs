//! STS's answer, parsed strictly: the `GetCallerIdentityResponse` of a 200 and the
//! `ErrorResponse` of an error. A hostile or broken endpoint (or a proxy in front of it) chooses
//! these bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::sts::response::{parse_error_response, parse_get_caller_identity};

fuzz_target!(|body: &[u8]| {
    if let Ok(identity) = parse_get_caller_identity(body) {
        // What the parser promises: a 12-digit account that is the ARN's account.
        assert_eq!(identity.account.len(), 12);
        assert!(identity.account.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            identity.arn.split(':').nth(4),
            Some(identity.account.as_str())
        );
        let _ = tower_iam_auth::arn::normalize(&identity.arn, &identity.user_id);
    }
    if let Some(error) = parse_error_response(body) {
        assert!(!error.code.is_empty());
    }
});
