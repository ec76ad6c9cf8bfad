//! What changed: a field-level change set between two serde values (an entity before and
//! after an update), stored in the event's metadata under [`CHANGES_KEY`].
//!
//! The change set keeps the shape of the values it compares: `old` and `new` hold only the
//! leaves that differ, at their own paths, so the redaction rules that match a key
//! (`password`, `token`, …) redact a changed secret on both sides, exactly as anywhere else in
//! the metadata; and `added`, `removed` and `changed` list the paths (RFC 6901 JSON
//! pointers) for a reader and for queries. It lives in the metadata rather than in a field of
//! its own because the metadata is already covered by the chain's canonical encoding
//! (version 1): events with changes verify like every other, no store needs a new column,
//! and every event written before verifies unchanged.
//!
//! Large changes are cut, never silently: at most [`MAX_PATHS`] paths and [`MAX_BYTES`] of
//! values are kept, and nothing deeper than stored metadata may nest
//! ([`MAX_METADATA_DEPTH`]); a cut change set says `"truncated": true` with how many paths
//! were left out.
//!
//! ```
//! use audit_core::diff::Changes;
//! use audit_core::AuditEvent;
//! use serde_json::json;
//!
//! let before = json!({"title": "Draft", "tags": ["a"], "owner": {"id": 7}});
//! let after = json!({"title": "Final", "tags": ["a", "b"], "owner": {"id": 7}, "done": true});
//! let changes = Changes::between(&before, &after);
//! assert_eq!(changes.changed(), ["/title"]);
//! assert_eq!(changes.added(), ["/done", "/tags/1"]);
//!
//! let event = AuditEvent::builder("ARTICLE_UPDATED").changes(&changes).build();
//! assert_eq!(event.metadata["changes"]["old"]["title"], "Draft");
//! // The sparse `new` keeps array indexes as keys: only what changed is there.
//! assert_eq!(event.metadata["changes"]["new"]["tags"]["1"], "b");
//! ```
//!
//! An update handler records its change set with `#[audited]`'s `before` (an expression over
//! the arguments, serialized before the body runs) and `after` (a closure over the success
//! value), with no code in its body; a failed call records no change set:
//!
//! ```
//! use audit_core::{audited, testing};
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Profile { email: String, plan: String }
//!
//! #[audited("PROFILE_UPDATED", entity_type = "profile", before = current, after = |p| p)]
//! fn change_plan(current: &Profile, plan: &str) -> Result<Profile, String> {
//!     Ok(Profile { email: current.email.clone(), plan: plan.to_owned() })
//! }
//!
//! let current = Profile { email: "a@example.com".into(), plan: "free".into() };
//! let (_, captured) = testing::capture(|| change_plan(&current, "pro"));
//! let changes = &captured.single().metadata["changes"];
//! assert_eq!(changes["changed"], serde_json::json!(["/plan"]));
//! assert_eq!((&changes["old"]["plan"], &changes["new"]["plan"]), (&"free".into(), &"pro".into()));
//! ```

use serde::Serialize;
use serde_json::{Map, Value};

use crate::validate::MAX_METADATA_DEPTH;

/// The metadata key holding an event's change set.
pub const CHANGES_KEY: &str = "changes";

/// At most this many paths are kept.
pub const MAX_PATHS: usize = 200;

/// At most this many bytes of old and new values (as JSON) are kept.
pub const MAX_BYTES: usize = 16 * 1024;

/// A change set: the paths added, removed and changed between two values, and the old and
/// new leaves at those paths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    old: Value,
    new: Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(skip_serializing_if = "is_zero")]
    omitted: usize,
}

