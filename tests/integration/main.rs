//! End-to-end tests: the real service over HTTP against real Redis
//! processes the tests start themselves, and the store conformance suite.
//! One binary, so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod chromium;
mod conformance;
mod explain;
mod faults;
mod hostile;
mod pages;
mod retention;
mod support;
mod tuning;
mod webhooks;
