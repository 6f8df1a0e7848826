//! Who takes part: members in 90-9-1 tiers, their names and communities.

use engagement_core::{CommunityId, MemberId};
use rand::RngExt;
use rand::seq::SliceRandom;

use super::{GenerateParams, Picker, Rng, valid};

/// Community ids in order of size; later ones are `community-N`.
const NAMED_COMMUNITIES: [&str; 10] = [
    "rules-of-origin",
    "trade-facilitation",
    "customs",
    "sps-measures",
    "tariffs",
    "digital-trade",
    "trade-remedies",
    "market-access",
    "logistics",
    "export-promotion",
];

const FIRST_NAMES: &str = "Ana Luis María Carlos Sofía Jorge Lucía Andrés Valentina Diego \
    Camila Pedro Amina Kwame Chen Priya Olga Tomás Fatima Ivan Grace Noah Leila Mateo";
const LAST_NAMES: &str = "Gómez Rodríguez Martínez López García Pérez Sánchez Ramírez Torres \
    Mensah Okafor Wang Patel Ivanova Silva Haddad Nguyen Müller Rossi Dubois Kim Costa Mendoza";

/// What a member is chosen for; indexes [`Tier::weights`] and [`Community::pickers`].
pub(super) const CREATE: usize = 0;
pub(super) const ASK: usize = 1;
pub(super) const CONSUME: usize = 2;

/// Where a member stands in the 90-9-1 pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Creator,
    Contributor,
    Reader,
}

impl Tier {
    /// The weight of one member when choosing who creates content, who asks
    /// and who consumes (likes, attends).
    fn weights(self) -> [f64; 3] {
        match self {
            Tier::Creator => [300.0, 20.0, 30.0],
            Tier::Contributor => [10.0, 6.0, 10.0],
            Tier::Reader => [0.15, 0.6, 1.0],
        }
    }
}

#[derive(Debug)]
pub(super) struct Community {
    pub(super) id: CommunityId,
    /// Its members, weighted for [`CREATE`], [`ASK`] and [`CONSUME`].
    pub(super) pickers: [Picker; 3],
}

#[derive(Debug)]
pub(super) struct Population {
    pub(super) ids: Vec<MemberId>,
    pub(super) names: Vec<String>,
    pub(super) communities: Vec<Community>,
    /// Where activity happens: the first communities are the busiest.
    pub(super) community_weights: Picker,
    /// Every member, weighted for [`CONSUME`].
    pub(super) everyone: Picker,
}

impl Population {
    pub(super) fn new(params: &GenerateParams, rng: &mut Rng) -> Population {
        let n = params.members;
        let n_communities = params.communities.max(1);
        let community_weights =
            Picker::new((0..n_communities as u32).map(|c| (c, 1.0 / f64::from(c + 1).powf(0.8))));

        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let creators = (n / 100).max(1);
        let contributors = (n * 9).div_ceil(100);
        let mut tier = vec![Tier::Reader; n];
        for (rank, m) in order.into_iter().enumerate() {
            if rank < creators {
                tier[m] = Tier::Creator;
            } else if rank < creators + contributors {
                tier[m] = Tier::Contributor;
            }
        }

        // Creators take part in several communities, readers in one or two;
        // within a tier, some members are much more active than others.
        let mut members_of: Vec<Vec<u32>> = vec![Vec::new(); n_communities];
        let mut activity = Vec::with_capacity(n);
        for (m, t) in tier.iter().enumerate() {
            let (extra, spread) = match t {
                Tier::Creator => (rng.random_range(2..=5), -0.7..0.7),
                Tier::Contributor => (rng.random_range(0..=2), -0.7..0.7),
                Tier::Reader => (usize::from(rng.random_bool(0.25)), -2.0..1.0),
            };
            activity.push(rng.random_range::<f64, _>(spread).exp());
            let mut joined: Vec<u32> = Vec::new();
            for _ in 0..(1 + extra) * 3 {
                if joined.len() > extra {
                    break;
                }
                if let Some(c) = community_weights.pick(rng)
                    && !joined.contains(&c)
                {
                    joined.push(c);
                }
            }
            for c in joined {
                members_of[c as usize].push(m as u32);
            }
        }
        for (c, list) in members_of.iter_mut().enumerate() {
            if list.is_empty() {
                list.push((c % n) as u32);
            }
        }

        let weighted = |list: &[u32], class: usize| {
            Picker::new(list.iter().map(|&m| {
                let m_idx = m as usize;
                (m, tier[m_idx].weights()[class] * activity[m_idx])
            }))
        };
        let communities = members_of
            .iter()
            .enumerate()
            .map(|(c, list)| Community {
                id: valid(CommunityId::parse(match NAMED_COMMUNITIES.get(c) {
                    Some(name) => (*name).to_owned(),
                    None => format!("community-{}", c + 1),
                })),
                pickers: [CREATE, ASK, CONSUME].map(|class| weighted(list, class)),
            })
            .collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let everyone = weighted(&all, CONSUME);

        let first: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
        let last: Vec<&str> = LAST_NAMES.split_whitespace().collect();
        let names = (0..n)
            .map(|_| {
                let f = first[rng.random_range(0..first.len())];
                let l = last[rng.random_range(0..last.len())];
                format!("{f} {l}")
            })
            .collect();
        Population {
            ids: (1..=n)
                .map(|i| valid(MemberId::parse(format!("m-{i}"))))
                .collect(),
            names,
            communities,
            community_weights,
            everyone,
        }
    }
}
