//! The project's Python virtual environment, where the third-party peers live.
//!
//! `scripts/test.sh` creates `.venv/` from `tests/interop/requirements.txt` and exports
//! `IAM_AUTH_PYTHON`. Without it the tests fail (never skip): a peer that is not installed is a
//! broken test set-up, not a reason to pass.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

pub use crate::python_env::interpreter;

/// An executable installed in the virtual environment (`moto_server`, `ministack`, `aws`).
///
/// The interpreter's own directory, not its symlink target: the venv's `bin/` holds the
/// entry points.
pub fn venv_executable(name: &str) -> PathBuf {
    let bin = interpreter()
        .parent()
        .expect("the interpreter lives in a bin/ directory");
    let path = bin.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test.sh to install tests/interop/requirements.txt",
        path.display()
    );
    path
}

/// `tests/interop/py/peers.py`.
fn helper_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/py/peers.py")
}

/// Runs one command of `peers.py`: `request` as JSON on stdin, the JSON answer from stdout.
/// Panics with the script's stderr when it fails.
pub async fn run_helper(request: Value) -> Value {
    let command = request["command"].as_str().unwrap_or("?").to_owned();
    let mut child = tokio::process::Command::new(interpreter())
        .arg(helper_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", interpreter().display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .expect("write the helper's request");
    drop(stdin);
    let output = child.wait_with_output().await.expect("helper runs");
    assert!(
        output.status.success(),
        "peers.py {command} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "peers.py {command} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
