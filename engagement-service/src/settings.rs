//! Typed settings from `ENGAGEMENT_*` environment variables (flags mirror them).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// How the service runs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "ENGAGEMENT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Rule file; the bundled canonical rules when the default path is missing.
    #[arg(long, env = "ENGAGEMENT_RULES", default_value = DEFAULT_RULES)]
    pub rules: PathBuf,
    /// Redis URL; unset means the embedded store. Several comma-separated
    /// `redis://host:port` URLs are the nodes of a Redis Cluster.
    #[arg(long, env = "ENGAGEMENT_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Replicas that must confirm every write (Redis `WAIT`) before it is
    /// acknowledged; 0 acknowledges once the primary has it.
    #[arg(long, env = "ENGAGEMENT_REDIS_MIN_REPLICAS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_min_replicas: u32,
    /// Directory of the embedded store's event log.
    #[arg(long, env = "ENGAGEMENT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Namespace of every Redis key.
    #[arg(long, env = "ENGAGEMENT_KEY_PREFIX", default_value = "engagement")]
    pub key_prefix: String,
    /// Days a day or week leaderboard is kept after it ends (0 to 36,500).
    #[arg(long, env = "ENGAGEMENT_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub retention_days: u32,
    #[arg(long, env = "ENGAGEMENT_INGEST_TOKEN", hide_env_values = true)]
    pub ingest_token: Option<String>,
    #[arg(long, env = "ENGAGEMENT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// When set, reads need it too.
    #[arg(long, env = "ENGAGEMENT_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
    #[arg(long, env = "ENGAGEMENT_DISCOURSE_SECRET", hide_env_values = true)]
    pub discourse_secret: Option<String>,
    #[arg(long, env = "ENGAGEMENT_GITHUB_SECRET", hide_env_values = true)]
    pub github_secret: Option<String>,
    /// Whether knowledge-flow insights (`GET /v1/insights`) are kept.
    #[arg(long, env = "ENGAGEMENT_INSIGHTS", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub insights: bool,
    /// Whether fair-play tallies (`GET /v1/admin/fair-play`) are kept. The
    /// pair cap of `[fair_play]` applies either way.
    #[arg(long, env = "ENGAGEMENT_FAIR_PLAY", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub fair_play: bool,
    /// The service's public address (e.g. `https://engage.example.org`):
    /// credentials and their issuer are named under it.
    #[arg(long, env = "ENGAGEMENT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The P-256 private key credentials are signed with, in PKCS#8 PEM: the
    /// PEM itself or the path of a file holding it (`engagement keys
    /// generate --out FILE` writes one).
    #[arg(long, env = "ENGAGEMENT_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "ENGAGEMENT_WORKERS")]
    pub workers: Option<usize>,
}

pub const DEFAULT_RULES: &str = "rules/knowledge-sharing.toml";

/// The canonical rule file, built into the binary.
pub const BUNDLED_RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

impl Settings {
    /// How long day and week boards stay after they end, on either store.
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            days: self.retention_days,
        }
    }

    /// Settings for tests: port 0 on loopback, embedded store in `data_dir`.
    pub fn for_tests(data_dir: PathBuf) -> Settings {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules: PathBuf::from(DEFAULT_RULES),
            redis_url: None,
            redis_min_replicas: 0,
            data_dir,
            key_prefix: "engagement".to_owned(),
            retention_days: 90,
            ingest_token: None,
            admin_token: None,
            read_token: None,
            discourse_secret: None,
            github_secret: None,
            insights: true,
            fair_play: true,
            public_url: None,
            signing_key: None,
            workers: Some(2),
        }
    }
}
