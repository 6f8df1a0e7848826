//! A Redis of the benchmark's own, on a free port, keeping nothing on disk;
//! stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        let redis = Redis {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..400 {
            if redis.cli(&["PING"]).trim() == "PONG" {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis did not start");
    }

    /// Runs `redis-cli` against this server and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A field of `INFO memory`, in bytes (`used_memory`, `used_memory_peak`).
    #[allow(dead_code)]
    pub fn memory(&self, field: &str) -> u64 {
        self.cli(&["INFO", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Midnight (UTC) `days` days before today: generated activity that ends
/// today, so that Redis expires day and week keys (`retention_days`) as it
/// would in a live community, whatever day the bench runs. (A fixed start
/// in the past would see more of them expire the later it runs.)
#[allow(dead_code)]
pub fn days_ago(days: i64) -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    let midnight = now - now.rem_euclid(86_400);
    jiff::Timestamp::from_second(midnight - days * 86_400).unwrap()
}

/// Starts counting this process's peak memory afresh (Linux `clear_refs`),
/// so that what follows is measured without what came before.
#[allow(dead_code)]
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The most memory this process has held (`VmHWM`) since it started or
/// since [`reset_peak_rss`], in MiB.
#[allow(dead_code)]
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

impl Redis {
    /// Writes `events` to the log of deployment `prefix` with `redis-cli --pipe`.
    #[allow(dead_code)]
    pub fn write_log(&self, prefix: &str, events: &[engagement_core::Event]) {
        use std::io::Write;
        let key = format!("{{{prefix}}}:log");
        let mut child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        let bulk = |out: &mut dyn Write, s: &[u8]| {
            write!(out, "${}\r\n", s.len()).unwrap();
            out.write_all(s).unwrap();
            out.write_all(b"\r\n").unwrap();
        };
        for event in events {
            // Encoded as the service writes its log.
            let entry = engagement_service::store::compact::entry(
                &engagement_service::store::LogEntry::Event {
                    event: event.clone(),
                },
            );
            write!(stdin, "*5\r\n").unwrap();
            for part in [b"XADD".as_slice(), key.as_bytes(), b"*", b"entry", &entry] {
                bulk(&mut stdin, part);
            }
        }
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
