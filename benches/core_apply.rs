//! Events per second through the core: the pure engine, and the in-memory
//! store around it, on a generated stream under the canonical rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The same fixed-seed fast hash the in-memory deployment uses for its maps.
type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;
// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use engagement_core::{Effects, Event, EventId, MemberId, MemberState, Memory, RuleSet};
use engagement_service::generate::{GenerateParams, generate};

/// 2,000 members in 14 communities; 400 days at the default rate of one
/// event per member every four days make 200,000 events.
fn stream() -> Vec<Event> {
    generate(&GenerateParams {
        members: 2_000,
        communities: 14,
        days: 400,
        seed: 7,
        start: "2026-01-05T05:00:00Z".parse().unwrap(),
        events: None,
        rings: Vec::new(),
    })
}

type Kept = HashMap<EventId, Box<Effects>>;

/// Applies every event with fresh member states, keeping the effects of
/// applied events for later revocations, as a store does.
fn apply_all(
    rules: &RuleSet,
    events: &[Event],
    mut members: HashMap<MemberId, MemberState>,
    mut kept: Kept,
) -> (HashMap<MemberId, MemberState>, Kept) {
    for event in events {
        let revoked = event.revokes.as_ref().and_then(|id| kept.get_mut(id));
        let revoked = revoked.map(|effects| &mut **effects);
        let outcome = rules.apply(&mut members, event, revoked);
        // Every increment made, as a store takes them in.
        outcome.for_each_increment(rules, |inc| {
            black_box(inc);
        });
        if outcome.sign > 0
            && let Some(effects) = outcome.effects
        {
            kept.insert(event.id.clone(), effects);
        }
    }
    (members, kept)
}

fn core_apply(c: &mut Criterion) {
    engagement_service::allocator::configure();
    let rules = RuleSet::from_toml(include_str!("../rules/knowledge-sharing.toml")).unwrap();
    let events = stream();
    let mut group = c.benchmark_group("core");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(events.len() as u64));

    group.bench_function("engine_apply", |b| {
        b.iter_batched(
            || (HashMap::default(), Kept::default()),
            |(members, kept)| apply_all(&rules, &events, members, kept),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("memory_ingest", |b| {
        b.iter_batched(
            Memory::default,
            |mut memory| {
                for event in &events {
                    black_box(memory.ingest(&rules, event));
                }
                memory
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, core_apply);
criterion_main!(benches);
