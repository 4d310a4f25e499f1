//! [`Partition`]: the AWS partitions, their regions and the DNS rules their hosts follow.

use std::fmt;
use std::str::FromStr;

/// Regions of the commercial `aws` partition.
const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The first parts of a region name in the `aws` partition (botocore's `regionRegex`
/// `^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`).
const AWS_REGION_PREFIXES: &[&str] = &["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];

/// An AWS partition: a group of regions with its own DNS names and accounts.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// The commercial partition, `aws`.
    Aws,
    /// The China partition, `aws-cn`.
    AwsCn,
    /// The AWS GovCloud (US) partition, `aws-us-gov`.
    AwsUsGov,
    /// The AWS European Sovereign Cloud, `aws-eusc`.
    AwsEusc,
    /// The isolated partition `aws-iso` (C2S).
    AwsIso,
    /// The isolated partition `aws-iso-b` (SC2S).
    AwsIsoB,
    /// The isolated partition `aws-iso-e`.
    AwsIsoE,
    /// The isolated partition `aws-iso-f`.
    AwsIsoF,
}

impl Partition {
    /// Every partition this crate knows.
    pub const ALL: [Partition; 8] = [
        Partition::Aws,
        Partition::AwsCn,
        Partition::AwsUsGov,
        Partition::AwsEusc,
        Partition::AwsIso,
        Partition::AwsIsoB,
        Partition::AwsIsoE,
        Partition::AwsIsoF,
    ];

    /// The partition's identifier, as it appears in ARNs: `aws`, `aws-cn`, `aws-us-gov`,
    /// `aws-eusc`, `aws-iso`, `aws-iso-b`, `aws-iso-e` or `aws-iso-f`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsEusc => "aws-eusc",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsIsoE => "aws-iso-e",
            Partition::AwsIsoF => "aws-iso-f",
        }
    }

    /// The regions of this partition in which STS has endpoints that this release knows, sorted.
    pub fn regions(&self) -> &'static [&'static str] {
        match self {
            Partition::Aws => AWS_REGIONS,
            Partition::AwsCn => &["cn-north-1", "cn-northwest-1"],
            Partition::AwsUsGov => &["us-gov-east-1", "us-gov-west-1"],
            Partition::AwsEusc => &["eusc-de-east-1"],
            Partition::AwsIso => &["us-iso-east-1", "us-iso-west-1"],
            Partition::AwsIsoB => &["us-isob-east-1", "us-isob-west-1"],
            Partition::AwsIsoE => &["eu-isoe-west-1"],
            Partition::AwsIsoF => &["us-isof-east-1", "us-isof-south-1"],
        }
    }

    /// The partition that `region` belongs to, if it is a known region.
    pub fn for_region(region: &str) -> Option<Partition> {
        Partition::ALL
            .into_iter()
            .find(|partition| partition.regions().contains(&region))
    }

    /// The partition whose naming rule `region` follows, whether or not this release knows the
    /// region: `eu-west-9` is an `aws` name, `us-isob-north-7` an `aws-iso-b` name.
    ///
    /// The rule is botocore's `regionRegex` of the partition (`PREFIX-WORD-NUMBER`), narrowed to
    /// lower-case ASCII letters and digits so that every name is a valid host label: `US-EAST-1`,
    /// `eu_west-1` or `eu-west-1.` follow no rule.
    pub fn for_region_name(region: &str) -> Option<Partition> {
        Partition::ALL
            .into_iter()
            .find(|partition| partition.follows_naming_rule(region))
    }

    /// Whether `region` has the shape of this partition's region names.
    fn follows_naming_rule(&self, region: &str) -> bool {
        let prefixes: &[&str] = match self {
            Partition::Aws => AWS_REGION_PREFIXES,
            Partition::AwsCn => &["cn"],
            Partition::AwsUsGov => &["us-gov"],
            Partition::AwsEusc => &["eusc-de"],
            Partition::AwsIso => &["us-iso"],
            Partition::AwsIsoB => &["us-isob"],
            Partition::AwsIsoE => &["eu-isoe"],
            Partition::AwsIsoF => &["us-isof"],
        };
        // A region name is short; the bound keeps hosts far below DNS limits.
        if region.len() > 32 {
            return false;
        }
        prefixes.iter().any(|prefix| {
            let Some(rest) = region
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
            else {
                return false;
            };
            let Some((word, number)) = rest.split_once('-') else {
                return false;
            };
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        })
    }

    /// The DNS suffix of regional and FIPS hosts.
    pub(crate) fn dns_suffix(&self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::AwsEusc => "amazonaws.eu",
            Partition::AwsIso => "c2s.ic.gov",
            Partition::AwsIsoB => "sc2s.sgov.gov",
            Partition::AwsIsoE => "cloud.adc-e.uk",
            Partition::AwsIsoF => "csp.hci.ic.gov",
        }
    }

    /// The DNS suffix of dual-stack (IPv4 and IPv6) hosts; the isolated partitions have none.
    pub(crate) fn dual_stack_dns_suffix(&self) -> Option<&'static str> {
        match self {
            Partition::Aws | Partition::AwsUsGov => Some("api.aws"),
            Partition::AwsCn => Some("api.amazonwebservices.com.cn"),
            Partition::AwsEusc => Some("api.amazonwebservices.eu"),
            Partition::AwsIso | Partition::AwsIsoB | Partition::AwsIsoE | Partition::AwsIsoF => {
                None
            }
        }
    }

    /// Whether `region` has separate `sts-fips.*` hosts: the US regions of `aws`. (In GovCloud
    /// the regional hosts are the FIPS endpoints; no other partition lists FIPS hosts for STS.)
    pub(crate) fn has_fips_hosts(&self, region: &str) -> bool {
        *self == Partition::Aws && region.starts_with("us-")
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Partition {
    type Err = UnknownPartition;

    /// Parses the exact, lower-case partition identifier (`aws`, `aws-cn`, `aws-us-gov`...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Partition::ALL
            .into_iter()
            .find(|partition| partition.as_str() == s)
            .ok_or_else(|| UnknownPartition { name: s.to_owned() })
    }
}