/// Whether the change set in `metadata` lists `path` as added, removed or changed (what
/// [`AuditQuery::changed`](crate::query::AuditQuery::changed) selects).
pub fn lists_path(metadata: &Value, path: &str) -> bool {
    let Some(changes) = metadata.get(CHANGES_KEY) else {
        return false;
    };
    ["added", "removed", "changed"].iter().any(|list| {
        changes
            .get(list)
            .and_then(Value::as_array)
            .is_some_and(|paths| paths.iter().any(|p| p.as_str() == Some(path)))
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A difference found at a path: its kind and the values before and after.
type Found<'a> = (Vec<String>, Kind, Option<&'a Value>, Option<&'a Value>);

/// What happened at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Added,
    Removed,
    Changed,
}

impl Changes {
    /// The change set from `old` to `new`. Objects are compared key by key and arrays index by
    /// index, at any depth (iteratively: no input can exhaust the stack); anything else that
    /// differs is one changed path.
    pub fn between(old: &Value, new: &Value) -> Self {
        let mut changes = Self {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            old: Value::Null,
            new: Value::Null,
            truncated: false,
            omitted: 0,
        };
        let mut bytes = 0usize;
        // (path segments, old, new); sorted keys so the change set is deterministic.
        let mut stack: Vec<(Vec<String>, Option<&Value>, Option<&Value>)> =
            vec![(Vec::new(), Some(old), Some(new))];
        let mut found: Vec<Found<'_>> = Vec::new();
        while let Some((path, a, b)) = stack.pop() {
            // Deeper than stored metadata may nest: one change, which `fits` then leaves out.
            let deep = path.len() + NESTING_ABOVE_PATHS >= MAX_METADATA_DEPTH;
            match (a, b) {
                (Some(x), Some(y)) if deep && x != y => found.push((path, Kind::Changed, a, b)),
                (Some(Value::Object(x)), Some(Value::Object(y))) => {
                    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                    keys.sort();
                    keys.dedup();
                    for key in keys.into_iter().rev() {
                        stack.push((child(&path, key), x.get(key), y.get(key)));
                    }
                }
                (Some(Value::Array(x)), Some(Value::Array(y))) => {
                    for i in (0..x.len().max(y.len())).rev() {
                        stack.push((child(&path, &i.to_string()), x.get(i), y.get(i)));
                    }
                }
                (Some(x), Some(y)) if x == y => {}
                (Some(_), Some(_)) => found.push((path, Kind::Changed, a, b)),
                (None, Some(_)) => found.push((path, Kind::Added, None, b)),
                (Some(_), None) => found.push((path, Kind::Removed, a, None)),
                (None, None) => {}
            }
        }
        for (path, kind, a, b) in found {
            let budget = MAX_METADATA_DEPTH.saturating_sub(NESTING_ABOVE_PATHS + path.len());
            let fits = [a, b]
                .into_iter()
                .flatten()
                .all(|v| nests_within(v, budget));
            let size = if fits {
                a.map_or(0, json_len) + b.map_or(0, json_len)
            } else {
                0
            };
            let kept = changes.added.len() + changes.removed.len() + changes.changed.len();
            if !fits || kept >= MAX_PATHS || bytes + size > MAX_BYTES {
                changes.truncated = true;
                changes.omitted += 1;
                continue;
            }
            bytes += size;
            if let Some(a) = a {
                place(&mut changes.old, &path, a.clone());
            }
            if let Some(b) = b {
                place(&mut changes.new, &path, b.clone());
            }
            let pointer = pointer(&path);
            match kind {
                Kind::Added => changes.added.push(pointer),
                Kind::Removed => changes.removed.push(pointer),
                Kind::Changed => changes.changed.push(pointer),
            }
        }
        changes.added.sort();
        changes.removed.sort();
        changes.changed.sort();
        changes
    }

    /// The change set of two serializable states (a struct before and after an update). A
    /// state that does not serialize counts as `null`.
    pub fn of<T: Serialize>(old: &T, new: &T) -> Self {
        let to_value = |v: &T| serde_json::to_value(v).unwrap_or(Value::Null);
        Self::between(&to_value(old), &to_value(new))
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.omitted == 0
    }

    /// Paths present only after.
    pub fn added(&self) -> &[String] {
        &self.added
    }

    /// Paths present only before.
    pub fn removed(&self) -> &[String] {
        &self.removed
    }

    /// Paths whose value changed.
    pub fn changed(&self) -> &[String] {
        &self.changed
    }

    /// Whether paths were left out ([`MAX_PATHS`], [`MAX_BYTES`]), and how many.
    pub fn truncated(&self) -> Option<usize> {
        self.truncated.then_some(self.omitted)
    }

    /// The change set as the metadata value stored under [`CHANGES_KEY`].
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The containers above a path's first segment once stored: the metadata object, `changes`,
/// and `old` or `new`.
const NESTING_ABOVE_PATHS: usize = 3;

/// Whether `value` nests at most `budget` containers deep (a scalar nests 0), checked
/// without recursion.
fn nests_within(value: &Value, budget: usize) -> bool {
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        if depth + 1 > budget {
            return false;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    true
}

fn child(path: &[String], segment: &str) -> Vec<String> {
    let mut path = path.to_vec();
    path.push(segment.to_owned());
    path
}

/// RFC 6901: `~` and `/` escaped in each segment; the root is the empty pointer.
fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len())
}

/// Puts `value` at `path` inside `root`, making objects along the way (array indexes become
/// object keys: the sparse `old`/`new` hold only what changed).
fn place(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut node = root;
    for segment in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return;
        };
        node = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_become_paths_with_sparse_old_and_new() {
        let c = Changes::between(
            &json!({"a": {"b": 1, "c": 2}, "gone": true}),
            &json!({"a": {"b": 1, "c": 3}, "x/y": "new"}),
        );
        assert_eq!(c.changed(), ["/a/c"]);
        assert_eq!(c.removed(), ["/gone"]);
        assert_eq!(c.added(), ["/x~1y"]);
        assert_eq!(c.old, json!({"a": {"c": 2}, "gone": true}));
        assert_eq!(c.new, json!({"a": {"c": 3}, "x/y": "new"}));
    }

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({"a": [1, {"b": null}]});
        assert!(Changes::between(&v, &v).is_empty());
    }

    #[test]
    fn a_value_replaced_by_another_type_is_one_change() {
        let c = Changes::between(&json!({"a": [1]}), &json!({"a": "one"}));
        assert_eq!(c.changed(), ["/a"]);
    }

    #[test]
    fn a_whole_document_replaced_is_the_root_path() {
        let c = Changes::between(&json!(1), &json!(2));
        assert_eq!(c.changed(), [""]);
        assert_eq!((c.old, c.new), (json!(1), json!(2)));
    }

    #[test]
    fn large_changes_are_cut_and_say_so() {
        let old: Map<String, Value> = (0..500).map(|i| (format!("k{i:03}"), json!(i))).collect();
        let c = Changes::between(&Value::Object(old), &json!({}));
        assert_eq!(c.removed().len(), MAX_PATHS);
        assert_eq!(c.truncated(), Some(300));
        assert_eq!(c.to_value()["truncated"], true);
        let big = "x".repeat(MAX_BYTES);
        let c = Changes::between(&json!({"a": 1, "b": big}), &json!({"a": 2}));
        assert_eq!(c.changed(), ["/a"]);
        assert_eq!(c.truncated(), Some(1));
    }

    #[test]
    fn deep_input_does_not_exhaust_the_stack() {
        let mut deep = json!(1);
        for _ in 0..20_000 {
            let mut level = Map::new();
            level.insert("n".to_owned(), deep);
            deep = Value::Object(level);
        }
        let c = Changes::between(&deep, &json!({}));
        assert!(c.removed().is_empty(), "too deep to store: left out");
        assert_eq!(c.truncated(), Some(1));
        // Dropping the deep input is serde_json's own recursion, not the diff's: keep it off
        // this test thread's stack.
        std::mem::forget(deep);
    }
}
