//! The table of AWS STS endpoints that a proof may name.
//!
//! A proof's URL host must be *exactly* equal, byte for byte, to one of the hosts in an
//! [`StsEndpointTable`]: there is no prefix, suffix, case-insensitive or pattern matching, so
//! `sts.amazonaws.com.evil.com`, `STS.amazonaws.com` or `sts.amazonaws.com.` (trailing dot) are
//! all unknown. Each entry also says which region the SigV4 credential scope must name: the
//! global endpoint `sts.amazonaws.com` signs as `us-east-1`, every other host signs as the
//! region in its name.
//!
//! # Where the facts come from
//!
//! The region lists and DNS suffixes follow the partition metadata that the AWS SDKs ship
//! (botocore `data/partitions.json`, the generated STS endpoint resolver of aws-sdk-go-v2) and
//! the host shapes follow the STS endpoint rule set (`endpoint-rule-set-1.json`): regional
//! `sts.REGION.SUFFIX`, FIPS `sts-fips.REGION.SUFFIX`, dual-stack `sts.REGION.DUALSTACK_SUFFIX`,
//! FIPS dual-stack `sts-fips.REGION.DUALSTACK_SUFFIX`, and the global `sts.amazonaws.com`. The
//! rule set can spell a FIPS host for any region, but STS only serves FIPS hosts in some of them;
//! this table lists only the ones that the AWS STS endpoint documentation (the general
//! reference's STS endpoints page and the IAM guide's dual-stack page) says exist:
//!
//! * `aws`: regional and dual-stack hosts in every region; FIPS and FIPS dual-stack hosts in
//!   `us-east-1`, `us-east-2`, `us-west-1` and `us-west-2`; the global host (`us-east-1`).
//! * `aws-cn`: regional (`amazonaws.com.cn`) and dual-stack (`api.amazonwebservices.com.cn`)
//!   hosts; no FIPS hosts.
//! * `aws-us-gov`: regional and dual-stack hosts. The regional GovCloud hosts are themselves
//!   the FIPS endpoints (the rule set maps FIPS to `sts.REGION.amazonaws.com` there), so they are
//!   listed once, as [`EndpointKind::Regional`].
//!
//! The isolated partitions (`aws-iso*`) and the European Sovereign Cloud are not included.
//! New regions need a new release of this crate; until then a proof for such a region is
//! refused as naming an unknown host, which fails closed.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The global (legacy) STS host of the `aws` partition.
const GLOBAL_HOST: &str = "sts.amazonaws.com";

/// The region the global host signs as.
const GLOBAL_SIGNING_REGION: &str = "us-east-1";

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

/// Regions of the `aws` partition with `sts-fips.*` hosts (plain and dual-stack).
const AWS_FIPS_REGIONS: &[&str] = &["us-east-1", "us-east-2", "us-west-1", "us-west-2"];

/// Regions of the China partition.
const AWS_CN_REGIONS: &[&str] = &["cn-north-1", "cn-northwest-1"];

/// Regions of the GovCloud (US) partition.
const AWS_US_GOV_REGIONS: &[&str] = &["us-gov-east-1", "us-gov-west-1"];

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
}

impl Partition {
    /// Every partition this crate knows.
    pub const ALL: [Partition; 3] = [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov];

