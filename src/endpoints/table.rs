//! [`StsEndpointTable`]: the STS hosts a proof may name, and the region each one signs as.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::partition::Partition;

/// The global (legacy) STS host of the `aws` partition.
const GLOBAL_HOST: &str = "sts.amazonaws.com";

/// The region the global host signs as.
const GLOBAL_SIGNING_REGION: &str = "us-east-1";

/// The error of [`StsEndpointTable::with_regions`] and [`StsEndpointTable::with_extra_regions`]
/// for a region outside the table's partitions.
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
            "{:?} is not a known STS region of the configured AWS partitions, nor a region name \
             that follows their naming rules",
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
    /// A regional endpoint, `sts.REGION.DNS_SUFFIX` (`amazonaws.com`, `amazonaws.com.cn`,
    /// `amazonaws.eu`, `c2s.ic.gov`...). In GovCloud these hosts are also the FIPS endpoints.
    Regional,
    /// A FIPS endpoint, `sts-fips.REGION.amazonaws.com`.
    Fips,
    /// A dual-stack (IPv4 and IPv6) endpoint, `sts.REGION.DUAL_STACK_SUFFIX` (`api.aws`,
    /// `api.amazonwebservices.com.cn`, `api.amazonwebservices.eu`).
    DualStack,
    /// A FIPS dual-stack endpoint, `sts-fips.REGION.api.aws`.
    FipsDualStack,
}

/// One STS host and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsEndpoint {
    host: Box<str>,
    region: Arc<str>,
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
        &self.region
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
    partitions: Vec<Partition>,
    by_host: HashMap<Box<str>, StsEndpoint>,
}

impl StsEndpointTable {
    fn empty(partitions: &[Partition]) -> Self {
        StsEndpointTable {
            partitions: partitions.to_vec(),
            by_host: HashMap::new(),
        }
    }

    /// Every STS host of every known region of `partitions`, of every endpoint kind that exists
    /// there (including the global `sts.amazonaws.com` when [`Partition::Aws`] is given).
    pub fn new(partitions: &[Partition]) -> Self {
        let mut table = Self::empty(partitions);
        for &partition in partitions {
            for &region in partition.regions() {
                table.add_region(partition, region);
            }
        }
        table
    }

    /// The STS hosts of only `regions`, each of which must be a known region of one of
    /// `partitions`.
    ///
    /// The global endpoint `sts.amazonaws.com` is included if and only if `us-east-1` (the
    /// region it signs as) is among `regions` and [`Partition::Aws`] among `partitions`.
    ///
    /// # Errors
    ///
    /// [`UnknownRegion`] for the first region that is not a known region of `partitions`
    /// (region names are exact: `US-EAST-1` is not `us-east-1`). A region that this release
    /// does not know is added with [`with_extra_regions`](Self::with_extra_regions) instead.
    pub fn with_regions(partitions: &[Partition], regions: &[&str]) -> Result<Self, UnknownRegion> {
        let mut table = Self::empty(partitions);
        for &region in regions {
            let Some(&partition) = partitions
                .iter()
                .find(|partition| partition.regions().contains(&region))
            else {
                return Err(UnknownRegion {
                    region: region.to_owned(),
                });
            };
            table.add_region(partition, region);
        }
        Ok(table)
    }

