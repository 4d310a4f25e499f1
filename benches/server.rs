//! Criterion benches of the server path.
//!
//! - `server/bare`: the router without the layer (the baseline).
//! - `server/static_bearer`: the same router wrapped by tower-http's `ValidateRequestHeaderLayer`
//!   comparing the same header with a fixed value: what any layer in that place costs at least.
//! - `server/proof_cache_hit`: the same router wrapped by `IamAuthLayer` in inner-body mode
//!   (`IamAuthLayer::inner_body`, as for axum), with a token already verified.
//! - `server/proof_cache_hit_wrapped`: the same with the layer's default mode, whose responses
//!   carry a `ResponseBody`.
//! - `server/proof_cache_hit_router_layer`: `proof_cache_hit` with the layer added by axum's
//!   `Router::layer` instead, which puts it around each route, inside the router: axum then
//!   boxes a clone of the layered route on every request.
//!
//! The layered cases wrap the whole router (`layer.layer(router)`), as a service in front of an
//! application does, except `proof_cache_hit_router_layer`.
//! - `server/proof_reject_malformed`: a token refused by local validation.
//! - `server/proof_cache_hit_policy`: `proof_cache_hit` with the 20-statement policy of
//!   `benches/common/policy20.rs` allowing the request through its last statement.
//! - `proof/parse_validate`: `ProofRules::validate` alone on a valid token.
//! - `overhead/NAME`: what `server/NAME` costs per request over `server/bare`, timed in
//!   alternating blocks against it (see [`overhead`]); the separate medians drift between runs
//!   on a shared machine by more than the difference.
//!
//! `scripts/bench.sh` runs them and prints the README table.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::proof::ProofRules;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::sts::{Partition, StsEndpointTable};
use tower_iam_auth::testing::LocalSts;

#[path = "common/policy20.rs"]
mod policy20;

const AUDIENCE: &str = "bench-service";

/// Base64url of "not-a-url": decodes, then fails the URL rules.
const MALFORMED: &str = "Bearer iam-v1.bm90LWEtdXJs";

/// The router the layer protects: its handler takes the caller.
fn whoami() -> Router {
    Router::new()
        .route("/whoami", get(|_principal: IamPrincipal| async { "ok" }))
        .with_state(())
}

fn request(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/whoami");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

/// A router, alone or wrapped by a layer: what the benches send requests to, cloning it for each
/// request as a server does for each connection.
trait App<B>:
    Service<Request<Body>, Response = Response<B>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, B> App<B> for S where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// One request to `app`.
async fn send<B>(app: &impl App<B>, authorization: &str) -> Response<B> {
    let answer = app.clone().oneshot(request(Some(authorization))).await;
    answer.unwrap_or_else(|never| match never {})
}

/// The status of one request to `app`, outside the benches.
fn status_of<B>(
    rt: &tokio::runtime::Runtime,
    app: &impl App<B>,
    authorization: &str,
) -> StatusCode {
    rt.block_on(send(app, authorization)).status()
}

/// `server/NAME`: one request to `app` per iteration.
fn bench_app<B>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    app: &impl App<B>,
    authorization: &str,
) {
    group.bench_function(name, |b| b.to_async(rt).iter(|| send(app, authorization)));
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

    // The baseline and the protected router differ only by the layer and the extractor. Every
    // router is finished with `with_state(())`, as `axum::serve` finishes it: without that, axum
    // would build each route's service (and apply each layer) again for every request.
    let bare: Router = Router::new()
        .route("/whoami", get(|| async { "ok" }))
        .with_state(());
    // The floor for any layer in the same place: tower-http's static bearer-token comparison,
    // with the same header value (deprecated by tower-http as too basic for real use; here it is
    // only a yardstick).
    #[allow(deprecated)]
    let static_bearer = ValidateRequestHeaderLayer::bearer(&token).layer(bare.clone());
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allow_any_aws_account()
        .dangerous_sts_connect_to(sts.connect_to())
        .build()
        .unwrap();
    let layer = IamAuthLayer::new(config);
    let protected = layer.clone().inner_body().layer(whoami());
    // The same layer (and cache) in its default mode.
    let wrapped = layer.clone().layer(whoami());
    // The same layer (and cache) inside the router, around its route.
    let router_layer: Router = Router::new()
        .route("/whoami", get(|_principal: IamPrincipal| async { "ok" }))
        .layer(layer.inner_body())
        .with_state(());
    // The same, deciding with a 20-statement policy whose last statement allows the request.
    let policy = tower_iam_auth::policy::Policy::from_json(&policy20::policy20_json()).unwrap();
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .policy(policy)
        .dangerous_sts_connect_to(sts.connect_to())
        .build()
        .unwrap();
    let with_policy = IamAuthLayer::new(config).inner_body().layer(whoami());

    // Warm the cache, and check that each path answers what it is meant to measure.
    assert_eq!(status_of(&rt, &protected, &authorization), StatusCode::OK);
    // A token with characters outside b64token is a malformed request (400).
    let status_of_bad_characters = status_of(&rt, &protected, "Bearer iam-v1.%%%");
    assert_eq!(status_of_bad_characters, StatusCode::BAD_REQUEST);
    assert_eq!(
        status_of(&rt, &protected, MALFORMED),
        StatusCode::UNAUTHORIZED
    );
    for answer in [
        status_of(&rt, &static_bearer, &authorization),
        status_of(&rt, &wrapped, &authorization),
        status_of(&rt, &router_layer, &authorization),
        status_of(&rt, &with_policy, &authorization),
    ] {
        assert_eq!(answer, StatusCode::OK);
    }
    // One call for `protected` (and `wrapped` and `router_layer`, same cache), one for
    // `with_policy` (each layer has its own cache).
    assert_eq!(sts.calls(), 2);

    // Each case under `server/NAME`, then paired against `bare` under `overhead/NAME`.
    macro_rules! cases {
        ($($name:literal => $app:expr),* $(,)?) => {
            let mut group = c.benchmark_group("server");
            bench_app(&mut group, &rt, "bare", &bare, &authorization);
            $(bench_app(&mut group, &rt, $name, $app, &authorization);)*
            bench_app(&mut group, &rt, "proof_reject_malformed", &protected, MALFORMED);
            group.finish();
            let mut group = c.benchmark_group("overhead");
            $(overhead(&mut group, &rt, $name, &bare, $app, &authorization);)*
            group.finish();
        };
    }
    cases! {
        "static_bearer" => &static_bearer,
        "proof_cache_hit" => &protected,
        "proof_cache_hit_wrapped" => &wrapped,
        "proof_cache_hit_router_layer" => &router_layer,
        "proof_cache_hit_policy" => &with_policy,
    }
    assert_eq!(
        sts.calls(),
        2,
        "the benches never reached STS after warm-up"
    );

    let rules = ProofRules::new(StsEndpointTable::new(&[Partition::Aws]));
    let now = SystemTime::now();
    let mut group = c.benchmark_group("proof");
    group.bench_function("parse_validate", |b| {
        b.iter(|| rules.validate(std::hint::black_box(&token), now).unwrap())
    });
    group.finish();

    #[cfg(feature = "jwt")]
    jwt::benches(c, &rt, &sts, &authorization, &bare);
}

