//! Linked identities: an alias (`github:ana`) stands for a member (`ana`),
//! so one person active on several platforms has one profile and one rank.
//!
//! Links are log entries like profile changes. They do not depend on the
//! rules, so a replay leaves them as they are; events are credited to the
//! member the alias stood for when they arrived.

use std::collections::HashMap;

use engagement_core::MemberId;

/// Why a set of aliases was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasRefused {
    #[error("\"{alias}\" is the member itself")]
    Itself { alias: MemberId },
    #[error("\"{alias}\" is already an alias of member \"{member}\"")]
    Taken { alias: MemberId, member: MemberId },
    #[error("\"{member}\" is itself an alias of \"{of}\": set the aliases on \"{of}\"")]
    IsAlias { member: MemberId, of: MemberId },
    #[error("\"{alias}\" has aliases of its own: link those to this member directly")]
    HasAliases { alias: MemberId },
}

/// Checks that `member` may take `aliases`: no alias is the member, is
/// linked to someone else, or has aliases itself, and the member is not an
/// alias. `owner` says whose alias an id is; `has_aliases` whether an id
/// has aliases of its own.
pub fn check(
    member: &MemberId,
    aliases: &[MemberId],
    owner: impl Fn(&MemberId) -> Option<MemberId>,
    has_aliases: impl Fn(&MemberId) -> bool,
) -> Result<(), AliasRefused> {
    if let Some(of) = owner(member) {
        return Err(AliasRefused::IsAlias {
            member: member.clone(),
            of,
        });
    }
    for alias in aliases {
        if alias == member {
            return Err(AliasRefused::Itself {
                alias: alias.clone(),
            });
        }
        if let Some(other) = owner(alias).filter(|o| o != member) {
            return Err(AliasRefused::Taken {
                alias: alias.clone(),
                member: other,
            });
        }
        if has_aliases(alias) {
            return Err(AliasRefused::HasAliases {
                alias: alias.clone(),
            });
        }
    }
    Ok(())
}

/// Every link, both ways.
#[derive(Debug, Default, Clone)]
pub struct AliasTable {
    owner: HashMap<MemberId, MemberId>,
    of: HashMap<MemberId, Vec<MemberId>>,
}

impl AliasTable {
    pub fn check(&self, member: &MemberId, aliases: &[MemberId]) -> Result<(), AliasRefused> {
        check(
            member,
            aliases,
            |id| self.owner.get(id).cloned(),
            |id| self.of.contains_key(id),
        )
    }

    /// Replaces the member's aliases (an empty list unlinks them all).
    pub fn set(&mut self, member: &MemberId, aliases: &[MemberId]) {
        for old in self.of.remove(member).unwrap_or_default() {
            self.owner.remove(&old);
        }
        for alias in aliases {
            self.owner.insert(alias.clone(), member.clone());
        }
        if !aliases.is_empty() {
            self.of.insert(member.clone(), aliases.to_vec());
        }
    }

    /// The member `id` is an alias of.
    pub fn resolve(&self, id: &MemberId) -> Option<&MemberId> {
        self.owner.get(id)
    }

    /// The member's aliases, in the order they were set.
    pub fn of(&self, member: &MemberId) -> Vec<MemberId> {
        self.of.get(member).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> MemberId {
        MemberId::parse(id).unwrap()
    }

    #[test]
    fn setting_aliases_replaces_the_members_earlier_ones() {
        let mut t = AliasTable::default();
        t.set(&m("ana"), &[m("discourse:ana"), m("github:ana")]);
        t.set(&m("ana"), &[m("github:ana")]);
        assert_eq!(t.resolve(&m("discourse:ana")), None);
        assert_eq!(t.resolve(&m("github:ana")), Some(&m("ana")));
        assert_eq!(t.of(&m("ana")), vec![m("github:ana")]);
        t.set(&m("ana"), &[]);
        assert_eq!(t.resolve(&m("github:ana")), None);
        assert!(t.of(&m("ana")).is_empty());
    }

    #[test]
    fn an_alias_of_someone_else_or_a_chain_is_refused() {
        let mut t = AliasTable::default();
        t.set(&m("ana"), &[m("github:ana")]);
        assert_eq!(
            t.check(&m("bo"), &[m("github:ana")]),
            Err(AliasRefused::Taken {
                alias: m("github:ana"),
                member: m("ana")
            })
        );
        assert_eq!(
            t.check(&m("github:ana"), &[m("x")]),
            Err(AliasRefused::IsAlias {
                member: m("github:ana"),
                of: m("ana")
            })
        );
        assert_eq!(
            t.check(&m("bo"), &[m("ana")]),
            Err(AliasRefused::HasAliases { alias: m("ana") })
        );
        assert_eq!(
            t.check(&m("bo"), &[m("bo")]),
            Err(AliasRefused::Itself { alias: m("bo") })
        );
        // Setting the same aliases again is fine.
        assert_eq!(t.check(&m("ana"), &[m("github:ana")]), Ok(()));
    }
}
