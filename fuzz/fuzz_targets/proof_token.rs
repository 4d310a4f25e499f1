//! The bearer token of `Authorization: Bearer iam-v1.…` / `k8s-aws-v1.…`: prefix, base64url,
//! presigned URL, query parameters, SigV4 fields and time checks, as `IamAuthLayer` runs them
//! before any STS call.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::proof::{ProofFormat, ProofRules};
use tower_iam_auth::sts::{Partition, StsEndpointTable};

/// The seeds are signed at 2026-11-22T15:58:34Z; the check runs 10 s later, so that a valid
/// seed passes every rule and mutations explore past the time checks.
const NOW: u64 = 1_795_363_124;

// Built once: the table of every partition's hosts is configuration, not input.
static RULES: LazyLock<ProofRules> = LazyLock::new(|| {
    ProofRules::new(StsEndpointTable::new(&Partition::ALL)).with_formats(ProofFormat::ALL)
});

fuzz_target!(|data: &[u8]| {
    // A header value reaches the layer as visible ASCII; anything else is refused earlier.
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let rules = &*RULES;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    match rules.validate(token, now) {
        Ok(proof) => {
            let host = proof.endpoint().host();
            assert!(rules.endpoints().lookup(host).is_some(), "{host}");
            assert!(proof.expires_at() > proof.signed_at());
            assert!(!proof.access_key_id().is_empty());
        }
        Err(error) => {
            assert!(error.status().is_client_error(), "{error:?}");
            let _ = error.to_response();
        }
    }
});
