//! Real processes for the tests: Redis servers on free ports with their own
//! data directories, and the service started through `Application::build`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engagement_service::{Application, Settings};
use serde_json::Value;

/// A `redis-server` of the test's own; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// Starts a Redis that keeps nothing on disk.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a Redis with extra arguments (e.g. AOF settings).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a temp dir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        // A port found free can be taken by another test before this
        // server binds it: then try another.
        for _ in 0..4 {
            if server.launch() {
                return server;
            }
            server.kill();
            server.port = free_port();
        }
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        if !self.launch() {
            panic!("redis-server on port {} did not start", self.port);
        }
    }

    /// Starts the server on its port; `false` when it did not answer.
    fn launch(&mut self) -> bool {
        self.kill();
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (the README's test command installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Exited: most likely the port was taken (and a PONG there would
        // be another server's).
        let exited = |child: &mut Option<Child>| {
            child
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some())
        };
        while Instant::now() < deadline {
            if exited(&mut self.child) {
                return false;
            }
            if self.cli(&["PING"]).is_some_and(|o| o.trim() == "PONG") {
                return !exited(&mut self.child);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Runs `redis-cli` against this server; `None` when it cannot connect.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (out.status.success() && !text.contains("Could not connect")).then_some(text)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of the test's own: three primaries and three replicas
/// on free ports (`redis-cli --cluster create`), killed when dropped.
/// Nodes give up on a silent peer after a second, so a killed primary's
/// replica takes over within a few seconds.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (the README's test command installs it)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster.wait_for_replicas();
        cluster
    }

    /// Until every primary's replica has caught up and streams.
    pub fn wait_for_replicas(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.live().all(|n| {
            n.cli(&["INFO", "replication"]).is_some_and(|info| {
                info.contains("role:slave")
                    || (info.contains("connected_slaves:1") && info.contains("state=online"))
            })
        }) {
            assert!(Instant::now() < deadline, "the replicas did not catch up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Until every live node says the cluster is ok and sees three primaries.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.live().all(|n| {
                n.cli(&["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
                    && n.cli(&["CLUSTER", "NODES"]).is_some_and(|nodes| {
                        nodes
                            .lines()
                            .filter(|l| l.contains("master") && !l.contains("fail"))
                            .count()
                            == 3
                    })
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn live(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// `ENGAGEMENT_REDIS_URL` for the cluster: every node.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Key prefixes of `n` deployments of `test` whose hash slots sit on
    /// `n` different primaries.
    pub fn spread(&self, test: &str, n: usize) -> Vec<String> {
        let mut primaries = std::collections::HashSet::new();
        let chosen: Vec<String> = (0..1000)
            .map(|i| prefix(&format!("{test}-{i}")))
            .filter(|p| primaries.insert(self.primary_of(&format!("{{{p}}}"))))
            .take(n)
            .collect();
        assert_eq!(chosen.len(), n, "no prefixes over {n} primaries");
        chosen
    }

    /// The index of the node that is primary for the slot of `key`.
    pub fn primary_of(&self, key: &str) -> usize {
        self.try_primary_of(key)
            .unwrap_or_else(|| panic!("no live primary holds the slot of {key}"))
    }

    /// The index of the node that is primary for the slot of `key`, as the
    /// first live node sees it; `None` while no live primary holds it.
    pub fn try_primary_of(&self, key: &str) -> Option<usize> {
        let any = self.live().next().expect("a live node");
        let slot: u16 = any
            .cli(&["CLUSTER", "KEYSLOT", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("a slot");
        let nodes = any.cli(&["CLUSTER", "NODES"]).expect("the cluster's nodes");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>() == Ok(slot),
            });
            if owns {
                let port: u16 = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .expect("a node port");
                return self.nodes.iter().position(|n| n.port == port);
            }
        }
        None
    }
}

/// Which store a test runs against.
pub enum Backend<'a> {
    Embedded(PathBuf),
    Redis(&'a RedisServer, String),
    /// A Redis Cluster, with the deployment's key prefix.
    Cluster(&'a RedisCluster, String),
}

/// A running service and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn spawn(backend: Backend<'_>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = match backend {
            Backend::Embedded(dir) => Settings::for_tests(dir),
            Backend::Redis(redis, prefix) => {
                let mut s = Settings::for_tests(PathBuf::from("unused"));
                s.redis_url = Some(redis.url());
                s.key_prefix = prefix;
                s
            }
            Backend::Cluster(cluster, prefix) => {
                let mut s = Settings::for_tests(PathBuf::from("unused"));
                s.redis_url = Some(cluster.url());
                s.key_prefix = prefix;
                s
            }
        };
        settings.rules = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules/knowledge-sharing.toml"
        ));
        tweak(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("the service builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            client: engagement_service::http_client()
                .build()
                .expect("an HTTP client"),
            handle,
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub async fn post_events(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/events", self.base))
            .json(body)
            .send()
            .await
            .expect("the service answers")
    }

    /// Posts events and expects 200; returns the results.
    pub async fn ingest(&self, body: &Value) -> Vec<Value> {
        let res = self.post_events(body).await;
        let status = res.status();
        let json: Value = res.json().await.expect("a JSON answer");
        assert_eq!(status, 200, "{json}");
        json["results"].as_array().cloned().unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, None).await
    }

    /// A GET with `token` as its bearer token, when given.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("the service answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the service answers");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    /// PUTs a rule file (TOML).
    pub async fn put_toml(&self, path: &str, source: &str) -> (u16, Value) {
        let res = self
            .client
            .put(format!("{}{path}", self.base))
            .header("content-type", "application/toml")
            .body(source.to_owned())
            .send()
            .await
            .expect("the service answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
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

    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
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
}

/// A running service and what keeps its store alive.
pub struct Fixture {
    pub app: TestApp,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisServer>,
}

impl Fixture {
    /// The service on an embedded store in a directory of its own.
    pub async fn embedded(tweak: impl FnOnce(&mut Settings)) -> Fixture {
        let dir = tempfile::tempdir().expect("a temp dir");
        let app = TestApp::spawn(Backend::Embedded(dir.path().to_path_buf()), tweak).await;
        Fixture {
            app,
            _dir: Some(dir),
            _redis: None,
        }
    }

    /// The service on a Redis of its own, keys prefixed for `test`.
    pub async fn redis(test: &str, tweak: impl FnOnce(&mut Settings)) -> Fixture {
        let server = RedisServer::start();
        let app = TestApp::spawn(Backend::Redis(&server, prefix(test)), tweak).await;
        Fixture {
            app,
            _dir: None,
            _redis: Some(server),
        }
    }
}

impl Fixture {
    /// Runs `redis-cli` against the fixture's Redis.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        let server = self._redis.as_ref().expect("a fixture on Redis");
        server.cli(args).expect("redis-cli runs")
    }
}

/// A generic event as JSON.
pub fn event(id: &str, kind: &str, actor: &str, at: &str) -> Value {
    serde_json::json!({"id": id, "kind": kind, "actor": actor, "occurred_at": at})
}

/// The same with a target authored by `author`.
pub fn event_on(id: &str, kind: &str, actor: &str, at: &str, target: &str, author: &str) -> Value {
    let mut e = event(id, kind, actor, at);
    e["target"] = serde_json::json!({"id": target, "author": author});
    e
}

/// A unique key prefix per test, so tests can share nothing by accident.
pub fn prefix(test: &str) -> String {
    format!("test-{test}-{}", std::process::id())
}
