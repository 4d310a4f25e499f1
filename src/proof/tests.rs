//! Unit tests of the pure validator; the full table of broken rules, checked end to end with an
//! STS call counter, is in `tests/local_validation.rs`.

use std::time::{Duration, SystemTime};

use super::*;
use crate::endpoints::Partition;

const SIGNED_AT: &str = "20261122T155834Z";

fn signed_at() -> SystemTime {
    sigv4::parse_amz_date(SIGNED_AT).unwrap()
}

fn url(host: &str, region: &str, extra: &str) -> String {
    format!(
        "https://{host}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261122%2F{region}%2Fsts%2Faws4_request\
         &X-Amz-Date={SIGNED_AT}&X-Amz-SignedHeaders=host%3Bx-iam-audience\
         &X-Amz-Signature={}{extra}",
        "0123456789abcdef".repeat(4)
    )
}

fn rules() -> ProofRules {
    ProofRules::new(StsEndpointTable::new(&[Partition::Aws]))
}

#[test]
fn valid_proof_exposes_what_will_be_replayed() {
    let token = encode_token(
        ProofFormat::IamV1,
        &url("sts.eu-west-1.amazonaws.com", "eu-west-1", ""),
    );
    let proof = rules()
        .validate(&token, signed_at() + Duration::from_secs(10))
        .unwrap();
    assert_eq!(proof.endpoint().host(), "sts.eu-west-1.amazonaws.com");
    assert_eq!(proof.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(proof.audience_header(), "x-iam-audience");
    assert!(proof.query().starts_with("Action=GetCallerIdentity&"));
    assert_eq!(proof.expires_at(), signed_at() + MAX_PROOF_AGE);
}

#[test]
fn global_endpoint_signs_as_us_east_1() {
    let token = encode_token(
        ProofFormat::IamV1,
        &url("sts.amazonaws.com", "us-east-1", ""),
    );
    assert!(rules().validate(&token, signed_at()).is_ok());
    let token = encode_token(
        ProofFormat::IamV1,
        &url("sts.amazonaws.com", "eu-west-1", ""),
    );
    let err = rules().validate(&token, signed_at()).unwrap_err();
    assert_eq!(err.reason(), ReasonCode::ProofScopeRegionMismatch);
}

#[test]
fn expires_shortens_the_window_of_native_tokens_only() {
    let native = encode_token(
        ProofFormat::IamV1,
        &url("sts.amazonaws.com", "us-east-1", "&X-Amz-Expires=60"),
    );
    let proof = rules().validate(&native, signed_at()).unwrap();
    assert_eq!(proof.expires_at(), signed_at() + Duration::from_secs(60));

    let eks_url = url("sts.amazonaws.com", "us-east-1", "&X-Amz-Expires=60")
        .replace("x-iam-audience", "x-k8s-aws-id");
    let eks = encode_token(ProofFormat::K8sAwsV1, &eks_url);
    let proof = rules()
        .with_formats([ProofFormat::K8sAwsV1])
        .validate(&eks, signed_at())
        .unwrap();
    assert_eq!(proof.expires_at(), signed_at() + MAX_PROOF_AGE);
}

#[test]
fn window_boundaries_are_exact() {
    let token = encode_token(
        ProofFormat::IamV1,
        &url("sts.amazonaws.com", "us-east-1", ""),
    );
    let rules = rules()
        .with_max_age(Duration::from_secs(300))
        .with_max_skew(Duration::from_secs(60));
    assert!(
        rules
            .validate(&token, signed_at() + Duration::from_secs(299))
            .is_ok()
    );
    let err = rules
        .validate(&token, signed_at() + Duration::from_secs(300))
        .unwrap_err();
    assert_eq!(err.reason(), ReasonCode::ProofExpired);
    assert!(
        rules
            .validate(&token, signed_at() - Duration::from_secs(60))
            .is_ok()
    );
    let err = rules
        .validate(&token, signed_at() - Duration::from_secs(61))
        .unwrap_err();
    assert_eq!(err.reason(), ReasonCode::ProofNotYetValid);
    assert!(
        err.message().contains("61s in the future"),
        "{}",
        err.message()
    );
}

#[test]
fn debug_output_hides_the_query() {
    let token = encode_token(
        ProofFormat::IamV1,
        &url("sts.amazonaws.com", "us-east-1", ""),
    );
    let proof = rules().validate(&token, signed_at()).unwrap();
    let debug = format!("{proof:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(debug.contains("AKIAIOSFODNN7EXAMPLE"));
}

#[test]
fn a_validated_query_is_forwarded_byte_for_byte() {
    let text = url("sts.amazonaws.com", "us-east-1", "");
    let token = encode_token(ProofFormat::IamV1, &text);
    let proof = rules().validate(&token, signed_at()).unwrap();
    assert_eq!(proof.query(), text.split_once('?').unwrap().1);
}
