#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `engagement events import`, run as a manager runs it: a shuffled
//! backfill gives the same standings as the same events posted in time
//! order, an interrupted import resumes without counting twice, and bad
//! lines are named by number.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, configured};
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    configured(Command::new(BIN), dir)
        .args(args)
        .output()
        .unwrap()
}

/// The service on the embedded store in `dir`; killed when dropped.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    fn start(dir: &Path, token: &str) -> Service {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = configured(Command::new(BIN), dir)
            .env("ENGAGEMENT_BIND", format!("127.0.0.1:{port}"))
            .env("ENGAGEMENT_INGEST_TOKEN", token)
            .env("ENGAGEMENT_WORKERS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the service did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every member's all-time points, as (member, score), sorted by member:
/// equal scores may list in another order when events share an instant.
async fn standings(service: &Service) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for offset in (0..).step_by(100) {
        let page = service
            .get(&format!(
                "/v1/leaderboards/contributors?period=all_time&limit=100&offset={offset}"
            ))
            .await;
        let entries = page["entries"].as_array().unwrap().clone();
        for e in &entries {
            out.push((
                e["member"].as_str().unwrap_or("(anonymous)").to_owned(),
                e["score"].as_i64().unwrap(),
            ));
        }
        if entries.len() < 100 {
            break;
        }
    }
    out.sort();
    out
}

/// A deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffled(lines: &[String]) -> Vec<String> {
    let mut out = lines.to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..out.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

fn summary(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_shuffled_backfill_gives_the_standings_of_the_events_posted_in_time_order() {
    let scratch = tempfile::tempdir().unwrap();
    let generated = run(
        scratch.path(),
        &[
            "events",
            "generate",
            "--members",
            "300",
            "--days",
            "20",
            "--seed",
            "11",
        ],
    );
    let lines: Vec<String> = String::from_utf8(generated.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 1000, "{} events", lines.len());
    let shuffled_file = scratch.path().join("shuffled.jsonl");
    std::fs::write(&shuffled_file, shuffled(&lines).join("\n") + "\n").unwrap();

    // In time order, posted to a running service in batches.
    let ordered_dir = tempfile::tempdir().unwrap();
    let ordered = Service::start(ordered_dir.path(), "tok");
    let client = engagement_service::http_client().build().unwrap();
    for chunk in lines.chunks(500) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let res = client
            .post(format!("{}/v1/events", ordered.base))
            .bearer_auth("tok")
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let expected = standings(&ordered).await;
    assert!(expected.len() > 50);

    // Shuffled, imported into the store directly; the service started on
    // that store afterwards shows the same standings.
    let local = tempfile::tempdir().unwrap();
    let file = shuffled_file.to_str().unwrap();
    let first = summary(&run(
        local.path(),
        &["events", "import", file, "--batch", "300"],
    ));
    assert!(
        first.contains(&format!("{} applied", lines.len())) || first.contains(" ignored"),
        "{first}"
    );
    let again = summary(&run(local.path(), &["events", "import", file]));
    assert_eq!(
        again,
        format!(
            "0 applied, {} duplicate, 0 ignored, 0 rejected",
            lines.len()
        )
    );
    let imported = Service::start(local.path(), "tok");
    assert_eq!(standings(&imported).await, expected);

    // Shuffled, imported into a running service, cut short and resumed.
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Service::start(remote_dir.path(), "tok");
    let half = scratch.path().join("half.jsonl");
    // An import cut short has sent a prefix of the file in time order.
    let mut in_time_order = shuffled(&lines);
    in_time_order.sort_by_key(|l| {
        let e: Value = serde_json::from_str(l).unwrap();
        e["occurred_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    });
    std::fs::write(&half, in_time_order[..lines.len() / 2].join("\n") + "\n").unwrap();
    let url = remote.base.clone();
    let import_to = |f: &Path| {
        let mut command = configured(Command::new(BIN), remote_dir.path());
        command.env("ENGAGEMENT_INGEST_TOKEN", "tok").args([
            "events",
            "import",
            f.to_str().unwrap(),
            "--url",
            &url,
        ]);
        command.output().unwrap()
    };
    summary(&import_to(&half));
    let resumed = summary(&import_to(&shuffled_file));
    assert!(
        resumed.contains(&format!("{} duplicate", lines.len() / 2)),
        "{resumed}"
    );
    assert_eq!(standings(&remote).await, expected);
}

#[test]
fn bad_lines_are_named_by_number_and_the_rest_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id": "a1", "kind": "answer.posted", "actor": "ana", "occurred_at": "2026-11-20T17:00:00Z"}"#, "\n",
            "{broken\n",
            r#"{"id": "a2", "kind": "answer.posted", "actor": "ana", "occurred_at": "yesterday"}"#, "\n",
            r#"{"id": "a3", "kind": "answer.posted", "actor": "bo", "occurred_at": "2026-11-20T18:00:00Z"}"#, "\n",
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["events", "import", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rejected lines fail the command"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("2 applied, 0 duplicate, 0 ignored, 2 rejected"),
        "{said}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let name = file.display();
    assert!(err.contains(&format!("{name}:2: ")), "{err}");
    assert!(err.contains(&format!("{name}:3: ")), "{err}");
    // From stdin too.
    let mut child = configured(Command::new(BIN), dir.path())
        .args(["events", "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"id": "a4", "kind": "answer.posted", "actor": "cy", "occurred_at": "2026-11-20T19:00:00Z"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 applied"));
}

#[test]
fn an_archive_is_imported_as_the_export_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    // What `engagement events archive` writes: log entries as JSON lines,
    // zstd-compressed.
    let lines = concat!(
        r#"{"type": "event", "event": {"id": "z1", "kind": "answer.posted", "actor": "ana", "occurred_at": "2026-11-20T17:00:00Z"}}"#,
        "\n",
        r#"{"type": "profile", "member": "ana", "profile": {"name": "Ana"}}"#,
        "\n",
        r#"{"type": "event", "event": {"id": "z2", "kind": "answer.posted", "actor": "bo", "occurred_at": "2026-11-20T18:00:00Z"}}"#,
        "\n",
    );
    let file = dir.path().join("log-2026.jsonl.zst");
    std::fs::write(&file, zstd::encode_all(lines.as_bytes(), 3).unwrap()).unwrap();
    let out = run(dir.path(), &["events", "import", file.to_str().unwrap()]);
    let said = summary(&out);
    assert!(said.contains("2 applied, 0 duplicate, 0 ignored"), "{said}");
    assert!(
        said.contains("1 log entries that are not events skipped"),
        "{said}"
    );
}
