//! `engagement keys generate` and `engagement credentials verify` as an
//! admin and a member run them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::{BIN, configured};

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = configured(Command::new(BIN), &dir.join("data"));
    for var in ["ENGAGEMENT_PUBLIC_URL", "ENGAGEMENT_SIGNING_KEY"] {
        command.env_remove(var);
    }
    command.args(args).output().expect("the binary runs")
}

#[test]
fn a_generated_key_is_private_to_its_owner_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    let out = run(
        dir.path(),
        &["keys", "generate", "--out", &key.to_string_lossy()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = run(
        dir.path(),
        &["keys", "generate", "--out", &key.to_string_lossy()],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never replaced"));
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        pem,
        "the key is kept"
    );

    // The service starts with it, and refuses half a setup clearly.
    let out = Command::new(BIN)
        .env("ENGAGEMENT_SIGNING_KEY", &key)
        .env_remove("ENGAGEMENT_PUBLIC_URL")
        .env("ENGAGEMENT_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ENGAGEMENT_SIGNING_KEY is set without ENGAGEMENT_PUBLIC_URL"),
        "{err}"
    );
}

#[test]
fn verify_says_why_it_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.jwt");
    std::fs::write(&file, "not a credential").unwrap();
    let out = run(
        dir.path(),
        &["credentials", "verify", &file.to_string_lossy()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no issuer key to check against: use --online, --issuer"),
        "{err}"
    );
    let out = run(
        dir.path(),
        &["credentials", "verify", "--online", &file.to_string_lossy()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a compact JWS"), "{err}");
    let missing = dir.path().join("none.jwt");
    let out = run(
        dir.path(),
        &[
            "credentials",
            "verify",
            "--online",
            &missing.to_string_lossy(),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