    /// The partition's identifier, as it appears in ARNs: `aws`, `aws-cn` or `aws-us-gov`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The regions of this partition in which STS has endpoints, sorted.
    pub fn regions(&self) -> &'static [&'static str] {
        match self {
            Partition::Aws => AWS_REGIONS,
            Partition::AwsCn => AWS_CN_REGIONS,
            Partition::AwsUsGov => AWS_US_GOV_REGIONS,
        }
    }

    /// The partition that `region` belongs to, if it is a known region.
    pub fn for_region(region: &str) -> Option<Partition> {
        Partition::ALL
            .into_iter()
            .find(|partition| partition.static_region(region).is_some())
    }

    /// The DNS suffix of regional and FIPS hosts.
    fn dns_suffix(&self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
            Partition::AwsCn => "amazonaws.com.cn",
        }
    }

    /// The DNS suffix of dual-stack (IPv4 and IPv6) hosts.
    fn dual_stack_dns_suffix(&self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "api.aws",
            Partition::AwsCn => "api.amazonwebservices.com.cn",
        }
    }

    /// The regions with separate `sts-fips.*` hosts.
    fn fips_regions(&self) -> &'static [&'static str] {
        match self {
            Partition::Aws => AWS_FIPS_REGIONS,
            Partition::AwsCn | Partition::AwsUsGov => &[],
        }
    }

    /// `region` as the static string of this partition's list, if it is one of its regions.
    fn static_region(&self, region: &str) -> Option<&'static str> {
        self.regions()
            .iter()
            .copied()
            .find(|known| *known == region)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Partition {
    type Err = UnknownPartition;

    /// Parses the exact, lower-case partition identifier (`aws`, `aws-cn`, `aws-us-gov`).
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
            "unknown AWS partition {:?} (expected aws, aws-cn or aws-us-gov)",
            self.name
        )
    }
}

impl std::error::Error for UnknownPartition {}

/// The error of [`StsEndpointTable::with_regions`] for a region outside the given partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRegion {
    region: String,
}

impl UnknownRegion {
    /// The region that is not a known region of the configured partitions.
    pub fn region(&self) -> &str {
        &self.region
    }
}

impl fmt::Display for UnknownRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a known STS region of the configured AWS partitions",
            self.region
        )
    }
}

impl std::error::Error for UnknownRegion {}

/// What kind of STS endpoint a host is.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// The global (legacy) endpoint `sts.amazonaws.com`, which signs as `us-east-1`.
    Global,
    /// A regional endpoint, `sts.REGION.amazonaws.com` (`.com.cn` in China). In GovCloud these
    /// hosts are also the FIPS endpoints.
    Regional,
    /// A FIPS endpoint, `sts-fips.REGION.amazonaws.com`.
    Fips,
    /// A dual-stack (IPv4 and IPv6) endpoint, `sts.REGION.api.aws`
    /// (`sts.REGION.api.amazonwebservices.com.cn` in China).
    DualStack,
    /// A FIPS dual-stack endpoint, `sts-fips.REGION.api.aws`.
    FipsDualStack,
}

/// One STS host and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsEndpoint {
    host: Box<str>,
    region: &'static str,
    partition: Partition,
    kind: EndpointKind,
}

impl StsEndpoint {
    /// The host name, lower-case ASCII, without port or trailing dot.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The region a SigV4 signature for this host must name in its credential scope
    /// (`us-east-1` for the global endpoint).
    pub fn region(&self) -> &str {
        self.region
    }

    /// The partition the host belongs to.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The kind of endpoint.
    pub fn kind(&self) -> EndpointKind {
        self.kind
    }
}

/// The set of STS hosts a proof may name, for a chosen set of partitions (and optionally
/// regions). Lookups are exact string comparisons.
#[derive(Clone, Debug)]
pub struct StsEndpointTable {
    by_host: HashMap<Box<str>, StsEndpoint>,
}

impl StsEndpointTable {
    /// Every STS host of every region of `partitions`, of every endpoint kind that exists there
    /// (including the global `sts.amazonaws.com` when [`Partition::Aws`] is given).
    pub fn new(partitions: &[Partition]) -> Self {
        let mut table = StsEndpointTable {
            by_host: HashMap::new(),
        };
        for &partition in partitions {
            for &region in partition.regions() {
                table.add_region(partition, region);
            }
        }
        table
    }

    /// The STS hosts of only `regions`, each of which must be a region of one of `partitions`.
    ///
    /// The global endpoint `sts.amazonaws.com` is included if and only if `us-east-1` (the
    /// region it signs as) is among `regions` and [`Partition::Aws`] among `partitions`.
    ///
    /// # Errors
    ///
    /// [`UnknownRegion`] for the first region that is not a known region of `partitions`
    /// (region names are exact: `US-EAST-1` is not `us-east-1`).
    pub fn with_regions(partitions: &[Partition], regions: &[&str]) -> Result<Self, UnknownRegion> {
        let mut table = StsEndpointTable {
            by_host: HashMap::new(),
        };
        for &region in regions {
            let found = partitions.iter().find_map(|&partition| {
                partition
                    .static_region(region)
                    .map(|region| (partition, region))
            });
            let Some((partition, region)) = found else {
                return Err(UnknownRegion {
                    region: region.to_owned(),
                });
            };
            table.add_region(partition, region);
        }
        Ok(table)
    }

