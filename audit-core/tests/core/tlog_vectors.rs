//! Pins the tree (leaf entry v1, roots, proofs, checkpoint signing) to checked-in vectors,
//! checks them against the published RFC 6962 roots, and has an independent implementation
//! (`tests/independent/tlog_check.py`: hashlib and `cryptography`) verify both the vectors
//! and the proofs of a live log.
//!
//! Regenerate (only when adding vectors, never to follow a change):
//! `AUDIT_REGENERATE_VECTORS=1 cargo test -p audit-core --test core tlog_vectors`.

use std::path::{Path, PathBuf};
use std::process::Command;

use audit_core::chain::{ChainHash, canonical_bytes};
use audit_core::sinks::MemorySink;
use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Frontier, Keyring, TransparencyLog, leaf_hash,
    leaf_hash_of_entry,
};
use audit_core::{Actor, AuditEvent, AuditSink, Category, Severity};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TreeVectors {
    version: u8,
    about: String,
    leaves: Vec<Leaf>,
    roots: Vec<Root>,
    inclusion: Vec<audit_core::tlog::InclusionProof>,
    consistency: Vec<audit_core::tlog::ConsistencyProof>,
    checkpoint: CheckpointVector,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Leaf {
    seq: u64,
    entry_hex: String,
    leaf_hash: ChainHash,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Root {
    size: u64,
    root: ChainHash,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CheckpointVector {
    seed_hex: String,
    signer_key: String,
    verifying_key: String,
    note: String,
}

const ORIGIN: &str = "audit.example/vectors";
const SEED: [u8; 32] = [7; 32];

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/tlog_v1.json")
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/independent/tlog_check.py")
}

/// The chain vectors' five events, then eight more: thirteen leaves, every tree shape up to
/// a size that is neither a power of two nor one less.
fn events() -> Vec<AuditEvent> {
    let chain: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain_v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut events: Vec<AuditEvent> = chain["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| serde_json::from_value(v["event"].clone()).unwrap())
        .collect();
    for i in 0..8u32 {
        events.push(
            AuditEvent::builder(if i % 2 == 0 {
                "USER_LOGIN"
            } else {
                "FTMS_BOOKING_CREATED"
            })
            .id(format!("01890a5d-ac96-774b-bcce-b302099a81{i:02}")
                .parse()
                .unwrap())
            .occurred_at(Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, i).single().unwrap())
            .category(Category::Business)
            .severity(Severity::Notice)
            .actor(Actor::user(format!("user-{i}")))
            .entity("booking", format!("b-{i}"))
            .metadata(json!({ "seats": i, "tags": ["a", "ü"] }))
            .build(),
        );
    }
    events
}

async fn generate() -> TreeVectors {
    let signer = CheckpointSigner::from_seed(ORIGIN, &SEED).unwrap();
    let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer.clone()));
    let events = events();
    log.write(&events).await.unwrap();
    let n = events.len() as u64;
    let mut vectors = TreeVectors {
        version: 1,
        about: "RFC 6962 tree over audit events, leaf entry v1 = canonical_bytes v1 \
                (docs/chain.md section 6): leaves, roots of every size, inclusion proofs of \
                every leaf in every tree that holds it, consistency proofs between every \
                pair of sizes, and an Ed25519-signed C2SP checkpoint of the whole tree"
            .into(),
        leaves: Vec::new(),
        roots: Vec::new(),
        inclusion: Vec::new(),
        consistency: Vec::new(),
        checkpoint: CheckpointVector {
            seed_hex: hex::encode(SEED),
            signer_key: signer.private_key().into(),
            verifying_key: signer.verifying_key().into(),
            note: log
                .sign_checkpoint()
                .await
                .unwrap()
                .unwrap()
                .as_str()
                .into(),
        },
    };
    for (i, event) in events.iter().enumerate() {
        let mut entry = Vec::new();
        canonical_bytes(event, &mut entry);
        vectors.leaves.push(Leaf {
            seq: i as u64 + 1,
            entry_hex: hex::encode(&entry),
            leaf_hash: leaf_hash(event),
        });
    }
    for size in 0..=n {
        vectors.roots.push(Root {
            size,
            root: log.tree_head_at(size).await.unwrap().root,
        });
        for seq in 1..=size {
            vectors
                .inclusion
                .push(log.prove_inclusion(seq, size).await.unwrap());
        }
        for old in 0..=size {
            vectors
                .consistency
                .push(log.prove_consistency(old, size).await.unwrap());
        }
    }
    vectors
}

