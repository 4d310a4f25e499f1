//! The project's Python virtual environment, where the third-party peers live.
//!
//! `scripts/test.sh` creates `.venv/` from `tests/interop/requirements.txt` and exports
//! `IAM_AUTH_PYTHON`. Without it the tests fail (never skip): a peer that is not installed is a
//! broken test set-up, not a reason to pass. Shared by `tests/interop/` and `tests/jwt_*.rs`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The interpreter: `$IAM_AUTH_PYTHON`, else `<crate>/.venv/bin/python`.
pub fn interpreter() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let candidate = match std::env::var_os("IAM_AUTH_PYTHON") {
            Some(path) => PathBuf::from(path),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
        };
        assert!(
            candidate.is_file(),
            "no Python interpreter with the test peers at {}: run scripts/test.sh once \
             (it creates .venv/ from tests/interop/requirements.txt), or set IAM_AUTH_PYTHON",
            candidate.display()
        );
        candidate
    })
}
