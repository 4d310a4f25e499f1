//! JWT claims behind a valid signature: the target signs whatever claims JSON the fuzzer writes
//! (the first line is the header, the rest the claims), so the claim types, times, audience and
//! the AWS details of both issuer layouts are fuzzed, not only what precedes the signature check.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::Ed25519KeyPair;
use libfuzzer_sys::fuzz_target;
use tower_iam_auth::token::JwtVerifier;
use tower_iam_auth_fuzz::{check_result, key_pair, sign, verifier, verify_now};

static KEY: LazyLock<Ed25519KeyPair> = LazyLock::new(key_pair);
static VERIFIER: LazyLock<JwtVerifier> = LazyLock::new(|| verifier(&KEY));

fuzz_target!(|data: &[u8]| {
    let (header, claims) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{\"alg\":\"EdDSA\",\"kid\":\"fuzz-key\"}"[..], data),
    };
    check_result(verify_now(&VERIFIER, &sign(&KEY, header, claims)));
});
