//! The reference backend passes the conformance suite, with SHA-256 and with HMAC-SHA256.

use audit_conformance::{self as conformance, Backend};
use audit_core::ChainHasher;
use audit_core::sinks::MemorySink;

fn backend(sink: MemorySink) -> Backend {
    Backend::new(sink.clone(), sink.clone()).with_tamper(sink)
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_sink_passes_the_conformance_suite() {
    conformance::run(|| async { backend(MemorySink::new()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_sink_with_hmac_passes_the_conformance_suite() {
    conformance::run(|| async {
        backend(MemorySink::with_hasher(ChainHasher::hmac_sha256(
            b"conformance key",
        )))
    })
    .await;
}

#[tokio::test]
async fn a_backend_without_tamper_hook_skips_only_those_checks() {
    conformance::run(|| async {
        let sink = MemorySink::new();
        Backend::new(sink.clone(), sink)
    })
    .await;
}
