//! A token from `ProofSigner`, verified against `LocalSts`, reaches the handler as `IamPrincipal`.

mod support;

use http::StatusCode;
use support::*;
use tower_iam_auth::proof::ProofFormat;

#[tokio::test]
async fn iam_user_is_authenticated_with_its_user_arn() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let answer = call(&h.app, Some(&token_for(credentials).await)).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(
        answer.json["raw_arn"],
        "arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(answer.json["kind"], "user");
    assert_eq!(answer.json["name"], "alice");
    assert_eq!(answer.json["session_name"], serde_json::Value::Null);
    assert!(
        answer.json["principal_id"]
            .as_str()
            .unwrap()
            .starts_with("AIDA")
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn assumed_role_session_is_normalized_to_its_role() {
    let h = harness().await;
    let credentials = h.sts.assume_role(ACCOUNT, "deployer", "ci-run-42");
    let answer = call(&h.app, Some(&token_for(credentials).await)).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(
        answer.json["arn"],
        "arn:aws:iam::123456789012:role/deployer"
    );
    assert_eq!(
        answer.json["raw_arn"],
        "arn:aws:sts::123456789012:assumed-role/deployer/ci-run-42"
    );
    assert_eq!(answer.json["account"], ACCOUNT);
    assert_eq!(answer.json["kind"], "role");
    assert_eq!(answer.json["name"], "deployer");
    assert_eq!(answer.json["session_name"], "ci-run-42");
    assert!(
        answer.json["principal_id"]
            .as_str()
            .unwrap()
            .starts_with("AROA")
    );
}

#[tokio::test]
async fn the_same_role_keeps_its_principal_id_across_sessions() {
    let h = harness().await;
    let first = call(
        &h.app,
        Some(&token_for(h.sts.assume_role(ACCOUNT, "deployer", "a")).await),
    )
    .await;
    let second = call(
        &h.app,
        Some(&token_for(h.sts.assume_role(ACCOUNT, "deployer", "b")).await),
    )
    .await;
    assert_eq!(first.json["principal_id"], second.json["principal_id"]);
    assert_ne!(first.json["session_name"], second.json["session_name"]);
}

#[tokio::test]
async fn eks_format_token_is_accepted_when_enabled() {
    let h = harness_with(|b| b.formats([ProofFormat::IamV1, ProofFormat::K8sAwsV1])).await;
    let credentials = h.sts.create_user(ACCOUNT, "kubectl-user");
    let token = signer_for(credentials, AUDIENCE, ProofFormat::K8sAwsV1)
        .token()
        .await
        .unwrap();
    assert!(token.as_str().starts_with("k8s-aws-v1."));

    let answer = call(&h.app, Some(token.as_str())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(
        answer.json["arn"],
        "arn:aws:iam::123456789012:user/kubectl-user"
    );
    let replayed = h.sts.requests();
    assert!(
        replayed[0]
            .headers
            .iter()
            .any(|(k, v)| k == "x-k8s-aws-id" && v == AUDIENCE)
    );
}

#[tokio::test]
async fn token_minted_for_another_audience_is_refused() {
    let h = harness().await; // configured for AUDIENCE
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let token = signer_for(credentials, "billing-service", ProofFormat::IamV1)
        .token()
        .await
        .unwrap();

    let answer = call(&h.app, Some(token.as_str())).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "sts.rejected");
    // The server replayed its own audience, so STS itself refused the signature.
    let replayed = h.sts.requests();
    assert_eq!(replayed.len(), 1);
    assert!(
        replayed[0]
            .headers
            .iter()
            .any(|(k, v)| k == "x-iam-audience" && v == AUDIENCE)
    );
}

#[tokio::test]
async fn replay_is_rebuilt_from_validated_parts_only() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let mut request = http::Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .header("x-forwarded-for", "10.0.0.1")
        .header("cookie", "session=secret");
    request = request.header("x-amz-security-token", "smuggled");
    call_request(&h.app, request.body(axum::body::Body::empty()).unwrap()).await;

    let replayed = &h.sts.requests()[0];
    assert_eq!(replayed.method, "GET");
    assert_eq!(
        replayed.uri,
        format!("/?{}", url_of(&token).split_once('?').unwrap().1)
    );
    let names: Vec<&str> = replayed.headers.iter().map(|(k, _)| k.as_str()).collect();
    for forbidden in [
        "cookie",
        "x-forwarded-for",
        "x-amz-security-token",
        "authorization",
    ] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} was forwarded: {names:?}"
        );
    }
    assert!(
        replayed
            .headers
            .iter()
            .any(|(k, v)| k == "host" && v == "sts.us-east-1.amazonaws.com")
    );
}

#[tokio::test]
async fn revoked_key_is_refused_by_sts() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "mallory");
    let token = token_for(credentials.clone()).await;
    h.sts.revoke(credentials.access_key_id());

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "sts.rejected");
    assert_eq!(
        answer.headers["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"sts.rejected\""
    );
}

#[tokio::test]
async fn missing_token_gets_a_bare_bearer_challenge() {
    let h = harness().await;
    let answer = call(&h.app, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    assert_eq!(answer.reason(), "token.missing");
    assert_eq!(h.sts.calls(), 0);
}

/// A region AWS launched after this release (`eu-west-9` here): refused as an unknown host before
/// any STS call, until `extra_regions` adds it; then its proof is replayed to STS and accepted.
#[tokio::test]
async fn a_region_added_by_configuration_is_accepted_and_others_stay_refused() {
    async fn token_for_region(credentials: aws_credential_types::Credentials) -> String {
        tower_iam_auth::client::ProofSigner::builder(credentials)
            .audience(AUDIENCE)
            .region("eu-west-9")
            .sts_host("sts.eu-west-9.amazonaws.com")
            .build()
            .unwrap()
            .token()
            .await
            .unwrap()
            .as_str()
            .to_owned()
    }

    let h = harness().await;
    let token = token_for_region(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.reason(), "proof.host_not_allowed");
    assert_eq!(h.sts.calls(), 0);

    let h = harness_with(|b| b.extra_regions(["eu-west-9"])).await;
    let token = token_for_region(h.sts.create_user(ACCOUNT, "alice")).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(h.sts.calls(), 1);
    let sts_request = h.sts.requests().pop().unwrap();
    assert_eq!(
        sts_request.header("host"),
        Some("sts.eu-west-9.amazonaws.com")
    );

    // Still exact: the same region under another partition's suffix is not accepted.
    let other = mutate(&token, |url| {
        url.replace(
            "sts.eu-west-9.amazonaws.com",
            "sts.eu-west-9.amazonaws.com.cn",
        )
    });
    let answer = call(&h.app, Some(&other)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "proof.host_not_allowed");
    assert_eq!(h.sts.calls(), 1);
}
