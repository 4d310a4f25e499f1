//! Vault-format login bodies signed in the test, as Vault's Go client and hvac sign them.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
pub const VAULT_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";

/// What a Vault client sends: a POST to `url`, signed with `signed` headers, then `unsigned` ones
/// added, as the JSON login body (headers as base64 of a JSON object of one-element lists).
pub struct Login {
    pub method: &'static str,
    pub url: String,
    pub body: String,
    pub signed: Vec<(String, String)>,
    pub unsigned: Vec<(String, String)>,
    pub signed_at: SystemTime,
}

impl Login {
    pub fn new(audience_header: &str, audience: &str) -> Self {
        Self {
            method: "POST",
            url: "https://sts.amazonaws.com/".into(),
            body: BODY.into(),
            signed: vec![
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                ),
                (audience_header.into(), audience.into()),
            ],
            unsigned: vec![],
            signed_at: SystemTime::now(),
        }
    }

    pub fn headers(&self, credentials: &Credentials) -> serde_json::Map<String, Value> {
        let identity = Identity::from(credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(self.signed_at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            self.method,
            self.url.as_str(),
            self.signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(self.body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut headers = serde_json::Map::new();
        for (name, value) in self.signed.iter().chain(&self.unsigned) {
            headers.insert(name.clone(), json!([value]));
        }
        for (name, value) in instructions.headers() {
            headers.insert(name.to_owned(), json!([value]));
        }
        headers
    }

    pub fn body_json(&self, credentials: &Credentials) -> Value {
        let headers = serde_json::to_string(&self.headers(credentials)).unwrap();
        json!({
            "iam_http_request_method": self.method,
            "iam_request_url": STANDARD.encode(&self.url),
            "iam_request_body": STANDARD.encode(&self.body),
            "iam_request_headers": STANDARD.encode(headers),
        })
    }
}
