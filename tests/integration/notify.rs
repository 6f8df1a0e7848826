//! Recognition that reaches people (SPEC §10), end to end: the real
//! `engagement` binary as a child process (so it can be killed with
//! SIGKILL), real receivers over HTTP started by the test, real Redis.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{RedisServer, free_port, prefix};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

/// Runs each `scenario(store, dir)` on the embedded store (in `dir`) and
/// on a Redis of its own and on a Redis Cluster of its own, as tests named
/// `name`.
macro_rules! on_both_stores_as_processes {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::StoreAt::Dir(dir.path().join("data"));
                    super::$scenario(store, dir.path()).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let redis = crate::support::RedisServer::start();
                    let prefix = crate::support::prefix(stringify!($name));
                    let store = super::StoreAt::Redis(redis.url(), prefix);
                    super::$scenario(store, dir.path()).await;
                }
            )*
        }
        /// The outbox and rank scripts name queue keys inside the script,
        /// under the deployment's hash tag: run them on a cluster too.
        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let cluster = crate::support::RedisCluster::start();
                    let prefix = crate::support::prefix(stringify!($name));
                    let store = super::StoreAt::Redis(cluster.url(), prefix);
                    super::$scenario(store, dir.path()).await;
                }
            )*
        }
    };
}

on_both_stores_as_processes!(
    deliveries_are_signed_retried_and_received_once => signed_retried_once_and_none_members_silent,
    a_killed_service_delivers_after_restart => delivered_after_a_kill,
    members_entering_the_top_are_told_their_rank => members_entering_the_top_are_told_their_rank,
);

/// The `engagement` binary, built once for these tests.
fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--locked",
                "-p",
                "engagement-service",
                "--bin",
                "engagement",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the engagement binary builds");
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test binary> → target/<profile>/engagement
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a target directory");
        dir.join("engagement")
    })
}

/// What a receiver saw: each request's path, headers and body, and the
/// answer it gave.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    status: u16,
    at: Instant,
}

