//! The whole flow in one process: a local STS emulator, a protected axum service, and a client
//! that signs its requests with `IamProofLayer`.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::error::Error;

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_iam_auth::client::{IamProofLayer, ProofSigner};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;

const AUDIENCE: &str = "orders-service";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    // 1. An STS emulator that really checks SigV4, with one role session in it.
    let sts = LocalSts::start().await?;
    let credentials = sts.assume_role("123456789012", "orders-reader", "quickstart");
    println!(
        "LocalSts listening on {} (stands in for sts.us-east-1.amazonaws.com)",
        sts.connect_to()
    );

    // 2. The protected service. Handlers take the verified caller as an argument.
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allowed_accounts(["123456789012"]) // who may come in (or .policy(..))
        .dangerous_sts_connect_to(sts.connect_to()) // only because STS is an emulator here
        .build()?;
    let app = Router::new()
        .route(
            "/whoami",
            get(|principal: IamPrincipal| async move { Json(principal) }),
        )
        .layer(IamAuthLayer::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("service listening on {base}");

    // 3. The client: an HTTP client with IamProofLayer, which signs GetCallerIdentity with the
    //    role's credentials and sends it as `Authorization: Bearer iam-v1.…`.
    let signer = ProofSigner::builder(credentials)
        .audience(AUDIENCE)
        .region("us-east-1")
        .build()?;
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut client = ServiceBuilder::new()
        // The proof goes to this service's origin only, never to another host or a redirect.
        .layer(
            IamProofLayer::builder(signer.clone())
                .origin(&base)
                .build()?,
        )
        .service(http);

    let (status, body) = get_json(&mut client, &format!("{base}/whoami")).await?;
    check(
        status == StatusCode::OK,
        format!("first call answered {status}: {body}"),
    )?;
    println!("\nfirst call:  {status}, the service saw {}", body["arn"]);
    println!(
        "             raw ARN {}, session {}, principal id {}",
        body["raw_arn"], body["session_name"], body["principal_id"]
    );
    check(
        body["arn"] == "arn:aws:iam::123456789012:role/orders-reader",
        "unexpected principal".into(),
    )?;
    check(
        sts.calls() == 1,
        format!("expected 1 STS call, saw {}", sts.calls()),
    )?;

    let (status, _) = get_json(&mut client, &format!("{base}/whoami")).await?;
    check(
        status == StatusCode::OK,
        format!("second call answered {status}"),
    )?;
    check(
        sts.calls() == 1,
        format!("second call reached STS ({} calls)", sts.calls()),
    )?;
    println!(
        "second call: {status}, served from the cache (STS calls so far: {})",
        sts.calls()
    );

    // 4. A forged token: the real one with its signature replaced.
    let token = signer.token().await?;
    let forged = forge(token.as_str());
    let request = Request::get(format!("{base}/whoami"))
        .header("authorization", format!("Bearer {forged}"))
        .body(Empty::<Bytes>::new())?;
    let response = Client::builder(TokioExecutor::new())
        .build_http()
        .request(request)
        .await?;
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    check(
        status == StatusCode::UNAUTHORIZED,
        format!("forged token answered {status}"),
    )?;
    println!("forged token: {status}, reason {}", body["reason"]);

    // 5. A valid proof from an account the service does not admit: authenticated, not allowed.
    let stranger = ProofSigner::builder(sts.assume_role("210987654321", "orders-reader", "other"))
        .audience(AUDIENCE)
        .region("us-east-1")
        .build()?;
    let request = Request::get(format!("{base}/whoami"))
        .header(
            "authorization",
            format!("Bearer {}", stranger.token().await?.as_str()),
        )
        .body(Empty::<Bytes>::new())?;
    let response = Client::builder(TokioExecutor::new())
        .build_http()
        .request(request)
        .await?;
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    check(
        status == StatusCode::FORBIDDEN && body["reason"] == "policy.denied",
        format!("another account answered {status}: {body}"),
    )?;
    println!("another account: {status}, reason {}", body["reason"]);
    println!("\nquickstart ok");
    Ok(())
}

async fn get_json<S>(
    client: &mut S,
    url: &str,
) -> Result<(StatusCode, serde_json::Value), Box<dyn Error + Send + Sync>>
where
    S: Service<Request<Empty<Bytes>>, Response = http::Response<hyper::body::Incoming>>,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let request = Request::get(url).body(Empty::new())?;
    let response = client
        .ready()
        .await
        .map_err(Into::into)?
        .call(request)
        .await
        .map_err(Into::into)?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    ))
}

/// Replaces the signature of a token with another well-formed one.
fn forge(token: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (prefix, body) = token.split_once('.').expect("token has a prefix");
    let url = String::from_utf8(URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("utf-8");
    let start = url.find("X-Amz-Signature=").expect("signed") + "X-Amz-Signature=".len();
    let forged = format!("{}{}{}", &url[..start], "0".repeat(64), &url[start + 64..]);
    format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(forged))
}

fn check(ok: bool, message: String) -> Result<(), Box<dyn Error + Send + Sync>> {
    if ok { Ok(()) } else { Err(message.into()) }
}
