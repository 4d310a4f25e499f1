//! The other shape of a Vault login that real clients' output can take on the way to the
//! service: `iam_request_headers` as a JSON object rather than base64 of one, with header values
//! as strings (botocore) or one-element lists (hvac, Vault's Go clients).

use http::StatusCode;

use crate::clients::Signer;
use crate::peers::{Emulator, Flavor};
use crate::service::Service;
use crate::support::AUDIENCE;

#[tokio::test]
async fn hvac_login_with_headers_as_a_json_object_of_lists_is_accepted() {
    let ministack = Emulator::start(Flavor::Ministack).await;
    let service = Service::for_signer(&ministack, Signer::HvacVault);
    let proof = Signer::HvacVault
        .sign(&ministack.user, AUDIENCE, None)
        .await
        .with_headers_as_json_object();

    let answer = service.present(&proof).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["arn"], ministack.user.arn.as_str());
    assert_eq!(ministack.calls(), 1);
}

#[tokio::test]
async fn botocore_login_with_headers_as_a_json_object_of_strings_is_accepted() {
    let ministack = Emulator::start(Flavor::Ministack).await;
    let service = Service::for_signer(&ministack, Signer::BotocoreVault);
    let proof = Signer::BotocoreVault
        .sign(&ministack.role_session, AUDIENCE, None)
        .await
        .with_headers_as_json_object();

    let answer = service.present(&proof).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["raw_arn"], ministack.role_session.arn.as_str());
    assert_eq!(ministack.calls(), 1);
}