/// How a receiver answers.
#[derive(Clone, Copy)]
enum Script {
    /// 500 to the first two attempts of each webhook-id, then 200.
    FailTwice,
    /// 503 always (the receiver is down).
    Down,
    /// 200, after a pause: overlapping sends would show.
    Slow,
    Ok,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
    /// Requests in flight per webhook-id, and the most ever at once.
    in_flight: Arc<Mutex<(HashMap<String, u32>, u32)>>,
    url: String,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(script: Script) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let in_flight = Arc::new(Mutex::new((HashMap::new(), 0)));
        let state = (seen.clone(), script.clone(), in_flight.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(receive))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("a port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            seen,
            script,
            in_flight,
            url: format!("http://127.0.0.1:{port}"),
            _server: handle,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    /// Waits until `done` holds for what was seen (at most `limit`).
    async fn until(&self, limit: Duration, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let started = Instant::now();
        loop {
            let seen = self.seen();
            if done(&seen) || started.elapsed() > limit {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

type ReceiverState = (
    Arc<Mutex<Vec<Seen>>>,
    Arc<Mutex<Script>>,
    Arc<Mutex<(HashMap<String, u32>, u32)>>,
);

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let (seen, script, in_flight) = &**state;
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let id = headers.get("webhook-id").cloned().unwrap_or_default();
    let script = *script.lock().unwrap();
    let status = match script {
        Script::Down => 503,
        Script::Ok | Script::Slow => 200,
        Script::FailTwice => {
            let before = (seen.lock().unwrap().iter())
                .filter(|s| s.headers.get("webhook-id") == Some(&id))
                .count();
            if before < 2 { 500 } else { 200 }
        }
    };
    if let Script::Slow = script {
        {
            let mut f = in_flight.lock().unwrap();
            let n = f.0.entry(id.clone()).or_default();
            *n += 1;
            let n = *n;
            f.1 = f.1.max(n);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        *in_flight.lock().unwrap().0.entry(id.clone()).or_default() -= 1;
    }
    seen.lock().unwrap().push(Seen {
        path: req.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
        at: Instant::now(),
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// The receiver's own check of a Standard Webhooks signature.
fn signed(seen: &Seen) -> bool {
    let key = BASE64
        .decode(SECRET.trim_start_matches("whsec_").as_bytes())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let h = |name: &str| seen.headers.get(name).cloned().unwrap_or_default();
    mac.update(
        format!(
            "{}.{}.{}",
            h("webhook-id"),
            h("webhook-timestamp"),
            seen.body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", BASE64.encode(&mac.finalize().into_bytes()));
    h("webhook-signature").split(' ').any(|s| s == expected)
}

/// A running `engagement` process.
struct Service {
    child: Child,
    base: String,
    client: reqwest::Client,
}

/// Where a service keeps its state.
#[derive(Clone)]
enum StoreAt {
    Dir(PathBuf),
    Redis(String, String),
}

impl Service {
    async fn start(rules: &Path, store: &StoreAt, env: &[(&str, &str)]) -> Service {
        let port = free_port();
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ENGAGEMENT_BIND", format!("127.0.0.1:{port}"))
            .env("ENGAGEMENT_RULES", rules)
            .env("ENGAGEMENT_WORKERS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match store {
            StoreAt::Dir(dir) => {
                cmd.env("ENGAGEMENT_DATA_DIR", dir);
            }
            StoreAt::Redis(url, prefix) => {
                cmd.env("ENGAGEMENT_REDIS_URL", url)
                    .env("ENGAGEMENT_KEY_PREFIX", prefix);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the service starts");
        let service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: engagement_service::http_client()
                .build()
                .expect("an HTTP client"),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let ok = service
                .client
                .get(format!("{}/healthz", service.base))
                .send()
                .await;
            if ok.is_ok_and(|r| r.status().is_success()) {
                return service;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the service did not answer within 30 s");
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("the service answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .put(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("the service answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.client.get(format!("{}{path}", self.base)).send().await;
        res.expect("the service answers").json().await.unwrap()
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.child.kill().expect("the service is killed");
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bundled rules with one `standard` channel to `url`, in a file.
fn rules_with(dir: &Path, channels: &str) -> PathBuf {
    let path = dir.join("rules.toml");
    std::fs::write(&path, format!("{RULES}\n{channels}")).unwrap();
    path
}

fn standard_channel(url: &str) -> String {
    format!(
        "[[notify]]\nid = \"feed\"\nurl = \"{url}/hooks/engagement\"\nsecret_env = \"FEED_SECRET\"\non = [\"badge.granted\"]\nallow_private = true\n"
    )
}

fn share(id: &str, actor: &str) -> Value {
    json!({"id": id, "kind": "resource.shared", "actor": actor,
        "occurred_at": "2026-11-20T14:03:00Z", "community": "customs"})
}

/// The badge notifications a receiver saw for `member`'s first share.
fn first_shares<'a>(seen: &'a [Seen], member: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| {
            let body: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
            body["data"]["member"] == member && body["data"]["badge"] == "first-share"
        })
        .collect()
}

async fn signed_retried_once_and_none_members_silent(store: StoreAt, dir: &Path) {
    let receiver = Receiver::start(Script::FailTwice).await;
    let rules = rules_with(dir, &standard_channel(&receiver.url));
    let service = Service::start(&rules, &store, &[("FEED_SECRET", SECRET)]).await;
    let (status, _) = service
        .put("/v1/members/bo", &json!({"recognition": "none"}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = service
        .post(
            "/v1/events",
            &json!({"events": [share("e1", "ana"), share("e2", "bo")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = receiver
        .until(Duration::from_secs(30), |s| {
            first_shares(s, "ana").iter().any(|x| x.status == 200)
        })
        .await;
    let ana = first_shares(&seen, "ana");
    let statuses: Vec<u16> = ana.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 200],
        "two failures, then delivered once"
    );
    let ids: std::collections::HashSet<&String> =
        ana.iter().map(|s| &s.headers["webhook-id"]).collect();
    assert_eq!(ids.len(), 1, "the same webhook-id on every retry");
    assert!(ana.iter().all(|s| signed(s)), "every attempt is signed");
    assert!(ana.iter().all(|s| s.path == "/hooks/engagement"));
    let body: Value = serde_json::from_str(&ana[2].body).unwrap();
    assert_eq!(body["type"], "badge.granted");
    assert_eq!(body["data"]["community"], "customs");
    assert!(
        body["data"]["tier"].is_null() && body["timestamp"].is_string(),
        "{body}"
    );
    // The back-off waited about 1 s, then about 5 s (each ±20 %).
    let gap = |a: &Seen, b: &Seen| b.at.duration_since(a.at).as_secs_f64();
    assert!(gap(ana[0], ana[1]) >= 0.7, "{}", gap(ana[0], ana[1]));
    assert!(gap(ana[1], ana[2]) >= 3.5, "{}", gap(ana[1], ana[2]));
    // Nothing more arrives for ana, and nothing at all for bo.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = receiver.seen();
    assert_eq!(first_shares(&seen, "ana").len(), 3);
    assert!(
        seen.iter().all(|s| !s.body.contains("\"bo\"")),
        "bo chose none"
    );
    let listed = service.get("/v1/admin/deliveries?status=delivered").await;
    let delivered = listed["deliveries"].as_array().unwrap();
    assert_eq!(delivered.len(), 1, "{listed}");
    assert_eq!(delivered[0]["member"], "ana");
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(&delivered[0]["id"], ana[0].headers["webhook-id"].as_str());
    let pending = service.get("/v1/admin/deliveries?status=pending").await;
    assert_eq!(pending["deliveries"], json!([]), "{pending}");
}

async fn delivered_after_a_kill(store: StoreAt, dir: &Path) {
    let receiver = Receiver::start(Script::Down).await;
    let rules = rules_with(dir, &standard_channel(&receiver.url));
    let env = [("FEED_SECRET", SECRET)];
    let service = Service::start(&rules, &store, &env).await;
    let (status, body) = service
        .post("/v1/events", &json!({"events": [share("e1", "ana")]}))
        .await;
    assert_eq!(status, 200, "{body}");
    // The first attempt fails; the delivery waits in the outbox.
    receiver
        .until(Duration::from_secs(10), |s| !s.is_empty())
        .await;
    service.kill();
    receiver.set(Script::Ok);
    let service = Service::start(&rules, &store, &env).await;
    let seen = receiver
        .until(Duration::from_secs(30), |s| {
            first_shares(s, "ana").iter().any(|x| x.status == 200)
        })
        .await;
    let ana = first_shares(&seen, "ana");
    assert_eq!(
        ana.last().map(|s| s.status),
        Some(200),
        "delivered after the restart"
    );
    let ids: std::collections::HashSet<&String> =
        ana.iter().map(|s| &s.headers["webhook-id"]).collect();
    assert_eq!(
        ids.len(),
        1,
        "one notification, the same id before and after the kill"
    );
    let listed = service.get("/v1/admin/deliveries?status=delivered").await;
    assert_eq!(
        listed["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[tokio::test]
async fn two_instances_on_one_redis_never_send_one_notification_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let store = StoreAt::Redis(redis.url(), prefix("notify-two"));
    let receiver = Receiver::start(Script::Slow).await;
    let rules = rules_with(dir.path(), &standard_channel(&receiver.url));
    let env = [("FEED_SECRET", SECRET)];
    let a = Service::start(&rules, &store, &env).await;
    let b = Service::start(&rules, &store, &env).await;
    let members: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    for (i, m) in members.iter().enumerate() {
        let service = if i % 2 == 0 { &a } else { &b };
        let (status, body) = service
            .post(
                "/v1/events",
                &json!({"events": [share(&format!("e{i}"), m)]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let seen = receiver
        .until(Duration::from_secs(60), |s| {
            members.iter().all(|m| !first_shares(s, m).is_empty())
        })
        .await;
    for m in &members {
        assert_eq!(first_shares(&seen, m).len(), 1, "{m} is told exactly once");
    }
    let most = receiver.in_flight.lock().unwrap().1;
    assert_eq!(
        most, 1,
        "no notification was ever sent twice at the same time"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.seen().len(), members.len(), "nothing sent again");
}

#[tokio::test]
async fn discourse_badges_are_granted_to_members_known_on_the_forum() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Script::Ok).await;
    let channel = format!(
        "[[notify]]\nid = \"forum\"\nformat = \"discourse\"\nurl = \"{}/\"\napi_key_env = \"FORUM_KEY\"\napi_username = \"system\"\non = [\"badge.granted\"]\nallow_private = true\n[notify.badges]\n\"first-share\" = 110\n",
        receiver.url
    );
    let rules = rules_with(dir.path(), &channel);
    let store = StoreAt::Dir(dir.path().join("data"));
    let service = Service::start(&rules, &store, &[("FORUM_KEY", "key-123")]).await;
    let (status, body) = service
        .put(
            "/v1/members/ana",
            &json!({"aliases": ["discourse:ana_souza"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events =
        json!({"events": [share("e1", "ana"), share("e2", "discourse:bo"), share("e3", "cy")]});
    let (status, body) = service.post("/v1/events", &events).await;
    assert_eq!(status, 200, "{body}");
    let seen = receiver
        .until(Duration::from_secs(15), |s| s.len() >= 2)
        .await;
    let mut grants: Vec<(String, Value)> = seen
        .iter()
        .map(|s| {
            assert_eq!(s.path, "/user_badges.json");
            assert_eq!(
                s.headers.get("api-key").map(String::as_str),
                Some("key-123")
            );
            assert_eq!(
                s.headers.get("api-username").map(String::as_str),
                Some("system")
            );
            let body: Value = serde_json::from_str(&s.body).unwrap();
            (
                body["username"].as_str().unwrap().to_owned(),
                body["badge_id"].clone(),
            )
        })
        .collect();
    grants.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        grants,
        [
            ("ana_souza".to_owned(), json!(110)),
            ("bo".to_owned(), json!(110))
        ]
    );
    // cy has no forum account: failed, with the reason, not retried.
    let started = Instant::now();
    let failed = loop {
        let failed = service.get("/v1/admin/deliveries?status=failed").await;
        if failed["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
            || started.elapsed() > Duration::from_secs(10)
        {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let d = &failed["deliveries"][0];
    assert_eq!(d["member"], "cy", "{failed}");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("no Discourse account"),
        "{failed}"
    );
    // An admin's retry puts it back in line (and it fails again the same way).
    let id = d["id"].as_str().unwrap();
    let (status, again) = service
        .post(&format!("/v1/admin/deliveries/{id}/retry"), &json!({}))
        .await;
    assert_eq!(
        (status, &again["status"]),
        (200, &json!("pending")),
        "{again}"
    );
    let (status, _) = service
        .post("/v1/admin/deliveries/msg_nope/retry", &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_channel_without_its_secret_stops_the_start_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_with(dir.path(), &standard_channel("https://hooks.example.org"));
    let out = Command::new(binary())
        .env_clear()
        .env("ENGAGEMENT_RULES", &rules)
        .env("ENGAGEMENT_DATA_DIR", dir.path().join("data"))
        .env("ENGAGEMENT_BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FEED_SECRET is not set"), "{err}");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_channel_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Script::Ok).await;
    let channel = standard_channel(&receiver.url).replace("allow_private = true\n", "");
    let rules = rules_with(dir.path(), &channel);
    let store = StoreAt::Dir(dir.path().join("data"));
    let service = Service::start(&rules, &store, &[("FEED_SECRET", SECRET)]).await;
    let (status, _) = service
        .post("/v1/events", &json!({"events": [share("e1", "ana")]}))
        .await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let failed = loop {
        let failed = service.get("/v1/admin/deliveries?status=failed").await;
        if failed["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
            || started.elapsed() > Duration::from_secs(10)
        {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = failed["deliveries"][0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("allow_private"), "{failed}");
    assert!(
        receiver.seen().is_empty(),
        "nothing reached the private address"
    );
}

async fn members_entering_the_top_are_told_their_rank(store: StoreAt, dir: &Path) {
    let receiver = Receiver::start(Script::Ok).await;
    let channel = format!(
        "[[notify]]\nid = \"top\"\nurl = \"{}/top\"\nsecret_env = \"FEED_SECRET\"\non = [\"rank.entered\"]\nrank = {{ board = \"contributors\", period = \"week\", top = 2 }}\nallow_private = true\n",
        receiver.url
    );
    let rules = rules_with(dir, &channel);
    let service = Service::start(&rules, &store, &[("FEED_SECRET", SECRET)]).await;
    let now = jiff::Timestamp::now().to_string();
    let answers = |member: &str, n: usize, from: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                json!({"id": format!("{member}-{}", from + i), "kind": "answer.posted",
                "actor": member, "occurred_at": now})
            })
            .collect()
    };
    let post = |events: Vec<Value>| {
        let service = &service;
        async move {
            let (status, body) = service
                .post("/v1/events", &json!({ "events": events }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    post(answers("a", 3, 0)).await; // 15 points: enters at 1
    post(answers("b", 2, 0)).await; // 10: enters at 2
    post(vec![
        json!({"id": "c-q", "kind": "question.asked", "actor": "c", "occurred_at": now}),
    ])
    .await; // 1: third
    post(answers("c", 3, 0)).await; // 16: enters at 1, b leaves the top
    post(answers("d", 3, 0)).await; // 15, level with a: both #2, as the board shows
    let told = |seen: &[Seen]| -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = seen
            .iter()
            .map(|s| {
                let body: Value = serde_json::from_str(&s.body).unwrap();
                assert_eq!(body["type"], "rank.entered");
                assert_eq!(body["data"]["board"], "contributors");
                assert_eq!(body["data"]["period"], "week");
                assert!(signed(s));
                let member = body["data"]["member"].as_str().unwrap().to_owned();
                (member, body["data"]["rank"].as_u64().unwrap())
            })
            .collect();
        out.sort();
        out
    };
    let seen = receiver
        .until(Duration::from_secs(15), |s| s.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let seen = if seen.len() >= 4 {
        receiver.seen()
    } else {
        seen
    };
    assert_eq!(
        told(&seen),
        [
            ("a".to_owned(), 1),
            ("b".to_owned(), 2),
            ("c".to_owned(), 1),
            ("d".to_owned(), 2)
        ],
        "a and b entered the top 2, then c, then d level with a; nobody else"
    );
    // The rank told is the one the board shows.
    let board = service
        .get("/v1/leaderboards/contributors?period=week&limit=3")
        .await;
    let shown: Vec<(String, u64)> = (board["entries"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["member"].as_str().unwrap().to_owned(),
                e["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(shown.contains(&("d".to_owned(), 2)), "{board}");
}

mod embedded_outbox {
    //! The embedded store's outbox across restarts, through the store's
    //! own API: what a crash between the event log and the outbox leaves.

    use engagement_core::{Event, MemberId, RuleSet};
    use engagement_service::notify::Status;
    use engagement_service::store::{EmbeddedStore, ManualGrant, Store};

    use super::{RULES, share, standard_channel};

    fn rules() -> RuleSet {
        let source = format!("{RULES}\n{}", standard_channel("https://hooks.example.org"));
        RuleSet::from_toml(&source).unwrap()
    }

    async fn pending(store: &EmbeddedStore) -> Vec<String> {
        let found = store.deliveries(Status::Pending, 100).await.unwrap();
        let mut ids: Vec<String> = found.into_iter().map(|d| d.notification.id).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn deliveries_lost_between_the_two_writes_are_recovered_under_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules();
        let outbox = dir.path().join("outbox.log");
        let events: Vec<Event> = vec![serde_json::from_value(share("e1", "ana")).unwrap()];
        let before_crash = {
            let store = EmbeddedStore::open(dir.path(), &rules).unwrap();
            let header = std::fs::metadata(&outbox).unwrap().len();
            store.ingest(&rules, &events).await.unwrap();
            let grant = ManualGrant {
                badge: "speaker".into(),
                tier: 0,
                at: "2026-11-21T09:00:00Z".parse().unwrap(),
                reason: None,
            };
            let ana = MemberId::parse("ana").unwrap();
            assert!(store.grant_badge(&rules, &ana, grant).await.unwrap());
            let ids = pending(&store).await;
            assert_eq!(ids.len(), 2, "a first share and a speaker badge: {ids:?}");
            // The crash: the process stops without a word (no drop), and
            // everything the outbox wrote after opening is gone.
            std::mem::forget(store);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&outbox)
                .unwrap();
            file.set_len(header).unwrap();
            ids
        };
        let store = EmbeddedStore::open(dir.path(), &rules).unwrap();
        assert_eq!(
            pending(&store).await,
            before_crash,
            "the same deliveries, the same ids"
        );
        drop(store);
        // Opening again finds them in the outbox and adds nothing.
        let store = EmbeddedStore::open(dir.path(), &rules).unwrap();
        assert_eq!(pending(&store).await, before_crash);
    }

    #[tokio::test]
    async fn adding_a_channel_sends_nothing_about_the_past() {
        let dir = tempfile::tempdir().unwrap();
        let quiet = RuleSet::from_toml(RULES).unwrap();
        let events: Vec<Event> = vec![serde_json::from_value(share("e1", "ana")).unwrap()];
        {
            let store = EmbeddedStore::open(dir.path(), &quiet).unwrap();
            store.ingest(&quiet, &events).await.unwrap();
        }
        let store = EmbeddedStore::open(dir.path(), &rules()).unwrap();
        assert_eq!(pending(&store).await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn deliveries_wait_out_a_redis_outage_and_go_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    // Redis keeps its data through the outage (every write in its AOF).
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let store = StoreAt::Redis(redis.url(), prefix("notify-outage"));
    let receiver = Receiver::start(Script::Down).await;
    let rules = rules_with(dir.path(), &standard_channel(&receiver.url));
    let service = Service::start(&rules, &store, &[("FEED_SECRET", SECRET)]).await;
    let (status, _) = service
        .post("/v1/events", &json!({"events": [share("e1", "ana")]}))
        .await;
    assert_eq!(status, 200);
    receiver
        .until(Duration::from_secs(10), |s| !s.is_empty())
        .await;
    redis.kill();
    receiver.set(Script::Ok);
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    let seen = receiver
        .until(Duration::from_secs(30), |s| {
            first_shares(s, "ana").iter().any(|x| x.status == 200)
        })
        .await;
    let ana = first_shares(&seen, "ana");
    assert_eq!(
        ana.last().map(|s| s.status),
        Some(200),
        "delivered after the outage"
    );
    let ids: std::collections::HashSet<&String> =
        ana.iter().map(|s| &s.headers["webhook-id"]).collect();
    assert_eq!(ids.len(), 1);
}
