//! The clients that sign proofs: ours (`ProofSigner`) and real third-party ones (botocore, hvac,
//! awscli), and what a test can do to their output (tamper with the signature).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::proof::ProofFormat;

use crate::peers::Identity;
use crate::python::{run_helper, venv_executable};
use crate::support::{mutate, param, set_param};

/// Vault's own audience header (hvac, the Vault CLI), the layer's default.
pub const VAULT_SERVER_ID_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";
/// The audience header of the original Rails/Python design's botocore snippet.
pub const APP_ID_HEADER: &str = "X-APP-ID";

/// Who signs the proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// `ProofSigner`, `iam-v1.` tokens.
    NativeIamV1,
    /// `ProofSigner`, `k8s-aws-v1.` tokens.
    NativeK8sAwsV1,
    /// `aws eks get-token --cluster-name AUDIENCE` (awscli 1.46.3, botocore's presigner).
    AwsEksGetToken,
    /// botocore's request signer on a Vault-format login, audience header `X-APP-ID`.
    BotocoreVault,
    /// hvac's `iam_login` (its own SigV4 code), audience header `X-Vault-AWS-IAM-Server-ID`.
    HvacVault,
}

/// A signed proof, as the client hands it to the service.
#[derive(Clone, Debug)]
pub enum Proof {
    /// `Authorization: Bearer <token>` on `GET /whoami`.
    Bearer(String),
    /// A Vault-format JSON login body for `POST /login`.
    VaultLogin(Value),
}

impl Signer {
    /// Whether it produces Vault-format logins (header-signed POSTs carrying their headers).
    pub fn is_vault(self) -> bool {
        matches!(self, Signer::BotocoreVault | Signer::HvacVault)
    }

    /// The audience header the service must be configured with for this client's proofs.
    pub fn audience_header(self) -> &'static str {
        match self {
            Signer::NativeIamV1 => "x-iam-audience",
            Signer::NativeK8sAwsV1 | Signer::AwsEksGetToken => "x-k8s-aws-id",
            Signer::BotocoreVault => APP_ID_HEADER,
            Signer::HvacVault => VAULT_SERVER_ID_HEADER,
        }
    }

    /// Signs a proof for `audience` with `identity`'s credentials, now or at `signed_at`.
    pub async fn sign(
        self,
        identity: &Identity,
        audience: &str,
        signed_at: Option<SystemTime>,
    ) -> Proof {
        match self {
            Signer::NativeIamV1 => native(identity, audience, signed_at, ProofFormat::IamV1).await,
            Signer::NativeK8sAwsV1 => {
                native(identity, audience, signed_at, ProofFormat::K8sAwsV1).await
            }
            Signer::AwsEksGetToken => match signed_at {
                None => Proof::Bearer(aws_eks_get_token(identity, audience).await),
                // The real `aws` cannot be told another time: the same CLI driver, in-process,
                // with botocore's clock pinned.
                Some(at) => {
                    let answer = run_helper(json!({
                        "command": "eks-token",
                        "credentials": identity.as_json(),
                        "audience": audience,
                        "signed_at": unix_seconds(at),
                    }))
                    .await;
                    Proof::Bearer(answer["token"].as_str().unwrap().to_owned())
                }
            },
            Signer::BotocoreVault | Signer::HvacVault => {
                let command = if self == Signer::BotocoreVault {
                    "vault-botocore"
                } else {
                    "vault-hvac"
                };
                let answer = run_helper(json!({
                    "command": command,
                    "credentials": identity.as_json(),
                    "audience_header": self.audience_header(),
                    "audience": audience,
                    "signed_at": signed_at.map(unix_seconds),
                }))
                .await;
                Proof::VaultLogin(answer["login"].clone())
            }
        }
    }
}

