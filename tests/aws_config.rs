//! `ProofSigner::from_sdk_config`: the region, FIPS and dual-stack settings of an AWS SDK
//! configuration choose the STS host, the layer accepts what it signs, and signers made from
//! one configuration share one credentials cache. (The default chain itself, reading the
//! process environment, profile files, a container endpoint and EC2 instance metadata, is
//! exercised by `tests/cli.rs`, each run in its own process.)
#![cfg(feature = "aws-config")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::{SharedCredentialsProvider, future};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use support::*;
use tower_iam_auth::client::{CachedCredentials, ProofSigner, SignerConfigError};

fn sdk_config(credentials: Credentials, region: Option<&str>, fips: bool, dual: bool) -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .use_fips(fips)
        .use_dual_stack(dual);
    if let Some(region) = region {
        builder = builder.region(Region::new(region.to_owned()));
    }
    builder.build()
}

fn host_of(token: &str) -> String {
    let url = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(token.strip_prefix("iam-v1.").unwrap())
            .unwrap(),
    )
    .unwrap();
    let rest = url.strip_prefix("https://").unwrap();
    rest[..rest.find('/').unwrap()].to_owned()
}

/// Signs with `config` for the harness's audience, checks the host, and sends it to the layer.
async fn signs_for(region: Option<&str>, fips: bool, dual: bool, host: &str) {
    let h = harness().await;
    let config = sdk_config(h.sts.create_user(ACCOUNT, "alice"), region, fips, dual);
    let signer = ProofSigner::from_sdk_config(&config)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let token = signer.token().await.unwrap();
    assert_eq!(host_of(token.as_str()), host);
    let answer = call(&h.app, Some(token.as_str())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn signs_for_the_regional_host_of_the_configured_region() {
    signs_for(
        Some("eu-west-1"),
        false,
        false,
        "sts.eu-west-1.amazonaws.com",
    )
    .await;
}

#[tokio::test]
async fn signs_for_the_fips_host_when_fips_is_configured() {
    signs_for(
        Some("us-east-2"),
        true,
        false,
        "sts-fips.us-east-2.amazonaws.com",
    )
    .await;
}

#[tokio::test]
async fn signs_for_the_dual_stack_host_when_dual_stack_is_configured() {
    signs_for(Some("eu-west-1"), false, true, "sts.eu-west-1.api.aws").await;
    signs_for(Some("us-west-2"), true, true, "sts-fips.us-west-2.api.aws").await;
}

#[tokio::test]
async fn without_a_region_signs_for_us_east_1() {
    signs_for(None, false, false, "sts.us-east-1.amazonaws.com").await;
}

#[test]
fn fips_in_govcloud_is_the_regional_host_and_elsewhere_must_exist() {
    let build = |region: &str, fips: bool| {
        ProofSigner::from_sdk_config(&sdk_config(
            Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
            Some(region),
            fips,
            false,
        ))
        .audience(AUDIENCE)
        .build()
    };
    assert!(build("us-gov-west-1", true).is_ok());
    assert!(matches!(
        build("eu-west-1", true),
        Err(SignerConfigError::NoSuchEndpoint { fips: true, .. })
    ));
    assert!(matches!(
        build("mars-north-1", false),
        Err(SignerConfigError::UnknownRegion(_))
    ));
}

#[test]
fn a_configuration_without_credentials_is_refused_at_build() {
    let config = SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .build();
    let refused = ProofSigner::from_sdk_config(&config)
        .audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert!(matches!(refused, SignerConfigError::NoCredentialsProvider));
}

/// A provider that counts how often it is asked, handing out credentials valid for `valid`.
#[derive(Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    valid: Duration,
    clock: TestClock,
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let expiry: SystemTime = self.clock.now() + self.valid;
        future::ProvideCredentials::ready(Ok(Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("session".into()),
            Some(expiry),
            "counting",
        )))
    }
}

impl std::fmt::Debug for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counting")
    }
}

#[tokio::test]
async fn signers_made_from_one_configuration_share_one_credentials_fetch() {
    let provider = Counting {
        calls: Arc::default(),
        valid: Duration::from_secs(3600),
        clock: TestClock::default(),
    };
    let config = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(provider.clone()))
        .region(Region::new("eu-west-1"))
        .build();
    let base = ProofSigner::from_sdk_config(&config);
    let orders = base.clone().audience("orders").build().unwrap();
    let billing = base.audience("billing").build().unwrap();
    orders.token().await.unwrap();
    billing.token().await.unwrap();
    orders.sign_new().await.unwrap();
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cached_credentials_are_fetched_again_five_minutes_before_they_expire() {
    let clock = TestClock::default();
    let provider = Counting {
        calls: Arc::default(),
        valid: Duration::from_secs(600),
        clock: clock.clone(),
    };
    let cache = CachedCredentials::with_clock(provider.clone(), clock.as_fn());
    cache.provide_credentials().await.unwrap();
    clock.advance(Duration::from_secs(299));
    cache.provide_credentials().await.unwrap();
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1, "still 5 min left");
    clock.advance(Duration::from_secs(2));
    cache.provide_credentials().await.unwrap();
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}
