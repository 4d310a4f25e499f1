//! The metrics contract (feature `metrics`): each metric moves as it should, and no label ever
//! carries a principal or a token.
//!
//! Every test records into its own `DebuggingRecorder`, installed for one thread with
//! `metrics::with_local_recorder` around a current-thread runtime: the layer, its STS calls and
//! LocalSts all run on that thread, and tests running in parallel (cargo test) or in separate
//! processes (nextest) never see each other's metrics.
#![cfg(feature = "metrics")]

mod support;

use std::future::Future;

use axum::Router;
use http::StatusCode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::*;
use tower_iam_auth::policy::Policy;
use tower_iam_auth::testing::Fault;

/// Runs `test` on a current-thread runtime with a fresh recorder for this thread.
fn with_metrics<F, Fut>(test: F)
where
    F: FnOnce(Metrics) -> Fut,
    Fut: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let metrics = Metrics {
        snapshotter: recorder.snapshotter(),
        seen: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(test(metrics)));
}

/// One recorded value: name, labels, value.
type Row = (String, Vec<(String, String)>, DebugValue);

struct Metrics {
    snapshotter: Snapshotter,
    /// The name and labels of every row seen so far, for the label audit.
    seen: Vec<(String, Vec<(String, String)>)>,
}

impl Metrics {
    /// What was recorded since the last call (the debugging recorder drains on snapshot).
    fn take(&mut self) -> Vec<Row> {
        let rows: Vec<Row> = self
            .snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        for (name, labels, _) in &rows {
            self.seen.push((name.clone(), labels.clone()));
        }
        rows
    }
}

/// The sum of counter `name` over the rows whose labels include `labels`.
fn counter(rows: &[Row], name: &str, labels: &[(&str, &str)]) -> u64 {
    rows.iter()
        .filter(|(n, l, _)| n == name && has_labels(l, labels))
        .map(|(_, _, v)| match v {
            DebugValue::Counter(c) => *c,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

/// The sum of gauge changes of `name` (the recorder drains gauges too).
fn gauge(rows: &[Row], name: &str) -> Option<f64> {
    rows.iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, _, v)| match v {
            DebugValue::Gauge(g) => g.into_inner(),
            other => panic!("{name} is not a gauge: {other:?}"),
        })
        .reduce(|a, b| a + b)
}

/// The number of samples of histogram `name`.
fn samples(rows: &[Row], name: &str, labels: &[(&str, &str)]) -> usize {
    rows.iter()
        .filter(|(n, l, _)| n == name && has_labels(l, labels))
        .map(|(_, _, v)| match v {
            DebugValue::Histogram(h) => h.len(),
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

fn has_labels(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
    want.iter()
        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
}

/// No label value names an account, an ARN, a role, a session or a token.
fn assert_no_personal_labels(metrics: &Metrics, secrets: &[&str]) {
    assert!(!metrics.seen.is_empty(), "nothing was recorded");
    for (name, labels) in &metrics.seen {
        for (key, value) in labels {
            assert!(
                !value.contains("arn:") && !value.contains(ACCOUNT),
                "{name}{{{key}={value:?}}} names a principal"
            );
            for secret in secrets {
                assert!(
                    !value.contains(secret),
                    "{name}{{{key}={value:?}}} carries {secret:?}"
                );
            }
        }
    }
}

async fn status(app: &Router, token: Option<&str>) -> StatusCode {
    call(app, token).await.status
}

#[test]
fn an_oversized_vault_body_is_refused_before_the_cache_reads_it() {
    with_metrics(|mut m| async move {
        let h = harness_with(|b| b.max_token_bytes(1024)).await;
        let credentials = h.sts.create_user(ACCOUNT, "alice");
        let mut login = support::vault::Login::new(support::vault::VAULT_HEADER, AUDIENCE)
            .body_json(&credentials);
        login["role"] = serde_json::json!("r".repeat(1 << 20));
        let refused = h
            .layer
            .verify_vault_login(login.to_string().as_bytes())
            .await
            .unwrap_err();
        assert_eq!(refused.reason().as_str(), "proof.too_large");
        // The cache hashes whatever it looks up: a megabyte body never got that far.
        let rows = m.take();
        assert_eq!(counter(&rows, "iam_auth_cache_lookups_total", &[]), 0);
        assert_eq!(h.sts.calls(), 0);
    });
}

#[test]
fn an_accepted_proof_then_a_cache_hit() {
    with_metrics(|mut m| async move {
        let h = harness().await;
        let role = h.sts.assume_role(ACCOUNT, "deployer", "alice-session");
        let token = token_for(role.clone()).await;

        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::OK);
        let rows = m.take();
        let allowed = [("outcome", "allowed"), ("reason", "none")];
        assert_eq!(counter(&rows, "iam_auth_requests_total", &allowed), 1);
        assert_eq!(samples(&rows, "iam_auth_layer_duration_seconds", &[]), 1);
        let miss = [("result", "miss")];
        assert_eq!(counter(&rows, "iam_auth_cache_lookups_total", &miss), 1);
        let ok = [("result", "ok"), ("region", "us-east-1")];
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &ok), 1);
        let region = [("region", "us-east-1")];
        assert_eq!(samples(&rows, "iam_auth_sts_duration_seconds", &region), 1);
        assert_eq!(gauge(&rows, "iam_auth_sts_in_flight"), Some(0.0));
        assert_eq!(gauge(&rows, "iam_auth_cache_entries"), Some(1.0));
        assert_eq!(counter(&rows, "iam_auth_cache_coalesced_total", &[]), 0);

        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::OK);
        let rows = m.take();
        assert_eq!(counter(&rows, "iam_auth_requests_total", &allowed), 1);
        let hit = [("result", "hit")];
        assert_eq!(counter(&rows, "iam_auth_cache_lookups_total", &hit), 1);
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &[]), 0);
        assert_eq!(h.sts.calls(), 1);

        assert_no_personal_labels(
            &m,
            &[
                &token,
                "deployer",
                "alice-session",
                role.access_key_id(),
                role.session_token().unwrap_or("no session"),
            ],
        );
    });
}

