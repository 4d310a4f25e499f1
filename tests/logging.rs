//! Tokens, signatures, session tokens and secrets never appear in logs, at any level.

mod support;

use std::time::Duration;

use http::StatusCode;
use support::logs::capture;
use support::*;

fn assert_absent(logs: &str, secrets: Vec<(&str, String)>) {
    for (what, secret) in secrets {
        let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(&secret)).collect();
        assert!(
            leaks.is_empty(),
            "{what} appears in the logs:\n{}",
            leaks.join("\n")
        );
    }
}

#[tokio::test]
async fn an_unreachable_sts_does_not_log_the_proof() {
    let (captured, _guard) = capture();
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = harness_with(|b| {
        b.dangerous_sts_connect_to(closed.to_string())
            .sts_retry(false)
    })
    .await;
    let role = h.sts.assume_role(ACCOUNT, "deployer", "ci");
    let token = token_for(role.clone()).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.reason(), "sts.unavailable");

    let logs = captured.text();
    assert!(
        logs.contains("sts.unavailable"),
        "the refusal was not logged:\n{logs}"
    );
    assert_absent(
        &logs,
        vec![
            ("token", token.clone()),
            // Any part of the presigned query, not only the secret parts: even a truncated
            // URL in a log line is a sign the proof itself is being logged.
            ("the presigned query", "X-Amz-Credential=".to_owned()),
            ("signature", param(&url_of(&token), "X-Amz-Signature")),
            (
                "session token, URL-encoded",
                param(&url_of(&token), "X-Amz-Security-Token"),
            ),
            ("session token", role.session_token().unwrap().to_owned()),
        ],
    );
}

#[tokio::test]
async fn no_secret_material_reaches_the_logs() {
    let (captured, _guard) = capture();

    let h = harness().await;
    let user = h.sts.create_user(ACCOUNT, "alice");
    let role = h.sts.assume_role(ACCOUNT, "deployer", "ci");
    let user_token = token_for(user.clone()).await;
    let role_token = token_for(role.clone()).await;

    // Accepted, cached, and refused for several reasons.
    assert_eq!(call(&h.app, Some(&user_token)).await.status, StatusCode::OK);
    assert_eq!(call(&h.app, Some(&user_token)).await.status, StatusCode::OK);
    assert_eq!(call(&h.app, Some(&role_token)).await.status, StatusCode::OK);
    let tampered = mutate(&role_token, |url| {
        set_param(&url, "X-Amz-Signature", &"cd".repeat(32))
    });
    assert_eq!(call(&h.app, Some(&tampered)).await.reason(), "sts.rejected");
    let off_table = mutate(&role_token, |url| {
        url.replacen("amazonaws.com/", "amazonaws.com.evil.example/", 1)
    });
    assert_eq!(
        call(&h.app, Some(&off_table)).await.reason(),
        "proof.host_not_allowed"
    );
    h.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(
        call(&h.app, Some(&role_token)).await.reason(),
        "proof.expired"
    );

    let logs = captured.text();
    assert!(
        logs.contains("proof verified by STS"),
        "the capture saw nothing:\n{logs}"
    );
    assert!(
        logs.contains("proof.host_not_allowed"),
        "refusals were not logged:\n{logs}"
    );

    let session_token = role.session_token().unwrap().to_owned();
    let mut secrets = vec![
        ("user token", user_token.clone()),
        ("role token", role_token.clone()),
        ("tampered token", tampered.clone()),
        ("user secret key", user.secret_access_key().to_owned()),
        ("role secret key", role.secret_access_key().to_owned()),
        ("session token", session_token.clone()),
        (
            "session token, URL-encoded",
            param(&url_of(&role_token), "X-Amz-Security-Token"),
        ),
        (
            "user signature",
            param(&url_of(&user_token), "X-Amz-Signature"),
        ),
        (
            "role signature",
            param(&url_of(&role_token), "X-Amz-Signature"),
        ),
    ];
    // A fragment of the session token long enough to be unique.
    secrets.push(("session token prefix", session_token[..24].to_owned()));
    assert_absent(&logs, secrets);
}
