//! Criterion benches of policy evaluation alone (no HTTP, no tracing subscriber).
//!
//! - `policy/evaluate/20_statements/allow_last`: the only statement that allows is the last.
//! - `policy/evaluate/20_statements/deny_first`: the first statement denies.
//! - `policy/evaluate/20_statements/implicit_deny`: nothing applies.
//!
//! `scripts/bench.sh` runs them and prints the README table.

#[path = "common/policy20.rs"]
mod policy20;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method, Uri};
use tower_iam_auth::policy::{AuthzRequest, Outcome, Policy};

fn benches(c: &mut Criterion) {
    let policy = Policy::from_json(&policy20::policy20_json()).expect("the bench policy loads");
    let principal = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/bench-role/bench",
        "AROAEXAMPLEID1234567:bench",
    )
    .unwrap();
    let headers = HeaderMap::new();
    let cases: [(&str, Method, Uri, Outcome); 3] = [
        (
            "allow_last",
            Method::GET,
            Uri::from_static("/whoami"),
            Outcome::Allow,
        ),
        (
            "deny_first",
            Method::DELETE,
            Uri::from_static("/admin/users/7"),
            Outcome::ExplicitDeny,
        ),
        (
            "implicit_deny",
            Method::PUT,
            Uri::from_static("/service7/items/1"),
            Outcome::ImplicitDeny,
        ),
    ];
    let mut group = c.benchmark_group("policy/evaluate/20_statements");
    for (name, method, uri, expected) in &cases {
        let request = AuthzRequest::new(method, uri, &headers).principal(Some(&principal));
        assert_eq!(
            policy.evaluate(&request).unwrap().outcome(),
            *expected,
            "{name}"
        );
        group.bench_function(*name, |b| {
            b.iter(|| policy.evaluate(black_box(&request)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);