    /// The endpoint whose host is exactly `host`, if any.
    ///
    /// No normalization happens: the caller passes the host as it appears in the proof's URL,
    /// and anything other than an exact, lower-case match (a different case, a trailing dot,
    /// a port, a longer or shorter name) is not found.
    pub fn lookup(&self, host: &str) -> Option<&StsEndpoint> {
        self.by_host.get(host)
    }

    /// The number of hosts in the table.
    pub fn len(&self) -> usize {
        self.by_host.len()
    }

    /// Whether the table has no hosts at all (every proof would be refused).
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// Every endpoint of the table, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &StsEndpoint> {
        self.by_host.values()
    }

    /// Adds every host of `region` (and the global host for `aws`/`us-east-1`).
    fn add_region(&mut self, partition: Partition, region: &'static str) {
        let suffix = partition.dns_suffix();
        let dual_stack_suffix = partition.dual_stack_dns_suffix();
        self.insert(
            format!("sts.{region}.{suffix}"),
            region,
            partition,
            EndpointKind::Regional,
        );
        self.insert(
            format!("sts.{region}.{dual_stack_suffix}"),
            region,
            partition,
            EndpointKind::DualStack,
        );
        if partition.fips_regions().contains(&region) {
            self.insert(
                format!("sts-fips.{region}.{suffix}"),
                region,
                partition,
                EndpointKind::Fips,
            );
            self.insert(
                format!("sts-fips.{region}.{dual_stack_suffix}"),
                region,
                partition,
                EndpointKind::FipsDualStack,
            );
        }
        if partition == Partition::Aws && region == GLOBAL_SIGNING_REGION {
            self.insert(
                GLOBAL_HOST.to_owned(),
                GLOBAL_SIGNING_REGION,
                partition,
                EndpointKind::Global,
            );
        }
    }

    fn insert(
        &mut self,
        host: String,
        region: &'static str,
        partition: Partition,
        kind: EndpointKind,
    ) {
        let host = host.into_boxed_str();
        let endpoint = StsEndpoint {
            host: host.clone(),
            region,
            partition,
            kind,
        };
        self.by_host.insert(host, endpoint);
    }
}

