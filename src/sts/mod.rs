//! Replaying a validated proof to AWS STS.
//!
//! [`endpoints`] is the table of STS hosts a proof may name. With the `server` feature,
//! [`response`] parses STS's answers strictly, and [`StsClient`] sends the replay.

#[cfg(feature = "server")]
mod client;
pub mod endpoints;
#[cfg(feature = "server")]
pub mod response;

#[cfg(feature = "server")]
pub use client::{StsClient, StsClientConfig};
pub use endpoints::{EndpointKind, Partition, StsEndpoint, StsEndpointTable};