#[test]
fn a_refused_proof_counts_as_refused_with_its_reason() {
    with_metrics(|mut m| async move {
        let h = harness().await;
        let role = h.sts.assume_role(ACCOUNT, "deployer", "ci");
        h.sts.revoke(role.access_key_id());
        let token = token_for(role.clone()).await;

        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::UNAUTHORIZED);
        let rows = m.take();
        let refused = [("outcome", "refused"), ("reason", "sts.rejected")];
        assert_eq!(counter(&rows, "iam_auth_requests_total", &refused), 1);
        let rejected = [("result", "rejected"), ("region", "us-east-1")];
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &rejected), 1);

        // STS's definite answer is remembered briefly: the second try is a negative hit.
        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::UNAUTHORIZED);
        let rows = m.take();
        let negative = [("result", "negative_hit")];
        assert_eq!(counter(&rows, "iam_auth_cache_lookups_total", &negative), 1);
        assert_eq!(counter(&rows, "iam_auth_requests_total", &refused), 1);

        // Refused before STS: no token at all.
        assert_eq!(status(&h.app, None).await, StatusCode::UNAUTHORIZED);
        let rows = m.take();
        let missing = [("outcome", "refused"), ("reason", "token.missing")];
        assert_eq!(counter(&rows, "iam_auth_requests_total", &missing), 1);
        assert_eq!(samples(&rows, "iam_auth_layer_duration_seconds", &[]), 1);

        assert_no_personal_labels(&m, &[&token, "deployer", role.access_key_id()]);
    });
}

#[test]
fn an_sts_throttle_counts_as_unavailable_and_throttled() {
    with_metrics(|mut m| async move {
        let h = harness_with(|b| b.sts_retry(false)).await;
        h.sts.set_fault(Some(Fault::Throttling));
        let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

        assert_eq!(
            status(&h.app, Some(&token)).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let rows = m.take();
        let unavailable = [("outcome", "unavailable"), ("reason", "sts.throttled")];
        assert_eq!(counter(&rows, "iam_auth_requests_total", &unavailable), 1);
        let throttled = [("result", "throttled"), ("region", "us-east-1")];
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &throttled), 1);
        assert_eq!(gauge(&rows, "iam_auth_sts_in_flight"), Some(0.0));

        // Throttling is not the caller's fault: nothing negative is cached.
        h.sts.set_fault(None);
        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::OK);
        let rows = m.take();
        let miss = [("result", "miss")];
        assert_eq!(counter(&rows, "iam_auth_cache_lookups_total", &miss), 1);
        let ok = [("result", "ok")];
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &ok), 1);
    });
}

#[test]
fn concurrent_misses_for_one_token_are_coalesced() {
    with_metrics(|mut m| async move {
        let h = harness().await;
        let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

        let (a, b) = tokio::join!(status(&h.app, Some(&token)), status(&h.app, Some(&token)));
        assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
        let rows = m.take();
        assert_eq!(h.sts.calls(), 1);
        assert_eq!(counter(&rows, "iam_auth_cache_coalesced_total", &[]), 1);
        assert_eq!(counter(&rows, "iam_auth_sts_requests_total", &[]), 1);
    });
}