/// The standard regional STS host of a known region of any partition, for example
/// `sts.eu-west-1.amazonaws.com` or `sts.cn-north-1.amazonaws.com.cn`; `None` for an unknown
/// region.
pub fn regional_host(region: &str) -> Option<String> {
    let partition = Partition::for_region(region)?;
    Some(format!("sts.{region}.{}", partition.dns_suffix()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> StsEndpointTable {
        StsEndpointTable::new(&Partition::ALL)
    }

    fn assert_endpoint(
        table: &StsEndpointTable,
        host: &str,
        region: &str,
        partition: Partition,
        kind: EndpointKind,
    ) {
        let endpoint = table
            .lookup(host)
            .unwrap_or_else(|| panic!("{host} should be in the table"));
        assert_eq!(endpoint.host(), host);
        assert_eq!(endpoint.region(), region, "region of {host}");
        assert_eq!(endpoint.partition(), partition, "partition of {host}");
        assert_eq!(endpoint.kind(), kind, "kind of {host}");
    }

    #[test]
    fn global_endpoint_signs_as_us_east_1() {
        assert_endpoint(
            &all(),
            "sts.amazonaws.com",
            "us-east-1",
            Partition::Aws,
            EndpointKind::Global,
        );
    }

    #[test]
    fn regional_hosts_resolve_with_their_region() {
        let table = all();
        assert_endpoint(
            &table,
            "sts.us-east-1.amazonaws.com",
            "us-east-1",
            Partition::Aws,
            EndpointKind::Regional,
        );
        assert_endpoint(
            &table,
            "sts.eu-west-1.amazonaws.com",
            "eu-west-1",
            Partition::Aws,
            EndpointKind::Regional,
        );
        assert_endpoint(
            &table,
            "sts.cn-northwest-1.amazonaws.com.cn",
            "cn-northwest-1",
            Partition::AwsCn,
            EndpointKind::Regional,
        );
        assert_endpoint(
            &table,
            "sts.us-gov-west-1.amazonaws.com",
            "us-gov-west-1",
            Partition::AwsUsGov,
            EndpointKind::Regional,
        );
    }

    #[test]
    fn newest_commercial_regions_are_known() {
        let table = all();
        for region in [
            "ap-east-2",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "mx-central-1",
        ] {
            assert_endpoint(
                &table,
                &format!("sts.{region}.amazonaws.com"),
                region,
                Partition::Aws,
                EndpointKind::Regional,
            );
        }
    }

    #[test]
    fn fips_hosts_exist_only_in_us_commercial_regions() {
        let table = all();
        assert_endpoint(
            &table,
            "sts-fips.us-west-2.amazonaws.com",
            "us-west-2",
            Partition::Aws,
            EndpointKind::Fips,
        );
        assert_endpoint(
            &table,
            "sts-fips.us-east-1.api.aws",
            "us-east-1",
            Partition::Aws,
            EndpointKind::FipsDualStack,
        );
        assert!(table.lookup("sts-fips.eu-west-1.amazonaws.com").is_none());
        assert!(
            table
                .lookup("sts-fips.cn-north-1.amazonaws.com.cn")
                .is_none()
        );
        assert!(
            table
                .lookup("sts-fips.us-gov-west-1.amazonaws.com")
                .is_none()
        );
    }

    #[test]
    fn dual_stack_hosts_use_the_partition_dual_stack_suffix() {
        let table = all();
        assert_endpoint(
            &table,
            "sts.ap-southeast-7.api.aws",
            "ap-southeast-7",
            Partition::Aws,
            EndpointKind::DualStack,
        );
        assert_endpoint(
            &table,
            "sts.cn-north-1.api.amazonwebservices.com.cn",
            "cn-north-1",
            Partition::AwsCn,
            EndpointKind::DualStack,
        );
        assert_endpoint(
            &table,
            "sts.us-gov-east-1.api.aws",
            "us-gov-east-1",
            Partition::AwsUsGov,
            EndpointKind::DualStack,
        );
    }

    #[test]
    fn near_misses_are_not_found() {
        let table = all();
        for host in [
            "STS.amazonaws.com",
            "sts.amazonaws.com.evil.com",
            "evil-sts.amazonaws.com",
            "sts.us-east-1.amazonaws.com.",
            "sts.amazonaws.com:443",
            "sts.xx-fake-1.amazonaws.com",
            "sts.us-east-1.amazonaws.com.cn",
            "sts.cn-north-1.amazonaws.com",
            "sts.amazonaws.com.cn",
            "sts.us-east-1.amazonaws.co",
            " sts.amazonaws.com",
            "",
        ] {
            assert!(table.lookup(host).is_none(), "{host:?} must not be found");
        }
    }

    #[test]
    fn table_sizes_match_the_endpoint_kinds() {
        // aws: regional + dual-stack per region, FIPS + FIPS dual-stack in 4 regions, global.
        let aws = StsEndpointTable::new(&[Partition::Aws]);
        assert_eq!(aws.len(), AWS_REGIONS.len() * 2 + 4 * 2 + 1);
        let cn = StsEndpointTable::new(&[Partition::AwsCn]);
        assert_eq!(cn.len(), 4);
        let gov = StsEndpointTable::new(&[Partition::AwsUsGov]);
        assert_eq!(gov.len(), 4);
        let table = all();
        assert_eq!(table.len(), aws.len() + cn.len() + gov.len());
        assert!(table.iter().all(|e| table.lookup(e.host()) == Some(e)));
    }

    #[test]
    fn every_host_is_lower_case_ascii() {
        for endpoint in all().iter() {
            let host = endpoint.host();
            assert!(
                host.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'-'),
                "{host}"
            );
        }
    }

    #[test]
    fn cn_hosts_are_absent_unless_aws_cn_is_configured() {
        let table = StsEndpointTable::new(&[Partition::Aws, Partition::AwsUsGov]);
        assert!(table.lookup("sts.cn-north-1.amazonaws.com.cn").is_none());
        assert!(table.iter().all(|e| e.partition() != Partition::AwsCn));
        let with_cn = StsEndpointTable::new(&[Partition::AwsCn]);
        assert!(with_cn.lookup("sts.cn-north-1.amazonaws.com.cn").is_some());
        assert!(with_cn.lookup("sts.amazonaws.com").is_none());
    }

    #[test]
    fn with_regions_restricts_to_those_regions() {
        let table =
            StsEndpointTable::with_regions(&[Partition::Aws], &["eu-west-1", "us-west-2"]).unwrap();
        assert!(table.lookup("sts.eu-west-1.amazonaws.com").is_some());
        assert!(table.lookup("sts-fips.us-west-2.amazonaws.com").is_some());
        assert!(table.lookup("sts.us-east-1.amazonaws.com").is_none());
        assert!(table.lookup("sts.amazonaws.com").is_none());
        assert!(
            table
                .iter()
                .all(|e| e.region() == "eu-west-1" || e.region() == "us-west-2")
        );
        assert_eq!(table.len(), 2 + 4);
    }

    #[test]
    fn with_regions_keeps_global_endpoint_iff_us_east_1() {
        let table = StsEndpointTable::with_regions(&[Partition::Aws], &["us-east-1"]).unwrap();
        assert_endpoint(
            &table,
            "sts.amazonaws.com",
            "us-east-1",
            Partition::Aws,
            EndpointKind::Global,
        );
    }

    #[test]
    fn with_regions_rejects_region_outside_partitions() {
        let err = StsEndpointTable::with_regions(&[Partition::Aws], &["eu-west-1", "cn-north-1"])
            .unwrap_err();
        assert_eq!(err.region(), "cn-north-1");
        let err = StsEndpointTable::with_regions(&Partition::ALL, &["US-EAST-1"]).unwrap_err();
        assert_eq!(err.region(), "US-EAST-1");
        let err = StsEndpointTable::with_regions(&Partition::ALL, &["xx-fake-1"]).unwrap_err();
        assert!(err.to_string().contains("xx-fake-1"));
    }

    #[test]
    fn empty_table_finds_nothing() {
        let table = StsEndpointTable::new(&[]);
        assert!(table.is_empty());
        assert!(table.lookup("sts.amazonaws.com").is_none());
        let table = StsEndpointTable::with_regions(&Partition::ALL, &[]).unwrap();
        assert!(table.is_empty());
    }

    #[test]
    fn partition_strings_round_trip() {
        for partition in Partition::ALL {
            assert_eq!(partition.as_str().parse::<Partition>(), Ok(partition));
            assert_eq!(partition.to_string(), partition.as_str());
        }
        let err = "AWS".parse::<Partition>().unwrap_err();
        assert_eq!(err.name(), "AWS");
        assert!("aws-iso".parse::<Partition>().is_err());
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
        assert_eq!(Partition::for_region("aws-global"), None);
        for partition in Partition::ALL {
            let regions = partition.regions();
            assert!(
                regions.windows(2).all(|w| w[0] < w[1]),
                "{partition} sorted"
            );
        }
    }

    #[test]
    fn regional_host_of_known_regions() {
        assert_eq!(
            regional_host("eu-west-1").as_deref(),
            Some("sts.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            regional_host("cn-north-1").as_deref(),
            Some("sts.cn-north-1.amazonaws.com.cn")
        );
        assert_eq!(
            regional_host("us-gov-west-1").as_deref(),
            Some("sts.us-gov-west-1.amazonaws.com")
        );
        assert_eq!(regional_host("xx-fake-1"), None);
        assert_eq!(regional_host("aws-global"), None);
    }

    #[test]
    fn regional_host_is_in_the_full_table() {
        let table = all();
        for partition in Partition::ALL {
            for region in partition.regions() {
                let host = regional_host(region).unwrap();
                assert_eq!(table.lookup(&host).map(|e| e.region()), Some(*region));
            }
        }
    }
}
