//! The HTTP service and command line around `engagement-core`.

pub mod ahead;
pub mod allocator;
pub mod app;
pub mod cli;
pub mod credentials;
pub mod error;
pub mod generate;
pub mod import;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod routes;
pub mod rules_file;
pub mod rules_sync;
pub mod settings;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod webhooks;

pub use settings::Settings;
pub use startup::Application;

/// A builder of HTTP clients. Every client in this project starts here:
/// it puts the TLS cryptography in place (ring) first.
pub fn http_client() -> reqwest::ClientBuilder {
    static TLS: std::sync::Once = std::sync::Once::new();
    TLS.call_once(|| {
        // Fails only when a provider is already in place: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
