//! Redaction of sensitive metadata before any sink sees it.
//!
//! The `Auditor` (crate `audit-pipeline`) runs a [`Redactor`] over every event's metadata on its
//! worker: the value of any key that looks sensitive (`password`, `api_key`, `Authorization`,
//! `user_password`, `creditCardNumber`, …) is replaced by `"[REDACTED]"`, at any depth,
//! including objects inside arrays. The failure reason, free text that often quotes an
//! error, gets the same treatment for its `key=value` / `key: value` pairs and bearer
//! credentials ([`Redactor::redact_text`]). Other text fields (the description) are the
//! application's own words and are left alone.
//!
//! ```
//! use audit_core::redact::Redactor;
//! use serde_json::json;
//!
//! let mut metadata = json!({
//!     "user": "alice",
//!     "login": { "Password": "hunter2", "mfa": [{ "otp_token": "123456" }] },
//!     "headers": { "Set-Cookie": "sid=abc" },
//! });
//! Redactor::default().redact_value(&mut metadata);
//! assert_eq!(metadata, json!({
//!     "user": "alice",
//!     "login": { "Password": "[REDACTED]", "mfa": [{ "otp_token": "[REDACTED]" }] },
//!     "headers": { "Set-Cookie": "[REDACTED]" },
//! }));
//! ```
//!
//! # How keys match
//!
//! Keys are normalised first: lowercased, `camelCase` split, and `-`, `.` and spaces turned
//! into `_` (`Set-Cookie` → `set_cookie`, `apiKey` → `api_key`). A listed name of five or more
//! characters then matches anywhere inside the key (`user_password`, `x_auth_token`); a shorter
//! one (`ssn`, `cvv`, `pin`) must be a whole `_`-separated word, so `classname` is not taken
//! for an `ssn`.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use serde_json::Value;

use crate::event::AuditEvent;
use crate::validate::{MAX_TEXT_LEN, truncate};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The names redacted by [`Redactor::default`].
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "authorization",
    "cookie",
    "set_cookie",
    "session_key",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "secret_key",
    "credential",
    "credit_card",
    "creditcard",
    "card_number",
    "cardnumber",
    "cvv",
    "cvc",
    "ssn",
    "pin",
    "otp",
    "iban",
];

/// Names shorter than this must match a whole word of the key; longer ones match anywhere.
const SUBSTRING_MIN_LEN: usize = 5;

/// Replaces the values of sensitive metadata keys; see the [module docs](crate::redact).
#[derive(Debug, Clone)]
pub struct Redactor {
    keys: Vec<String>,
    /// All names in one automaton, so a key is scanned once rather than once per name (the
    /// worker checks every metadata key of every event). `None` when there are no names,
    /// or in the unlikely case the automaton cannot be built: then names are tried in turn.
    matcher: Option<AhoCorasick>,
}

impl PartialEq for Redactor {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl Eq for Redactor {}

impl Default for Redactor {
    /// Redacts [`DEFAULT_SENSITIVE_KEYS`].
    fn default() -> Self {
        Self::with_keys(DEFAULT_SENSITIVE_KEYS.iter().copied())
    }
}

impl Redactor {
    /// A redactor for exactly these key names (replacing the default list).
    ///
    /// ```
    /// use audit_core::redact::Redactor;
    /// let r = Redactor::with_keys(["pan"]);
    /// assert!(r.is_sensitive("PAN"));
    /// assert!(!r.is_sensitive("password"));
    /// ```
    pub fn with_keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys: Vec<String> = keys
            .into_iter()
            .map(|k| normalize(k.as_ref()).into_owned())
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        keys.dedup();
        Self::from_names(keys)
    }

    /// A redactor that redacts nothing.
    pub fn none() -> Self {
        Self::from_names(Vec::new())
    }

    fn from_names(keys: Vec<String>) -> Self {
        let matcher = if keys.is_empty() {
            None
        } else {
            AhoCorasick::new(&keys).ok()
        };
        Self { keys, matcher }
    }

    /// Adds a key name to the list.
    ///
    /// ```
    /// use audit_core::redact::Redactor;
    /// let r = Redactor::default().key("national_id");
    /// assert!(r.is_sensitive("nationalId"));
    /// assert!(r.is_sensitive("password"));
    /// ```
    pub fn key(self, name: impl AsRef<str>) -> Self {
        let name = normalize(name.as_ref());
        if name.is_empty() || self.keys.iter().any(|k| **k == *name) {
            return self;
        }
        let mut keys = self.keys;
        keys.push(name.into_owned());
        Self::from_names(keys)
    }

