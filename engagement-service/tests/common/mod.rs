//! What the tests that run the real `engagement` binary share.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_engagement");
pub const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rules/knowledge-sharing.toml"
);

/// The embedded store in `dir` with the canonical rules, whatever the
/// environment of the test says.
pub fn configured(mut command: Command, dir: &Path) -> Command {
    for var in [
        "ENGAGEMENT_REDIS_URL",
        "ENGAGEMENT_INGEST_TOKEN",
        "ENGAGEMENT_ADMIN_TOKEN",
        "ENGAGEMENT_READ_TOKEN",
    ] {
        command.env_remove(var);
    }
    command
        .env("ENGAGEMENT_DATA_DIR", dir)
        .env("ENGAGEMENT_RULES", PathBuf::from(RULES));
    command
}
