//! The request-path check that runs before a policy is evaluated (AUTHZ §7): a path that passes
//! must mean the same thing to a router as to the policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::error::ReasonCode;
use tower_iam_auth::policy::check_canonical_path;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    match check_canonical_path(path) {
        Ok(()) => {
            assert!(path.starts_with('/'));
            assert!(!path.contains("//") && !path.contains('\\'));
            for segment in path[1..].split('/') {
                assert!(segment != "." && segment != "..", "{path:?}");
            }
            assert!(
                path.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()),
                "{path:?}"
            );
            // Percent-encodings left are upper-case and never of `/`, `\` or an unreserved byte.
            let bytes = path.as_bytes();
            for (i, _) in path.match_indices('%') {
                let hex = &bytes[i + 1..i + 3];
                assert!(
                    hex.iter()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
                );
                let byte = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
                let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
                assert!(!unreserved && byte != b'/' && byte != b'\\', "{path:?}");
            }
        }
        Err(error) => {
            assert_eq!(error.reason(), ReasonCode::RequestPathNotCanonical);
            assert!(error.status().is_client_error());
        }
    }
});
