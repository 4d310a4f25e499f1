//! AWS IAM identity for Tower and axum services.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod arn;
pub mod clock;
pub mod error;
pub mod principal;
pub mod proof;
pub mod sts;

#[cfg(feature = "server")]
pub mod cache;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "testing")]
pub mod testing;
