//! The `iam-auth` binary, run as a user runs it, against `LocalSts`: credentials from the real
//! AWS default chain (environment, profile files, a container-credentials endpoint), each output
//! format accepted where it belongs, `verify` explaining refusals with reason and exit code, and
//! no token on stderr or in any argv.
//!
//! Each run gets a cleared environment, so that nothing of the machine's AWS setup leaks in, and
//! runs in its own process, so that the tests can run in parallel in one test binary.
#![cfg(feature = "cli")]

mod jwt_support;
mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::*;
use tokio::io::AsyncWriteExt;
use tower_iam_auth::proof::{ProofFormat, encode_token};
use tower_iam_auth::testing::Fault;

const BIN: &str = env!("CARGO_BIN_EXE_iam-auth");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A private directory for one test's files (profile files, fake curl).
fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "iam-auth-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The environment of a machine with no AWS setup at all: no credentials anywhere, no instance
/// metadata, home in an empty directory.
fn bare_env() -> Vec<(String, String)> {
    let home = temp_dir();
    vec![
        ("HOME".into(), home.display().to_string()),
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        (
            "AWS_CONFIG_FILE".into(),
            home.join("no-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            home.join("no-credentials").display().to_string(),
        ),
    ]
}

fn credentials_env(credentials: &Credentials) -> Vec<(String, String)> {
    let mut env = bare_env();
    env.push((
        "AWS_ACCESS_KEY_ID".into(),
        credentials.access_key_id().into(),
    ));
    env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        credentials.secret_access_key().into(),
    ));
    if let Some(token) = credentials.session_token() {
        env.push(("AWS_SESSION_TOKEN".into(), token.into()));
    }
    env
}

fn with(mut env: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(n, _)| n != name);
    env.push((name.into(), value.into()));
    env
}

/// Runs the binary; checks that it never writes a token or a signature to stderr.
async fn run(args: &[&str], env: &[(String, String)], stdin: &str) -> Run {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iam-auth runs");
    let mut input = child.stdin.take().unwrap();
    // A command refused for its arguments may exit before it reads its input.
    match input.write_all(stdin.as_bytes()).await {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.unwrap(),
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("iam-auth finishes")
        .unwrap();
    let run = Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for secret in ["iam-v1.", "k8s-aws-v1.", "X-Amz-Signature", "Bearer "] {
        assert!(
            !run.stderr.contains(secret),
            "stderr shows {secret}: {}",
            run.stderr
        );
    }
    run
}

async fn token_with(env: &[(String, String)], extra: &[&str]) -> String {
    let mut args = vec!["token", "--audience", AUDIENCE];
    args.extend_from_slice(extra);
    let run = run(&args, env, "").await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    run.stdout.trim().to_owned()
}

/// A token from `iam-auth token` with IAM user alice's keys in the environment.
async fn alice_token(h: &Harness) -> String {
    token_with(&credentials_env(&h.sts.create_user(ACCOUNT, "alice")), &[]).await
}

fn sts_env(h: &Harness, env: Vec<(String, String)>) -> Vec<(String, String)> {
    with(env, "IAM_AUTH_DANGEROUS_STS_ENDPOINT", &h.sts.connect_to())
}

// --- credentials from the AWS default chain ---

#[tokio::test]
async fn token_signed_with_environment_credentials_is_accepted_by_the_layer() {
    let h = harness().await;
    let token = alice_token(&h).await;
    assert!(token.starts_with("iam-v1."));
    assert_serves(&h.app, &token, "arn:aws:iam::123456789012:user/alice").await;
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn token_signed_with_a_profile_from_the_shared_files_uses_its_region() {
    let h = harness().await;
    let credentials = h.sts.assume_role(ACCOUNT, "deployer", "from-profile");
    let dir = temp_dir();
    let config = dir.join("config");
    let shared = dir.join("credentials");
    std::fs::write(&config, "[profile ci]\nregion = eu-west-1\n").unwrap();
    std::fs::write(
        &shared,
        format!(
            "[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            credentials.access_key_id(),
            credentials.secret_access_key(),
            credentials.session_token().unwrap()
        ),
    )
    .unwrap();
    let env = with(bare_env(), "AWS_CONFIG_FILE", &config.display().to_string());
    let env = with(
        env,
        "AWS_SHARED_CREDENTIALS_FILE",
        &shared.display().to_string(),
    );
    let env = with(env, "AWS_PROFILE", "ci");
    let token = token_with(&env, &["-o", "json"]).await;
    let json: Value = serde_json::from_str(&token).unwrap();
    let token = json["token"].as_str().unwrap();
    let url = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(token.strip_prefix("iam-v1.").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/"),
        "{url}"
    );
    assert_serves(&h.app, token, "arn:aws:iam::123456789012:role/deployer").await;
}

/// A container-credentials endpoint (ECS task roles, EKS Pod Identity), as the SDK calls it:
/// `GET` with the authorization token, JSON credentials back. Counts its requests.
async fn container_endpoint(
    credentials: Credentials,
    auth: &'static str,
) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let expiration = SystemTime::now() + Duration::from_secs(3600);
    let expiration = rfc3339(expiration);
    let app = Router::new().route(
        "/creds",
        get(move |headers: HeaderMap| {
            let credentials = credentials.clone();
            let expiration = expiration.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(auth) {
                    return (StatusCode::UNAUTHORIZED, "{}".to_owned());
                }
                let body = json!({
                    "AccessKeyId": credentials.access_key_id(),
                    "SecretAccessKey": credentials.secret_access_key(),
                    "Token": credentials.session_token(),
                    "Expiration": expiration,
                });
                (StatusCode::OK, body.to_string())
            }
        }),
    );
    let url = format!("http://{}/creds", jwt_support::serve(app).await);
    (url, hits)
}

