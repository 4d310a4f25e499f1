//! `ProofSigner`: reuse until a margin before the window closes, bounded by the credentials'
//! own expiry; tokens never shown by `Debug`.

mod support;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use support::*;
use tower_iam_auth::client::{ProofSigner, SignerConfigError};
use tower_iam_auth::proof::ProofFormat;

fn credentials(expiry: Option<SystemTime>) -> Credentials {
    Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        expiry,
        "test",
    )
}

#[tokio::test]
async fn token_is_reused_until_the_refresh_margin_then_resigned() {
    let clock = TestClock::default();
    let signer = ProofSigner::builder(credentials(None))
        .audience(AUDIENCE)
        .refresh_margin(Duration::from_secs(300))
        .clock(clock.as_fn())
        .build()
        .unwrap();

    let first = signer.token().await.unwrap();
    clock.advance(Duration::from_secs(599));
    assert_eq!(
        signer.token().await.unwrap().as_str(),
        first.as_str(),
        "reused inside 15 min - 5 min"
    );
    clock.advance(Duration::from_secs(1));
    let second = signer.token().await.unwrap();
    assert_ne!(
        second.as_str(),
        first.as_str(),
        "re-signed once only the margin was left"
    );
    assert!(second.signed_at() > first.signed_at());
}

#[tokio::test]
async fn token_is_not_reused_past_the_credentials_expiry() {
    let clock = TestClock::default();
    let expiry = clock.now() + Duration::from_secs(400);
    let signer = ProofSigner::builder(credentials(Some(expiry)))
        .audience(AUDIENCE)
        .refresh_margin(Duration::from_secs(300))
        .clock(clock.as_fn())
        .build()
        .unwrap();
    let token = signer.token().await.unwrap();
    let reuse = token
        .reuse_until()
        .duration_since(token.signed_at())
        .unwrap();
    assert!(
        reuse <= Duration::from_secs(100),
        "reused for {reuse:?} with credentials expiring in 400s"
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_signing() {
    let signer = signer(credentials(None));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let signer = signer.clone();
        tasks.spawn(async move { signer.token().await.unwrap().as_str().to_owned() });
    }
    let tokens = tasks.join_all().await;
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "every caller got the same token"
    );
}

#[tokio::test]
async fn native_token_names_the_regional_endpoint_and_signs_the_audience() {
    let signer = ProofSigner::builder(credentials(None))
        .audience(AUDIENCE)
        .region("eu-west-1")
        .build()
        .unwrap();
    let url = url_of(signer.token().await.unwrap().as_str());
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
        "{url}"
    );
    assert_eq!(param(&url, "X-Amz-SignedHeaders"), "host%3Bx-iam-audience");
    assert_eq!(param(&url, "X-Amz-Expires"), "900");
    assert!(
        !url.contains(AUDIENCE),
        "the audience value is not in the token"
    );
}

#[tokio::test]
async fn eks_token_signs_x_k8s_aws_id() {
    let signer = signer_for(credentials(None), "my-cluster", ProofFormat::K8sAwsV1);
    let token = signer.token().await.unwrap();
    assert!(token.as_str().starts_with("k8s-aws-v1."));
    assert_eq!(
        param(&url_of(token.as_str()), "X-Amz-SignedHeaders"),
        "host%3Bx-k8s-aws-id"
    );
}

#[tokio::test]
async fn debug_output_never_shows_the_token() {
    let signer = signer(credentials(None));
    let token = signer.token().await.unwrap();
    let debug = format!("{token:?} {signer:?}");
    assert!(!debug.contains(&token.as_str()[10..40]), "{debug}");
    assert!(debug.contains("redacted"));
}