    /// Adds several key names to the list.
    pub fn keys<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names.into_iter().fold(self, |r, n| r.key(n))
    }

    /// The normalised names this redactor matches.
    pub fn sensitive_keys(&self) -> &[String] {
        &self.keys
    }

    /// Whether a metadata key's value would be redacted.
    pub fn is_sensitive(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let key = normalize(key);
        let Some(matcher) = &self.matcher else {
            return self.keys.iter().any(|name| {
                if name.len() >= SUBSTRING_MIN_LEN {
                    key.contains(name.as_str())
                } else {
                    contains_words(&key, name)
                }
            });
        };
        matcher
            .find_overlapping_iter(key.as_ref())
            .any(|m| m.len() >= SUBSTRING_MIN_LEN || is_word_at(&key, m.start(), m.end()))
    }

    /// Redacts the values of sensitive keys anywhere inside `value`, however deeply nested
    /// (the walk keeps its own stack, so no input can exhaust the thread's).
    pub fn redact_value(&self, value: &mut Value) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    for (key, v) in map.iter_mut() {
                        if self.is_sensitive(key) {
                            *v = Value::String(REDACTED.to_owned());
                        } else {
                            pending.push(v);
                        }
                    }
                }
                Value::Array(items) => pending.extend(items.iter_mut()),
                _ => {}
            }
        }
    }

    /// Redacts an event's metadata, and the secrets [`redact_text`](Self::redact_text) finds
    /// in its failure reason (often an error's `Display` text, which may quote a connection
    /// string or a request).
    ///
    /// ```
    /// use audit_core::{AuditEvent, redact::Redactor};
    ///
    /// let mut event = AuditEvent::builder("DB_CONNECT")
    ///     .failure("connect failed: password=hunter2 host=db")
    ///     .build();
    /// Redactor::default().redact_event(&mut event);
    /// assert_eq!(event.reason.as_deref(), Some("connect failed: password=[REDACTED] host=db"));
    /// ```
    pub fn redact_event(&self, event: &mut AuditEvent) {
        self.redact_value(&mut event.metadata);
        if let Some(reason) = &mut event.reason
            && let Cow::Owned(mut clean) = self.redact_text(reason)
        {
            // `[REDACTED]` can be longer than what it replaces: a reason within the limit
            // must stay within it, or redaction would make the event invalid.
            if reason.len() <= MAX_TEXT_LEN {
                truncate(&mut clean, MAX_TEXT_LEN);
            }
            *reason = clean;
        }
    }

    /// Redacts `key=value` and `key: value` pairs with a sensitive key, and bearer/basic
    /// credentials, inside free text such as an error message used as a failure reason.
    ///
    /// ```
    /// use audit_core::redact::Redactor;
    /// let r = Redactor::default();
    /// assert_eq!(
    ///     r.redact_text("connect failed: password=hunter2 host=db"),
    ///     "connect failed: password=[REDACTED] host=db"
    /// );
    /// assert_eq!(r.redact_text("Authorization: Bearer abc.def"), "Authorization: [REDACTED]");
    /// assert_eq!(r.redact_text("nothing to hide"), "nothing to hide");
    /// ```
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut copied = 0;
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            let Some((key_start, value_start)) = key_value_at(text, i) else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let value_end = value_end(text, value_start);
            let key_text = &text[key_start..key_end(text, key_start)];
            if value_end > value_start && self.is_sensitive(key_text) {
                out.push_str(&text[copied..value_start]);
                out.push_str(REDACTED);
                copied = value_end;
                i = value_end;
            } else {
                // The value may itself hold a pair (`failed: password=...`).
                i = value_start.max(i + 1);
            }
        }
        if copied == 0 {
            Cow::Borrowed(text)
        } else {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// If a `key=` / `key:` pair starts at `i` (a word start), returns (key start, value start).
fn key_value_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    if i > 0 && is_key_byte(bytes[i - 1]) {
        return None;
    }
    let end = key_end(text, i);
    if end == i {
        return None;
    }
    let mut j = end;
    // The closing quote of a quoted key (`"password": "x"`, JSON quoted in an error).
    if j < bytes.len() && matches!(bytes[j], b'"' | b'\'') {
        j += 1;
    }
    while j < bytes.len() && bytes[j] == b' ' {
        j += 1;
    }
    if j >= bytes.len() || !matches!(bytes[j], b'=' | b':') {
        return None;
    }
    j += 1;
    while j < bytes.len() && matches!(bytes[j], b' ' | b'"' | b'\'') {
        j += 1;
    }
    Some((i, j))
}

fn key_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = start;
    while end < bytes.len() && is_key_byte(bytes[end]) {
        end += 1;
    }
    end
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

/// Where a value ends: at whitespace or a separator; `Bearer`/`Basic` schemes take the
/// following credential too.
fn value_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let stop = |b: u8| b.is_ascii_whitespace() || matches!(b, b'&' | b',' | b';' | b'"' | b'\'');
    let mut end = start;
    while end < bytes.len() && !stop(bytes[end]) {
        end += 1;
    }
    let scheme = &text[start..end];
    if (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
        && end < bytes.len()
        && bytes[end] == b' '
    {
        end += 1;
        while end < bytes.len() && !stop(bytes[end]) {
            end += 1;
        }
    }
    end
}

