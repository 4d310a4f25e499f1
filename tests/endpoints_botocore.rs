//! The STS endpoint table against the endpoint data of the pinned botocore
//! (`tests/interop/requirements.txt`): every host botocore lists for every partition is in the
//! table with the same signing region, partition and kind, and the table has no other host.
//! `tests/endpoints/botocore_sts.py` says how hosts are read from `data/endpoints.json`.

#[path = "support/python_env.rs"]
mod python_env;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use tower_iam_auth::endpoints::{EndpointKind, Partition, StsEndpointTable};

/// Region names whose partition both sides decide: known regions, names AWS could launch, and
/// names that follow no partition's rule.
const CANDIDATE_NAMES: &[&str] = &[
    "eu-west-1",
    "eu-west-9",
    "us-east-12",
    "mx-south-1",
    "cn-east-3",
    "us-gov-north-1",
    "eusc-de-west-1",
    "eusc-fr-east-1",
    "us-iso-north-2",
    "us-isob-south-1",
    "eu-isoe-north-1",
    "us-isof-west-3",
    "xx-west-1",
    "aws-global",
    "eu-west",
    "euwest-1",
];

struct Botocore {
    endpoints: BTreeSet<(String, String, String, String)>,
    names: Vec<(String, Option<String>)>,
}

fn botocore() -> Botocore {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/endpoints/botocore_sts.py");
    let output = Command::new(python_env::interpreter())
        .arg(script)
        .args(CANDIDATE_NAMES)
        .output()
        .expect("the Python interpreter runs");
    assert!(
        output.status.success(),
        "botocore_sts.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut endpoints = BTreeSet::new();
    let mut names = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["name", name, partition] => names.push((
                name.to_owned(),
                (partition != "-").then(|| partition.to_owned()),
            )),
            [host, region, partition, kind] => {
                endpoints.insert((host.into(), region.into(), partition.into(), kind.into()));
            }
            _ => panic!("unexpected line from botocore_sts.py: {line:?}"),
        }
    }
    Botocore { endpoints, names }
}

fn kind_name(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Global => "global",
        EndpointKind::Regional => "regional",
        EndpointKind::Fips => "fips",
        EndpointKind::DualStack => "dualstack",
        EndpointKind::FipsDualStack => "fips-dualstack",
        other => panic!("endpoint kind {other:?} unknown to this test"),
    }
}

fn ours(partitions: &[Partition]) -> BTreeSet<(String, String, String, String)> {
    StsEndpointTable::new(partitions)
        .iter()
        .map(|e| {
            (
                e.host().to_owned(),
                e.region().to_owned(),
                e.partition().as_str().to_owned(),
                kind_name(e.kind()).to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_table_is_exactly_the_sts_endpoints_of_botocore() {
    let theirs = botocore().endpoints;
    let ours = ours(&Partition::ALL);
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "botocore lists hosts the table lacks: {missing:#?}\nthe table has hosts botocore does \
         not list: {extra:#?}"
    );
}

#[test]
fn every_partition_with_sts_in_botocore_is_known_with_its_regions() {
    let theirs = botocore().endpoints;
    let partitions: BTreeSet<&str> = theirs.iter().map(|(_, _, p, _)| p.as_str()).collect();
    let known: BTreeSet<&str> = Partition::ALL.iter().map(Partition::as_str).collect();
    assert_eq!(partitions, known);
    for partition in Partition::ALL {
        let regions: BTreeSet<&str> = theirs
            .iter()
            .filter(|(_, _, p, kind)| p == partition.as_str() && kind == "regional")
            .map(|(_, region, _, _)| region.as_str())
            .collect();
        let known: BTreeSet<&str> = partition.regions().iter().copied().collect();
        assert_eq!(regions, known, "regions of {partition}");
    }
}

#[test]
fn region_naming_rules_agree_with_botocore_region_regexes() {
    let names = botocore().names;
    assert_eq!(names.len(), CANDIDATE_NAMES.len());
    for (name, theirs) in names {
        let ours = Partition::for_region_name(&name).map(|p| p.as_str().to_owned());
        assert_eq!(ours, theirs, "partition of the region name {name:?}");
    }
}

#[test]
fn each_partition_alone_has_only_its_own_botocore_hosts() {
    let theirs = botocore().endpoints;
    for partition in Partition::ALL {
        let expected: BTreeSet<_> = theirs
            .iter()
            .filter(|(_, _, p, _)| p == partition.as_str())
            .cloned()
            .collect();
        assert_eq!(ours(&[partition]), expected, "{partition}");
    }
}
