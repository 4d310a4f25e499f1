//! STS misbehaving: slow, throttling, refusing, redirecting, or answering garbage.

mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use support::*;
use tower_iam_auth::testing::Fault;

fn raw_200(body: String) -> Fault {
    Fault::Raw {
        status: 200,
        content_type: "text/xml".into(),
        body: body.into_bytes(),
    }
}

fn identity_doc(results: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">{results}\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )
}

fn result(arn: &str, user_id: &str, account: &str) -> String {
    format!(
        "<GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user_id}</UserId><Account>{account}</Account></GetCallerIdentityResult>"
    )
}

#[tokio::test]
async fn slow_sts_gives_503_within_the_timeout() {
    let h = harness_with(|b| b.sts_timeout(Duration::from_millis(500))).await;
    h.sts
        .set_fault(Some(Fault::Latency(Duration::from_secs(5))));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let started = Instant::now();
    let answer = call(&h.app, Some(&token)).await;
    let elapsed = started.elapsed();

    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.timeout");
    assert!(answer.headers.contains_key("retry-after"));
    assert!(
        elapsed < Duration::from_millis(900),
        "took {elapsed:?} for a 500 ms deadline"
    );
}

#[tokio::test]
async fn throttling_gives_503_with_retry_after_and_is_not_cached() {
    let h = harness_with(|b| b.sts_retry(false)).await;
    h.sts.set_fault(Some(Fault::Throttling));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.throttled");
    assert!(
        answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );
    assert!(!answer.headers.contains_key("www-authenticate"));

    // Once STS recovers, the same token is verified: the throttle was not cached against it.
    h.sts.set_fault(None);
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(h.sts.calls(), 2);
}

#[tokio::test]
async fn one_retry_on_throttling_within_the_deadline() {
    let h = harness().await;
    h.sts.set_fault(Some(Fault::Throttling));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    assert_eq!(call(&h.app, Some(&token)).await.reason(), "sts.throttled");
    assert_eq!(h.sts.calls(), 2, "one attempt and exactly one retry");
}

#[tokio::test]
async fn server_error_gives_503_and_is_not_cached() {
    let h = harness_with(|b| b.sts_retry(false)).await;
    h.sts.set_fault(Some(Fault::ServerError));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.unavailable");
    h.sts.set_fault(None);
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn sts_403_gives_401() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let token = mutate(&token_for(credentials).await, |url| {
        // A well-formed signature that is not the right one.
        set_param(&url, "X-Amz-Signature", &"ab".repeat(32))
    });
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "sts.rejected");
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let h = harness().await;
    let target = format!("http://{}/?Action=GetCallerIdentity", h.sts.connect_to());
    h.sts.set_fault(Some(Fault::Redirect(target)));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.redirect");
    assert_eq!(h.sts.calls(), 1, "the Location was not requested");
}

#[tokio::test]
async fn non_xml_200_is_refused() {
    let h = harness().await;
    h.sts.set_fault(Some(Fault::NonXml));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.bad_response");
}

/// Each malformed 200 answer is refused as a bad response, never turned into a principal.
async fn refuses_200_body(body: String) {
    let h = harness().await;
    h.sts.set_fault(Some(raw_200(body)));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.json
    );
    assert_eq!(answer.reason(), "sts.bad_response");
    assert_eq!(h.sts.calls(), 1, "a bad answer is not retried");
    // Not cached either: a correct answer afterwards is used.
    h.sts.set_fault(None);
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refuses_answer_with_wrong_root() {
    // What moto answers, with status 200, when its signature checks are off.
    refuses_200_body(
        "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01\"><Buckets/></ListAllMyBucketsResult>".into(),
    )
    .await;
}

#[tokio::test]
async fn refuses_answer_with_two_results() {
    let one = result(
        "arn:aws:iam::123456789012:user/alice",
        "AIDAEXAMPLE",
        ACCOUNT,
    );
    let two = result(
        "arn:aws:iam::123456789012:role/admin",
        "AIDAEXAMPLE",
        ACCOUNT,
    );
    refuses_200_body(identity_doc(&format!("{one}{two}"))).await;
}

#[tokio::test]
async fn refuses_answer_whose_account_differs_from_the_arn() {
    refuses_200_body(identity_doc(&result(
        "arn:aws:iam::999999999999:user/alice",
        "AIDAEXAMPLE",
        ACCOUNT,
    )))
    .await;
}

#[tokio::test]
async fn refuses_answer_with_a_dtd() {
    let doc = identity_doc(&result(
        "arn:aws:iam::123456789012:user/&x;",
        "AIDAEXAMPLE",
        ACCOUNT,
    ));
    refuses_200_body(format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"admin\">]>{doc}"
    ))
    .await;
}

#[tokio::test]
async fn refuses_oversized_answer() {
    let padding = format!("<!-- {} -->", "x".repeat(128 * 1024));
    refuses_200_body(identity_doc(&format!(
        "{}{padding}",
        result(
            "arn:aws:iam::123456789012:user/alice",
            "AIDAEXAMPLE",
            ACCOUNT
        )
    )))
    .await;
}

#[tokio::test]
async fn refuses_answer_with_empty_arn() {
    refuses_200_body(identity_doc(&result("", "AIDAEXAMPLE", ACCOUNT))).await;
}

#[tokio::test]
async fn root_principal_is_refused_unless_enabled() {
    let doc = identity_doc(&result("arn:aws:iam::123456789012:root", ACCOUNT, ACCOUNT));
    let h = harness().await;
    h.sts.set_fault(Some(raw_200(doc.clone())));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.reason(), "principal.kind_refused");
    assert_eq!(
        answer.headers["www-authenticate"],
        "Bearer error=\"insufficient_scope\", error_description=\"principal.kind_refused\""
    );

    let h = harness_with(|b| b.allow_root(true)).await;
    h.sts.set_fault(Some(raw_200(doc)));
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["kind"], "root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sts_calls_are_bounded_and_a_busy_slot_is_refused_at_once() {
    let h = harness_with(|b| b.sts_max_concurrent_calls(1)).await;
    h.sts
        .set_fault(Some(Fault::Latency(Duration::from_secs(2))));
    let alice = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(h.sts.create_user(ACCOUNT, "bob")).await;
    let app = h.app.clone();
    let slow = tokio::spawn(async move { call(&app, Some(&alice)).await.status });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The one slot is taken: the second verification does not wait for it (up to the 5 s
    // deadline), it is refused at once.
    let started = Instant::now();
    let answer = call(&h.app, Some(&bob)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.reason(), "sts.busy");
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
}
