//! The JSON body of a Vault-format login (`POST` with `iam_http_request_method`,
//! `iam_request_url`, `iam_request_body`, `iam_request_headers`), validated before any STS call.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use http::HeaderName;
use libfuzzer_sys::fuzz_target;
use tower_iam_auth::proof::{ProofRules, VAULT_AUDIENCE_HEADER};
use tower_iam_auth::sts::{Partition, StsEndpointTable};

/// The seeds are signed at 2026-11-22T15:58:34Z; the check runs 10 s later.
const NOW: u64 = 1_795_363_124;

// Built once: the table of every partition's hosts is configuration, not input.
static RULES: LazyLock<ProofRules> =
    LazyLock::new(|| ProofRules::new(StsEndpointTable::new(&Partition::ALL)));

fuzz_target!(|body: &[u8]| {
    let rules = &*RULES;
    let header = HeaderName::from_static(VAULT_AUDIENCE_HEADER);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    match rules.validate_vault_login(body, &header, "vault.example.com", now) {
        Ok(proof) => {
            assert!(rules.endpoints().lookup(proof.endpoint().host()).is_some());
            assert_eq!(proof.method(), http::Method::POST);
        }
        Err(error) => {
            assert!(error.status().is_client_error(), "{error:?}");
            let _ = error.to_response();
        }
    }
});
