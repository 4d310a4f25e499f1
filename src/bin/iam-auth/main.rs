//! `iam-auth`: sign, inspect and verify AWS IAM proofs from the command line.
//!
//! Tokens are read from standard input and written to standard output only: never taken as an
//! argument (where `ps` and shell history would keep them), never written to standard error.
//! Exit codes: 0 valid or done, 1 refused, 2 usage, 3 temporarily unavailable, 4 no credentials
//! or bad configuration.

mod curl;
mod decode;
mod token;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tower_iam_auth::error::AuthError;
use tower_iam_auth::proof::ProofFormat;

/// The exit codes, one per kind of outcome, so that scripts can tell a refusal from an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Refused = 1,
    Usage = 2,
    Unavailable = 3,
    Config = 4,
}

impl Exit {
    /// A refusal by the verifying side: 503-class reasons are outages, the rest refusals.
    pub fn of(error: &AuthError) -> Exit {
        if error.status() == http::StatusCode::SERVICE_UNAVAILABLE {
            Exit::Unavailable
        } else {
            Exit::Refused
        }
    }
}

/// A failed command: what to say on stderr (never a token) and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "iam-auth",
    version,
    about = "Sign, inspect and verify AWS IAM identity proofs"
)]
struct Cli {
    /// TESTING ONLY: send STS calls over plain HTTP to this host:port (an emulator), whatever
    /// host a proof names.
    #[arg(
        long,
        global = true,
        env = "IAM_AUTH_DANGEROUS_STS_ENDPOINT",
        value_name = "HOST:PORT"
    )]
    dangerous_sts_endpoint: Option<String>,

    #[command(subcommand)]
    command: Command,
}

/// The token wire formats, as named in configuration.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    #[value(name = "iam-v1")]
    IamV1,
    #[value(name = "k8s-aws-v1")]
    K8sAwsV1,
}

impl From<FormatArg> for ProofFormat {
    fn from(f: FormatArg) -> ProofFormat {
        match f {
            FormatArg::IamV1 => ProofFormat::IamV1,
            FormatArg::K8sAwsV1 => ProofFormat::K8sAwsV1,
        }
    }
}

/// How a signer is set up: the AWS default chain, plus these.
#[derive(clap::Args, Debug, Clone)]
pub struct SignArgs {
    /// The audience of the service the token is for (the cluster name for EKS).
    #[arg(long)]
    audience: String,
    /// The token format; default iam-v1 (k8s-aws-v1 for `-o exec-credential`).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The signing region (default: the AWS configuration's, else us-east-1).
    #[arg(long)]
    region: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign a proof with the AWS default credentials chain and print it.
    Token(token::TokenArgs),
    /// Check a token (read from stdin) as a server would: each local check, then STS.
    Verify(verify::VerifyArgs),
    /// Decode a token (read from stdin) without checking it or using the network.
    Inspect(verify::InspectArgs),
    /// Sign with your own credentials, verify through STS, print the principal a server sees.
    Whoami(verify::WhoamiArgs),
    /// Trade a proof for a JWT at a token-exchange URL and print the JWT.
    Exchange(token::ExchangeArgs),
    /// Run curl with a fresh proof in `Authorization`, passed on curl's stdin, not its argv.
    Curl(curl::CurlArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { Exit::Usage as u8 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("iam-auth: cannot start: {e}");
            return ExitCode::from(Exit::Config as u8);
        }
    };
    let sts = cli.dangerous_sts_endpoint;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Token(args) => token::token(args).await,
            Command::Verify(args) => verify::verify(args, sts).await,
            Command::Inspect(args) => verify::inspect(args),
            Command::Whoami(args) => verify::whoami(args, sts).await,
            Command::Exchange(args) => token::exchange(args).await,
            Command::Curl(args) => curl::curl(args).await,
        }
    });
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(failure) => {
            eprintln!("iam-auth: {}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}
