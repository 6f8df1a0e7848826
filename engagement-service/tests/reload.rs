//! Reloading the rule file on SIGHUP, through the same check as the admin API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn canonical() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/knowledge-sharing.toml"),
    )
    .unwrap()
}

fn answer_points(points: u32) -> String {
    canonical().replacen(
        "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 5",
        &format!("id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = {points}"),
        1,
    )
}

fn hang_up(service: &Service) {
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(service.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn version(client: &reqwest::Client, base: &str) -> String {
    let rules: Value = client
        .get(format!("{base}/v1/admin/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rules["summary"]["version"].as_str().unwrap().to_owned()
}

async fn answer(client: &reqwest::Client, base: &str, id: &str) -> i64 {
    let body = json!({"id": id, "kind": "answer.posted", "actor": id, "occurred_at": "2026-11-20T17:00:00Z"});
    let res: Value = client
        .post(format!("{base}/v1/events"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["results"][0]["awards"][0]["points"].as_i64().unwrap()
}

#[tokio::test]
async fn a_hangup_reloads_a_good_rule_file_and_keeps_the_old_rules_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, canonical()).unwrap();
    let port = free_port();
    let service = Service(
        Command::new(env!("CARGO_BIN_EXE_engagement"))
            .env("ENGAGEMENT_BIND", format!("127.0.0.1:{port}"))
            .env("ENGAGEMENT_DATA_DIR", dir.path().join("data"))
            .env("ENGAGEMENT_RULES", &rules)
            .env("ENGAGEMENT_WORKERS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (client, base) = (
        engagement_service::http_client().build().unwrap(),
        format!("http://127.0.0.1:{port}"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer(&client, &base, "a-1").await, 5);
    let before = version(&client, &base).await;

    std::fs::write(&rules, answer_points(7)).unwrap();
    hang_up(&service);
    let deadline = Instant::now() + Duration::from_secs(10);
    while version(&client, &base).await == before {
        assert!(Instant::now() < deadline, "the rules were not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reloaded = version(&client, &base).await;
    assert_eq!(answer(&client, &base, "a-2").await, 7);

    std::fs::write(
        &rules,
        "version = 1\n[engine]\ntimezone = \"Nowhere/Land\"\n",
    )
    .unwrap();
    hang_up(&service);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        version(&client, &base).await,
        reloaded,
        "a bad file leaves the rules in force"
    );
    assert_eq!(answer(&client, &base, "a-3").await, 7);

    // The reload is the deployment's rule version now, kept in the store.
    let versions: Value = client
        .get(format!("{base}/v1/admin/rules/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["active"], json!(reloaded), "{versions}");
    assert_eq!(versions["versions"][0]["origin"], "reload", "{versions}");
    assert_eq!(versions["versions"][1]["origin"], "start", "{versions}");
    drop(service);

    // A command on the store works under the rules in force, not under an
    // older rule file.
    std::fs::write(&rules, canonical()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_engagement"))
        .arg("replay")
        .env("ENGAGEMENT_DATA_DIR", dir.path().join("data"))
        .env("ENGAGEMENT_RULES", &rules)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("under rules {reloaded}")),
        "{printed}"
    );
}
