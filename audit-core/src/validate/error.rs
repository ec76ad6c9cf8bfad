//! [`ValidationError`]: why an event, or a name read back from storage, is not acceptable.

/// Why an event (or a name read back from storage) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The action code is empty, too long, or uses characters outside the grammar.
    #[error("invalid action code {code:?}: {problem}")]
    ActionCode {
        /// The offending code (truncated to 64 characters).
        code: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A text field is longer than its limit.
    #[error("field `{field}` is {len} bytes, over the limit of {max}")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A text field contains a control character (other than tab in free text).
    #[error("field `{field}` contains a control character")]
    ControlCharacter {
        /// The field's name.
        field: &'static str,
    },
    /// The metadata is not a JSON object.
    #[error("metadata must be a JSON object, found {found}")]
    MetadataNotObject {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// The metadata nests objects and arrays deeper than
    /// [`MAX_METADATA_DEPTH`](crate::validate::MAX_METADATA_DEPTH): every backend must be
    /// able to read it back, and no thread's stack must depend on the input.
    #[error("metadata nests deeper than {max} levels")]
    MetadataTooDeep {
        /// The limit.
        max: usize,
    },
    /// A metadata key or string holds the NUL character, which some stores (PostgreSQL's
    /// `jsonb`) cannot hold.
    #[error("metadata holds the NUL character (\\u0000) in a key or a string")]
    MetadataNul,
    /// A stored name (category, outcome, severity, actor kind) is not known.
    #[error("unknown {kind} {value:?}")]
    UnknownName {
        /// Which enum was being parsed.
        kind: &'static str,
        /// The value found (truncated to 64 characters).
        value: String,
    },
}
