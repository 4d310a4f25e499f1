//! Misconfiguration fails at `build()`, not on the first request.

use std::time::Duration;

use tower_iam_auth::server::{ConfigError, IamAuthConfig};
use tower_iam_auth::sts::Partition;

#[test]
fn audience_is_required() {
    assert!(matches!(
        IamAuthConfig::builder().build(),
        Err(ConfigError::MissingAudience)
    ));
}

#[test]
fn audience_must_be_visible_ascii() {
    for bad in ["", "two words", "line\nbreak", "ünïcode"] {
        let result = IamAuthConfig::builder()
            .audience(bad)
            .allow_any_aws_account()
            .build();
        assert!(
            matches!(result, Err(ConfigError::InvalidAudience)),
            "{bad:?}"
        );
    }
}

#[test]
fn proof_age_is_capped_at_fifteen_minutes() {
    let result = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .max_proof_age(Duration::from_secs(901))
        .build();
    assert!(matches!(result, Err(ConfigError::MaxAge(_))));
    let result = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .max_proof_age(Duration::ZERO)
        .build();
    assert!(matches!(result, Err(ConfigError::MaxAge(_))));
}

#[test]
fn empty_format_list_is_refused() {
    let result = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .formats([])
        .build();
    assert!(matches!(result, Err(ConfigError::NoFormats)));
}

#[test]
fn region_outside_the_partitions_is_refused() {
    let result = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .regions(["cn-north-1"])
        .build();
    assert!(matches!(result, Err(ConfigError::UnknownRegion(_))));
    let ok = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .partitions([Partition::AwsCn])
        .regions(["cn-north-1"])
        .build();
    assert!(ok.is_ok());
}

#[test]
fn extra_regions_must_follow_a_configured_partition_naming_rule() {
    for bad in [
        "cn-east-9",
        "us-isob-east-9",
        "EU-WEST-9",
        "eu-west-9.evil.com",
        "evil",
    ] {
        let result = IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
            .extra_regions([bad])
            .build();
        match result {
            Err(ConfigError::UnknownRegion(e)) => assert_eq!(e.region(), bad),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let ok = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .partitions([Partition::Aws, Partition::AwsIsoB])
        .regions(["eu-west-1"])
        .extra_regions(["eu-west-9", "us-isob-east-9"])
        .build();
    assert!(ok.is_ok());
}

#[test]
fn connect_to_must_be_host_and_port() {
    for bad in [
        "localhost",
        "http://127.0.0.1:80",
        "127.0.0.1:notaport",
        ":80",
    ] {
        let result = IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
            .dangerous_sts_connect_to(bad)
            .build();
        assert!(matches!(result, Err(ConfigError::ConnectTo(_))), "{bad}");
    }
}

#[test]
fn zero_timeouts_are_refused() {
    let result = IamAuthConfig::builder()
        .audience("a")
        .allow_any_aws_account()
        .sts_timeout(Duration::ZERO)
        .build();
    assert!(matches!(result, Err(ConfigError::Zero("sts_timeout"))));
}

#[test]
fn durations_beyond_their_maximum_are_refused() {
    let base = || {
        IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
    };
    assert!(matches!(
        base().cache_max_ttl(Duration::MAX).build(),
        Err(ConfigError::TooLong("cache_max_ttl", _))
    ));
    assert!(matches!(
        base().negative_cache_ttl(Duration::from_secs(3600)).build(),
        Err(ConfigError::TooLong("negative_cache_ttl", _))
    ));
    assert!(matches!(
        base().sts_timeout(Duration::MAX).build(),
        Err(ConfigError::TooLong("sts_timeout", _))
    ));
}

#[test]
fn vault_audience_header_cannot_be_a_header_with_another_meaning() {
    for reserved in [
        "Authorization",
        "X-Amz-Date",
        "Host",
        "Content-Type",
        "User-Agent",
    ] {
        let result = IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
            .vault_audience_header(reserved)
            .build();
        assert!(
            matches!(result, Err(ConfigError::InvalidHeaderName(_))),
            "{reserved}"
        );
    }
    assert!(
        IamAuthConfig::builder()
            .audience("a")
            .allow_any_aws_account()
            .vault_audience_header("X-APP-ID")
            .build()
            .is_ok()
    );
}