/// RFC 3339 in whole seconds, as container endpoints write `Expiration`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

#[tokio::test]
async fn token_signed_with_container_endpoint_credentials_is_accepted_by_the_layer() {
    let h = harness().await;
    let credentials = h.sts.assume_role(ACCOUNT, "task-role", "ecs-task");
    let (url, hits) = container_endpoint(credentials, "task-auth-token").await;
    let env = with(bare_env(), "AWS_CONTAINER_CREDENTIALS_FULL_URI", &url);
    let env = with(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-auth-token");
    let token = token_with(&env, &[]).await;
    assert!(hits.load(Ordering::SeqCst) >= 1, "the endpoint was asked");
    assert_serves(&h.app, &token, "arn:aws:iam::123456789012:role/task-role").await;
}

/// An EC2 instance-metadata endpoint speaking IMDSv2: a session token from `PUT`, required on
/// every `GET`; the role name, then its credentials.
async fn imds_endpoint(credentials: Credentials) -> String {
    use axum::routing::put;
    const SESSION: &str = "imds-session-token";
    let expiration = rfc3339(SystemTime::now() + Duration::from_secs(3600));
    let with_session = |headers: &HeaderMap| {
        headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|v| v.to_str().ok())
            == Some(SESSION)
    };
    let creds = move |headers: HeaderMap| {
        let credentials = credentials.clone();
        let expiration = expiration.clone();
        async move {
            if !with_session(&headers) {
                return (StatusCode::UNAUTHORIZED, String::new());
            }
            let body = json!({
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": credentials.access_key_id(),
                "SecretAccessKey": credentials.secret_access_key(),
                "Token": credentials.session_token(),
                "Expiration": expiration,
                "LastUpdated": expiration,
            });
            (StatusCode::OK, body.to_string())
        }
    };
    let app = Router::new()
        .route(
            "/latest/api/token",
            put(|| async { ([("x-aws-ec2-metadata-token-ttl-seconds", "21600")], SESSION) }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(move |headers: HeaderMap| async move {
                if with_session(&headers) {
                    (StatusCode::OK, "instance-role")
                } else {
                    (StatusCode::UNAUTHORIZED, "")
                }
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/instance-role",
            get(creds),
        );
    format!("http://{}", jwt_support::serve(app).await)
}

#[tokio::test]
async fn token_signed_with_instance_metadata_credentials_is_accepted_by_the_layer() {
    let h = harness().await;
    let credentials = h.sts.assume_role(ACCOUNT, "instance-role", "i-0123456789");
    let url = imds_endpoint(credentials).await;
    let env = with(bare_env(), "AWS_EC2_METADATA_DISABLED", "false");
    let env = with(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", &url);
    let env = with(env, "AWS_REGION", "us-east-1");
    let token = token_with(&env, &[]).await;
    assert_serves(
        &h.app,
        &token,
        "arn:aws:iam::123456789012:role/instance-role",
    )
    .await;
}

#[tokio::test]
async fn no_credentials_anywhere_exits_4() {
    let run = run(&["token", "--audience", AUDIENCE], &bare_env(), "").await;
    assert_eq!(run.code, 4, "stderr: {}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("no AWS credentials"), "{}", run.stderr);
}

// --- output formats, each accepted where it belongs ---

#[tokio::test]
async fn header_and_env_outputs_carry_a_token_the_layer_accepts() {
    let h = harness().await;
    let env = credentials_env(&h.sts.create_user(ACCOUNT, "alice"));
    let header = token_with(&env, &["-o", "header"]).await;
    let token = header.strip_prefix("Authorization: Bearer ").unwrap();
    assert_eq!(call(&h.app, Some(token)).await.status, StatusCode::OK);
    let line = token_with(&env, &["-o", "env"]).await;
    let token = line
        .strip_prefix("export IAM_AUTH_TOKEN='")
        .and_then(|t| t.strip_suffix('\''))
        .unwrap();
    assert_eq!(call(&h.app, Some(token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn exec_credential_has_kubectls_shape_and_an_eks_token() {
    let h = harness_with(|b| b.formats([ProofFormat::K8sAwsV1])).await;
    let env = credentials_env(&h.sts.create_user(ACCOUNT, "alice"));
    let out: Value =
        serde_json::from_str(&token_with(&env, &["-o", "exec-credential"]).await).unwrap();
    assert_eq!(out["kind"], "ExecCredential");
    assert_eq!(out["apiVersion"], "client.authentication.k8s.io/v1beta1");
    let token = out["status"]["token"].as_str().unwrap();
    assert!(token.starts_with("k8s-aws-v1."));
    let expiry = out["status"]["expirationTimestamp"].as_str().unwrap();
    assert!(expiry.len() == 20 && expiry.ends_with('Z'), "{expiry}");
    assert_eq!(call(&h.app, Some(token)).await.status, StatusCode::OK);

    let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
    let env = with(env, "KUBERNETES_EXEC_INFO", info);
    let out: Value =
        serde_json::from_str(&token_with(&env, &["-o", "exec-credential"]).await).unwrap();
    assert_eq!(out["apiVersion"], "client.authentication.k8s.io/v1");

    let env = with(
        env,
        "KUBERNETES_EXEC_INFO",
        r#"{"apiVersion":"client.authentication.k8s.io/v9"}"#,
    );
    let run = run(
        &["token", "--audience", AUDIENCE, "-o", "exec-credential"],
        &env,
        "",
    )
    .await;
    assert_eq!(run.code, 4);
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn vault_login_output_is_accepted_by_the_login_path_with_a_custom_header() {
    let h = harness_with(|b| b.vault_audience_header("X-APP-ID")).await;
    let env = credentials_env(&h.sts.assume_role(ACCOUNT, "app", "login"));
    let body = token_with(
        &env,
        &["-o", "vault-login", "--vault-audience-header", "X-APP-ID"],
    )
    .await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["iam_http_request_method"], "POST");
    let principal = h.layer.verify_vault_login(body.as_bytes()).await.unwrap();
    assert_eq!(principal.arn(), "arn:aws:iam::123456789012:role/app");
    assert_eq!(h.sts.calls(), 1);
    assert_eq!(h.sts.requests()[0].header("x-app-id"), Some(AUDIENCE));
}

// --- verify: each check, reason codes, exit codes ---

#[tokio::test]
async fn verify_accepts_a_fresh_token_and_lists_every_check() {
    let h = harness().await;
    let token = alice_token(&h).await;
    let env = sts_env(&h, bare_env());
    let run = run(&["verify", "--audience", AUDIENCE], &env, &token).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for check in [
        "token",
        "host",
        "parameters",
        "scope",
        "signed headers",
        "age",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(check) && l.contains("pass")),
            "{check}: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("host sts.us-east-1.amazonaws.com"));
    assert!(run.stdout.contains("allowed skew 60s"));
    assert!(
        run.stdout
            .contains("valid: arn:aws:iam::123456789012:user/alice")
    );
    assert!(
        !run.stdout.contains(&token),
        "verify does not echo the token"
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn verify_explains_an_expired_token_without_asking_sts() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let token = token_signed_at(credentials, old, ProofFormat::IamV1).await;
    let env = sts_env(&h, bare_env());
    let run = run(
        &["verify", "--audience", AUDIENCE, "-o", "json"],
        &env,
        &token,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["valid"], false);
    assert_eq!(report["refusal"]["reason"], "proof.expired");
    assert!(
        report["refusal"]["message"]
            .as_str()
            .unwrap()
            .contains("old")
    );
    assert_eq!(report["checks"][5]["check"], "age");
    assert_eq!(report["checks"][5]["result"], "fail");
    assert!(
        report["checks"][5]["detail"]
            .as_str()
            .unwrap()
            .contains("ago")
    );
    assert_eq!(report["checks"][4]["result"], "pass");
    assert_eq!(report["sts"], "not asked");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn verify_explains_a_wrong_host_without_asking_sts() {
    let h = harness().await;
    let token = encode_token(
        ProofFormat::IamV1,
        "https://sts.amazonaws.com.evil.example/?Action=GetCallerIdentity&Version=2011-06-15",
    );
    let env = sts_env(&h, bare_env());
    let run = run(&["verify", "--audience", AUDIENCE], &env, &token).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("refused: proof.host_not_allowed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("host") && l.contains("fail")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("age") && l.contains("not checked"))
    );
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn verify_explains_a_tampered_token_refused_by_sts() {
    let h = harness().await;
    let token = alice_token(&h).await;
    // Change one hex digit of the signature: every local check still passes.
    let url =
        String::from_utf8(URL_SAFE_NO_PAD.decode(&token["iam-v1.".len()..]).unwrap()).unwrap();
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &url[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &url[..at], &url[at + 1..]);
    let token = encode_token(ProofFormat::IamV1, &tampered);
    let env = sts_env(&h, bare_env());
    let run = run(
        &["verify", "--audience", AUDIENCE, "-o", "json"],
        &env,
        &token,
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["refusal"]["reason"], "sts.rejected");
    assert_eq!(report["sts"], "refused");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["result"] == "pass")
    );
    assert_eq!(h.sts.calls(), 1);
}

#[tokio::test]
async fn verify_offline_does_not_ask_sts() {
    let h = harness().await;
    let token = alice_token(&h).await;
    let run = run(
        &["verify", "--audience", AUDIENCE, "--offline"],
        &sts_env(&h, bare_env()),
        &token,
    )
    .await;
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("not asked (--offline)"));
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn verify_says_sts_is_unavailable_with_exit_3() {
    let h = harness().await;
    let token = alice_token(&h).await;
    h.sts.set_fault(Some(Fault::ServerError));
    let run = run(
        &["verify", "--audience", AUDIENCE, "-o", "json"],
        &sts_env(&h, bare_env()),
        &token,
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(run.json()["refusal"]["reason"], "sts.unavailable");
}

#[tokio::test]
async fn verify_without_a_token_or_audience_is_a_usage_error() {
    let run1 = run(
        &["verify", "--audience", AUDIENCE, "--offline"],
        &bare_env(),
        "",
    )
    .await;
    assert_eq!(run1.code, 2);
    assert!(run1.stderr.contains("no token on stdin"));
    let run2 = run(&["verify", "--offline"], &bare_env(), "iam-v1.x").await;
    assert_eq!(run2.code, 2);
    // A token is never an argument.
    let run3 = run(
        &["verify", "--audience", AUDIENCE, "--token", "iam-v1.x"],
        &bare_env(),
        "",
    )
    .await;
    assert_eq!(run3.code, 2);
}

#[tokio::test]
async fn verify_explains_a_policy_decision_for_the_caller() {
    let h = harness().await;
    let token = alice_token(&h).await;
    let dir = temp_dir();
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AliceReads","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},
            "Action":"vpc-lattice-svcs:Invoke","Resource":"*/orders",
            "Condition":{"StringEquals":{"vpc-lattice-svcs:RequestMethod":"GET"}}}]}"#,
    )
    .unwrap();
    let policy = policy.display().to_string();
    let env = sts_env(&h, bare_env());
    let args = |method: &'static str| {
        vec![
            "verify",
            "--audience",
            AUDIENCE,
            "-o",
            "json",
            "--policy",
            &policy,
            "--method",
            method,
            "--path",
            "/orders",
        ]
    };
    let allowed = run(&args("GET"), &env, &token).await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(allowed.json()["policy"]["decision"], "allow");
    let denied = run(&args("DELETE"), &env, &token).await;
    let report = denied.json();
    assert_ne!(report["policy"]["decision"], "allow");
    assert!(
        report["policy"]["explanation"]
            .as_str()
            .unwrap()
            .contains("AliceReads"),
        "{report}"
    );
}

// --- inspect, whoami ---

#[tokio::test]
async fn inspect_decodes_without_network_or_secrets() {
    let h = harness().await;
    let env = credentials_env(&h.sts.assume_role(ACCOUNT, "deployer", "s1"));
    let token = token_with(&env, &[]).await;
    let run = run(&["inspect"], &bare_env(), &token).await;
    assert_eq!(run.code, 0);
    let out = run.json();
    assert_eq!(out["host"], "sts.us-east-1.amazonaws.com");
    assert_eq!(out["scope_region"], "us-east-1");
    assert_eq!(out["signed_headers"], json!(["host", "x-iam-audience"]));
    assert_eq!(out["signature"], true);
    assert_eq!(out["session_token"], true);
    let url =
        String::from_utf8(URL_SAFE_NO_PAD.decode(&token["iam-v1.".len()..]).unwrap()).unwrap();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    assert!(
        !run.stdout.contains(&signature[..64]),
        "no signature in the output"
    );
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn whoami_prints_the_principal_as_a_server_sees_it() {
    let h = harness().await;
    let env = sts_env(
        &h,
        credentials_env(&h.sts.assume_role(ACCOUNT, "deployer", "s1")),
    );
    let run = run(&["whoami", "-o", "json"], &env, "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    assert_eq!(out["arn"], "arn:aws:iam::123456789012:role/deployer");
    assert_eq!(out["session_name"], "s1");
    assert_eq!(h.sts.calls(), 1);
}

// --- curl: the token on curl's stdin, never in its argv ---

#[tokio::test]
async fn curl_gets_the_token_on_stdin_and_never_in_argv() {
    let h = harness().await;
    let env = credentials_env(&h.sts.create_user(ACCOUNT, "alice"));
    let dir = temp_dir();
    let fake = dir.join("fake-curl");
    let record = dir.join("record");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ntr '\\0' ' ' < /proc/$$/cmdline > {r}.cmdline\ncat > {r}.stdin\nexit 7\n",
            r = record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o700)).unwrap();
    let fake = fake.display().to_string();
    let run = run(
        &[
            "curl",
            "--audience",
            AUDIENCE,
            "--curl-path",
            &fake,
            "--",
            "-sS",
            "https://orders.example.com/x",
        ],
        &env,
        "",
    )
    .await;
    assert_eq!(run.code, 7, "curl's exit code is passed on: {}", run.stderr);
    let cmdline = std::fs::read_to_string(format!("{}.cmdline", record.display())).unwrap();
    let stdin = std::fs::read_to_string(format!("{}.stdin", record.display())).unwrap();
    assert!(
        cmdline.contains("--config - -sS https://orders.example.com/x"),
        "{cmdline}"
    );
    assert!(
        !cmdline.contains("iam-v1.") && !cmdline.contains("Bearer"),
        "{cmdline}"
    );
    let token = stdin
        .strip_prefix("header = \"Authorization: Bearer ")
        .and_then(|s| s.strip_suffix("\"\n"))
        .unwrap_or_else(|| panic!("{stdin}"));
    assert_eq!(call(&h.app, Some(token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn real_curl_reaches_a_protected_service() {
    let h = harness().await;
    let env = credentials_env(&h.sts.create_user(ACCOUNT, "alice"));
    let url = format!("http://{}/whoami", jwt_support::serve(h.app.clone()).await);
    let run = run(
        &["curl", "--audience", AUDIENCE, "--", "-sS", "--fail", &url],
        &env,
        "",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["arn"], "arn:aws:iam::123456789012:user/alice");
}

#[tokio::test]
async fn curl_arguments_that_read_stdin_are_refused() {
    let run = run(
        &[
            "curl",
            "--audience",
            AUDIENCE,
            "--",
            "-d",
            "@-",
            "https://x.example",
        ],
        &bare_env(),
        "",
    )
    .await;
    assert_eq!(run.code, 2);
}

// --- exchange ---

#[tokio::test]
async fn exchange_trades_a_proof_for_the_exchanges_jwt() {
    use jwt_support::{JWT_AUDIENCE, PROOF_AUDIENCE, ROLE_ARN, ServedExchange};
    use tower_iam_auth::token::{JwtAlgorithm, KeySet, SigningKey};
    let served = ServedExchange::start(KeySet::new(
        SigningKey::generate(JwtAlgorithm::RS256).unwrap(),
    ))
    .await;
    let env = credentials_env(&served.sts.assume_role(ACCOUNT, "orders-reader", "cli"));
    let url = format!("{}/token", served.base);
    let run1 = run(
        &[
            "exchange",
            "--audience",
            PROOF_AUDIENCE,
            "--url",
            &url,
            "-o",
            "json",
        ],
        &env,
        "",
    )
    .await;
    assert_eq!(run1.code, 0, "{}", run1.stderr);
    let jwt = run1.json()["access_token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], ROLE_ARN);
    assert_eq!(claims["aud"], JWT_AUDIENCE);
    assert_eq!(served.token_requests(), 1);

    // A proof for another audience: the exchange refuses, and the exit code says so.
    let run2 = run(
        &["exchange", "--audience", "another-service", "--url", &url],
        &env,
        "",
    )
    .await;
    assert_eq!(run2.code, 1, "{}", run2.stderr);
    assert!(run2.stdout.is_empty());
    assert!(run2.stderr.contains("refused"), "{}", run2.stderr);
}

#[tokio::test]
async fn exchange_refuses_a_plain_http_url_to_a_remote_host() {
    let h = harness().await;
    let env = credentials_env(&h.sts.create_user(ACCOUNT, "alice"));
    let run = run(
        &[
            "exchange",
            "--audience",
            AUDIENCE,
            "--url",
            "http://auth.example.com/token",
        ],
        &env,
        "",
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
}
