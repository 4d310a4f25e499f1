//! A whole compact JWS as an attacker sends it: header (alg, kid, crit), claims and signature,
//! verified against static keys.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::token::JwtVerifier;
use tower_iam_auth_fuzz::{check_result, key_pair, verifier, verify_now};

static VERIFIER: LazyLock<JwtVerifier> = LazyLock::new(|| verifier(&key_pair()));

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    check_result(verify_now(&VERIFIER, token));
});
