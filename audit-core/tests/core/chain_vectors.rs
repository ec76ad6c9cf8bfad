//! Pins the canonical encoding v1 and the chain hash rule to checked-in test vectors.
//!
//! `tests/vectors/chain_v1.json` holds events, their canonical bytes in hex, and their
//! chained SHA-256 and HMAC-SHA256 hashes. Any change to the encoding fails this test: a
//! new encoding needs a new version byte and a new vector file, never an edit of this one.
//!
//! The file was generated once with `AUDIT_REGENERATE_VECTORS=1 cargo test -p audit-core
//! --test chain_vectors`; regenerating it is only legitimate when adding vectors.

use std::path::PathBuf;

use audit_core::chain::{CANONICAL_VERSION, ChainHash, ChainHasher, canonical_bytes};
use audit_core::{Actor, AuditEvent, Category, Severity};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The HMAC key of the vectors: the ASCII bytes of this string.
const HMAC_KEY: &str = "audit-chain-test-key-v1";

#[derive(Debug, Serialize, Deserialize)]
struct VectorFile {
    version: u8,
    about: String,
    hmac_key_ascii: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Vector {
    name: String,
    event: AuditEvent,
    canonical_hex: String,
    sha256: Link,
    hmac_sha256: Link,
}

#[derive(Debug, Serialize, Deserialize)]
struct Link {
    prev_hash: ChainHash,
    hash: ChainHash,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain_v1.json")
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid date")
        + chrono::Duration::microseconds(i64::from(micros))
}

fn id(text: &str) -> Uuid {
    text.parse().expect("valid uuid")
}

/// The events of the vector file, built in code (used only to generate it).
fn source_events() -> Vec<(&'static str, AuditEvent)> {
    vec![
        (
            "minimal: only required fields, empty metadata",
            AuditEvent::builder("USER_LOGIN")
                .id(id("01890a5d-ac96-774b-bcce-b302099a8057"))
                .occurred_at(at(2024, 1, 2, 3, 4, 5, 0))
                .build(),
        ),
        (
            "every field, unicode text, IPv4",
            AuditEvent::builder("FTMS_BOOKING_CREATED")
                .id(id("01890a5d-ac96-774b-bcce-b302099a8058"))
                .occurred_at(at(2024, 2, 29, 23, 59, 59, 999_999))
                .category(Category::Business)
                .failure("Zoë hat keine Plätze — 座席なし")
                .actor(Actor::user("zoë@example.com"))
                .entity("booking", "b-42")
                .description("Buchung für 2 Personen 🚀\tmit Tab")
                .ip("203.0.113.7".parse().expect("ip"))
                .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
                .request_id("req-1")
                .session_id("sess-Ω")
                .tenant("acme")
                .severity(Severity::Warning)
                .metadata(json!({"seats": 2, "class": "economy"}))
                .build(),
        ),
        (
            "IPv6, nested metadata with arrays, escapes and unicode keys",
            AuditEvent::builder("authz.denied:admin-panel")
                .id(id("01890a5d-ac96-774b-bcce-b302099a8059"))
                .occurred_at(at(2025, 12, 31, 12, 0, 0, 1))
                .category(Category::Authorization)
                .denied("role `viewer` lacks `admin`")
                .actor(Actor::service("billing-svc"))
                .ip("2001:db8::1".parse().expect("ip"))
                .severity(Severity::Notice)
                .metadata(json!({
                    "z": {"b": [1, "x", {"k": null, "j": false}], "a": -1.5e-7},
                    "a": true,
                    "ä": "umlaut key",
                    "Z": 18446744073709551615u64,
                    "€": "quote \" backslash \\ newline \n ctrl \u{1} slash /",
                    "emoji 🎉": [],
                    "": {}
                }))
                .build(),
        ),
        (
            "IPv4-mapped IPv6, anonymous actor, before 1970",
            AuditEvent::builder("AUTHN_LOGIN_FAIL")
                .id(id("00000000-0000-7000-8000-000000000001"))
                .occurred_at(at(1969, 7, 20, 20, 17, 40, 123_456))
                .category(Category::Authentication)
                .failure("bad password")
                .actor(Actor::anonymous("mallory"))
                .ip("::ffff:10.0.0.1".parse().expect("ip"))
                .severity(Severity::Critical)
                .build(),
        ),
        (
            "system actor, empty strings present (distinct from absent)",
            AuditEvent::builder("AUDIT_ARCHIVED")
                .id(id("01890a5d-ac96-774b-bcce-b302099a805a"))
                .occurred_at(at(2026, 11, 23, 8, 0, 0, 0))
                .category(Category::System)
                .actor(Actor::system(""))
                .entity_type("")
                .description("")
                .severity(Severity::Error)
                .metadata(json!({"range": [1, 1000], "archive_sha256": "00ff"}))
                .build(),
        ),
    ]
}

fn encode(event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::new();
    canonical_bytes(event, &mut out);
    out
}

/// Computes the vectors for `events`, chaining each hasher from the zero hash.
fn compute(events: Vec<(String, AuditEvent)>) -> Vec<Vector> {
    let sha = ChainHasher::sha256();
    let hmac = ChainHasher::hmac_sha256(HMAC_KEY.as_bytes());
    let (mut prev_sha, mut prev_hmac) = (ChainHash::ZERO, ChainHash::ZERO);
    events
        .into_iter()
        .map(|(name, event)| {
            let sha256 = Link {
                prev_hash: prev_sha,
                hash: sha.hash(&prev_sha, &event),
            };
            let hmac_sha256 = Link {
                prev_hash: prev_hmac,
                hash: hmac.hash(&prev_hmac, &event),
            };
            prev_sha = sha256.hash;
            prev_hmac = hmac_sha256.hash;
            Vector {
                name,
                canonical_hex: hex::encode(encode(&event)),
                event,
                sha256,
                hmac_sha256,
            }
        })
        .collect()
}

#[test]
fn canonical_encoding_and_hashes_match_the_checked_in_vectors() {
    if std::env::var_os("AUDIT_REGENERATE_VECTORS").is_some() {
        let events = source_events()
            .into_iter()
            .map(|(name, event)| (name.to_string(), event))
            .collect();
        let file = VectorFile {
            version: CANONICAL_VERSION,
            about: "audit chain test vectors: canonical encoding v1 (docs/chain.md); \
                    hash = H(prev_hash || canonical_bytes), chained from 32 zero bytes, \
                    H = SHA-256 or HMAC-SHA256 keyed with the ASCII bytes of hmac_key_ascii"
                .into(),
            hmac_key_ascii: HMAC_KEY.into(),
            vectors: compute(events),
        };
        let text = serde_json::to_string_pretty(&file).expect("serialize") + "\n";
        std::fs::write(path(), text).expect("write vectors");
    }

    let text = std::fs::read_to_string(path()).expect("tests/vectors/chain_v1.json is readable");
    let file: VectorFile = serde_json::from_str(&text).expect("vector file parses");
    assert_eq!(file.version, CANONICAL_VERSION);
    assert_eq!(file.hmac_key_ascii, HMAC_KEY);
    assert!(file.vectors.len() >= 5, "the vector file lost entries");

    let expected: Vec<_> = file.vectors.iter().collect();
    let events = file
        .vectors
        .iter()
        .map(|v| (v.name.clone(), v.event.clone()))
        .collect();
    let actual = compute(events);
    for (want, got) in expected.iter().zip(&actual) {
        assert_eq!(
            got.canonical_hex, want.canonical_hex,
            "canonical bytes changed for {:?}",
            want.name
        );
        assert_eq!(got.sha256.prev_hash, want.sha256.prev_hash, "{}", want.name);
        assert_eq!(
            got.sha256.hash, want.sha256.hash,
            "SHA-256 of {:?}",
            want.name
        );
        assert_eq!(
            got.hmac_sha256.hash, want.hmac_sha256.hash,
            "HMAC of {:?}",
            want.name
        );
    }
}

#[test]
fn the_vector_events_are_the_ones_built_in_code() {
    // Guards against hand edits of the file's events that would still "pass".
    let text = std::fs::read_to_string(path()).expect("vector file");
    let file: VectorFile = serde_json::from_str(&text).expect("vector file parses");
    let built = source_events();
    assert_eq!(file.vectors.len(), built.len());
    for (vector, (name, event)) in file.vectors.iter().zip(built) {
        assert_eq!(vector.name, name);
        assert_eq!(vector.event, event, "{name}");
    }
}

#[test]
fn the_encoding_starts_with_the_version_byte_and_the_id() {
    let (_, event) = source_events().remove(0);
    let bytes = encode(&event);
    assert_eq!(bytes[0], 1);
    assert_eq!(&bytes[1..17], event.id.as_bytes());
    assert_eq!(
        &bytes[17..25],
        &event.occurred_at.timestamp_micros().to_be_bytes()
    );
}