/// The error of parsing a [`Partition`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPartition {
    name: String,
}

impl UnknownPartition {
    /// The string that was not a partition identifier.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown AWS partition {:?} (expected one of aws, aws-cn, aws-us-gov, aws-eusc, \
             aws-iso, aws-iso-b, aws-iso-e, aws-iso-f)",
            self.name
        )
    }
}

impl std::error::Error for UnknownPartition {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_strings_round_trip() {
        for partition in Partition::ALL {
            assert_eq!(partition.as_str().parse::<Partition>(), Ok(partition));
            assert_eq!(partition.to_string(), partition.as_str());
        }
        let err = "AWS".parse::<Partition>().unwrap_err();
        assert_eq!(err.name(), "AWS");
        assert!("aws-iso-z".parse::<Partition>().is_err());
        assert!("aws-iso ".parse::<Partition>().is_err());
    }

    #[test]
    fn partition_regions_and_lookup_agree() {
        assert_eq!(Partition::Aws.regions().len(), 34);
        assert_eq!(Partition::AwsCn.regions(), ["cn-north-1", "cn-northwest-1"]);
        assert_eq!(
            Partition::AwsUsGov.regions(),
            ["us-gov-east-1", "us-gov-west-1"]
        );
        assert_eq!(Partition::for_region("ca-west-1"), Some(Partition::Aws));
        assert_eq!(
            Partition::for_region("us-gov-east-1"),
            Some(Partition::AwsUsGov)
        );
        assert_eq!(
            Partition::for_region("eusc-de-east-1"),
            Some(Partition::AwsEusc)
        );
        assert_eq!(
            Partition::for_region("us-isof-south-1"),
            Some(Partition::AwsIsoF)
        );
        assert_eq!(Partition::for_region("aws-global"), None);
        for partition in Partition::ALL {
            let regions = partition.regions();
            assert!(!regions.is_empty(), "{partition}");
            assert!(
                regions.windows(2).all(|w| w[0] < w[1]),
                "{partition} sorted"
            );
            for region in regions {
                assert_eq!(
                    Partition::for_region_name(region),
                    Some(partition),
                    "{region}"
                );
            }
        }
    }

    #[test]
    fn region_names_follow_exactly_one_partition_rule() {
        for (region, partition) in [
            ("eu-west-9", Partition::Aws),
            ("us-east-10", Partition::Aws),
            ("ap-southeast2x-1", Partition::Aws),
            ("cn-south-1", Partition::AwsCn),
            ("us-gov-north-1", Partition::AwsUsGov),
            ("eusc-de-west-2", Partition::AwsEusc),
            ("us-iso-south-1", Partition::AwsIso),
            ("us-isob-north-1", Partition::AwsIsoB),
            ("eu-isoe-east-1", Partition::AwsIsoE),
            ("us-isof-west-1", Partition::AwsIsoF),
        ] {
            assert_eq!(
                Partition::for_region_name(region),
                Some(partition),
                "{region}"
            );
            let rules = Partition::ALL
                .into_iter()
                .filter(|p| p.follows_naming_rule(region))
                .count();
            assert_eq!(rules, 1, "{region} follows one rule");
        }
    }

    #[test]
    fn names_outside_every_rule_are_refused() {
        for region in [
            "",
            "aws-global",
            "US-EAST-1",
            "us-East-1",
            "eu_west-1",
            "eu-west-1.",
            "eu-west-1 ",
            "eu-west",
            "eu-west-",
            "eu--1",
            "eu-west-1a",
            "eu-west-1-2",
            "xx-west-1",
            "eusc-fr-east-1",
            "us-isoz-east-1",
            "eu-west-1.evil.com",
            "eu-west.evil-1",
            "eu-wést-1",
            "eu-west-1234567890123456789012345",
        ] {
            assert_eq!(Partition::for_region_name(region), None, "{region:?}");
        }
    }

    #[test]
    fn fips_hosts_follow_the_partition_rule() {
        assert!(Partition::Aws.has_fips_hosts("us-west-2"));
        assert!(!Partition::Aws.has_fips_hosts("ca-central-1"));
        assert!(!Partition::AwsUsGov.has_fips_hosts("us-gov-west-1"));
        assert!(!Partition::AwsIso.has_fips_hosts("us-iso-east-1"));
    }
}
