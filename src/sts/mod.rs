//! Replaying a validated proof to AWS STS.
//!
//! [`endpoints`] (a re-export of [`crate::endpoints`]) is the table of STS hosts a proof may
//! name. With the `server` feature, [`response`] parses STS's answers strictly, and
//! [`StsClient`] sends the replay.

#[cfg(feature = "server")]
mod client;
#[cfg(feature = "server")]
pub mod response;

/// The STS endpoint table, now at [`crate::endpoints`]; re-exported here for compatibility.
pub mod endpoints {
    pub use crate::endpoints::*;
}

#[cfg(feature = "server")]
pub use client::{StsClient, StsClientConfig};
pub use endpoints::{EndpointKind, Partition, StsEndpoint, StsEndpointTable};