    /// Adds regions that this release may not know yet (one AWS launched after it), by name.
    ///
    /// Each name must follow the naming rule of one of the table's partitions
    /// ([`Partition::for_region_name`]); its hosts are derived by that partition's rules, as for
    /// a known region: `sts.REGION.DNS_SUFFIX`, the dual-stack host where the partition has
    /// dual-stack names, and `sts-fips.*` hosts for a US region of `aws`. Lookups stay exact.
    /// A known region may be named too (it is added as [`with_regions`](Self::with_regions)
    /// would add it).
    ///
    /// Only name a region that exists: the hosts of a mistyped name are hosts that no one can
    /// serve under AWS's domains, so proofs for them fail at STS rather than here.
    ///
    /// # Errors
    ///
    /// [`UnknownRegion`] for the first name that follows no naming rule of the table's
    /// partitions (`eu-west-9` is refused by a table of `aws-cn` only).
    pub fn with_extra_regions<I, R>(mut self, regions: I) -> Result<Self, UnknownRegion>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        for region in regions {
            let region = region.as_ref();
            let partition = Partition::for_region_name(region)
                .filter(|partition| self.partitions.contains(partition))
                .ok_or_else(|| UnknownRegion {
                    region: region.to_owned(),
                })?;
            self.add_region(partition, region);
        }
        Ok(self)
    }

    /// The partitions the table was made for.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
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
    fn add_region(&mut self, partition: Partition, region: &str) {
        let region: Arc<str> = Arc::from(region);
        let suffix = partition.dns_suffix();
        let mut add = |host: String, kind| {
            self.by_host.insert(
                host.clone().into_boxed_str(),
                StsEndpoint {
                    host: host.into_boxed_str(),
                    region: region.clone(),
                    partition,
                    kind,
                },
            );
        };
        add(format!("sts.{region}.{suffix}"), EndpointKind::Regional);
        let dual_stack_suffix = partition.dual_stack_dns_suffix();
        if let Some(dual_stack_suffix) = dual_stack_suffix {
            add(
                format!("sts.{region}.{dual_stack_suffix}"),
                EndpointKind::DualStack,
            );
        }
        if partition.has_fips_hosts(&region) {
            add(format!("sts-fips.{region}.{suffix}"), EndpointKind::Fips);
            if let Some(dual_stack_suffix) = dual_stack_suffix {
                add(
                    format!("sts-fips.{region}.{dual_stack_suffix}"),
                    EndpointKind::FipsDualStack,
                );
            }
        }
        if partition == Partition::Aws && &*region == GLOBAL_SIGNING_REGION {
            add(GLOBAL_HOST.to_owned(), EndpointKind::Global);
        }
    }
}

