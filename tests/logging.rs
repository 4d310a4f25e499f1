//! Tokens, signatures, session tokens and secrets never appear in logs, at any level.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use support::*;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_material_reaches_the_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
    for (what, secret) in secrets {
        let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(&secret)).collect();
        assert!(
            leaks.is_empty(),
            "{what} appears in the logs:\n{}",
            leaks.join("\n")
        );
    }
}
