//! The peers of `scripts/load.sh`, in one process: a `LocalSts` (an STS emulator that verifies
//! SigV4) and a `TokenExchange` in front of it. Writes into the directory given as argument:
//! `sts` (the emulator's `host:port`, for `IAM_AUTH_STS_CONNECT_TO`), `issuer` (the exchange's
//! URL, for `IAM_AUTH_TRUSTED_ISSUER`), `proof` (a proof for audience `load`), `jwt` (a JWT for
//! audience `load`), `fresh.txt` (distinct valid proofs, one per line, each from its own role
//! session) and `policy20.json` (the 20-statement policy of the benches, whose last statement lets
//! the caller's role `bench-load` `GET /ping`), then serves until killed.
//!
//! ```sh
//! cargo run --release --features testing,jwt --example load_fixture -- /tmp/load 20000
//! ```

#[path = "../benches/common/policy20.rs"]
mod policy20;

use std::error::Error;
use std::time::Duration;

use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;
use tower_iam_auth::token::{JwtAlgorithm, KeySet, SigningKey, TokenExchange};

const AUDIENCE: &str = "load";
const EXCHANGE_AUDIENCE: &str = "token-exchange";

async fn proof(credentials: aws_credential_types::Credentials, audience: &str) -> String {
    ProofSigner::builder(credentials)
        .audience(audience)
        .expires_in(Duration::from_secs(900))
        .build()
        .expect("valid signer")
        .sign_new()
        .await
        .expect("signs")
        .as_str()
        .to_owned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: load_fixture DIR [FRESH]")?);
    let fresh: usize = args.next().map_or(Ok(20_000), |n| n.parse())?;
    std::fs::create_dir_all(&dir)?;
    let sts = LocalSts::start().await?;

    let layer = IamAuthLayer::new(
        IamAuthConfig::builder()
            .audience(EXCHANGE_AUDIENCE)
            .allow_any_aws_account()
            .dangerous_sts_connect_to(sts.connect_to())
            .build()?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let keys = KeySet::new(SigningKey::generate(JwtAlgorithm::RS256)?.with_kid("load"));
    let exchange = TokenExchange::builder(layer)
        .allow_any_aws_account()
        .issuer(&issuer)
        .keys(keys)
        .default_audience(AUDIENCE)
        .build()?;
    let router = exchange.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let caller = sts.assume_role("123456789012", "bench-load", "load");
    let exchange_proof = proof(caller.clone(), EXCHANGE_AUDIENCE).await;
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .bearer_auth(&exchange_proof)
        .send()
        .await?;
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
    let jwt = body["access_token"].as_str().ok_or("no access_token")?;

    let mut lines = String::new();
    for i in 0..fresh {
        let credentials = sts.assume_role("123456789012", "bench-load", &format!("s{i}"));
        lines.push_str(&proof(credentials, AUDIENCE).await);
        lines.push('\n');
    }
    std::fs::write(dir.join("fresh.txt"), lines)?;
    std::fs::write(dir.join("proof"), proof(caller, AUDIENCE).await)?;
    std::fs::write(dir.join("jwt"), jwt)?;
    std::fs::write(dir.join("issuer"), &issuer)?;
    std::fs::write(dir.join("policy20.json"), policy20::policy20_json())?;
    // Written last: load.sh waits for it.
    std::fs::write(dir.join("sts"), sts.connect_to())?;
    eprintln!("load_fixture ready in {}", dir.display());
    std::future::pending::<()>().await;
    Ok(())
}
