//! `engagement`: the service and the community manager's command line.

use clap::Parser;

// Simulations, replays and request handling allocate small, short-lived
// values per event; mimalloc serves those markedly faster than the system
// allocator.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

fn main() -> std::process::ExitCode {
    engagement_service::allocator::configure();
    engagement_service::cli::run(engagement_service::cli::Cli::parse())
}
