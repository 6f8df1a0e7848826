//! Reading and checking a rule file: the one place that does it, for the
//! service's start and `SIGHUP`, `PUT /v1/admin/rules` and every
//! `engagement rules` command. Its errors read `FILE:LINE:COLUMN: message`,
//! one per line.

use std::fmt;
use std::path::Path;

use engagement_core::{RuleError, RuleSet};

use crate::app::LoadedRules;

/// Why a rule file cannot be used.
#[derive(Debug)]
pub enum RulesFileError {
    /// The file cannot be read.
    Unreadable { file: String, cause: std::io::Error },
    /// The text is not a valid rule file: every error, located.
    Invalid {
        file: String,
        errors: Vec<RuleError>,
    },
}

impl std::error::Error for RulesFileError {}

impl fmt::Display for RulesFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesFileError::Unreadable { file, cause } => write!(f, "{file}: cannot read: {cause}"),
            RulesFileError::Invalid { file, errors } => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{file}:{}:{}: {}", e.line, e.column, e.message)?;
                }
                Ok(())
            }
        }
    }
}

/// Reads and checks the rule file at `path`.
pub fn read(path: &Path) -> Result<LoadedRules, RulesFileError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|cause| RulesFileError::Unreadable {
        file: file.clone(),
        cause,
    })?;
    parse(&file, source)
}

/// Checks rule-file text; `file` names it in errors.
pub fn parse(file: &str, source: String) -> Result<LoadedRules, RulesFileError> {
    match RuleSet::from_toml(&source) {
        Ok(rules) => Ok(LoadedRules { rules, source }),
        Err(errors) => Err(RulesFileError::Invalid {
            file: file.to_owned(),
            errors: errors.0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_reads_file_line_column_message() {
        let err = match parse(
            "new.toml",
            "version = 2\n[engine]\ntimezone = \"Mars/Olympus\"\n[actions]\n".into(),
        ) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].starts_with("new.toml:1:11: unsupported version"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("new.toml:3:12: unknown time zone"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_says_which_and_why() {
        let err = match read(Path::new("/nonexistent/rules.toml")) {
            Ok(_) => panic!("read"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with("/nonexistent/rules.toml: cannot read:"),
            "{err}"
        );
    }
}
