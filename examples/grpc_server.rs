//! The standard gRPC health service (`grpc.health.v1.Health`, from tonic-health) behind
//! `IamAuthLayer`, configured by environment like `whoami_server`.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_LISTEN` | address to bind, default `127.0.0.1:50051` |
//! | `IAM_AUTH_AUDIENCE` | this service's audience (required) |
//! | `IAM_AUTH_ALLOWED_ACCOUNTS`, `IAM_AUTH_POLICY_FILE`, `IAM_AUTH_POLICY_PUBLIC_SIDS`, `IAM_AUTH_POLICY_DRY_RUN`, `IAM_AUTH_ALLOW_ANY_ACCOUNT`, `IAM_AUTH_ALLOW_ANONYMOUS` | who may call: see `examples/common/auth_env.rs`; a policy sees `POST /grpc.health.v1.Health/Check` |
//! | `IAM_AUTH_FORMATS`, `IAM_AUTH_STS_CONNECT_TO` | as for `whoami_server` |
//! | `IAM_AUTH_LOG` | log level on stderr, default `info` |
//!
//! A refused call gets its refusal the gRPC way: `grpc-status` 16 (UNAUTHENTICATED), 7
//! (PERMISSION_DENIED) or 14 (UNAVAILABLE), with the reason code in `grpc-message`.
//!
//! ```sh
//! IAM_AUTH_AUDIENCE=health IAM_AUTH_ALLOWED_ACCOUNTS=123456789012 \
//!     cargo run --example grpc_server
//! ```

#[path = "common/auth_env.rs"]
mod auth_env;

use std::error::Error;

use tonic::transport::Server;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tower_iam_auth::server::IamAuthLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    auth_env::init_logging();
    let listen = auth_env::var("IAM_AUTH_LISTEN").unwrap_or_else(|| "127.0.0.1:50051".to_owned());
    let config = auth_env::service_config();

    // The overall status ("") is SERVING from the start.
    let (_reporter, health) = tonic_health::server::health_reporter();

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("grpc_server listening on {}", listener.local_addr()?);
    Server::builder()
        .layer(tower::util::MapRequestLayer::new(peer_address))
        .layer(IamAuthLayer::new(config))
        .add_service(health)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}

/// Tells `IamAuthLayer` the caller's address (which tonic keeps as `TcpConnectInfo`), so that the
/// per-client STS budget applies to gRPC callers too.
fn peer_address<B>(mut request: http::Request<B>) -> http::Request<B> {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    if let Some(peer) = peer {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
    }
    request
}
