//! The other side of `scripts/soak.sh`: a `LocalSts` that stays up for `whoami_server` to call,
//! and files of bearer tokens of every class the soak sends, one per line.
//!
//! ```sh
//! cargo run --release --features testing --example soak_fixture -- OUT_DIR AUDIENCE FRESH_COUNT
//! ```
//!
//! Writes into `OUT_DIR`: `cached` (a few valid tokens sent again and again: cache hits),
//! `fresh` (`FRESH_COUNT` distinct valid proofs: cache misses, each an STS call while it is not
//! cached), `expired` (signed 20 minutes ago), `wrong_audience` (signed for another audience, so
//! STS refuses the replay), `other_account` (valid, of an account the server does not let in) and
//! `jwt` (well-formed JWTs, which a proof-only server does not take). Prints
//! `soak_fixture listening on ADDR` (the emulator) once the files are written, then serves
//! until killed.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::testing::LocalSts;

const ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNT: &str = "210987654321";

async fn sign(credentials: &Credentials, audience: &str, at: SystemTime) -> String {
    ProofSigner::builder(credentials.clone())
        .audience(audience)
        .region("us-east-1")
        .clock(move || at)
        .build()
        .expect("a valid signer")
        .sign_new()
        .await
        .expect("signs")
        .as_str()
        .to_owned()
}

fn write(dir: &std::path::Path, name: &str, tokens: &[String]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
    for token in tokens {
        writeln!(file, "{token}")?;
    }
    file.flush()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(audience), Some(fresh)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: soak_fixture OUT_DIR AUDIENCE FRESH_COUNT".into());
    };
    let dir = PathBuf::from(dir);
    let fresh: usize = fresh.parse()?;
    std::fs::create_dir_all(&dir)?;

    let sts = LocalSts::start().await?;
    let now = SystemTime::now();
    let alice = sts.create_user(ACCOUNT, "alice");
    let reader = sts.assume_role(ACCOUNT, "orders-reader", "soak");

    let cached = vec![
        sign(&alice, &audience, now).await,
        sign(&reader, &audience, now).await,
    ];
    // Distinct proofs: 40 role sessions, each signing at distinct past seconds (all well inside
    // the 15-minute window for a one-minute soak).
    let sessions: Vec<Credentials> = (0..40)
        .map(|i| sts.assume_role(ACCOUNT, "orders-writer", &format!("soak-{i}")))
        .collect();
    let mut fresh_tokens = Vec::with_capacity(fresh);
    for i in 0..fresh {
        let at = now - Duration::from_secs(1 + (i / sessions.len()) as u64 % 240);
        fresh_tokens.push(sign(&sessions[i % sessions.len()], &audience, at).await);
    }
    fresh_tokens.sort();
    fresh_tokens.dedup();
    let expired = vec![
        sign(&alice, &audience, now - Duration::from_secs(20 * 60)).await,
        sign(&reader, &audience, now - Duration::from_secs(30 * 60)).await,
    ];
    let wrong_audience = vec![
        sign(&alice, "another-service", now).await,
        sign(&reader, "another-service", now).await,
    ];
    let stranger = sts.create_user(OTHER_ACCOUNT, "mallory");
    let other_account = vec![sign(&stranger, &audience, now).await];
    let jwt_part = |json: &str| URL_SAFE_NO_PAD.encode(json);
    let jwt = vec![format!(
        "{}.{}.{}",
        jwt_part(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#),
        jwt_part(&format!(
            r#"{{"iss":"https://issuer.example","sub":"arn:aws:iam::{ACCOUNT}:role/r","aud":"{audience}","exp":4102444800}}"#
        )),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    )];

    write(&dir, "cached", &cached)?;
    write(&dir, "fresh", &fresh_tokens)?;
    write(&dir, "expired", &expired)?;
    write(&dir, "wrong_audience", &wrong_audience)?;
    write(&dir, "other_account", &other_account)?;
    write(&dir, "jwt", &jwt)?;
    eprintln!(
        "soak_fixture wrote {} fresh tokens to {}",
        fresh_tokens.len(),
        dir.display()
    );
    eprintln!("soak_fixture listening on {}", sts.connect_to());
    std::future::pending::<()>().await;
    Ok(())
}
