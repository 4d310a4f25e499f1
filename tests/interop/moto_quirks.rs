//! moto cannot check presigned GETs, which is why the token formats are verified against
//! ministack; these tests pin down that the layer never mistakes moto's answers for an identity.

use http::StatusCode;

use crate::clients::Signer;
use crate::peers::{Emulator, Flavor};
use crate::service::Service;
use crate::support::AUDIENCE;

#[tokio::test]
async fn moto_s3_answer_to_an_unchecked_presigned_get_is_not_taken_for_an_identity() {
    // Out of the box moto checks no signature and routes a presigned GET to its S3 service,
    // which answers 200 with S3 XML.
    let moto = Emulator::start_moto_without_auth().await;
    let service = Service::for_signer(&moto, Signer::NativeIamV1);
    let proof = Signer::NativeIamV1.sign(&moto.user, AUDIENCE, None).await;

    let answer = service.present(&proof).await;

    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.json
    );
    assert_eq!(answer.reason(), "sts.bad_response");
    assert!(moto.calls() >= 1);
}

#[tokio::test]
async fn moto_with_auth_fails_presigned_gets_and_the_layer_reports_sts_unavailable() {
    let moto = Emulator::start(Flavor::Moto).await;
    let service = Service::for_signer(&moto, Signer::NativeIamV1);
    let proof = Signer::NativeIamV1.sign(&moto.user, AUDIENCE, None).await;

    let answer = service.present(&proof).await;

    // moto answers 500; the layer retries a 5xx once, then gives up without blaming the caller.
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.json
    );
    assert_eq!(answer.reason(), "sts.unavailable");
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(moto.calls(), 2);
}