fn run_independent_check(path: &Path) {
    let output = Command::new("python3")
        .arg(script())
        .arg(path)
        .output()
        .expect("python3 runs (scripts/test.sh installs the cryptography package)");
    assert!(
        output.status.success(),
        "the independent check refused {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn tree_vectors_match_the_checked_in_file() {
    let generated = generate().await;
    if std::env::var_os("AUDIT_REGENERATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap();
        std::fs::write(vectors_path(), text + "\n").unwrap();
    }
    let stored: TreeVectors =
        serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    assert_eq!(generated, stored, "the tree or its encoding changed");
}

#[test]
fn the_checked_in_checkpoint_verifies_with_its_key_alone() {
    let stored: TreeVectors =
        serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let keys = Keyring::new(&stored.checkpoint.verifying_key).unwrap();
    let checkpoint = audit_core::tlog::SignedCheckpoint::parse(&stored.checkpoint.note).unwrap();
    let head = checkpoint.verify(&keys).unwrap();
    assert_eq!(head.size, 13);
    assert_eq!(head.root, stored.roots[13].root);
}

#[test]
fn the_independent_check_accepts_the_checked_in_vectors() {
    run_independent_check(&vectors_path());
}

#[tokio::test]
async fn the_independent_check_accepts_the_proofs_of_a_live_log() {
    // A log of 37 events (a size with five subtrees), proofs generated by the store.
    let signer = CheckpointSigner::generate("audit.example/live").unwrap();
    let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer.clone()));
    let events: Vec<AuditEvent> = (0..37)
        .map(|i| {
            AuditEvent::builder("LIVE_EVENT")
                .description(format!("event {i}"))
                .build()
        })
        .collect();
    log.write(&events).await.unwrap();
    let checkpoint = log.sign_checkpoint().await.unwrap().unwrap();
    let mut file = TreeVectors {
        version: 1,
        about: "live".into(),
        leaves: Vec::new(),
        roots: Vec::new(),
        inclusion: Vec::new(),
        consistency: Vec::new(),
        checkpoint: CheckpointVector {
            seed_hex: String::new(),
            signer_key: String::new(),
            verifying_key: signer.verifying_key().into(),
            note: checkpoint.as_str().into(),
        },
    };
    for (i, event) in events.iter().enumerate() {
        let mut entry = Vec::new();
        canonical_bytes(event, &mut entry);
        file.leaves.push(Leaf {
            seq: i as u64 + 1,
            entry_hex: hex::encode(&entry),
            leaf_hash: leaf_hash(event),
        });
    }
    for size in [1, 2, 3, 16, 17, 31, 32, 33, 36, 37] {
        file.roots.push(Root {
            size,
            root: log.tree_head_at(size).await.unwrap().root,
        });
    }
    for seq in 1..=37 {
        file.inclusion
            .push(log.prove_inclusion(seq, 37).await.unwrap());
    }
    for old in [1, 2, 3, 16, 17, 31, 32, 33, 36, 37] {
        file.consistency
            .push(log.prove_consistency(old, 37).await.unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.json");
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    run_independent_check(&path);
}

#[test]
fn roots_match_the_published_rfc6962_vectors() {
    // Certificate Transparency's reference tree (its merkle_tree tests): eight leaves and
    // the root of every prefix.
    let entries: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut frontier = Frontier::new();
    assert_eq!(
        frontier.root().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for (entry, root) in entries.iter().zip(roots) {
        frontier.append(leaf_hash_of_entry(entry));
        assert_eq!(frontier.root().to_hex(), root, "size {}", frontier.size());
    }
}
