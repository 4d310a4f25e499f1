//! What this crate knows about AWS's STS endpoints: the partitions, their regions, and the table
//! of STS hosts a proof may name.
//!
//! This is knowledge about AWS, not about any one side: [`proof`](crate::proof) checks a proof's
//! host against the table, [`client`](crate::client) picks the host to sign for, and
//! [`sts`](crate::sts) sends the replay; all of them read it from here. (The module is also
//! re-exported as `sts::endpoints`, where it used to live.)
//!
//! A proof's URL host must be *exactly* equal, byte for byte, to one of the hosts in an
//! [`StsEndpointTable`]: there is no prefix, suffix, case-insensitive or pattern matching, so
//! `sts.amazonaws.com.evil.com`, `STS.amazonaws.com` or `sts.amazonaws.com.` (trailing dot) are
//! all unknown. Each entry also says which region the SigV4 credential scope must name: the
//! global endpoint `sts.amazonaws.com` signs as `us-east-1`, every other host signs as the
//! region in its name.
//!
//! ```
//! use tower_iam_auth::endpoints::{EndpointKind, Partition, StsEndpointTable};
//!
//! let table = StsEndpointTable::new(&[Partition::Aws, Partition::AwsEusc]);
//! let endpoint = table.lookup("sts.eusc-de-east-1.amazonaws.eu").unwrap();
//! assert_eq!((endpoint.region(), endpoint.kind()), ("eusc-de-east-1", EndpointKind::Regional));
//! assert!(table.lookup("sts.eusc-de-east-1.amazonaws.eu.").is_none());
//!
//! // A region launched after this release, added by configuration: hosts by the partition's rules.
//! let table = table.with_extra_regions(["eu-west-9"])?;
//! assert_eq!(table.lookup("sts.eu-west-9.api.aws").unwrap().kind(), EndpointKind::DualStack);
//! assert!(table.with_extra_regions(["cn-east-9"]).is_err(), "aws-cn is not configured");
//! # Ok::<(), tower_iam_auth::endpoints::UnknownRegion>(())
//! ```
//!
//! # Where the facts come from
//!
//! The regions, DNS suffixes and FIPS hosts are those of the endpoint data that botocore ships
//! (`data/endpoints.json`), and `tests/endpoints_botocore.rs` compares the whole table with the
//! data of the botocore version pinned in `tests/interop/requirements.txt`. Host shapes: regional
//! `sts.REGION.DNS_SUFFIX`, FIPS `sts-fips.REGION.DNS_SUFFIX`, dual-stack
//! `sts.REGION.DUAL_STACK_SUFFIX`, FIPS dual-stack `sts-fips.REGION.DUAL_STACK_SUFFIX`, and the
//! global `sts.amazonaws.com`. The data's partition defaults can spell a FIPS host for any
//! region, but STS lists FIPS hosts only for some of them; this table has only those:
//!
//! * `aws`: regional and dual-stack hosts in every region; FIPS and FIPS dual-stack hosts in
//!   the US regions (`us-east-1`, `us-east-2`, `us-west-1`, `us-west-2`); the global host
//!   (`us-east-1`).
//! * `aws-cn`: regional (`amazonaws.com.cn`) and dual-stack (`api.amazonwebservices.com.cn`)
//!   hosts; no FIPS hosts.
//! * `aws-us-gov`: regional and dual-stack hosts. The regional GovCloud hosts are themselves
//!   the FIPS endpoints (the data maps FIPS to `sts.REGION.amazonaws.com` there), so they are
//!   listed once, as [`EndpointKind::Regional`].
//! * `aws-eusc` (European Sovereign Cloud): regional (`amazonaws.eu`) and dual-stack
//!   (`api.amazonwebservices.eu`) hosts.
//! * `aws-iso` (`c2s.ic.gov`), `aws-iso-b` (`sc2s.sgov.gov`), `aws-iso-e` (`cloud.adc-e.uk`),
//!   `aws-iso-f` (`csp.hci.ic.gov`): regional hosts only; these partitions have no dual-stack
//!   names.
//!
//! A region AWS launches after this release is added by configuration
//! ([`StsEndpointTable::with_extra_regions`], `IamAuthConfigBuilder::extra_regions`); until then
//! a proof for it is refused as naming an unknown host, which fails closed.

mod partition;
mod table;

pub use partition::{Partition, UnknownPartition};
pub use table::{EndpointKind, StsEndpoint, StsEndpointTable, UnknownRegion, regional_host};