async fn native(
    identity: &Identity,
    audience: &str,
    signed_at: Option<SystemTime>,
    format: ProofFormat,
) -> Proof {
    let mut builder = ProofSigner::builder(identity.credentials.clone())
        .audience(audience)
        .region("us-east-1")
        .format(format);
    if let Some(at) = signed_at {
        builder = builder.clock(move || at);
    }
    let token = builder
        .build()
        .expect("valid signer")
        .sign_new()
        .await
        .expect("signs");
    Proof::Bearer(token.as_str().to_owned())
}

/// Runs the venv's real `aws eks get-token`, with the identity's keys in the environment and
/// every configuration file ignored.
async fn aws_eks_get_token(identity: &Identity, cluster_name: &str) -> String {
    let credentials = &identity.credentials;
    let mut command = tokio::process::Command::new(venv_executable("aws"));
    command
        .args(["eks", "get-token", "--cluster-name", cluster_name])
        .args(["--output", "json"])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .kill_on_drop(true);
    if let Some(token) = credentials.session_token() {
        command.env("AWS_SESSION_TOKEN", token);
    }
    let output = command.output().await.expect("aws runs");
    assert!(
        output.status.success(),
        "aws eks get-token failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("aws prints JSON");
    assert_eq!(answer["kind"], "ExecCredential", "{answer}");
    answer["status"]["token"]
        .as_str()
        .expect("status.token")
        .to_owned()
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The same 64 hex digits with the last one changed.
fn flip_last_hex_digit(signature: &str) -> String {
    let (head, last) = signature.split_at(signature.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

impl Proof {
    /// The same proof with one hex digit of its signature changed.
    pub fn with_tampered_signature(&self) -> Proof {
        match self {
            Proof::Bearer(token) => Proof::Bearer(mutate(token, |url| {
                let signature = param(&url, "X-Amz-Signature");
                set_param(&url, "X-Amz-Signature", &flip_last_hex_digit(&signature))
            })),
            Proof::VaultLogin(login) => {
                let mut login = login.clone();
                let mut headers = vault_headers(&login);
                let authorization = headers
                    .iter_mut()
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                    .map(|(_, value)| value)
                    .expect("an Authorization header");
                let text = header_text(authorization).to_owned();
                let (before, signature) = text.rsplit_once("Signature=").unwrap();
                let tampered = format!("{before}Signature={}", flip_last_hex_digit(signature));
                set_header_text(authorization, tampered);
                let encoded = serde_json::to_string(&Value::Object(headers)).unwrap();
                login["iam_request_headers"] = Value::String(STANDARD.encode(encoded));
                Proof::VaultLogin(login)
            }
        }
    }

    /// The same Vault login with `iam_request_headers` as a JSON object instead of base64 (the
    /// other form Vault's API accepts).
    pub fn with_headers_as_json_object(&self) -> Proof {
        let Proof::VaultLogin(login) = self else {
            panic!("not a Vault login");
        };
        let mut login = login.clone();
        login["iam_request_headers"] = Value::Object(vault_headers(&login));
        Proof::VaultLogin(login)
    }

    /// The signed value of `name` in a Vault login's headers.
    pub fn vault_header(&self, name: &str) -> Option<String> {
        let Proof::VaultLogin(login) = self else {
            return None;
        };
        vault_headers(login)
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| header_text(v).to_owned())
    }
}

/// `iam_request_headers` decoded: base64 of a JSON object (both clients here send that form).
fn vault_headers(login: &Value) -> serde_json::Map<String, Value> {
    let encoded = login["iam_request_headers"]
        .as_str()
        .expect("base64 headers");
    let json = STANDARD.decode(encoded).expect("standard base64");
    serde_json::from_slice(&json).expect("a JSON object")
}

/// A header value: a string (botocore) or a list of one string (hvac, Vault's Go clients).
fn header_text(value: &Value) -> &str {
    match value {
        Value::String(text) => text,
        Value::Array(items) => items[0].as_str().expect("a string"),
        other => panic!("unexpected header value {other}"),
    }
}

fn set_header_text(value: &mut Value, text: String) {
    match value {
        Value::Array(items) => items[0] = Value::String(text),
        other => *other = Value::String(text),
    }
}
