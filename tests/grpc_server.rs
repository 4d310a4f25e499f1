//! `examples/grpc_server.rs` as a black box, called by a real gRPC client (tonic's generated
//! health client over a `Channel`): with `IamProofLayer` it gets through, without a token or
//! as a principal that is not let in it sees the gRPC status and the reason code.

mod support;

use support::examples::{RunningExample, start_with_sts};
use support::*;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_iam_auth::client::{IamProofLayer, ProofSigner};
use tower_iam_auth::testing::LocalSts;

async fn server(sts: &LocalSts) -> RunningExample {
    server_with(sts, &[])
}

fn server_with(sts: &LocalSts, more: &[(&str, &str)]) -> RunningExample {
    start_with_sts("grpc_server", sts, more)
}

async fn channel(server: &RunningExample) -> Channel {
    Channel::from_shared(server.base.clone())
        .unwrap()
        .connect()
        .await
        .expect("connects")
}

/// tonic hands the layers above a `Channel` relative URIs (the channel adds its one origin), so
/// the layer attaches to those, and to the server's origin.
fn proof_layer(signer: ProofSigner, server: &RunningExample) -> IamProofLayer {
    IamProofLayer::builder(signer)
        .origin(server.base.clone())
        .attach_to_relative_uris(true)
        .build()
        .expect("a loopback origin")
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn tonic_client_with_iam_proof_layer_gets_serving() {
    let sts = LocalSts::start().await.unwrap();
    let server = server(&sts).await;
    let signer = signer(sts.assume_role(ACCOUNT, "deployer", "grpc"));
    let channel = tower::ServiceBuilder::new()
        .layer(proof_layer(signer, &server))
        .service(channel(&server).await);
    let mut client = HealthClient::new(channel);

    let answer = client.check(check()).await.expect("let in").into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);
    // The second call reuses the signer's token, which the server has cached.
    client.check(check()).await.expect("let in again");
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn tonic_client_without_a_token_sees_unauthenticated_with_the_reason() {
    let sts = LocalSts::start().await.unwrap();
    let server = server(&sts).await;
    let mut client = HealthClient::new(channel(&server).await);

    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "token.missing: no bearer token");
    assert_eq!(sts.calls(), 0);
}

#[tokio::test]
async fn tonic_client_with_a_tampered_proof_sees_unauthenticated() {
    let sts = LocalSts::start().await.unwrap();
    let server = server(&sts).await;
    let token = token_for(sts.create_user(ACCOUNT, "alice")).await;
    let signature = param(&url_of(&token), "X-Amz-Signature");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = mutate(&token, |url| {
        set_param(
            &url,
            "X-Amz-Signature",
            &format!("{flipped}{}", &signature[1..]),
        )
    });
    let mut request = tonic::Request::new(check());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {tampered}").parse().unwrap(),
    );
    let mut client = HealthClient::new(channel(&server).await);

    let status = client.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().starts_with("sts.rejected: "), "{status:?}");
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn tonic_client_of_an_account_not_let_in_sees_permission_denied() {
    let sts = LocalSts::start().await.unwrap();
    let server = server(&sts).await;
    let signer = signer(sts.create_user("210987654321", "stranger"));
    let channel = tower::ServiceBuilder::new()
        .layer(proof_layer(signer, &server))
        .service(channel(&server).await);
    let mut client = HealthClient::new(channel);

    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().starts_with("policy.denied: "),
        "{status:?}"
    );
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn the_per_client_sts_budget_applies_to_grpc_callers() {
    let sts = LocalSts::start().await.unwrap();
    // One STS call per minute for a client address; the other budgets stay at their defaults.
    let server = server_with(&sts, &[("IAM_AUTH_STS_BUDGET_PER_CLIENT", "1/60")]);
    let mut client = HealthClient::new(channel(&server).await);
    let call = |token: String| {
        let mut request = tonic::Request::new(check());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };

    // Two callers (two access keys) behind one address: the first spends the address's budget.
    let alice = token_for(sts.create_user(ACCOUNT, "alice")).await;
    let bob = token_for(sts.create_user(ACCOUNT, "bob")).await;
    client.check(call(alice.clone())).await.expect("first call");
    let status = client.check(call(bob)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().starts_with("sts.rate_limited: "),
        "{status:?}"
    );
    assert_eq!(sts.calls(), 1);
    // A cached token is never limited.
    client.check(call(alice)).await.expect("cached");
    assert_eq!(sts.calls(), 1);
}
