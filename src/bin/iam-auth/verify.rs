//! `verify`, `inspect` and `whoami`: a server's view of a token, through the library's own
//! validation (`ProofRules`) and STS replay (`IamAuthLayer::verify_token`).

use std::time::SystemTime;

use clap::ValueEnum;
use serde_json::{Value, json};
use tower_iam_auth::error::{AuthError, ReasonCode};
use tower_iam_auth::policy::{AuthzRequest, Policy};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::sts::Partition;

use crate::decode::{Decoded, decode, read_token};
use crate::token::{sign_failure, signer};
use crate::{Exit, Failure, SignArgs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Report {
    /// Lines for people.
    Text,
    /// One JSON object, for scripts.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The audience the verifying service has (the one the token must have been made for).
    #[arg(long)]
    audience: String,
    /// Only the local checks: do not ask STS.
    #[arg(long)]
    offline: bool,
    /// How to report.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: Report,
    /// An IAM policy file (VPC Lattice grammar): explain its decision for the verified caller.
    #[arg(long, value_name = "FILE")]
    policy: Option<std::path::PathBuf>,
    /// The request method the policy is explained for.
    #[arg(long, default_value = "GET", requires = "policy")]
    method: String,
    /// The request path the policy is explained for.
    #[arg(long, default_value = "/", requires = "policy")]
    path: String,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {}

#[derive(clap::Args, Debug)]
pub struct WhoamiArgs {
    /// The audience to sign and verify for.
    #[arg(long, default_value = "iam-auth-whoami")]
    audience: String,
    /// The signing region (default: the AWS configuration's, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// How to report.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: Report,
}

/// The local checks in the order the library applies them; a refusal names the first that
/// failed, the ones before it passed and the ones after were not reached.
const CHECKS: [&str; 6] = [
    "token",
    "host",
    "parameters",
    "scope",
    "signed headers",
    "age",
];

fn check_of(reason: ReasonCode) -> usize {
    use ReasonCode::*;
    match reason {
        ProofUrlMalformed | ProofSchemeNotHttps | ProofUserinfo | ProofPort | ProofFragment
        | ProofPath | ProofHostNotAllowed => 1,
        ProofParamNotAllowed
        | ProofParamDuplicate
        | ProofParamCaseConflict
        | ProofParamMissing
        | ProofParamEncoding
        | ProofAction
        | ProofVersion => 2,
        ProofAlgorithm
        | ProofCredentialScope
        | ProofScopeDateMismatch
        | ProofScopeRegionMismatch
        | ProofDateMalformed => 3,
        ProofSignedHeaders
        | ProofHostUnsigned
        | ProofAudienceUnsigned
        | ProofSignatureMalformed => 4,
        ProofExpired | ProofNotYetValid | ProofExpiresInvalid => 5,
        _ => 0,
    }
}

/// What each check looked at, from the decoded token.
fn check_detail(
    index: usize,
    token: &str,
    decoded: Option<&Decoded>,
    layer: &IamAuthLayer,
) -> String {
    let rules = layer.config().rules();
    let Some(d) = decoded else {
        return format!("{} bytes, not decodable", token.len());
    };
    let param = |n: &str| d.param(n).unwrap_or("<missing>").to_owned();
    match index {
        0 => format!("{} token, {} bytes", d.format, token.len()),
        1 => format!("host {}", d.host),
        2 => format!(
            "Action={} Version={} ({} parameters)",
            param("Action"),
            param("Version"),
            d.params.len()
        ),
        3 => {
            let scope = param("X-Amz-Credential");
            let mut parts = scope.splitn(2, '/');
            let key = parts.next().unwrap_or("");
            format!(
                "{} key {key}, scope {}",
                param("X-Amz-Algorithm"),
                parts.next().unwrap_or("<none>")
            )
        }
        4 => format!(
            "signed {} (must include host and {})",
            param("X-Amz-SignedHeaders"),
            d.format.audience_header()
        ),
        _ => match d.signed_at() {
            None => format!("X-Amz-Date {}", param("X-Amz-Date")),
            Some(at) => {
                let now = SystemTime::now();
                let when = match now.duration_since(at) {
                    Ok(age) => format!("signed {}s ago", age.as_secs()),
                    Err(ahead) => format!("dated {}s in the future", ahead.duration().as_secs()),
                };
                format!(
                    "{when} by the local clock (window {}s, allowed skew {}s, X-Amz-Expires {})",
                    rules.max_age().as_secs(),
                    rules.max_skew().as_secs(),
                    param("X-Amz-Expires")
                )
            }
        },
    }
}

fn hint(reason: ReasonCode) -> &'static str {
    use ReasonCode::*;
    match reason {
        ProofExpired => {
            "sign a fresh token (a proof lasts at most 15 minutes); if it is fresh, compare the clocks"
        }
        ProofNotYetValid => "the signer's clock runs ahead of this one: sync the clocks",
        ProofHostNotAllowed => {
            "the token names a host that is not an STS endpoint of the allowed partitions"
        }
        ProofAudienceUnsigned => "sign with the audience header (iam-auth token --audience ...)",
        StsRejected => {
            "STS refused the signature: tampered, revoked credentials, or made for another audience"
        }
        StsThrottled | StsUnavailable | StsTimeout | StsRedirect | StsBadResponse => {
            "STS could not answer: retry later"
        }
        ProofFormatNotAccepted | ProofEncoding => {
            "not a proof token: expected iam-v1.… or k8s-aws-v1.…"
        }
        _ => "see the reason code in the README's list of local checks",
    }
}

fn layer(audience: &str, sts: Option<String>) -> Result<IamAuthLayer, Failure> {
    let mut builder = IamAuthConfig::builder()
        .audience(audience)
        .partitions(Partition::ALL)
        .formats(ProofFormat::ALL)
        // A diagnostic tool: it says who the caller is; deciding who may come in is the
        // service's policy (see --policy).
        .allow_any_aws_account();
    if let Some(endpoint) = sts {
        builder = builder.dangerous_sts_connect_to(endpoint);
    }
    let config = builder
        .build()
        .map_err(|e| Failure::new(Exit::Config, format!("bad configuration: {e}")))?;
    Ok(IamAuthLayer::new(config))
}

fn refusal_json(error: &AuthError) -> Value {
    json!({
        "reason": error.reason().as_str(),
        "message": error.message(),
        "hint": hint(error.reason()),
    })
}

fn principal_json(principal: &IamPrincipal) -> Value {
    serde_json::to_value(principal).unwrap_or(Value::Null)
}

pub async fn verify(args: VerifyArgs, sts: Option<String>) -> Result<Exit, Failure> {
    let policy = match &args.policy {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(Exit::Config, format!("cannot read {}: {e}", path.display()))
            })?;
            Some(Policy::from_json(&text).map_err(|e| {
                Failure::new(
                    Exit::Config,
                    format!("policy {} refused: {e}", path.display()),
                )
            })?)
        }
    };
    let method: http::Method = args
        .method
        .parse()
        .map_err(|_| Failure::new(Exit::Usage, format!("bad --method {:?}", args.method)))?;
    let uri: http::Uri = args
        .path
        .parse()
        .map_err(|_| Failure::new(Exit::Usage, format!("bad --path {:?}", args.path)))?;
    let token = read_token()?;
    let layer = layer(&args.audience, sts)?;
    let decoded = decode(&token).ok();
    let local = layer.config().rules().validate(&token, SystemTime::now());
    let failed_at = local.as_ref().err().map(|e| check_of(e.reason()));
    let checks: Vec<Value> = CHECKS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let result = match failed_at {
                Some(f) if i == f => "fail",
                Some(f) if i > f => "not checked",
                _ => "pass",
            };
            json!({"check": name, "result": result, "detail": check_detail(i, &token, decoded.as_ref(), &layer)})
        })
        .collect();

    let mut report = json!({"checks": checks, "sts": "not asked"});
    let mut exit = Exit::Ok;
    let mut principal = None;
    match local {
        Err(error) => {
            report["valid"] = json!(false);
            report["refusal"] = refusal_json(&error);
            exit = Exit::Refused;
        }
        Ok(_) if args.offline => {
            report["valid"] = json!(true);
            report["sts"] = json!("not asked (--offline)");
        }
        Ok(_) => match layer.verify_token(&token).await {
            Ok(p) => {
                report["valid"] = json!(true);
                report["sts"] = json!("accepted");
                report["principal"] = principal_json(&p);
                principal = Some(p);
            }
            Err(error) => {
                exit = Exit::of(&error);
                report["valid"] = json!(false);
                report["sts"] = json!(if exit == Exit::Unavailable {
                    "unavailable"
                } else {
                    "refused"
                });
                report["refusal"] = refusal_json(&error);
            }
        },
    }
    let explanation = policy.map(|policy| {
        let headers = http::HeaderMap::new();
        let request = AuthzRequest::new(&method, &uri, &headers).principal(principal.as_ref());
        policy.explain(&request)
    });
    if let Some(explanation) = &explanation {
        report["policy"] = json!({
            "decision": match &explanation.decision {
                Ok(d) => d.outcome().as_str().to_owned(),
                Err(e) => e.reason().as_str().to_owned(),
            },
            "explanation": explanation.to_string(),
        });
    }
    match args.output {
        Report::Json => println!("{report}"),
        Report::Text => {
            for check in report["checks"].as_array().into_iter().flatten() {
                println!(
                    "{:<15} {:<12} {}",
                    check["check"].as_str().unwrap_or(""),
                    check["result"].as_str().unwrap_or(""),
                    check["detail"].as_str().unwrap_or("")
                );
            }
            println!("{:<15} {}", "sts", report["sts"].as_str().unwrap_or(""));
            if let Some(refusal) = report.get("refusal") {
                println!("refused: {}", refusal["reason"].as_str().unwrap_or(""));
                println!("  {}", refusal["message"].as_str().unwrap_or(""));
                println!("  hint: {}", refusal["hint"].as_str().unwrap_or(""));
            } else if let Some(p) = report.get("principal") {
                println!("valid: {}", p["arn"].as_str().unwrap_or(""));
            } else {
                println!("valid locally");
            }
            if let Some(explanation) = &explanation {
                print!("policy for {method} {uri}: {explanation}");
            }
        }
    }
    Ok(exit)
}

