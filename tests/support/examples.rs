//! Running the examples as black boxes: `cargo run --example NAME` (already built by the test
//! build), configured by environment.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tower_iam_auth::testing::LocalSts;

use super::{ACCOUNT, AUDIENCE};

/// `cargo run --example NAME` with every feature, from the package root.
pub fn example(name: &str) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "run",
        "--quiet",
        "--all-features",
        "--example",
        name,
    ]);
    command
}

/// A running example, killed on drop.
pub struct RunningExample {
    child: Child,
    /// `http://ADDR` of its listener.
    pub base: String,
    /// What it printed on stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl RunningExample {
    /// `GET` of `path`, with `token` as the bearer token if any.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// `POST` of `body` to `path`.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for RunningExample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts example `name` listening on a free port and waits for its "NAME listening on ADDR".
pub fn start(name: &str, envs: &[(&str, &str)]) -> RunningExample {
    let mut command = example(name);
    command
        .env("IAM_AUTH_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("cargo runs the example");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let prefix = format!("{name} listening on ");
    let addr = loop {
        let line = lines
            .next()
            .expect("the example printed its address")
            .unwrap();
        stderr.lock().unwrap().push(line.clone());
        if let Some(rest) = line.strip_prefix(&prefix) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the example never blocks on a full pipe.
    let sink = stderr.clone();
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|l| sink.lock().unwrap().push(l))
    });
    RunningExample {
        child,
        base: format!("http://{addr}"),
        stderr,
    }
}

/// Starts example `name` asking `sts`, for [`AUDIENCE`] and callers of [`ACCOUNT`], with `envs`
/// besides.
pub fn start_with_sts(name: &str, sts: &LocalSts, envs: &[(&str, &str)]) -> RunningExample {
    let connect_to = sts.connect_to();
    let mut all = vec![
        ("IAM_AUTH_AUDIENCE", AUDIENCE),
        ("IAM_AUTH_STS_CONNECT_TO", connect_to.as_str()),
        ("IAM_AUTH_ALLOWED_ACCOUNTS", ACCOUNT),
    ];
    all.extend_from_slice(envs);
    start(name, &all)
}
