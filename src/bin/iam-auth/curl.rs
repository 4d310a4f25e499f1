//! `curl`: run curl with a fresh proof, handed over on curl's stdin as a config file (`-K -`)
//! so that it never appears in curl's argv, where any local user could read it.

use std::io::Write;
use std::process::{Command, Stdio};

use tower_iam_auth::proof::ProofFormat;

use crate::token::{sign_failure, signer};
use crate::{Exit, Failure, SignArgs};

#[derive(clap::Args, Debug)]
pub struct CurlArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The curl to run.
    #[arg(long, default_value = "curl", value_name = "PATH")]
    curl_path: std::path::PathBuf,
    /// curl's own arguments, after `--`.
    #[arg(last = true, required = true)]
    args: Vec<String>,
}

pub async fn curl(args: CurlArgs) -> Result<Exit, Failure> {
    // curl's stdin carries the credential: an argument that reads stdin would get nothing.
    if let Some(arg) = args
        .args
        .iter()
        .find(|a| a.as_str() == "-" || a.ends_with("@-"))
    {
        return Err(Failure::new(
            Exit::Usage,
            format!("{arg:?} reads stdin, which carries the credential to curl: use a file"),
        ));
    }
    let signer = signer(&args.sign, ProofFormat::IamV1, None).await?;
    let token = signer.token().await.map_err(sign_failure)?;
    let mut child = Command::new(&args.curl_path)
        .arg("--config")
        .arg("-")
        .args(&args.args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Failure::new(
                Exit::Config,
                format!("cannot run {}: {e}", args.curl_path.display()),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // The token is base64url and dots: nothing to escape inside the quotes.
        let config = format!("header = \"Authorization: Bearer {}\"\n", token.as_str());
        stdin
            .write_all(config.as_bytes())
            .map_err(|e| Failure::new(Exit::Config, format!("cannot talk to curl: {e}")))?;
    }
    let status = child
        .wait()
        .map_err(|e| Failure::new(Exit::Config, format!("curl: {e}")))?;
    // curl's own exit code, as a wrapper should; a signal-killed curl is a failure.
    std::process::exit(status.code().unwrap_or(1));
}