/// Whether the `_`-separated words of `name` appear as consecutive words of `key`.
fn contains_words(key: &str, name: &str) -> bool {
    let mut rest = key;
    loop {
        if let Some(tail) = rest.strip_prefix(name)
            && (tail.is_empty() || tail.starts_with('_'))
        {
            return true;
        }
        match rest.find('_') {
            Some(i) => rest = &rest[i + 1..],
            None => return false,
        }
    }
}

/// Whether `key[start..end]` is a whole `_`-separated word.
fn is_word_at(key: &str, start: usize, end: usize) -> bool {
    let bytes = key.as_bytes();
    (start == 0 || bytes[start - 1] == b'_') && (end == bytes.len() || bytes[end] == b'_')
}

/// Lowercases, splits camelCase and maps `-`, `.` and spaces to `_`. Keys already in that
/// form (`duration_us`, `booking_id`: the usual case) are borrowed, not copied.
fn normalize(key: &str) -> Cow<'_, str> {
    if key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.trim().chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if matches!(c, '-' | '.' | ' ') {
            out.push('_');
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The automaton and the name-by-name fallback agree, on keys built from every name
    /// with every kind of neighbour (word boundaries, camelCase, separators, no separator).
    #[test]
    fn the_automaton_matches_exactly_like_trying_each_name() {
        let automaton = Redactor::default().key("pan");
        let fallback = Redactor {
            keys: automaton.keys.clone(),
            matcher: None,
        };
        let mut keys = Vec::new();
        for name in automaton.sensitive_keys() {
            for (before, after) in [
                ("", ""),
                ("x_", ""),
                ("", "_x"),
                ("my", ""),
                ("", "s"),
                ("userPass", ""),
                ("a.", "-b"),
                ("class", "name"),
                ("", "_pin_"),
            ] {
                keys.push(format!("{before}{name}{after}"));
                keys.push(format!("{before}{}{after}", name.to_uppercase()));
            }
        }
        keys.extend(
            [
                "classname",
                "duration_us",
                "spin_rate",
                "pinned",
                "",
                "_",
                "ß_pin",
            ]
            .map(String::from),
        );
        let mut sensitive = 0;
        for key in &keys {
            assert_eq!(
                automaton.is_sensitive(key),
                fallback.is_sensitive(key),
                "{key}"
            );
            sensitive += usize::from(automaton.is_sensitive(key));
        }
        assert!(sensitive > keys.len() / 2, "{sensitive} of {}", keys.len());
        assert!(sensitive < keys.len(), "{sensitive} of {}", keys.len());
    }
    use serde_json::json;

    #[test]
    fn normalisation_handles_case_dashes_and_camel_case() {
        assert_eq!(normalize("Set-Cookie"), "set_cookie");
        assert_eq!(normalize("apiKey"), "api_key");
        assert_eq!(normalize("X.Auth Token"), "x_auth_token");
    }

    #[test]
    fn default_list_matches_compound_keys() {
        let r = Redactor::default();
        for key in [
            "password",
            "PASSWORD",
            "user_password",
            "newPassword",
            "client-secret",
            "Authorization",
            "x-api-key",
            "APIKEY",
            "creditCardNumber",
            "card_number",
            "CVV",
            "user_ssn",
            "refresh_token",
        ] {
            assert!(r.is_sensitive(key), "{key}");
        }
        for key in [
            "user",
            "classname",
            "session_id",
            "description",
            "pinned",
            "spin",
        ] {
            assert!(!r.is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn redacts_inside_arrays_of_objects() {
        let mut v = json!({"items": [{"a": 1, "token": "t"}, [{"deep": {"secret": 1}}]]});
        Redactor::default().redact_value(&mut v);
        assert_eq!(
            v,
            json!({"items": [{"a": 1, "token": REDACTED}, [{"deep": {"secret": REDACTED}}]]})
        );
    }

    #[test]
    fn none_redacts_nothing() {
        let mut v = json!({"password": "x"});
        Redactor::none().redact_value(&mut v);
        assert_eq!(v, json!({"password": "x"}));
    }

    #[test]
    fn text_redaction_keeps_other_pairs() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_text("a=1&token=abc&b=2"),
            "a=1&token=[REDACTED]&b=2"
        );
        assert_eq!(
            r.redact_text("api_key: 'k-1' ok"),
            "api_key: '[REDACTED]' ok"
        );
    }

    #[test]
    fn a_redacted_reason_stays_within_the_length_limit() {
        let mut event = AuditEvent::builder("A")
            .failure("pin=1 ".repeat(MAX_TEXT_LEN / 6))
            .build();
        assert!(event.validate().is_ok());
        Redactor::default().redact_event(&mut event);
        let reason = event.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("pin=[REDACTED] pin=[REDACTED]"),
            "{reason}"
        );
        assert_eq!(event.validate(), Ok(()));
    }

    #[test]
    fn text_redaction_covers_json_quoted_in_a_message() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_text(r#"bad body {"user":"bob","password": "hunter2"}"#),
            r#"bad body {"user":"bob","password": "[REDACTED]"}"#
        );
        assert_eq!(r.redact_text("'Token'='t-1'"), "'Token'='[REDACTED]'");
    }
}
