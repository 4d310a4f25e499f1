//! `token` and `exchange`: sign with the AWS default chain and print a credential.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use clap::ValueEnum;
use serde_json::json;
use tower_iam_auth::client::{
    ExchangeTokenSource, ProofSigner, SignError, SignerConfigError, TokenSourceConfigError,
    TokenSourceError,
};
use tower_iam_auth::proof::ProofFormat;

use crate::{Exit, Failure, SignArgs};

/// The apiVersion kubectl gets when it does not say which it wants.
const DEFAULT_EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";
const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TokenOutput {
    /// The token alone.
    Raw,
    /// `Authorization: Bearer <token>`.
    Header,
    /// `{"token", "format", "audience", "signed_at", "expires_at"}`.
    Json,
    /// A Kubernetes ExecCredential, for kubectl's exec plugins (like `aws eks get-token`).
    ExecCredential,
    /// A Vault-format login body (for `POST /login` or Vault's `auth/aws/login`).
    VaultLogin,
    /// `export IAM_AUTH_TOKEN=...` for a shell's `eval`.
    Env,
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// What to print.
    #[arg(short = 'o', long = "output", value_enum, default_value = "raw")]
    output: TokenOutput,
    /// The audience header of `-o vault-login`.
    #[arg(long, default_value = "X-Vault-AWS-IAM-Server-ID")]
    vault_audience_header: String,
}

#[derive(clap::Args, Debug)]
pub struct ExchangeArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The exchange's token endpoint, e.g. `https://auth.example.com/token` (http on loopback only).
    #[arg(long)]
    url: String,
    /// The audience of the requested JWT (default: the exchange's).
    #[arg(long)]
    token_audience: Option<String>,
    /// What to print: the JWT alone, or JSON with its expiry.
    #[arg(short = 'o', long = "output", value_enum, default_value = "raw")]
    output: ExchangeOutput,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExchangeOutput {
    /// The JWT alone.
    Raw,
    /// `{"access_token", "expires_at"}`.
    Json,
}

/// A signer from the AWS default chain and `args`.
pub async fn signer(
    args: &SignArgs,
    default_format: ProofFormat,
    vault_header: Option<&str>,
) -> Result<ProofSigner, Failure> {
    let mut builder = ProofSigner::from_env()
        .await
        .audience(&args.audience)
        .format(args.format.map_or(default_format, Into::into));
    if let Some(region) = &args.region {
        builder = builder.region(region);
    }
    if let Some(header) = vault_header {
        builder = builder.vault_audience_header(header);
    }
    builder.build().map_err(|e: SignerConfigError| {
        Failure::new(Exit::Config, format!("bad configuration: {e}"))
    })
}

pub fn sign_failure(error: SignError) -> Failure {
    match error {
        SignError::Credentials(e) => Failure::new(
            Exit::Config,
            format!(
                "no AWS credentials: {e} (the default chain: environment, profile files, SSO, container and instance endpoints)"
            ),
        ),
        other => Failure::new(Exit::Config, other.to_string()),
    }
}

/// RFC 3339 in whole seconds, as Kubernetes and JSON consumers expect.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

fn exec_api_version() -> Result<String, Failure> {
    let Ok(info) = std::env::var("KUBERNETES_EXEC_INFO") else {
        return Ok(DEFAULT_EXEC_API_VERSION.to_owned());
    };
    let info: serde_json::Value = serde_json::from_str(&info).map_err(|e| {
        Failure::new(
            Exit::Config,
            format!("KUBERNETES_EXEC_INFO is not JSON: {e}"),
        )
    })?;
    match info["apiVersion"].as_str() {
        None => Ok(DEFAULT_EXEC_API_VERSION.to_owned()),
        Some(v) if EXEC_API_VERSIONS.contains(&v) => Ok(v.to_owned()),
        Some(v) => Err(Failure::new(
            Exit::Config,
            format!(
                "KUBERNETES_EXEC_INFO asks for apiVersion {v:?}; supported: {EXEC_API_VERSIONS:?}"
            ),
        )),
    }
}

pub async fn token(args: TokenArgs) -> Result<Exit, Failure> {
    let default_format = if args.output == TokenOutput::ExecCredential {
        ProofFormat::K8sAwsV1
    } else {
        ProofFormat::IamV1
    };
    let vault_header =
        (args.output == TokenOutput::VaultLogin).then_some(args.vault_audience_header.as_str());
    // Settle everything that can fail without credentials first.
    let api_version = match args.output {
        TokenOutput::ExecCredential => Some(exec_api_version()?),
        _ => None,
    };
    let signer = signer(&args.sign, default_format, vault_header).await?;
    if args.output == TokenOutput::VaultLogin {
        let login = signer.sign_vault_login().await.map_err(sign_failure)?;
        println!("{}", login.to_json());
        return Ok(Exit::Ok);
    }
    let token = signer.token().await.map_err(sign_failure)?;
    let text = token.as_str();
    match args.output {
        TokenOutput::Raw => println!("{text}"),
        TokenOutput::Header => println!("Authorization: Bearer {text}"),
        TokenOutput::Env => println!("export IAM_AUTH_TOKEN='{text}'"),
        TokenOutput::Json => println!(
            "{}",
            json!({
                "token": text,
                "format": token.format().as_str(),
                "audience": signer.audience(),
                "signed_at": rfc3339(token.signed_at()),
                "expires_at": rfc3339(token.expires_at()),
            })
        ),
        TokenOutput::ExecCredential => {
            // kubectl reuses the credential until this time: a minute before the window closes.
            let until = token
                .expires_at()
                .checked_sub(std::time::Duration::from_secs(60))
                .unwrap_or(token.signed_at());
            println!(
                "{}",
                json!({
                    "kind": "ExecCredential",
                    "apiVersion": api_version,
                    "spec": {},
                    "status": {
                        "expirationTimestamp": rfc3339(until),
                        "token": text,
                    },
                })
            );
        }
        TokenOutput::VaultLogin => unreachable!("handled above"),
    }
    Ok(Exit::Ok)
}

pub async fn exchange(args: ExchangeArgs) -> Result<Exit, Failure> {
    let signer = signer(&args.sign, ProofFormat::IamV1, None).await?;
    let mut builder = ExchangeTokenSource::builder(signer, &args.url);
    if let Some(audience) = &args.token_audience {
        builder = builder.audience(audience);
    }
    let source = builder.build().map_err(|e: TokenSourceConfigError| {
        Failure::new(Exit::Config, format!("bad configuration: {e}"))
    })?;
    let token = source.exchange().await.map_err(|e| match e {
        TokenSourceError::Proof(e) => sign_failure(e),
        TokenSourceError::Refused { status, .. } if status == 503 || status == 429 => {
            Failure::new(Exit::Unavailable, e.to_string())
        }
        TokenSourceError::Refused { .. } => Failure::new(Exit::Refused, e.to_string()),
        TokenSourceError::Http(_) => Failure::new(Exit::Unavailable, e.to_string()),
        other => Failure::new(Exit::Refused, other.to_string()),
    })?;
    match args.output {
        ExchangeOutput::Raw => println!("{}", token.as_str()),
        ExchangeOutput::Json => println!(
            "{}",
            json!({"access_token": token.as_str(), "expires_at": rfc3339(token.expires_at())})
        ),
    }
    Ok(Exit::Ok)
}
