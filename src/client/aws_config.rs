//! Signers configured from the AWS SDK's own configuration (feature `aws-config`).

use aws_config::{BehaviorVersion, SdkConfig};

use super::credentials::CachedCredentials;
use super::signer::{ProofSigner, ProofSignerBuilder};

impl ProofSigner {
    /// Loads the AWS SDK configuration the way every AWS SDK does (environment variables, the
    /// shared `config` and `credentials` files and `AWS_PROFILE`, SSO, `credential_process`,
    /// web identity (IRSA), ECS task roles and EKS Pod Identity, EC2 instance metadata) and
    /// starts a signer from it, as [`from_sdk_config`](Self::from_sdk_config) does.
    ///
    /// Nothing is fetched yet: credentials are asked for at the first signing, so a missing
    /// credential shows up as [`SignError::Credentials`](super::SignError::Credentials) then.
    pub async fn from_env() -> ProofSignerBuilder {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        ProofSigner::from_sdk_config(&config)
    }

    /// Starts a signer with the credentials provider, region, FIPS and dual-stack settings of an
    /// AWS SDK configuration: the host is the region's STS endpoint of that kind (the
    /// region defaults to `us-east-1` when the configuration has none). The credentials are
    /// cached ([`CachedCredentials`]); clone the builder before `build()` to make signers for
    /// several audiences that share that one cache.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use aws_credential_types::provider::SharedCredentialsProvider;
    /// use tower_iam_auth::client::ProofSigner;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = aws_config::SdkConfig::builder()
    ///     .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None, None, "example")))
    ///     .region(aws_config::Region::new("eu-west-1"))
    ///     .use_fips(false)
    ///     .use_dual_stack(true)
    ///     .build();
    /// let base = ProofSigner::from_sdk_config(&config);
    /// let orders = base.clone().audience("orders-service").build()?;
    /// let billing = base.audience("billing-service").build()?;
    /// # let _ = (orders, billing);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_sdk_config(config: &SdkConfig) -> ProofSignerBuilder {
        let mut builder = ProofSigner::builder_without_provider()
            .use_fips(config.use_fips().unwrap_or(false))
            .use_dual_stack(config.use_dual_stack().unwrap_or(false));
        if let Some(provider) = config.credentials_provider() {
            builder = builder.credentials(CachedCredentials::new(provider));
        }
        if let Some(region) = config.region() {
            builder = builder.region(region.as_ref());
        }
        builder
    }
}
