//! Building the application: rules, store, routes, server. `main` and the
//! tests both start the service through [`Application::build`].

use std::net::TcpListener;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::app::{AnyStore, AppState, LoadedRules, Tokens};
use crate::metrics::Metrics;
use crate::notify::send::Sender;
use crate::routes;
use crate::rules_file;
use crate::rules_sync;
use crate::settings::{BUNDLED_RULES, DEFAULT_RULES, Settings};
use crate::store::RulesOrigin;

/// A bound, not yet running, service.
pub struct Application {
    port: u16,
    server: Server,
    description: String,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Loads the rule file; the default path falls back to the bundled rules.
pub fn load_rules(settings: &Settings) -> anyhow::Result<LoadedRules> {
    if !settings.rules.exists() && settings.rules.as_os_str() == DEFAULT_RULES {
        return Ok(rules_file::parse(
            "bundled rules",
            BUNDLED_RULES.to_owned(),
        )?);
    }
    Ok(rules_file::read(&settings.rules)?)
}

/// The credentials' issuer: both `ENGAGEMENT_PUBLIC_URL` and
/// `ENGAGEMENT_SIGNING_KEY`, or neither (no credentials).
pub fn issuer(settings: &Settings) -> anyhow::Result<Option<crate::credentials::Issuer>> {
    match (&settings.public_url, &settings.signing_key) {
        (None, None) => Ok(None),
        (Some(url), Some(key)) => Ok(Some(
            crate::credentials::Issuer::load(url, key).map_err(anyhow::Error::msg)?,
        )),
        (Some(_), None) => anyhow::bail!(
            "ENGAGEMENT_PUBLIC_URL is set without ENGAGEMENT_SIGNING_KEY: credentials need both (`engagement keys generate --out FILE` writes a key)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "ENGAGEMENT_SIGNING_KEY is set without ENGAGEMENT_PUBLIC_URL: credentials need both"
        ),
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let loopback = settings.bind.ip().is_loopback();
        if !loopback && (settings.ingest_token.is_none() || settings.admin_token.is_none()) {
            anyhow::bail!(
                "refusing to listen on {} without credentials: set ENGAGEMENT_INGEST_TOKEN and ENGAGEMENT_ADMIN_TOKEN, or bind to 127.0.0.1",
                settings.bind
            );
        }
        let issuer = issuer(&settings)?;
        let mut loaded = load_rules(&settings)?;
        if settings.redis_url.is_none() {
            loaded = rules_sync::embedded_start(&settings.data_dir, loaded)?;
        }
        let store = AnyStore::open(&settings, &loaded.rules, 64)?;
        let store_name = store.describe(&settings);
        let rules_origin = if settings.rules.exists() {
            settings.rules.display().to_string()
        } else {
            "bundled rules".to_owned()
        };
        let tokens = Tokens {
            ingest: settings.ingest_token.clone(),
            admin: settings.admin_token.clone(),
            read: settings.read_token.clone(),
            discourse: settings.discourse_secret.clone(),
            github: settings.github_secret.clone(),
        };
        let metrics = Metrics::new()?;
        let sender = Sender::from_env(&loaded.rules).map_err(anyhow::Error::msg)?;
        let notifying = !sender.is_empty();
        let mut state = AppState::new(loaded, store, tokens, metrics, settings.retention(), sender);
        state.insights = settings.insights;
        state.fair_play = settings.fair_play;
        state.credentials = issuer.map(std::sync::Arc::new);
        let state = web::Data::new(state);
        // Before any request: the deployment's rules, stored or followed.
        let file = state.rules();
        let settled = Box::pin(rules_sync::settle(&state, &file)).await;
        tokio::spawn(rules_sync::run(state.clone(), file, settled));
        // The worker also runs without channels: deliveries left pending
        // by earlier rules still go out, or fail, as their channel says.
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(crate::notify::worker::run(state.clone()));
        }
        let _ = notifying;
        if settings.rules.exists() {
            reload_on_hangup(state.clone(), settings.rules.clone());
        }
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let mut server = HttpServer::new(move || {
            let metrics = state.metrics.clone();
            App::new()
                .app_data(state.clone())
                .wrap_fn(move |req, srv| {
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let started = Instant::now();
                    let metrics = metrics.clone();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let status = res.status().as_u16().to_string();
                        metrics
                            .requests
                            .with_label_values(&[route.as_str(), status.as_str()])
                            .inc();
                        metrics
                            .latency
                            .with_label_values(&[route.as_str()])
                            .observe(started.elapsed().as_secs_f64());
                        Ok(res)
                    }
                })
                .configure(routes::configure)
        })
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        let server = server.run();
        Ok(Application {
            port: address.port(),
            server,
            description: format!(
                "listening on http://{address} with the {store_name} store and {rules_origin}"
            ),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where it listens, which store and which rules: printed at start.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// On SIGHUP, reads the rule file again and swaps it in through the same
/// check as `PUT /v1/admin/rules`: a bad file is logged with every error's
/// line and column, and the rules in force stay.
fn reload_on_hangup(state: web::Data<AppState>, path: std::path::PathBuf) {
    #[cfg(unix)]
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut hangups =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::warn!(error = %e, "no reload on SIGHUP");
                    return;
                }
            };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match rules_file::read(&path) {
                    Ok(loaded) => {
                        let version = loaded.rules.version.clone();
                        match rules_sync::activate(&state, loaded, RulesOrigin::Reload).await {
                            Ok(()) => {
                                tracing::info!(file = %path.display(), %version, "rules reloaded")
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "rules not reloaded; the old rules stay in force")
                            }
                        }
                    }
                    Err(e) => {
                        for line in e.to_string().lines() {
                            tracing::error!("{line}");
                        }
                        tracing::error!(file = %path.display(), "rules not reloaded; the old rules stay in force");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (state, path);
}