/// Requests per block in [`overhead`].
const BLOCK: u64 = 32;

/// `overhead/NAME`: the time `case` takes per request more than `bare`, measured in alternating
/// blocks of [`BLOCK`] requests, so that the machine's drift (which moves a separate median by
/// more than the difference sought) falls on both alike. The same request goes to both.
fn overhead<B>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    bare: &Router,
    case: &impl App<B>,
    authorization: &str,
) {
    async fn time<B>(app: &impl App<B>, requests: u64, authorization: &str) -> Duration {
        let started = std::time::Instant::now();
        for _ in 0..requests {
            assert_eq!(send(app, authorization).await.status(), StatusCode::OK);
        }
        started.elapsed()
    }
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
            let mut left = iters;
            let mut case_first = false;
            while left > 0 {
                let block = left.min(BLOCK);
                left -= block;
                // Each goes first every other block, so that what the switch costs (caches,
                // branch predictors) falls on both alike.
                if case_first {
                    with += time(case, block, authorization).await;
                    without += time(bare, block, authorization).await;
                } else {
                    without += time(bare, block, authorization).await;
                    with += time(case, block, authorization).await;
                }
                case_first = !case_first;
            }
            // Criterion wants a duration, and refuses a sample of zero (it stops the bench): a
            // sample in which the case came out no slower counts as 1 ns over all of its
            // iterations, which biases the estimates up, never down.
            with.saturating_sub(without).max(Duration::from_nanos(1))
        })
    });
}

/// JWT mode: `jwt/verify_*` (the full verify path `IamAuthLayer` runs for a JWT it has not
/// seen, static keys),
/// `jwt/decode_raw_rs256` (a bare `jsonwebtoken::decode` with a prepared key: the floor),
/// `server/jwt_cached_hit` (the router of `protected`, with a JWT its verifier has seen before
/// instead of a cached proof) and `server/jwt_uncached` (the same, its verifier's cache off: a
/// full RS256 verification per request).
#[cfg(feature = "jwt")]
mod jwt {
    use super::*;
    use http_body_util::BodyExt;
    use tower_iam_auth::token::{
        JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TokenExchange, TrustedIssuer,
    };

    const ISSUER: &str = "https://auth.bench.example";

