//! The two flows this product started from, run unchanged with their own clients against the
//! example servers started as processes.
//!
//! First flow: a Python client signs STS `GetCallerIdentity` with botocore and an
//! `X-APP-ID: APP1-live` header, base64-encodes all four fields of the Vault-format login body
//! (`tests/interop/py/seed_vault_login.py`), logs in at `exchange_server`'s `POST /token`, and
//! calls `/whoami` with the JWT it got. botocore comes from the project's virtual environment
//! (`scripts/test.sh`); these tests fail, never skip, without it.
#![cfg(feature = "jwt")]

#[path = "support/python_env.rs"]
mod python_env;
mod support;

use std::path::Path;

use aws_credential_types::Credentials;
use serde_json::Value;
use support::ACCOUNT;
use support::examples::{RunningExample, start};
use tower_iam_auth::testing::LocalSts;

const APP_ID: &str = "APP1-live";

fn exchange(sts: &LocalSts) -> RunningExample {
    start(
        "exchange_server",
        &[
            ("IAM_AUTH_AUDIENCE", APP_ID),
            ("IAM_AUTH_VAULT_AUDIENCE_HEADER", "X-APP-ID"),
            ("IAM_AUTH_STS_CONNECT_TO", &sts.connect_to()),
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
        ],
    )
}

/// Runs the seed client with `credentials` in its AWS environment, and nothing else of ours.
async fn vault_login_client(
    server: &RunningExample,
    credentials: &Credentials,
    app_id: &str,
    tamper: bool,
) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/py/seed_vault_login.py");
    // Async: the test's runtime also serves LocalSts.
    let mut command = tokio::process::Command::new(python_env::interpreter());
    command
        .arg(script)
        .args(["--login", &format!("{}/token", server.base)])
        .args(["--api", &format!("{}/whoami", server.base)])
        .args(["--app-id", app_id])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(token) = credentials.session_token() {
        command.env("AWS_SESSION_TOKEN", token);
    }
    if tamper {
        command.arg("--tamper");
    }
    let output = command.output().await.expect("the seed client runs");
    assert!(
        output.status.success(),
        "seed_vault_login.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the seed client prints JSON")
}

#[tokio::test]
async fn vault_login_seed_flow_logs_in_and_calls_the_api_with_the_jwt() {
    let sts = LocalSts::start().await.unwrap();
    let server = exchange(&sts);
    let credentials = sts.assume_role(ACCOUNT, "app1", "seed");

    let answer = vault_login_client(&server, &credentials, APP_ID, false).await;
    assert_eq!(answer["method_field"], "UE9TVA==");
    assert_eq!(answer["login_status"], 200, "{answer}");
    assert_eq!(answer["login"]["token_type"], "Bearer");
    assert_eq!(answer["api_status"], 200, "{answer}");
    assert_eq!(answer["api"]["arn"], "arn:aws:iam::123456789012:role/app1");
    assert_eq!(answer["api"]["session_name"], "seed");
    // The login was replayed once; the API call was the JWT's, verified offline.
    assert_eq!(sts.calls(), 1);
    let replayed = &sts.requests()[0];
    assert_eq!(replayed.method, "POST");
}

#[tokio::test]
async fn vault_login_seed_flow_is_refused_when_tampered() {
    let sts = LocalSts::start().await.unwrap();
    let server = exchange(&sts);
    let credentials = sts.assume_role(ACCOUNT, "app1", "seed");

    let answer = vault_login_client(&server, &credentials, APP_ID, true).await;
    assert_eq!(answer["login_status"], 400, "{answer}");
    assert_eq!(answer["login"]["reason"], "sts.rejected");
    assert!(answer.get("api_status").is_none());
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn vault_login_seed_flow_is_refused_for_another_app_id() {
    let sts = LocalSts::start().await.unwrap();
    let server = exchange(&sts);
    let credentials = sts.assume_role(ACCOUNT, "app1", "seed");

    let answer = vault_login_client(&server, &credentials, "APP2-live", false).await;
    assert_eq!(answer["login_status"], 400, "{answer}");
    assert_eq!(answer["login"]["reason"], "proof.audience_mismatch");
    // Refused before any STS call: the signed X-APP-ID is checked first.
    assert_eq!(sts.calls(), 0);
}