/// The standard regional STS host of a known region of any partition, for example
/// `sts.eu-west-1.amazonaws.com`, `sts.cn-north-1.amazonaws.com.cn` or
/// `sts.us-iso-east-1.c2s.ic.gov`; `None` for an unknown region.
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
        assert_eq!(aws.len(), Partition::Aws.regions().len() * 2 + 4 * 2 + 1);
        let cn = StsEndpointTable::new(&[Partition::AwsCn]);
        assert_eq!(cn.len(), 4);
        let gov = StsEndpointTable::new(&[Partition::AwsUsGov]);
        assert_eq!(gov.len(), 4);
        let eusc = StsEndpointTable::new(&[Partition::AwsEusc]);
        assert_eq!(eusc.len(), 2);
        // The isolated partitions: one regional host per region, nothing else.
        let iso = [
            Partition::AwsIso,
            Partition::AwsIsoB,
            Partition::AwsIsoE,
            Partition::AwsIsoF,
        ];
        let iso_table = StsEndpointTable::new(&iso);
        assert_eq!(
            iso_table.len(),
            iso.iter().map(|p| p.regions().len()).sum::<usize>()
        );
        assert!(iso_table.iter().all(|e| e.kind() == EndpointKind::Regional));
        let table = all();
        assert_eq!(
            table.len(),
            aws.len() + cn.len() + gov.len() + eusc.len() + iso_table.len()
        );
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
    fn sovereign_and_isolated_partitions_have_their_own_suffixes() {
        let table = all();
        for (host, region, partition, kind) in [
            (
                "sts.eusc-de-east-1.amazonaws.eu",
                "eusc-de-east-1",
                Partition::AwsEusc,
                EndpointKind::Regional,
            ),
            (
                "sts.eusc-de-east-1.api.amazonwebservices.eu",
                "eusc-de-east-1",
                Partition::AwsEusc,
                EndpointKind::DualStack,
            ),
            (
                "sts.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
                Partition::AwsIso,
                EndpointKind::Regional,
            ),
            (
                "sts.us-isob-west-1.sc2s.sgov.gov",
                "us-isob-west-1",
                Partition::AwsIsoB,
                EndpointKind::Regional,
            ),
            (
                "sts.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1",
                Partition::AwsIsoE,
                EndpointKind::Regional,
            ),
            (
                "sts.us-isof-south-1.csp.hci.ic.gov",
                "us-isof-south-1",
                Partition::AwsIsoF,
                EndpointKind::Regional,
            ),
        ] {
            assert_endpoint(&table, host, region, partition, kind);
        }
        for host in [
            "sts-fips.us-iso-east-1.c2s.ic.gov",
            "sts.us-iso-east-1.api.aws",
            "sts-fips.eusc-de-east-1.amazonaws.eu",
            "sts.eusc-de-east-1.amazonaws.com",
            "sts.us-iso-east-1.amazonaws.com",
        ] {
            assert!(table.lookup(host).is_none(), "{host} must not be found");
        }
    }

    #[test]
    fn extra_regions_get_the_hosts_of_their_partition_rules() {
        let table = StsEndpointTable::new(&[Partition::Aws, Partition::AwsIsoB])
            .with_extra_regions(["eu-west-9", "us-east-7", "us-isob-north-2"])
            .unwrap();
        assert_endpoint(
            &table,
            "sts.eu-west-9.amazonaws.com",
            "eu-west-9",
            Partition::Aws,
            EndpointKind::Regional,
        );
        assert_endpoint(
            &table,
            "sts.eu-west-9.api.aws",
            "eu-west-9",
            Partition::Aws,
            EndpointKind::DualStack,
        );
        assert!(table.lookup("sts-fips.eu-west-9.amazonaws.com").is_none());
        assert_endpoint(
            &table,
            "sts-fips.us-east-7.api.aws",
            "us-east-7",
            Partition::Aws,
            EndpointKind::FipsDualStack,
        );
        assert_endpoint(
            &table,
            "sts.us-isob-north-2.sc2s.sgov.gov",
            "us-isob-north-2",
            Partition::AwsIsoB,
            EndpointKind::Regional,
        );
        let known = StsEndpointTable::new(&[Partition::Aws, Partition::AwsIsoB]).len();
        assert_eq!(table.len(), known + 2 + 4 + 1);
        // Still exact: no other spelling of the new region's hosts.
        for host in [
            "STS.eu-west-9.amazonaws.com",
            "sts.eu-west-9.amazonaws.com.",
            "sts.eu-west-9.amazonaws.com.cn",
            "sts.eu-west-9.sc2s.sgov.gov",
        ] {
            assert!(table.lookup(host).is_none(), "{host:?} must not be found");
        }
    }

    #[test]
    fn extra_regions_outside_the_table_partitions_are_refused() {
        let aws = || StsEndpointTable::new(&[Partition::Aws]);
        for region in [
            "cn-east-9",
            "us-gov-north-1",
            "eusc-de-west-1",
            "us-iso-north-1",
            "EU-WEST-9",
            "eu-west-9.evil.com",
            "eu-west-9 ",
            "evil.com",
            "",
        ] {
            let err = aws().with_extra_regions([region]).unwrap_err();
            assert_eq!(err.region(), region);
        }
        let restricted = StsEndpointTable::with_regions(&[Partition::AwsCn], &["cn-north-1"])
            .unwrap()
            .with_extra_regions(["cn-east-9"])
            .unwrap();
        assert_eq!(restricted.partitions(), [Partition::AwsCn]);
        assert!(
            restricted
                .lookup("sts.cn-east-9.amazonaws.com.cn")
                .is_some()
        );
        assert!(
            restricted
                .lookup("sts.cn-northwest-1.amazonaws.com.cn")
                .is_none()
        );
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
        assert_eq!(
            regional_host("us-isof-east-1").as_deref(),
            Some("sts.us-isof-east-1.csp.hci.ic.gov")
        );
        assert_eq!(regional_host("xx-fake-1"), None);
        assert_eq!(regional_host("eu-west-9"), None);
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
