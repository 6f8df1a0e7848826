//! End-to-end tests: the real service over HTTP against real Redis
//! processes the tests start themselves, and the store conformance suite.
//! One binary, so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs each named scenario `async fn name(app: &TestApp)` of the module
/// it is used in against a service on the embedded store and on Redis,
/// started by the module's `embedded()` and `redis(test)`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let f = super::embedded().await;
                    super::$name(&f.app).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let f = super::redis(stringify!($name)).await;
                    super::$name(&f.app).await;
                }
            )*
        }
    };
}

mod api;
mod archive;
mod chromium;
mod cluster;
mod conformance;
mod credentials;
mod explain;
mod fair_play;
mod faults;
mod hostile;
mod insights;
mod insights_page;
mod notify;
mod pages;
mod records;
mod retention;
mod rule_versions;
mod support;
mod tuning;
mod webhooks;