#[test]
fn a_policy_denial_counts_the_decision_and_the_refusal() {
    with_metrics(|mut m| async move {
        let policy = Policy::from_json(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [
                {{"Effect": "Allow", "Principal": {{"AWS": "{ACCOUNT}"}},
                  "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}},
                {{"Effect": "Deny", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke",
                  "Resource": "*", "Condition": {{"StringLike": {{"aws:PrincipalArn": "*:role/intern"}}}}}}
            ]}}"#
        ))
        .unwrap();
        let h = harness_with(|b| b.policy(policy)).await;
        let deployer = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;
        let intern = token_for(h.sts.assume_role(ACCOUNT, "intern", "bob")).await;

        assert_eq!(status(&h.app, Some(&deployer)).await, StatusCode::OK);
        let rows = m.take();
        let allow = [("decision", "allow")];
        assert_eq!(counter(&rows, "iam_auth_policy_decisions_total", &allow), 1);

        assert_eq!(status(&h.app, Some(&intern)).await, StatusCode::FORBIDDEN);
        let rows = m.take();
        let deny = [("decision", "explicit_deny")];
        assert_eq!(counter(&rows, "iam_auth_policy_decisions_total", &deny), 1);
        let refused = [("outcome", "refused"), ("reason", "policy.denied")];
        assert_eq!(counter(&rows, "iam_auth_requests_total", &refused), 1);

        assert_no_personal_labels(&m, &[&deployer, &intern, "intern", "deployer", "bob"]);
    });
}

#[test]
fn a_principal_outside_the_allowed_accounts_is_an_implicit_deny() {
    with_metrics(|mut m| async move {
        let h = harness_with(|b| b.allowed_accounts(["210987654321"])).await;
        let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

        assert_eq!(status(&h.app, Some(&token)).await, StatusCode::FORBIDDEN);
        let rows = m.take();
        let deny = [("decision", "implicit_deny")];
        assert_eq!(counter(&rows, "iam_auth_policy_decisions_total", &deny), 1);
    });
}

#[cfg(feature = "jwt")]
#[test]
fn an_issued_token_counts_by_algorithm() {
    use tower_iam_auth::token::{JwtAlgorithm, KeySet, SigningKey, TokenExchange};

    with_metrics(|mut m| async move {
        let h = harness().await;
        let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;
        let exchange = TokenExchange::builder(h.layer.clone())
            .allow_any_aws_account()
            .issuer("https://auth.example.com")
            .keys(KeySet::new(
                SigningKey::generate(JwtAlgorithm::ES256).unwrap(),
            ))
            .default_audience("orders-api")
            .build()
            .unwrap();
        let principal = h.layer.verify_token(&token).await.unwrap();
        m.take();

        exchange.issue(&principal, None).await.unwrap();
        let rows = m.take();
        let es256 = [("alg", "ES256")];
        assert_eq!(counter(&rows, "iam_auth_tokens_issued_total", &es256), 1);
        assert_no_personal_labels(&m, &[&token, "deployer"]);
    });
}

#[cfg(feature = "jwt")]
mod jwt_support;

#[cfg(feature = "jwt")]
#[test]
fn jwks_refreshes_count_by_result() {
    use jwt_support::{ISSUER, JWT_AUDIENCE, JwksServer, TestKey, token, valid_claims};
    use tower_iam_auth::token::{JwtVerifier, TrustedIssuer};

    with_metrics(|mut m| async move {
        let old = TestKey::rsa();
        let new = TestKey::rsa();
        let jwks = JwksServer::start(vec![old.jwk("old")]).await;
        let verifier = JwtVerifier::builder()
            .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(&jwks.url))
            .audience(JWT_AUDIENCE)
            .build()
            .unwrap();
        verifier
            .verify(&token(&old, "RS256", "old", &valid_claims()))
            .await
            .unwrap();
        let rows = m.take();
        let ok = [("result", "ok")];
        assert_eq!(counter(&rows, "iam_auth_jwks_refresh_total", &ok), 1);

        // An unknown kid refreshes the set once; the next one within the cooldown does not.
        let unknown = token(&new, "RS256", "new", &valid_claims());
        assert!(verifier.verify(&unknown).await.is_err());
        assert!(verifier.verify(&unknown).await.is_err());
        let rows = m.take();
        assert_eq!(counter(&rows, "iam_auth_jwks_refresh_total", &ok), 1);
        let limited = [("result", "rate_limited")];
        assert_eq!(counter(&rows, "iam_auth_jwks_refresh_total", &limited), 1);
        assert_eq!(jwks.fetches(), 2);
    });
}
