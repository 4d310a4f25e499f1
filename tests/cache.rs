//! The verified-proof cache: hits make no STS call, concurrent misses make one, entries die with
//! the signature window, and any other token bytes miss.

mod support;

use std::time::Duration;

use http::StatusCode;
use support::*;

#[tokio::test]
async fn repeated_token_makes_no_second_sts_call() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    for _ in 0..5 {
        let answer = call(&h.app, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json["arn"], "arn:aws:iam::123456789012:user/alice");
    }
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_with_one_fresh_token_make_one_sts_call() {
    let h = harness().await;
    // Slow STS down so that every request arrives while the first is still in flight.
    h.sts
        .set_fault(Some(tower_iam_auth::testing::Fault::Latency(
            Duration::from_millis(300),
        )));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (app, token) = (h.app.clone(), token.clone());
        requests.spawn(async move { call(&app, Some(&token)).await.status });
    }
    let statuses = requests.join_all().await;

    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn entry_does_not_outlive_the_signature_window() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);

    h.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        call(&h.app, Some(&token)).await.status,
        StatusCode::OK,
        "still inside the window"
    );
    assert_eq!(h.sts.calls(), 1, "served from the cache");

    h.clock.advance(Duration::from_secs(61));
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.reason(),
        "proof.expired",
        "the stale entry was not used"
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn entry_lifetime_is_capped_by_config() {
    let h = harness_with(|b| b.cache_max_ttl(Duration::from_secs(60))).await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    h.clock.advance(Duration::from_secs(61));
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        h.sts.calls(),
        2,
        "the capped entry expired and the proof was verified again"
    );
}

#[tokio::test]
async fn a_token_differing_in_any_byte_is_not_served_from_the_cache() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);

    // Same signature field, parameters in another order: still a valid proof, but other bytes.
    let reordered = mutate(&token, |url| {
        let (base, query) = url.split_once('?').unwrap();
        let mut pairs: Vec<&str> = query.split('&').collect();
        pairs.reverse();
        format!("{base}?{}", pairs.join("&"))
    });
    assert_eq!(call(&h.app, Some(&reordered)).await.status, StatusCode::OK);
    assert_eq!(
        h.sts.calls(),
        2,
        "the reordered token was verified, not looked up"
    );

    // One changed byte in the signature: verified by STS and refused, never a cache hit.
    let tampered = mutate(&token, |url| {
        let signature = param(&url, "X-Amz-Signature");
        let flipped = if signature.ends_with('0') { "1" } else { "0" };
        set_param(
            &url,
            "X-Amz-Signature",
            &format!("{}{flipped}", &signature[..63]),
        )
    });
    let answer = call(&h.app, Some(&tampered)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "sts.rejected");
    assert_eq!(h.sts.calls(), 3);
}

#[tokio::test]
async fn definite_rejection_is_remembered_briefly() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "mallory");
    let token = token_for(credentials.clone()).await;
    h.sts.revoke(credentials.access_key_id());

    for _ in 0..3 {
        assert_eq!(call(&h.app, Some(&token)).await.reason(), "sts.rejected");
    }
    assert_eq!(h.sts.calls(), 1, "the rejection was cached");

    h.clock.advance(Duration::from_secs(31));
    assert_eq!(call(&h.app, Some(&token)).await.reason(), "sts.rejected");
    assert_eq!(
        h.sts.calls(),
        2,
        "the negative entry expired after its short ttl"
    );
}

#[tokio::test]
async fn cache_is_shared_by_every_service_of_one_layer() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let other_router = whoami_router().layer(h.layer.clone());
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        call(&other_router, Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(h.sts.calls(), 1);
}
