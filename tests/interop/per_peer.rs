//! Every (client, emulator) pair: proofs signed by the client for an IAM user and for an
//! assumed-role session are accepted through the emulator; a tampered signature, another
//! audience and a signature older than 15 minutes are refused, each with its reason.
//!
//! Call counts come from the counting proxy in front of the emulator: refusals that the layer
//! decides locally (`proof.expired`, `proof.audience_mismatch`) must not reach it at all.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::clients::Signer;
use crate::peers::{ACCOUNT, Emulator, Flavor, ROLE, SESSION};
use crate::service::Service;
use crate::support::AUDIENCE;

/// An audience some other service would configure.
const OTHER_AUDIENCE: &str = "billing-service";

struct World {
    emulator: Emulator,
    service: Service,
}

async fn world(signer: Signer, flavor: Flavor) -> World {
    let emulator = Emulator::start(flavor).await;
    let service = Service::for_signer(&emulator, signer);
    World { emulator, service }
}

impl World {
    /// What the emulator was asked and answered, for failure messages.
    fn transcript(&self) -> String {
        format!("{:#?}", self.emulator.requests())
    }

    /// The replayed request carried this service's audience under the client's header name.
    fn assert_replayed_audience(&self, signer: Signer) {
        let replayed = self.emulator.requests();
        assert_eq!(replayed.len(), 1, "one STS call: {replayed:?}");
        // Presigned tokens replay as GET with their query; Vault logins as a POST to `/`.
        if signer.is_vault() {
            assert_eq!(
                (replayed[0].method.as_str(), replayed[0].uri.as_str()),
                ("POST", "/")
            );
        } else {
            assert_eq!(replayed[0].method, "GET");
            assert!(
                replayed[0].uri.starts_with("/?Action=GetCallerIdentity&"),
                "{}",
                replayed[0].uri
            );
        }
        assert_eq!(
            replayed[0].header(signer.audience_header()),
            Some(AUDIENCE),
            "{replayed:?}"
        );
    }
}

async fn iam_user_is_accepted(signer: Signer, flavor: Flavor) {
    let w = world(signer, flavor).await;
    let proof = signer.sign(&w.emulator.user, AUDIENCE, None).await;

    let answer = w.service.present(&proof).await;

    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}\n{}",
        answer.json,
        w.transcript()
    );
    assert_eq!(answer.json["arn"], w.emulator.user.arn.as_str());
    assert_eq!(
        answer.json["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/alice")
    );
    assert_eq!(answer.json["kind"], "user");
    assert_eq!(answer.json["account"], ACCOUNT);
    assert_eq!(w.emulator.calls(), 1);
    w.assert_replayed_audience(signer);
}

async fn assumed_role_session_is_accepted_as_its_role(signer: Signer, flavor: Flavor) {
    let w = world(signer, flavor).await;
    let proof = signer.sign(&w.emulator.role_session, AUDIENCE, None).await;

    let answer = w.service.present(&proof).await;

    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}\n{}",
        answer.json,
        w.transcript()
    );
    assert_eq!(
        answer.json["arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    );
    assert_eq!(answer.json["raw_arn"], w.emulator.role_session.arn.as_str());
    assert_eq!(answer.json["kind"], "role");
    assert_eq!(answer.json["session_name"], SESSION);
    assert!(
        answer.json["principal_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("AROA")),
        "{}",
        answer.json
    );
    assert_eq!(w.emulator.calls(), 1);
    w.assert_replayed_audience(signer);
}

async fn tampered_signature_is_refused_by_sts(signer: Signer, flavor: Flavor) {
    let w = world(signer, flavor).await;
    let proof = signer
        .sign(&w.emulator.user, AUDIENCE, None)
        .await
        .with_tampered_signature();

    let answer = w.service.present(&proof).await;

    // Locally the proof is well-formed: only the emulator can tell, and it says no.
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{}\n{}",
        answer.json,
        w.transcript()
    );
    assert_eq!(answer.reason(), "sts.rejected");
    assert_eq!(w.emulator.calls(), 1);
}

async fn proof_for_another_audience_is_refused(signer: Signer, flavor: Flavor) {
    let w = world(signer, flavor).await;
    let proof = signer.sign(&w.emulator.user, OTHER_AUDIENCE, None).await;

    let answer = w.service.present(&proof).await;

    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{}\n{}",
        answer.json,
        w.transcript()
    );
    if signer.is_vault() {
        // A Vault login carries its signed audience value: compared locally, no STS call.
        assert_eq!(
            proof.vault_header(signer.audience_header()).as_deref(),
            Some(OTHER_AUDIENCE)
        );
        assert_eq!(answer.reason(), "proof.audience_mismatch");
        assert_eq!(w.emulator.calls(), 0);
    } else {
        // A presigned URL does not carry the value: the layer replays its own audience, and
        // the emulator finds that the signature does not cover it.
        assert_eq!(answer.reason(), "sts.rejected");
        w.assert_replayed_audience(signer);
    }
}

async fn signature_older_than_15_minutes_is_refused_locally(signer: Signer, flavor: Flavor) {
    let w = world(signer, flavor).await;
    let sixteen_minutes_ago = SystemTime::now() - Duration::from_secs(16 * 60);
    let proof = signer
        .sign(&w.emulator.user, AUDIENCE, Some(sixteen_minutes_ago))
        .await;

    let answer = w.service.present(&proof).await;

    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{}\n{}",
        answer.json,
        w.transcript()
    );
    assert_eq!(answer.reason(), "proof.expired");
    assert_eq!(w.emulator.calls(), 0, "an expired proof never reaches STS");
}

/// The five behaviours for one client signing and one emulator verifying.
macro_rules! client_via_emulator {
    ($module:ident, $signer:expr, $flavor:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn iam_user_is_accepted() {
                super::iam_user_is_accepted($signer, $flavor).await;
            }

            #[tokio::test]
            async fn assumed_role_session_is_accepted_as_its_role() {
                super::assumed_role_session_is_accepted_as_its_role($signer, $flavor).await;
            }

            #[tokio::test]
            async fn tampered_signature_is_refused_by_sts() {
                super::tampered_signature_is_refused_by_sts($signer, $flavor).await;
            }

            #[tokio::test]
            async fn proof_for_another_audience_is_refused() {
                super::proof_for_another_audience_is_refused($signer, $flavor).await;
            }

            #[tokio::test]
            async fn signature_older_than_15_minutes_is_refused_locally() {
                super::signature_older_than_15_minutes_is_refused_locally($signer, $flavor).await;
            }
        }
    };
}

// Presigned GETs: ministack only (moto answers them with a 500, see `moto_quirks`).
client_via_emulator!(
    native_iam_v1_via_ministack,
    Signer::NativeIamV1,
    Flavor::Ministack
);
client_via_emulator!(
    native_k8s_aws_v1_via_ministack,
    Signer::NativeK8sAwsV1,
    Flavor::Ministack
);
client_via_emulator!(
    aws_eks_get_token_via_ministack,
    Signer::AwsEksGetToken,
    Flavor::Ministack
);

// Header-signed Vault logins: both emulators.
client_via_emulator!(botocore_vault_via_moto, Signer::BotocoreVault, Flavor::Moto);
client_via_emulator!(
    botocore_vault_via_ministack,
    Signer::BotocoreVault,
    Flavor::Ministack
);
client_via_emulator!(hvac_vault_via_moto, Signer::HvacVault, Flavor::Moto);
client_via_emulator!(
    hvac_vault_via_ministack,
    Signer::HvacVault,
    Flavor::Ministack
);
