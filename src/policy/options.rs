//! [`PolicyOptions`]: what a policy may read, decided before it is loaded.

use http::HeaderName;

/// Settings that decide which keys and resources a policy may use. A key that needs a setting
/// is refused at load (`policy.key_unavailable`) unless the setting is made, so that a policy
/// never silently reads a value nobody supplies.
#[derive(Clone, Debug)]
#[must_use]
pub struct PolicyOptions {
    pub(crate) service_arn: Option<String>,
    pub(crate) service_network_arn: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) source_ip: bool,
    pub(crate) token_audience: bool,
    pub(crate) route: bool,
    pub(crate) public_sids: Vec<String>,
    pub(crate) default_partition: String,
    pub(crate) credential_header: Option<HeaderName>,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        Self {
            service_arn: None,
            service_network_arn: None,
            port: None,
            source_ip: false,
            token_audience: false,
            route: false,
            public_sids: Vec::new(),
            default_partition: "aws".to_owned(),
            credential_header: None,
        }
    }
}

impl PolicyOptions {
    /// The defaults: no service ARN, port or client address; partition `aws`.
    pub fn new() -> Self {
        Self::default()
    }

    /// This service's VPC Lattice service ARN: `Resource` may then name it
    /// (`arn:aws:vpc-lattice:REGION:ACCOUNT:service/svc-ID/PATH`), and
    /// `vpc-lattice-svcs:ServiceArn` is available. Without it, the resource of a request is a
    /// placeholder service ARN followed by the path, which `*` and `*/PATH` match.
    pub fn service_arn(mut self, arn: impl Into<String>) -> Self {
        self.service_arn = Some(arn.into());
        self
    }

    /// Makes `vpc-lattice-svcs:ServiceNetworkArn` available with this value.
    pub fn service_network_arn(mut self, arn: impl Into<String>) -> Self {
        self.service_network_arn = Some(arn.into());
        self
    }

    /// Makes `vpc-lattice-svcs:Port` available with this value (the port this service listens on).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Makes `aws:SourceIp` available. The layer that enforces the policy must then name where
    /// the client address comes from (`IamAuthConfigBuilder::source_ip`).
    pub fn source_ip(mut self, available: bool) -> Self {
        self.source_ip = available;
        self
    }

    /// Makes `tower-iam-auth:TokenAudience` available: for policies that decide who may obtain
    /// tokens from a `TokenExchange`, which sets this itself.
    pub fn token_audience(mut self, available: bool) -> Self {
        self.token_audience = available;
        self
    }

    /// Makes `tower-iam-auth:Route` (axum's matched route template) available: for policies
    /// enforced by a [`PolicyLayer`](super::PolicyLayer) under `route_layer`.
    pub fn route(mut self, available: bool) -> Self {
        self.route = available;
        self
    }

    /// Lists the `Sid` of a statement that deliberately allows everyone (`Principal: "*"` with
    /// nothing pinning an account, ARN or unique id). Without this, such a statement is refused
    /// (`policy.unpinned_allow`).
    pub fn public_sid(mut self, sid: impl Into<String>) -> Self {
        self.public_sids.push(sid.into());
        self
    }

    /// The partition of a bare 12-digit account id in `Principal`. Default `aws`.
    pub fn default_partition(mut self, partition: impl Into<String>) -> Self {
        self.default_partition = partition.into();
        self
    }

    /// A header that carries credentials in this deployment (besides `Authorization` and
    /// `Cookie`), which a policy may therefore not read.
    pub fn credential_header(mut self, name: HeaderName) -> Self {
        self.credential_header = Some(name);
        self
    }
}