    /// A token signed by each of an RS256, an ES256 and an EdDSA key, issued by a
    /// `TokenExchange` for the bench's proof.
    fn tokens(
        rt: &tokio::runtime::Runtime,
        sts: &LocalSts,
        authorization: &str,
    ) -> (KeySet, Vec<(JwtAlgorithm, String)>) {
        // One process signs and verifies here, so a key may sign as soon as it is published.
        let keys = KeySet::new(
            SigningKey::generate(JwtAlgorithm::RS256)
                .unwrap()
                .with_kid("rs256"),
        )
        .with_publish_lead(Duration::ZERO);
        for (alg, kid) in [
            (JwtAlgorithm::ES256, "es256"),
            (JwtAlgorithm::EdDSA, "eddsa"),
        ] {
            keys.publish(SigningKey::generate(alg).unwrap().with_kid(kid))
                .unwrap();
        }
        let proofs = IamAuthLayer::new(
            IamAuthConfig::builder()
                .audience(AUDIENCE)
                .allow_any_aws_account()
                .dangerous_sts_connect_to(sts.connect_to())
                .build()
                .unwrap(),
        );
        let exchange = TokenExchange::builder(proofs)
            .allow_any_aws_account()
            .issuer(ISSUER)
            .keys(keys.clone())
            .default_audience(AUDIENCE)
            .jwks_max_age(Duration::ZERO)
            .build()
            .unwrap();
        let tokens = [
            (JwtAlgorithm::RS256, "rs256"),
            (JwtAlgorithm::ES256, "es256"),
            (JwtAlgorithm::EdDSA, "eddsa"),
        ]
        .into_iter()
        .map(|(alg, kid)| {
            keys.activate(kid).unwrap();
            let request = Request::post("/token")
                .header("authorization", authorization)
                .body(Body::empty())
                .unwrap();
            let body = rt.block_on(async {
                let response = exchange.router().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response.into_body().collect().await.unwrap().to_bytes()
            });
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (alg, body["access_token"].as_str().unwrap().to_owned())
        })
        .collect();
        (keys, tokens)
    }

    pub(super) fn benches(
        c: &mut Criterion,
        rt: &tokio::runtime::Runtime,
        sts: &LocalSts,
        authorization: &str,
        bare: &Router,
    ) {
        // The bare `jsonwebtoken::decode` floor uses jsonwebtoken's process-default backend,
        // which an application with both backends enabled (as this build is) must choose.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let (keys, tokens) = tokens(rt, sts, authorization);
        let verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(ISSUER).keys(keys.jwks()))
            .audience(AUDIENCE)
            .build()
            .unwrap();
        for (_, token) in &tokens {
            rt.block_on(verifier.verify(token)).unwrap();
        }

        // Without its cache, so that each call is a full verification (with it, a repeated
        // token is a cache hit: `server/jwt_cached_hit`).
        let uncached = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(ISSUER).keys(keys.jwks()))
            .audience(AUDIENCE)
            .cache_max_entries(0)
            .build()
            .unwrap();

        let mut group = c.benchmark_group("jwt");
        for (alg, token) in &tokens {
            let name = format!("verify_{}", alg.as_str().to_ascii_lowercase());
            group.bench_function(name, |b| {
                b.to_async(rt)
                    .iter(|| uncached.verify(std::hint::black_box(token)))
            });
        }
        // The floor: jsonwebtoken alone on the same RS256 token, its key prepared once.
        #[derive(serde::Deserialize)]
        struct Claims {
            #[allow(dead_code)]
            sub: String,
        }
        let jwk = serde_json::to_value(keys.jwks().find("rs256").unwrap()).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        let rs256 = &tokens[0].1;
        jsonwebtoken::decode::<Claims>(rs256, &key, &validation).unwrap();
        group.bench_function("decode_raw_rs256", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(std::hint::black_box(rs256), &key, &validation)
                    .unwrap()
            })
        });
        group.finish();

        // Built like `protected`, verifying the RS256 JWT instead of a cached proof: with the
        // verifier's cache, and without it.
        let jwt_authorization = format!("Bearer {rs256}");
        let mut group = c.benchmark_group("server");
        let mut cached = None;
        for (name, verifier) in [("jwt_cached_hit", &verifier), ("jwt_uncached", &uncached)] {
            let config = IamAuthConfig::builder()
                .audience(AUDIENCE)
                .allow_any_aws_account()
                .token_verifier(verifier.clone())
                .accept_proofs(false)
                .build()
                .unwrap();
            let jwt_protected = IamAuthLayer::new(config).inner_body().layer(whoami());
            let status = status_of(rt, &jwt_protected, &jwt_authorization);
            assert_eq!(status, StatusCode::OK);
            if name == "jwt_cached_hit" {
                cached = Some(jwt_protected.clone());
            }
            bench_app(&mut group, rt, name, &jwt_protected, &jwt_authorization);
        }
        group.finish();
        let mut group = c.benchmark_group("overhead");
        if let Some(jwt_protected) = &cached {
            overhead(
                &mut group,
                rt,
                "jwt_cached_hit",
                bare,
                jwt_protected,
                &jwt_authorization,
            );
        }
        group.finish();
    }
}

criterion_group! {
    name = server;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(server);
