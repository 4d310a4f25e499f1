//! The example servers read the `IAM_AUTH_*` admission variables (`examples/common/auth_env.rs`):
//! refusal to start without any, refusal of a policy file that does not load, allowed accounts,
//! a policy file on every method under `/api/`, dry run, anonymous callers, any account, and a
//! token-exchange policy on `tower-iam-auth:TokenAudience`. Black boxes: started as processes.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use support::examples::{RunningExample, example, start};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_iam_auth::testing::LocalSts;

/// An account that no configuration below lets in (except `IAM_AUTH_ALLOW_ANY_ACCOUNT=1`).
const OTHER_ACCOUNT: &str = "210987654321";

/// The admission variables: each process sees only the ones a test sets.
const ADMISSION_VARS: &[&str] = &[
    "IAM_AUTH_ALLOWED_ACCOUNTS",
    "IAM_AUTH_POLICY_FILE",
    "IAM_AUTH_POLICY_PUBLIC_SIDS",
    "IAM_AUTH_POLICY_DRY_RUN",
    "IAM_AUTH_ALLOW_ANY_ACCOUNT",
    "IAM_AUTH_ALLOW_ANONYMOUS",
];

/// Readers may GET under `/api/orders/`, writers may do anything there, and nobody in
/// `ACCOUNT` may DELETE.
const ORDERS_POLICY: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadersRead",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*/api/orders/*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}
        },
        {
            "Sid": "WritersWrite",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/writer"},
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*/api/orders/*"
        },
        {
            "Sid": "NobodyDeletes",
            "Effect": "Deny",
            "Principal": {"AWS": "123456789012"},
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "DELETE"}}
        }
    ]
}"#;

/// A policy file under the temp dir, removed on drop.
struct PolicyFile(PathBuf);

impl PolicyFile {
    fn new(name: &str, json: &str) -> PolicyFile {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "tower-iam-auth-example-policies-{}-{name}-{nanos}.json",
            std::process::id()
        ));
        std::fs::write(&path, json).unwrap();
        PolicyFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PolicyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs example `name` with only `envs` among the admission variables, and waits for it to exit
/// (killing it after a generous deadline, so that a server that starts instead of refusing fails
/// the test rather than hanging it).
fn run_to_exit(name: &str, envs: &[(&str, &str)]) -> Output {
    let mut command = example(name);
    command
        .env("IAM_AUTH_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ADMISSION_VARS {
        command.env_remove(var);
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("cargo runs the example");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    // A build of the example may come first.
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("{name} did not exit ({status}); stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Asserts that the run failed at start with every one of `needles` on stderr.
fn assert_refused(name: &str, output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{name} exited successfully; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains(&format!("{name} listening on")),
        "{name} started listening; stderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{name}: {needle:?} not on stderr:\n{stderr}"
        );
    }
}

/// A proof for `AUDIENCE` from a session of `role` in `account`.
async fn proof(sts: &LocalSts, account: &str, role: &str) -> String {
    token_for(sts.assume_role(account, role, "example-policies")).await
}

/// Sends `method path` with an optional bearer token; the status and the JSON body.
async fn send(
    server: &RunningExample,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let url = format!("{}{path}", server.base);
    let mut request = reqwest::Client::new().request(method, &url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.url().path(),
        path,
        "the client changed the path it sent"
    );
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    (status, json)
}

/// Sends `GET path` exactly as written, over a raw HTTP/1.1 connection; the status and the body.
async fn raw_get(server: &RunningExample, path: &str, bearer: &str) -> (u16, String) {
    let addr = server.base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn stderr_of(server: &RunningExample) -> String {
    server.stderr.lock().unwrap().join("\n")
}

// 1. No admission variable: refusal at start, naming all three.

#[test]
fn whoami_server_without_admission_variables_refuses_to_start_naming_all_three() {
    let output = run_to_exit("whoami_server", &[("IAM_AUTH_AUDIENCE", AUDIENCE)]);
    assert_refused(
        "whoami_server",
        &output,
        &[
            "IAM_AUTH_ALLOWED_ACCOUNTS",
            "IAM_AUTH_POLICY_FILE",
            "IAM_AUTH_ALLOW_ANY_ACCOUNT",
        ],
    );
}

#[cfg(feature = "jwt")]
#[test]
fn exchange_server_without_admission_variables_refuses_to_start_naming_all_three() {
    let output = run_to_exit("exchange_server", &[("IAM_AUTH_AUDIENCE", AUDIENCE)]);
    assert_refused(
        "exchange_server",
        &output,
        &[
            "IAM_AUTH_ALLOWED_ACCOUNTS",
            "IAM_AUTH_POLICY_FILE",
            "IAM_AUTH_ALLOW_ANY_ACCOUNT",
        ],
    );
}

// 2. A policy file that does not load: refusal at start with its code and pointer.

#[test]
fn whoami_server_refuses_a_policy_file_with_a_duplicate_key_naming_code_and_pointer() {
    let file = PolicyFile::new(
        "duplicate",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Effect": "Allow",
            "Principal": "*", "Action": "*", "Resource": "*"}]}"#,
    );
    let output = run_to_exit(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_POLICY_FILE", file.path()),
            // Another admission variable does not make a broken policy acceptable.
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
        ],
    );
    assert_refused(
        "whoami_server",
        &output,
        &["policy.duplicate_key", "/Statement/0/Effect"],
    );
}

#[cfg(feature = "jwt")]
#[test]
fn exchange_server_refuses_a_policy_file_with_an_unpinned_allow_naming_code_and_pointer() {
    let file = PolicyFile::new(
        "unpinned",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Open", "Effect": "Allow",
            "Principal": "*", "Action": "*", "Resource": "*"}]}"#,
    );
    let output = run_to_exit(
        "exchange_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_POLICY_FILE", file.path()),
        ],
    );
    assert_refused(
        "exchange_server",
        &output,
        &["policy.unpinned_allow", "/Statement/0/Principal"],
    );
}

// 3. IAM_AUTH_ALLOWED_ACCOUNTS: every method under /api/ for the account, 403 for another.

#[tokio::test]
async fn whoami_server_with_allowed_accounts_admits_the_account_on_every_method_and_refuses_another()
 {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
        ],
    );
    let ours = proof(&sts, ACCOUNT, "deployer").await;

    let (status, json) = send(&server, Method::GET, "/api/anything/deep", Some(&ours)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        json["arn"], "arn:aws:iam::123456789012:role/deployer",
        "{json}"
    );
    assert_eq!(json["method"], "GET", "{json}");
    assert_eq!(json["path"], "/api/anything/deep", "{json}");

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let (status, json) = send(&server, method.clone(), "/api/orders/7", Some(&ours)).await;
        assert_eq!(status, 200, "{method}: {json}");
        assert_eq!(json["method"], method.as_str(), "{json}");
        assert_eq!(json["path"], "/api/orders/7", "{json}");
        assert_eq!(
            json["arn"], "arn:aws:iam::123456789012:role/deployer",
            "{json}"
        );
    }

    let theirs = proof(&sts, OTHER_ACCOUNT, "deployer").await;
    for path in ["/api/anything/deep", "/whoami"] {
        let (status, json) = send(&server, Method::GET, path, Some(&theirs)).await;
        assert_eq!(status, 403, "{path}: {json}");
        assert_eq!(json["reason"], "policy.denied", "{path}: {json}");
    }
    let (status, json) = send(&server, Method::GET, "/api/anything/deep", None).await;
    assert_eq!(status, 401, "{json}");
}

/// `POST /login` answers who the caller is: a Vault login from an account that the admission
/// variables do not let in must be refused there as everywhere else.
#[tokio::test]
async fn whoami_server_login_refuses_a_vault_login_from_an_account_not_let_in() {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
            ("IAM_AUTH_VAULT_AUDIENCE_HEADER", "X-APP-ID"),
        ],
    );
    let http = reqwest::Client::new();
    let login = |credentials| {
        let body = support::vault::Login::new("X-APP-ID", AUDIENCE).body_json(&credentials);
        http.post(format!("{}/login", server.base))
            .body(serde_json::to_vec(&body).unwrap())
            .send()
    };

    let ours = login(sts.create_user(ACCOUNT, "alice")).await.unwrap();
    assert_eq!(ours.status(), 200);

    let theirs = login(sts.create_user(OTHER_ACCOUNT, "mallory"))
        .await
        .unwrap();
    let status = theirs.status();
    let body = theirs.text().await.unwrap();
    assert_eq!(
        status, 403,
        "a Vault login from {OTHER_ACCOUNT}, which IAM_AUTH_ALLOWED_ACCOUNTS={ACCOUNT} does not let in, was answered: {body}"
    );
    assert!(body.contains("policy.denied"), "{body}");
}

// 4. IAM_AUTH_POLICY_FILE on /api/: per role and method, explicit deny, canonical paths.

#[tokio::test]
async fn whoami_server_enforces_a_policy_file_per_role_and_method_and_refuses_non_canonical_paths()
{
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let file = PolicyFile::new("orders", ORDERS_POLICY);
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_POLICY_FILE", file.path()),
        ],
    );
    let reader = proof(&sts, ACCOUNT, "reader").await;
    let writer = proof(&sts, ACCOUNT, "writer").await;

    let (status, json) = send(&server, Method::GET, "/api/orders/7", Some(&reader)).await;
    assert_eq!(status, 200, "reader GET: {json}");
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:role/reader");
    assert_eq!(json["method"], "GET");

    let (status, json) = send(&server, Method::POST, "/api/orders/7", Some(&reader)).await;
    assert_eq!(status, 403, "reader POST: {json}");
    assert_eq!(json["reason"], "policy.denied", "{json}");

    let (status, json) = send(&server, Method::GET, "/api/invoices/7", Some(&reader)).await;
    assert_eq!(status, 403, "reader GET outside */api/orders/*: {json}");

    let (status, json) = send(&server, Method::POST, "/api/orders/7", Some(&writer)).await;
    assert_eq!(status, 200, "writer POST: {json}");
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:role/writer");
    assert_eq!(json["method"], "POST");

    let (status, json) = send(&server, Method::DELETE, "/api/orders/7", Some(&writer)).await;
    assert_eq!(status, 403, "writer DELETE (explicit deny): {json}");
    assert_eq!(json["reason"], "policy.denied", "{json}");

    let (status, json) = send(&server, Method::GET, "/api/orders/7", None).await;
    assert_eq!(status, 401, "no token: {json}");

    // Paths that a router could read differently from the policy: 400 before any decision.
    let (status, json) = send(&server, Method::GET, "/api//orders/7", Some(&writer)).await;
    assert_eq!(status, 400, "/api//orders/7: {json}");
    assert_eq!(json["reason"], "request.path_not_canonical", "{json}");
    for path in [
        "/api/./orders/7",
        "/api/invoices/../orders/7",
        "/api/%6Frders/7",
    ] {
        let (status, body) = raw_get(&server, path, &writer).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("request.path_not_canonical"),
            "{path}: {body}"
        );
    }
}

// 5. IAM_AUTH_POLICY_DRY_RUN=1: what the policy denies is let through.

#[tokio::test]
async fn whoami_server_in_policy_dry_run_lets_denied_requests_through() {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let file = PolicyFile::new("orders-dry-run", ORDERS_POLICY);
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_POLICY_FILE", file.path()),
            ("IAM_AUTH_POLICY_DRY_RUN", "1"),
        ],
    );
    let reader = proof(&sts, ACCOUNT, "reader").await;
    let writer = proof(&sts, ACCOUNT, "writer").await;

    let (status, json) = send(&server, Method::POST, "/api/orders/7", Some(&reader)).await;
    assert_eq!(status, 200, "reader POST (implicit deny, dry run): {json}");
    assert_eq!(json["arn"], "arn:aws:iam::123456789012:role/reader");
    assert_eq!(json["method"], "POST");

    let (status, json) = send(&server, Method::DELETE, "/api/orders/7", Some(&writer)).await;
    assert_eq!(
        status, 200,
        "writer DELETE (explicit deny, dry run): {json}"
    );

    // Dry run is about the policy, not authentication.
    let (status, json) = send(&server, Method::GET, "/api/orders/7", None).await;
    assert_eq!(status, 401, "no token (dry run): {json}");
}

// 6. IAM_AUTH_ALLOW_ANONYMOUS=1 with a public Sid.

#[tokio::test]
async fn whoami_server_admits_anonymous_callers_where_a_public_sid_allows_them() {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let file = PolicyFile::new(
        "public",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Public", "Effect": "Allow",
            "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/api/public/*"}]}"#,
    );
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_POLICY_FILE", file.path()),
            ("IAM_AUTH_POLICY_PUBLIC_SIDS", "Public"),
            ("IAM_AUTH_ALLOW_ANONYMOUS", "1"),
        ],
    );

    let (status, json) = send(&server, Method::GET, "/api/public/x", None).await;
    assert_eq!(status, 200, "anonymous on /api/public/x: {json}");
    assert!(json.get("arn").is_some_and(|a| a.is_null()), "{json}");
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/api/public/x");

    for path in ["/api/private", "/whoami"] {
        let (status, json) = send(&server, Method::GET, path, None).await;
        assert_eq!(status, 401, "anonymous on {path}: {json}");
    }

    // Principal "*" admits callers with a proof too, on the public paths only.
    let caller = proof(&sts, OTHER_ACCOUNT, "visitor").await;
    let (status, json) = send(&server, Method::GET, "/api/public/x", Some(&caller)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["arn"], "arn:aws:iam::210987654321:role/visitor");
    let (status, json) = send(&server, Method::GET, "/api/private", Some(&caller)).await;
    assert_eq!(status, 403, "{json}");
    assert_eq!(json["reason"], "policy.denied", "{json}");
}

// 7. IAM_AUTH_ALLOW_ANY_ACCOUNT=1: any account, with a warning.

#[tokio::test]
async fn whoami_server_allowing_any_account_admits_another_account_and_warns() {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let server = start(
        "whoami_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_ALLOW_ANY_ACCOUNT", "1"),
        ],
    );
    let stderr = stderr_of(&server);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("WARNING") && l.contains("IAM_AUTH_ALLOW_ANY_ACCOUNT")),
        "no WARNING about IAM_AUTH_ALLOW_ANY_ACCOUNT on stderr:\n{stderr}"
    );

    let theirs = proof(&sts, OTHER_ACCOUNT, "deployer").await;
    let (status, json) = send(&server, Method::DELETE, "/api/anything", Some(&theirs)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["arn"], "arn:aws:iam::210987654321:role/deployer");
    assert_eq!(json["method"], "DELETE");
    let (status, json) = send(&server, Method::GET, "/whoami", Some(&theirs)).await;
    assert_eq!(status, 200, "{json}");

    let (status, json) = send(&server, Method::GET, "/api/anything", None).await;
    assert_eq!(status, 401, "no token: {json}");
}

// 8. exchange_server with a policy on tower-iam-auth:TokenAudience.

#[cfg(feature = "jwt")]
#[tokio::test]
async fn exchange_server_policy_decides_who_obtains_tokens_for_the_audience() {
    let sts = LocalSts::start().await.unwrap();
    let connect_to = sts.connect_to();
    let file = PolicyFile::new(
        "exchange",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "ReadersGetOrdersTokens",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"tower-iam-auth:TokenAudience": "orders-api"}}}]}"#,
    );
    let server = start(
        "exchange_server",
        &[
            ("IAM_AUTH_AUDIENCE", AUDIENCE),
            ("IAM_AUTH_STS_CONNECT_TO", &connect_to),
            ("IAM_AUTH_POLICY_FILE", file.path()),
            ("IAM_AUTH_JWT_AUDIENCE", "orders-api"),
        ],
    );
    let http = reqwest::Client::new();
    let exchange = |proof: String| {
        http.post(format!("{}/token", server.base))
            .bearer_auth(proof)
            .send()
    };

    let reader = proof(&sts, ACCOUNT, "reader").await;
    let answer = exchange(reader).await.unwrap();
    let status = answer.status();
    let json: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(status, 200, "reader: {json}");
    assert_eq!(json["token_type"], "Bearer", "{json}");
    let jwt = json["access_token"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");

    for (account, role) in [(ACCOUNT, "writer"), (OTHER_ACCOUNT, "reader")] {
        let other = proof(&sts, account, role).await;
        let answer = exchange(other).await.unwrap();
        let status = answer.status();
        let json: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 403, "{account} {role}: {json}");
        assert_eq!(json["error"], "access_denied", "{json}");
        assert_eq!(json["reason"], "policy.denied", "{json}");
        assert!(json.get("access_token").is_none(), "{json}");
    }
}
