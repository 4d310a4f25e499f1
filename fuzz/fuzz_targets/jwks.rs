//! A JWK set document as an issuer's JWKS endpoint serves it: parsed, each key's algorithm and
//! thumbprint computed, and the set loaded into a verifier (the strict key checks: `use`, key
//! sizes, duplicate `kid`s).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_iam_auth::token::{JwkSet, JwtVerifier, TrustedIssuer};

fuzz_target!(|data: &[u8]| {
    let Ok(set) = JwkSet::from_json(data) else {
        return;
    };
    for key in set.keys() {
        let _ = key.algorithm();
        let _ = key.kid();
        assert!(!key.thumbprint().is_empty());
    }
    let again = JwkSet::from_json(set.to_json().as_bytes()).expect("a serialized set parses");
    assert_eq!(again, set);
    let _ = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange("https://issuer.example").keys(set))
        .audience("fuzz-audience")
        .build();
});
