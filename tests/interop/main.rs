//! Interoperability with code no one here wrote (issue 3): proofs signed by third-party clients
//! (botocore, hvac, awscli) and by our `ProofSigner`, verified by third-party STS emulators
//! (moto, ministack) through `IamAuthLayer`, and `LocalSts` compared with ministack.
//!
//! The peers come from the project's virtual environment (`scripts/test.sh` creates `.venv/`
//! from the pinned `tests/interop/requirements.txt` and exports `IAM_AUTH_PYTHON`). A missing
//! peer fails the tests; nothing here skips.

#[path = "../support/mod.rs"]
mod support;

mod clients;
mod peers;
mod proxy;
mod python;
#[path = "../support/python_env.rs"]
mod python_env;
mod service;

mod moto_quirks;
mod per_peer;
mod vault_shapes;
mod verdicts;