#[test]
fn builder_checks_its_settings() {
    let base = || ProofSigner::builder(credentials(None)).audience(AUDIENCE);
    assert!(matches!(
        ProofSigner::builder(credentials(None)).build(),
        Err(SignerConfigError::MissingAudience)
    ));
    assert!(matches!(
        base().region("xx-nowhere-1").build(),
        Err(SignerConfigError::UnknownRegion(_))
    ));
    assert!(matches!(
        base().expires_in(Duration::from_secs(901)).build(),
        Err(SignerConfigError::Validity)
    ));
    assert!(matches!(
        base()
            .expires_in(Duration::from_secs(60))
            .refresh_margin(Duration::from_secs(60))
            .build(),
        Err(SignerConfigError::Validity)
    ));
    assert!(matches!(
        ProofSigner::builder(credentials(None))
            .audience("two words")
            .build(),
        Err(SignerConfigError::InvalidAudience)
    ));
}

/// For every region of every partition, the signer presigns for the partition's regional host
/// with that region in the credential scope, and a server of that partition accepts the proof
/// locally while a server of `aws` alone refuses its host.
#[tokio::test]
async fn signer_picks_the_regional_host_and_scope_of_every_partition() {
    use tower_iam_auth::endpoints::{EndpointKind, Partition, StsEndpointTable};
    use tower_iam_auth::error::ReasonCode;
    use tower_iam_auth::proof::ProofRules;

    let aws_only = ProofRules::new(StsEndpointTable::new(&[Partition::Aws]));
    for partition in Partition::ALL {
        let rules = ProofRules::new(StsEndpointTable::new(&[partition]));
        for region in partition.regions() {
            let signer = ProofSigner::builder(credentials(None))
                .audience(AUDIENCE)
                .region(*region)
                .build()
                .unwrap_or_else(|e| panic!("{region}: {e}"));
            let token = signer.token().await.unwrap();
            let proof = rules
                .validate(token.as_str(), SystemTime::now())
                .unwrap_or_else(|e| panic!("{region}: {e:?}"));
            let endpoint = proof.endpoint();
            assert_eq!(endpoint.region(), *region);
            assert_eq!(endpoint.partition(), partition);
            assert_eq!(endpoint.kind(), EndpointKind::Regional, "{region}");
            assert!(
                endpoint.host().starts_with(&format!("sts.{region}.")),
                "{}",
                endpoint.host()
            );
            if partition != Partition::Aws {
                let err = aws_only
                    .validate(token.as_str(), SystemTime::now())
                    .unwrap_err();
                assert_eq!(err.reason(), ReasonCode::ProofHostNotAllowed, "{region}");
                assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
            }
        }
    }
}

/// A region launched after this release: the signer needs its host spelled out, and the server
/// accepts it once the region is added by configuration.
#[tokio::test]
async fn a_region_unknown_to_this_release_works_once_configured_on_both_sides() {
    use tower_iam_auth::endpoints::{Partition, StsEndpointTable};
    use tower_iam_auth::error::ReasonCode;
    use tower_iam_auth::proof::ProofRules;

    assert!(matches!(
        ProofSigner::builder(credentials(None))
            .audience(AUDIENCE)
            .region("eu-west-9")
            .build(),
        Err(SignerConfigError::UnknownRegion(_))
    ));
    let signer = ProofSigner::builder(credentials(None))
        .audience(AUDIENCE)
        .region("eu-west-9")
        .sts_host("sts.eu-west-9.amazonaws.com")
        .build()
        .unwrap();
    let token = signer.token().await.unwrap();
    let known = ProofRules::new(StsEndpointTable::new(&[Partition::Aws]));
    let err = known
        .validate(token.as_str(), SystemTime::now())
        .unwrap_err();
    assert_eq!(err.reason(), ReasonCode::ProofHostNotAllowed);
    let configured = ProofRules::new(
        StsEndpointTable::new(&[Partition::Aws])
            .with_extra_regions(["eu-west-9"])
            .unwrap(),
    );
    let proof = configured
        .validate(token.as_str(), SystemTime::now())
        .unwrap();
    assert_eq!(proof.endpoint().region(), "eu-west-9");
}
