//! The two flows this product started from, run unchanged with their own clients against the
//! example servers started as processes.
//!
//! First flow: a Python client signs STS `GetCallerIdentity` with botocore and an
//! `X-APP-ID: APP1-live` header, base64-encodes all four fields of the Vault-format login body
//! (`tests/interop/py/seed_vault_login.py`), logs in at `exchange_server`'s `POST /token`, and
//! calls `/whoami` with the JWT it got. botocore comes from the project's virtual environment
//! (`scripts/test.sh`); these tests fail, never skip, without it.
//!
//! Second flow: a JavaScript client presigns with the AWS SDK's own signer
//! (`tests/interop/js/presign_exchange.mjs`, npm `@smithy/signature-v4`) and exchanges the proof
//! at `exchange_server`, which signs an RS256 JWT with a KMS key (moto's KMS, reached through
//! the AWS SDK's environment: `AWS_ENDPOINT_URL_KMS`); the JWT is verified through the discovery
//! document by go-oidc (`tests/interop/go/verify_oidc`, Debian's packages, GOPATH mode) and by
//! npm `jose` (`tests/interop/js/verify_jose.mjs`). `scripts/test.sh` installs Go, the Go
//! packages and the npm packages (`npm ci`).
#![cfg(feature = "jwt")]

#[cfg(feature = "kms")]
#[path = "jwt_support/moto.rs"]
mod moto;
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

#[cfg(feature = "kms")]
mod kms_flow {
    use std::path::{Path, PathBuf};
    use std::process::Stdio;

    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    use serde_json::Value;
    use tokio::io::AsyncWriteExt;
    use tokio::sync::OnceCell;

    use super::moto::Moto;
    use super::support::ACCOUNT;
    use super::support::examples::{RunningExample, start};
    use tower_iam_auth::testing::LocalSts;

    const PROOF_AUDIENCE: &str = "token-exchange";
    const JWT_AUDIENCE: &str = "orders-api";
    const KEY_ALIAS: &str = "alias/seed-flow";

    fn interop(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop")
            .join(path)
    }

    /// The exchange, signing with the moto KMS key behind [`KEY_ALIAS`].
    async fn kms_exchange(sts: &LocalSts, moto: &Moto) -> RunningExample {
        let key_id = moto
            .create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify)
            .await;
        moto.client()
            .create_alias()
            .alias_name(KEY_ALIAS)
            .target_key_id(key_id)
            .send()
            .await
            .unwrap();
        let server = start(
            "exchange_server",
            &[
                ("IAM_AUTH_AUDIENCE", PROOF_AUDIENCE),
                ("IAM_AUTH_JWT_AUDIENCE", JWT_AUDIENCE),
                ("IAM_AUTH_STS_CONNECT_TO", &sts.connect_to()),
                ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
                ("IAM_AUTH_KMS_KEY_ID", KEY_ALIAS),
                ("AWS_ENDPOINT_URL_KMS", &moto.endpoint),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_CONFIG_FILE", "/dev/null"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        );
        let stderr = server.stderr.lock().unwrap().join("\n");
        assert!(
            stderr.contains(&format!("signing with KMS key {KEY_ALIAS} (RS256")),
            "{stderr}"
        );
        server
    }

    /// Runs `program args` with `stdin`, answering its exit status and its JSON line.
    async fn run(mut command: tokio::process::Command, stdin: &str) -> (bool, Value) {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the peer runs");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = child.wait_with_output().await.unwrap();
        let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON from the peer ({e}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), json)
    }

    /// The JavaScript client: presign with the credentials of `credentials`, exchange.
    async fn js_client(
        server: &RunningExample,
        credentials: &aws_credential_types::Credentials,
        audience: &str,
        tamper: bool,
    ) -> Value {
        let mut command = tokio::process::Command::new("node");
        command
            .arg(interop("js/presign_exchange.mjs"))
            .arg(format!("{}/token", server.base))
            .arg(audience)
            .env_clear()
            .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key());
        if let Some(token) = credentials.session_token() {
            command.env("AWS_SESSION_TOKEN", token);
        }
        if tamper {
            command.arg("--tamper");
        }
        let (ok, answer) = run(command, "").await;
        assert!(ok, "{answer}");
        answer
    }

    /// go-oidc's verifier, built once in GOPATH mode from Debian's packages.
    async fn go_verifier() -> &'static Path {
        static BINARY: OnceCell<PathBuf> = OnceCell::const_new();
        BINARY
            .get_or_init(|| async {
                let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify_oidc");
                let status = tokio::process::Command::new("go")
                    .args(["build", "-o"])
                    .arg(&out)
                    .arg(".")
                    .current_dir(interop("go/verify_oidc"))
                    .env("GO111MODULE", "off")
                    .env("GOPATH", "/usr/share/gocode")
                    .env(
                        "GOCACHE",
                        Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
                    )
                    .status()
                    .await
                    .expect("go runs (scripts/test.sh installs golang-go)");
                assert!(status.success(), "go build of verify_oidc failed");
                out
            })
            .await
    }

    /// Verdicts of go-oidc and jose on `token` for `audience`.
    async fn verify(server: &RunningExample, token: &str, audience: &str) -> [(bool, Value); 2] {
        let mut go = tokio::process::Command::new(go_verifier().await);
        go.arg(&server.base).arg(audience);
        let mut node = tokio::process::Command::new("node");
        node.arg(interop("js/verify_jose.mjs"))
            .arg(&server.base)
            .arg(audience);
        [run(go, token).await, run(node, token).await]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn js_proof_exchanged_for_a_kms_signed_jwt_verifies_in_go_and_node() {
        let sts = LocalSts::start().await.unwrap();
        let moto = Moto::start().await;
        let server = kms_exchange(&sts, &moto).await;
        let credentials = sts.assume_role(ACCOUNT, "orders-reader", "js");

        let answer = js_client(&server, &credentials, PROOF_AUDIENCE, false).await;
        assert_eq!(answer["status"], 200, "{answer}");
        let token = answer["answer"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(sts.calls(), 1);

        for (ok, verdict) in verify(&server, &token, JWT_AUDIENCE).await {
            assert!(ok, "{verdict}");
            assert_eq!(
                verdict["sub"],
                "arn:aws:iam::123456789012:role/orders-reader"
            );
        }

        // One signature character changed: both refuse.
        let (head, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head}.{flipped}{}", &signature[1..]);
        for (ok, verdict) in verify(&server, &tampered, JWT_AUDIENCE).await {
            assert!(!ok, "a tampered JWT verified: {verdict}");
        }
        // A token made for this audience is refused by a service of another audience.
        for (ok, verdict) in verify(&server, &token, "billing-api").await {
            assert!(!ok, "a JWT for another audience verified: {verdict}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn js_proof_tampered_or_for_another_audience_gets_no_jwt() {
        let sts = LocalSts::start().await.unwrap();
        let moto = Moto::start().await;
        let server = kms_exchange(&sts, &moto).await;
        let credentials = sts.assume_role(ACCOUNT, "orders-reader", "js");

        let answer = js_client(&server, &credentials, PROOF_AUDIENCE, true).await;
        assert_eq!(answer["status"], 400, "{answer}");
        assert_eq!(answer["answer"]["reason"], "sts.rejected");
        assert_eq!(sts.calls(), 1);

        // Signed for another audience: the exchange replays its own, so STS refuses it.
        let answer = js_client(&server, &credentials, "billing-exchange", false).await;
        assert_eq!(answer["status"], 400, "{answer}");
        assert_eq!(answer["answer"]["reason"], "sts.rejected");
        assert_eq!(sts.calls(), 2);
    }
}
