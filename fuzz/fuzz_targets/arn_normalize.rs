//! ARN normalization of the `Arn`/`UserId` pair STS reports (the first line is the ARN, the rest
//! the `UserId`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::arn::{PrincipalKind, normalize};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (arn, user_id) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(identity) = normalize(arn, user_id) else {
        return;
    };
    assert_eq!(identity.raw_arn, arn);
    assert_eq!(identity.account.len(), 12);
    assert!(identity.arn.starts_with("arn:"));
    assert_eq!(
        identity.arn.split(':').nth(4),
        Some(identity.account.as_str())
    );
    // Normalizing is idempotent for the principals that keep their ARN (users, root).
    if matches!(identity.kind, PrincipalKind::User | PrincipalKind::Root) {
        let again = normalize(&identity.arn, user_id).expect("a normalized ARN normalizes");
        assert_eq!(again.arn, identity.arn);
    }
});
