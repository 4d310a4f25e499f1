//! Criterion benches of the server path.
//!
//! - `server/bare`: the router without the layer (the baseline).
//! - `server/proof_cache_hit`: the same router behind `IamAuthLayer`, with a token already verified.
//! - `server/proof_reject_malformed`: a token refused by local validation.
//! - `proof/parse_validate`: `ProofRules::validate` alone on a valid token.
//!
//! `scripts/bench.sh` runs them and prints the README table.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::proof::ProofRules;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::sts::{Partition, StsEndpointTable};
use tower_iam_auth::testing::LocalSts;

const AUDIENCE: &str = "bench-service";

fn request(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/whoami");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sts = rt.block_on(LocalSts::start()).unwrap();
    let credentials = sts.assume_role("123456789012", "bench-role", "bench");
    let token = rt.block_on(async {
        ProofSigner::builder(credentials)
            .audience(AUDIENCE)
            .build()
            .unwrap()
            .token()
            .await
            .unwrap()
            .as_str()
            .to_owned()
    });
    let authorization = format!("Bearer {token}");

    // The baseline and the protected router differ only by the layer and the extractor.
    let bare: Router = Router::new().route("/whoami", get(|| async { "ok" }));
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .dangerous_sts_connect_to(sts.connect_to())
        .build()
        .unwrap();
    let protected: Router = Router::new()
        .route("/whoami", get(|_principal: IamPrincipal| async { "ok" }))
        .layer(IamAuthLayer::new(config));

    // Warm the cache, and check that each path answers what it is meant to measure.
    rt.block_on(async {
        let status = protected
            .clone()
            .oneshot(request(Some(&authorization)))
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
        let status = protected
            .clone()
            .oneshot(request(Some("Bearer iam-v1.%%%")))
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let malformed = protected
            .clone()
            .oneshot(request(Some("Bearer iam-v1.bm90LWEtdXJs")))
            .await
            .unwrap();
        assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    });
    assert_eq!(sts.calls(), 1);

    let mut group = c.benchmark_group("server");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            bare.clone()
                .oneshot(request(Some(&authorization)))
                .await
                .unwrap()
        })
    });
    group.bench_function("proof_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            protected
                .clone()
                .oneshot(request(Some(&authorization)))
                .await
                .unwrap()
        })
    });
    group.bench_function("proof_reject_malformed", |b| {
        // Base64url of "not-a-url": decodes, then fails the URL rules.
        b.to_async(&rt).iter(|| async {
            protected
                .clone()
                .oneshot(request(Some("Bearer iam-v1.bm90LWEtdXJs")))
                .await
                .unwrap()
        })
    });
    group.finish();
    assert_eq!(
        sts.calls(),
        1,
        "the benches never reached STS after warm-up"
    );

    let rules = ProofRules::new(StsEndpointTable::new(&[Partition::Aws]));
    let now = SystemTime::now();
    let mut group = c.benchmark_group("proof");
    group.bench_function("parse_validate", |b| {
        b.iter(|| rules.validate(std::hint::black_box(&token), now).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = server;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(server);
