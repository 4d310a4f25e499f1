//! [`VaultLogin`]: the JSON login body of Vault's AWS IAM auth method, signed from Rust.

use std::fmt;

use aws_sigv4::http_request::SigningSettings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::signer::{ProofSigner, SignError};
use crate::proof::GET_CALLER_IDENTITY_BODY;

/// The content type Vault's clients sign with the body.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// A Vault-format login: a header-signed `POST https://HOST/` of `GetCallerIdentity`, as the
/// JSON object `{iam_http_request_method, iam_request_url, iam_request_body,
/// iam_request_headers}` that Vault's `auth/aws/login`, hvac and this crate's
/// `IamAuthLayer::verify_vault_login` take. The method is plain text; URL, body and headers
/// (a JSON object of one-element lists) are standard base64, as Vault's own client sends them.
///
/// It carries a signature and any session token: `Debug` shows neither.
#[derive(Clone)]
pub struct VaultLogin {
    body: Value,
}

impl VaultLogin {
    /// The login body as a JSON value, e.g. to add Vault's `role` field before posting it.
    pub fn to_json_value(&self) -> Value {
        self.body.clone()
    }

    /// The login body as JSON text.
    pub fn to_json(&self) -> String {
        self.body.to_string()
    }
}

impl fmt::Debug for VaultLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultLogin")
            .field("body", &"** redacted **")
            .finish_non_exhaustive()
    }
}

/// `x-amz-date` -> `X-Amz-Date`, as Go's `net/http` writes header names (Vault's own client).
fn canonical_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl ProofSigner {
    /// Signs a Vault-format login for the signer's audience, carried in its
    /// [`vault_audience_header`](super::ProofSignerBuilder::vault_audience_header). Each call
    /// signs anew (a login is used once).
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tower_iam_auth::client::ProofSigner;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None, None, "example");
    /// let signer = ProofSigner::builder(credentials)
    ///     .audience("APP1-live")
    ///     .vault_audience_header("X-APP-ID")
    ///     .build()?;
    /// let login = signer.sign_vault_login().await?.to_json_value();
    /// assert_eq!(login["iam_http_request_method"], "POST");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn sign_vault_login(&self) -> Result<VaultLogin, SignError> {
        let credentials = self.credentials().await?;
        let now = self.now();
        let url = format!("https://{}/", self.host());
        let signed = [
            ("Content-Type", FORM),
            (self.vault_header(), self.audience()),
        ];
        let instructions = self.sign_request(
            credentials,
            now,
            SigningSettings::default(),
            "POST",
            &url,
            &signed,
            GET_CALLER_IDENTITY_BODY.as_bytes(),
        )?;
        let mut headers = Map::new();
        for (name, value) in signed.into_iter().chain(instructions.headers()) {
            headers.insert(canonical_case(name), json!([value]));
        }
        let headers = Value::Object(headers).to_string();
        Ok(VaultLogin {
            body: json!({
                "iam_http_request_method": "POST",
                "iam_request_url": STANDARD.encode(&url),
                "iam_request_body": STANDARD.encode(GET_CALLER_IDENTITY_BODY),
                "iam_request_headers": STANDARD.encode(headers),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_case;

    #[test]
    fn header_names_in_go_canonical_case() {
        assert_eq!(
            canonical_case("x-amz-security-token"),
            "X-Amz-Security-Token"
        );
        assert_eq!(canonical_case("X-APP-ID"), "X-App-Id");
        assert_eq!(canonical_case("authorization"), "Authorization");
    }
}
