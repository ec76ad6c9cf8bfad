//! The one check for names spliced into SQL text (schemas, databases, table prefixes): they
//! cannot be bind parameters, so only plain lowercase identifiers are accepted, which never
//! need quoting surprises in either PostgreSQL or MySQL.

use std::sync::Arc;

use crate::error::{Error, Result};

/// What a name is for and the backend's rules for it.
pub(crate) struct NameRule {
    /// For the error message: `"schema name"`, `"table prefix"`, ...
    pub kind: &'static str,
    /// Longest allowed length in bytes.
    pub max_len: usize,
    /// A prefix the backend reserves for itself (PostgreSQL's `pg_`).
    pub reserved_prefix: Option<&'static str>,
}

impl NameRule {
    /// `name` if it is `[a-z_][a-z0-9_]*`, at most `max_len` bytes and not reserved.
    pub fn check(&self, name: &str) -> Result<Arc<str>> {
        let bytes = name.as_bytes();
        let plain = !bytes.is_empty()
            && bytes.len() <= self.max_len
            && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
        let reserved = self.reserved_prefix.is_some_and(|p| name.starts_with(p));
        if plain && !reserved {
            return Ok(name.into());
        }
        Err(Error::InvalidName {
            kind: self.kind,
            name: name.chars().take(80).collect(),
            max_len: self.max_len,
            extra: match self.reserved_prefix {
                Some(_) if reserved => ", not starting with the backend's reserved prefix",
                _ => "",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: NameRule = NameRule {
        kind: "test name",
        max_len: 63,
        reserved_prefix: Some("pg_"),
    };

    #[test]
    fn plain_lowercase_names_are_accepted() {
        for ok in ["audit", "_x", "a1_b2", &"a".repeat(63)] {
            assert!(RULE.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn names_that_would_need_quoting_are_refused() {
        for bad in [
            "",
            "Audit",
            "1a",
            "a-b",
            "a\"b",
            "a`b",
            "a;drop",
            "é",
            &"a".repeat(64),
        ] {
            assert!(RULE.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reserved_prefix_is_refused() {
        let err = RULE.check("pg_x").unwrap_err();
        assert!(err.to_string().contains("reserved prefix"), "{err}");
    }
}
