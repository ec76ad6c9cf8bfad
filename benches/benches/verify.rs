//! Issue 7, item 5: verification rate of a 1M-event chain, SHA-256 and HMAC-SHA256.
//!
//! The alternative a user would otherwise run is the bare hash of each record, so the
//! "raw" line hashes the same canonical bytes with no classification logic: the ratio
//! shows what fault classification costs on top of hashing.

use std::hint::black_box;

use audit_core::chain::{ChainHash, ChainHasher, ChainVerifier, canonical_bytes};
use audit_core::{Actor, AuditEvent, StoredEvent};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn events() -> usize {
    std::env::var("AUDIT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn chain(hasher: &ChainHasher, n: usize) -> Vec<StoredEvent> {
    let mut prev = ChainHash::ZERO;
    (0..n)
        .map(|i| {
            let event = AuditEvent::builder("FTMS_BOOKING_CREATED")
                .actor(Actor::user(format!("user-{}", i % 1000)))
                .entity("booking", format!("b-{i}"))
                .ip(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]))
                .request_id(format!("req-{i:08}"))
                .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
                .description("booking created for a fitness class")
                .metadata_entry("seats", i % 7)
                .build();
            let hash = hasher.hash(&prev, &event);
            let record = StoredEvent {
                seq: i as u64 + 1,
                prev_hash: prev,
                hash,
                event,
            };
            prev = hash;
            record
        })
        .collect()
}

fn verification(c: &mut Criterion) {
    let n = events();
    let mut group = c.benchmark_group("verify_chain");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    for (name, hasher) in [
        ("sha256", ChainHasher::sha256()),
        ("hmac_sha256", ChainHasher::hmac_sha256(b"bench key")),
    ] {
        let records = chain(&hasher, n);
        group.bench_with_input(
            BenchmarkId::new("library_verifier", name),
            &records,
            |b, records| {
                b.iter(|| {
                    let mut verifier = ChainVerifier::new(hasher.clone());
                    for record in records {
                        let _ = verifier.push(record);
                    }
                    let report = verifier.finish(None);
                    assert!(report.is_valid());
                    black_box(report)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("raw_rehash", name),
            &records,
            |b, records| {
                b.iter(|| {
                    let mut buf = Vec::with_capacity(512);
                    let mut ok = true;
                    for record in records {
                        buf.clear();
                        buf.extend_from_slice(record.prev_hash.as_bytes());
                        canonical_bytes(&record.event, &mut buf);
                        ok &= hasher.hash_bytes(&buf) == record.hash;
                    }
                    black_box(ok)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
