//! AWS IAM identity for Tower and axum services.
//!
//! A caller proves who it is with an STS `GetCallerIdentity` request signed by its own
//! credentials ([`client::ProofSigner`]); [`server::IamAuthLayer`] checks the proof locally
//! ([`proof`]), replays it to STS ([`sts`]), caches the answer ([`cache`]) and hands handlers an
//! [`principal::IamPrincipal`]. See the README (included below as a doctest) for the whole flow.
//!
//! Observability: the [`metrics`] module lists the metrics recorded with the `metrics` feature
//! (a stable contract); the layer's `tracing` spans are `iam_auth.authenticate` and
//! `sts.GetCallerIdentity`; [`error::RenderRefusal`] renders refusal bodies.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod arn;
pub mod clock;
pub mod endpoints;
pub mod error;
pub mod metrics;
pub mod principal;
pub mod proof;
pub mod sts;

#[cfg(feature = "server")]
pub mod cache;
#[cfg(feature = "server")]
mod capped_body;
#[cfg(feature = "server")]
pub mod policy;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "jwt")]
pub mod token;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
