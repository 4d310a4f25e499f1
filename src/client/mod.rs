//! The client side: sign a proof with the workload's own AWS credentials and attach it.
//!
//! [`ProofSigner`] presigns `GetCallerIdentity` for an audience and caches the token;
//! [`IamProofLayer`] sets `Authorization: Bearer <token>` on every outgoing `http::Request`.
//! The secret key never leaves the process: only the signature does.

mod layer;
mod signer;

pub use layer::{BoxError, IamProof, IamProofLayer};
pub use signer::{ProofSigner, ProofSignerBuilder, ProofToken, SignError, SignerConfigError};
