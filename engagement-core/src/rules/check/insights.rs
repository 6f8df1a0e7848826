//! Checks of the `[insights]` section: which listed actions ask, answer and
//! accept questions.

use super::super::checker::{Checker, Kinds};
use super::super::raw::RawInsights;
use super::super::{InsightRole, InsightRoles};

impl Checker<'_> {
    /// A role named in the file must be a listed action; a default role whose
    /// kind the file does not list simply never occurs.
    pub(in crate::rules) fn insights(
        &mut self,
        raw: Option<&RawInsights>,
        kinds: &Kinds<'_>,
    ) -> InsightRoles {
        let mut roles = vec![None; kinds.index.len()];
        let mut taken: Vec<(usize, InsightRole)> = Vec::new();
        for role in InsightRole::ALL {
            let named = raw.and_then(|r| match role {
                InsightRole::Question => r.question.as_ref(),
                InsightRole::Answer => r.answer.as_ref(),
                InsightRole::Accepted => r.accepted.as_ref(),
            });
            let action = match named {
                Some(kind) => self.kind(kinds, kind).map(|a| (a, Some(kind))),
                None => kinds.index.get(role.default_kind()).map(|&a| (a, None)),
            };
            let Some((action, named)) = action else {
                continue;
            };
            if let Some((_, other)) = taken.iter().find(|(a, _)| *a == action) {
                if let Some(kind) = named {
                    self.error(
                        kind.span(),
                        format!(
                            "\"{}\" is already the {} kind: one action plays one role",
                            kind.get_ref(),
                            other.as_str()
                        ),
                    );
                }
                continue;
            }
            taken.push((action, role));
            roles[action] = Some(role);
        }
        InsightRoles(roles)
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::{InsightRole, RuleSet};

    const BASE: &str = r#"
version = 1
[engine]
timezone = "UTC"
[actions]
"q.new" = { stage = "discover" }
"a.new" = { stage = "disseminate" }
"question.asked" = { stage = "discover" }
"#;

    #[test]
    fn default_kinds_play_their_roles_when_listed() {
        let rules = RuleSet::from_toml(BASE).unwrap();
        let asked = rules.action("question.asked").unwrap();
        assert_eq!(rules.insights.of(asked), Some(InsightRole::Question));
        assert_eq!(rules.insights.of(rules.action("a.new").unwrap()), None);
    }

    #[test]
    fn named_kinds_replace_the_defaults() {
        let src = format!("{BASE}[insights]\nquestion = \"q.new\"\nanswer = \"a.new\"\n");
        let rules = RuleSet::from_toml(&src).unwrap();
        let q = rules.action("q.new").unwrap();
        assert_eq!(rules.insights.of(q), Some(InsightRole::Question));
        let a = rules.action("a.new").unwrap();
        assert_eq!(rules.insights.of(a), Some(InsightRole::Answer));
        let old = rules.action("question.asked").unwrap();
        assert_eq!(rules.insights.of(old), None);
    }

    #[test]
    fn an_unlisted_kind_is_located() {
        let src = format!("{BASE}[insights]\nanswer = \"answer.postd\"\n");
        let err = RuleSet::from_toml(&src).unwrap_err().to_string();
        assert!(err.contains("10:10"), "{err}");
        assert!(
            err.contains("unknown action kind \"answer.postd\""),
            "{err}"
        );
    }

    #[test]
    fn one_kind_cannot_play_two_roles() {
        let src = format!("{BASE}[insights]\nquestion = \"q.new\"\nanswer = \"q.new\"\n");
        let err = RuleSet::from_toml(&src).unwrap_err().to_string();
        assert!(err.contains("11:10"), "{err}");
        assert!(err.contains("already the question kind"), "{err}");
    }
}