pub fn inspect(_args: InspectArgs) -> Result<Exit, Failure> {
    let token = read_token()?;
    let decoded = decode(&token).map_err(|e| Failure::new(Exit::Refused, e))?;
    println!("{}", decoded.to_json(SystemTime::now()));
    Ok(Exit::Ok)
}

pub async fn whoami(args: WhoamiArgs, sts: Option<String>) -> Result<Exit, Failure> {
    let sign = SignArgs {
        audience: args.audience.clone(),
        format: None,
        region: args.region.clone(),
    };
    let signer = signer(&sign, ProofFormat::IamV1, None).await?;
    let layer = layer(&args.audience, sts)?;
    let token = signer.token().await.map_err(sign_failure)?;
    match layer.verify_token(token.as_str()).await {
        Ok(principal) => {
            match args.output {
                Report::Json => println!("{}", principal_json(&principal)),
                Report::Text => {
                    let p = principal_json(&principal);
                    for (key, value) in p.as_object().into_iter().flatten() {
                        let value = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned);
                        println!("{key:<13} {value}");
                    }
                }
            }
            Ok(Exit::Ok)
        }
        Err(error) => Err(Failure::new(
            Exit::of(&error),
            format!(
                "STS refused: {} ({}); hint: {}",
                error.reason().as_str(),
                error.message(),
                hint(error.reason())
            ),
        )),
    }
}
