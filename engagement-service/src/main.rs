//! `engagement`: the service and the community manager's command line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    engagement_service::cli::run(engagement_service::cli::Cli::parse())
}
