//! The HTTP service and command line around `engagement-core`.

pub mod ahead;
pub mod app;
pub mod cli;
pub mod credentials;
pub mod error;
pub mod generate;
pub mod import;
pub mod ingest;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod rules_file;
pub mod settings;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod webhooks;

pub use settings::Settings;
pub use startup::Application;
