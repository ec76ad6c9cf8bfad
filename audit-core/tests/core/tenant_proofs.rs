//! A tenant checks its own events against the operator's signed checkpoint, by inclusion
//! proofs, without seeing another tenant's events: `verify_tenant`, the scoped handle's
//! proofs and refusals, and tenant bundles checked offline (and what they cannot catch).

use audit_core::sinks::MemorySink;
use audit_core::store::{StoreError, TenantRefusal, VerifyScope};
use audit_core::tenant::{TenantScope, TenantScoped};
use audit_core::tlog::bundle::{BundleReport, verify_bundle, write_tenant_bundle};
use audit_core::tlog::{
    CheckpointPolicy, CheckpointSigner, Keyring, SignedCheckpoint, TransparencyLog, TreeFaultKind,
    verify_log, verify_tenant,
};
use audit_core::{AuditEvent, AuditSink, AuditStore};

const ORIGIN: &str = "audit.example/tenants";

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[7; 32]).unwrap()
}

fn operator_key() -> Keyring {
    Keyring::new(signer().verifying_key()).unwrap()
}

/// 30 events: seq `3k + 1` is acme's, `3k + 2` globex's, `3k + 3` has no tenant; and the
/// checkpoint the tenants hold.
async fn shared_log() -> (MemorySink, SignedCheckpoint) {
    let log = MemorySink::new().with_checkpoints(CheckpointPolicy::new(signer()).without_timer());
    let events: Vec<AuditEvent> = (0..30)
        .map(|i| {
            let b = AuditEvent::builder("INVOICE_SENT").description(format!("invoice {i}"));
            match i % 3 {
                0 => b.tenant("acme"),
                1 => b.tenant("globex"),
                _ => b,
            }
            .build()
        })
        .collect();
    log.write(&events).await.unwrap();
    let held = log.sign_checkpoint().await.unwrap().unwrap();
    (log, held)
}

fn acme(log: &MemorySink) -> TenantScoped<MemorySink> {
    log.clone().for_tenant("acme")
}

async fn check(log: &MemorySink, held: &SignedCheckpoint) -> audit_core::tlog::TenantReport {
    verify_tenant(&acme(log), VerifyScope::All, held, &operator_key())
        .await
        .unwrap()
}

fn faults(report: &audit_core::tlog::TenantReport) -> Vec<(u64, TreeFaultKind)> {
    report.faults.iter().map(|f| (f.seq, f.kind)).collect()
}

#[tokio::test]
async fn an_honest_tenant_range_verifies_and_counts_only_its_events() {
    let (log, held) = shared_log().await;
    let all = check(&log, &held).await;
    assert!(all.is_valid(), "{all:?}");
    assert_eq!((all.checked, all.from_seq, all.to_seq), (10, 1, 30));
    let range = VerifyScope::Range { from: 5, to: 16 };
    let part = verify_tenant(&acme(&log), range, &held, &operator_key())
        .await
        .unwrap();
    assert!(part.is_valid(), "{part:?}");
    // acme's seqs 7, 10, 13, 16.
    assert_eq!(part.checked, 4);
}

#[tokio::test]
async fn a_range_beyond_the_checkpoint_is_refused() {
    let (log, held) = shared_log().await;
    let err = verify_tenant(
        &acme(&log),
        VerifyScope::Range { from: 1, to: 31 },
        &held,
        &operator_key(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn a_checkpoint_not_signed_by_the_operator_proves_nothing() {
    let (log, _) = shared_log().await;
    let forger = CheckpointSigner::from_seed(ORIGIN, &[8; 32]).unwrap();
    let forged = forger.sign(log.tree_head().await.unwrap()).unwrap();
    let report = check(&log, &forged).await;
    assert!(!report.is_valid());
    assert_eq!(faults(&report), [(0, TreeFaultKind::BadCheckpoint)]);
}

#[tokio::test]
async fn another_tenants_seq_and_id_are_refused_with_a_typed_error() {
    let (log, held) = shared_log().await;
    let acme = acme(&log);
    let size = held.head().size;
    let globex = log.get(2).await.unwrap().unwrap();
    let err = acme.prove_inclusion(2, size).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Tenant(TenantRefusal::NotTenantSeq { seq: 2, .. })
        ),
        "{err}"
    );
    let err = acme
        .prove_inclusion_of(globex.event.id, size)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Tenant(TenantRefusal::NotTenantId { .. })),
        "{err}"
    );
    // An event without a tenant is not acme's either; nor is a seq beyond the log.
    for seq in [3, 31] {
        assert!(acme.prove_inclusion(seq, size).await.is_err(), "seq {seq}");
    }
    // The same refusal for another tenant's id and for an id nobody has.
    assert_eq!(acme.seq_of(globex.event.id).await.unwrap(), None);
    assert_eq!(acme.seq_of(uuid::Uuid::now_v7()).await.unwrap(), None);
    // acme's own events are proven, by seq and by id.
    let own = log.get(4).await.unwrap().unwrap();
    let proof = acme.prove_inclusion_of(own.event.id, size).await.unwrap();
    let head = held.verify(&operator_key()).unwrap();
    proof
        .verify(&audit_core::tlog::leaf_hash(&own.event), &head)
        .unwrap();
}

#[tokio::test]
async fn the_shared_log_is_the_operators_to_verify_read_raw_and_sign() {
    let (log, held) = shared_log().await;
    let acme = acme(&log);
    let shared =
        |err: StoreError| matches!(err, StoreError::Tenant(TenantRefusal::SharedLog { .. }));
    assert!(shared(acme.tree_rows(&[1, 2]).await.unwrap_err()));
    assert!(shared(acme.tree_size().await.unwrap_err()));
    assert!(shared(acme.sign_checkpoint().await.unwrap_err()));
    assert!(shared(
        acme.verify(VerifyScope::All, None).await.unwrap_err()
    ));
    // The whole-log verifier cannot be pointed at a tenant's view either.
    assert!(shared(
        verify_log(&acme, &held, &operator_key()).await.unwrap_err()
    ));
    // What holds only hashes is answered: checkpoints, roots, consistency proofs.
    assert_eq!(acme.latest_checkpoint().await.unwrap(), Some(held.clone()));
    let head = held.verify(&operator_key()).unwrap();
    let old = acme.tree_head_at(12).await.unwrap();
    acme.prove_consistency(12, 30)
        .await
        .unwrap()
        .verify(&old, &head)
        .unwrap();
}

#[tokio::test]
async fn a_tampered_tenant_event_is_named_at_its_seq() {
    let (log, held) = shared_log().await;
    log.tamper_modify(13, |r| r.event.description = Some("refunded".into()));
    let report = check(&log, &held).await;
    assert_eq!(faults(&report), [(13, TreeFaultKind::Modified)]);
    assert_eq!(report.checked, 10);
}

#[tokio::test]
async fn every_tampered_tenant_event_is_named_not_only_the_first() {
    let (log, held) = shared_log().await;
    for seq in [4, 22] {
        log.tamper_modify(seq, |r| r.event.action = "INVOICE_VOIDED".into());
    }
    assert_eq!(
        faults(&check(&log, &held).await),
        [(4, TreeFaultKind::Modified), (22, TreeFaultKind::Modified)]
    );
}

#[tokio::test]
async fn another_tenants_event_retagged_as_ours_is_named_at_its_seq() {
    let (log, held) = shared_log().await;
    log.tamper_modify(8, |r| r.event.tenant = Some("acme".into()));
    assert_eq!(
        faults(&check(&log, &held).await),
        [(8, TreeFaultKind::Modified)]
    );
}

#[tokio::test]
async fn a_tampered_event_is_named_even_when_the_tree_was_rebuilt_to_match() {
    let (log, held) = shared_log().await;
    log.tamper_modify(19, |r| r.event.description = Some("forged".into()));
    log.tamper_rebuild_tree();
    let report = check(&log, &held).await;
    // The rebuilt tree does not reach the signed root: every proof it gives fails.
    assert!(report.faults.iter().any(|f| f.seq == 19), "{report:?}");
    assert!(!report.is_valid());
}

#[tokio::test]
async fn another_tenants_tampered_event_is_not_ours_to_see() {
    let (log, held) = shared_log().await;
    log.tamper_modify(5, |r| r.event.description = Some("changed".into()));
    let report = check(&log, &held).await;
    assert!(report.is_valid(), "{report:?}");
    // The operator's whole-log verification names it.
    let whole = verify_log(&log, &held, &operator_key()).await.unwrap();
    assert_eq!(whole.fault.map(|f| f.seq), Some(5));
}

#[tokio::test]
async fn a_deleted_tenant_event_is_not_detected_by_inclusion_proofs_alone() {
    let (log, held) = shared_log().await;
    assert!(log.tamper_delete(10));
    // The documented limit: inclusion proofs show presence, never absence.
    let report = check(&log, &held).await;
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.checked, 9);
    // A tenant that kept the event's id finds it gone; the operator finds the gap.
    assert!(
        verify_log(&log, &held, &operator_key())
            .await
            .unwrap()
            .fault
            .is_some()
    );
}

// ----- tenant bundles -----

async fn acme_bundle(log: &MemorySink, held: &SignedCheckpoint) -> Vec<String> {
    let mut file = Vec::new();
    let written = write_tenant_bundle(&acme(log), 1, 30, held, &mut file)
        .await
        .unwrap();
    assert_eq!(written.records, 10);
    String::from_utf8(file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn verify_lines(lines: &[String]) -> BundleReport {
    let text = lines.join("\n") + "\n";
    verify_bundle(text.as_bytes(), &operator_key()).unwrap()
}

fn fault_of(report: &BundleReport) -> (u64, TreeFaultKind) {
    let fault = report.fault.as_ref().expect("a fault");
    (fault.seq, fault.kind)
}

fn edit(line: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    f(&mut value);
    value.to_string()
}

#[tokio::test]
async fn a_tenant_bundle_holds_no_other_tenants_event_and_verifies_offline() {
    let (log, held) = shared_log().await;
    let lines = acme_bundle(&log, &held).await;
    let report = verify_lines(&lines);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.records, 10);
    let header = report.header.unwrap();
    assert_eq!(header.tenant.as_deref(), Some("acme"));
    assert!(header.frontier.is_empty() && header.consistency.is_empty());
    let text = lines.join("\n");
    for record in log.records() {
        let mine = record.event.tenant.as_deref() == Some("acme");
        assert_eq!(
            text.contains(&record.event.id.to_string()),
            mine,
            "seq {}",
            record.seq
        );
    }
    assert!(!text.contains("globex"));
}

#[tokio::test]
async fn a_changed_record_in_a_tenant_bundle_is_named_at_its_seq() {
    let (log, held) = shared_log().await;
    let mut lines = acme_bundle(&log, &held).await;
    // Line 4 is acme's fourth event, seq 10.
    lines[4] = edit(&lines[4], |v| v["description"] = "paid twice".into());
    assert_eq!(
        fault_of(&verify_lines(&lines)),
        (10, TreeFaultKind::Modified)
    );
}

#[tokio::test]
async fn a_changed_proof_in_a_tenant_bundle_is_named_at_its_seq() {
    let (log, held) = shared_log().await;
    let mut lines = acme_bundle(&log, &held).await;
    lines[2] = edit(&lines[2], |v| v["proof"][0] = "00".repeat(32).into());
    assert_eq!(
        fault_of(&verify_lines(&lines)),
        (4, TreeFaultKind::Modified)
    );
}

#[tokio::test]
async fn another_tenants_record_spliced_into_a_tenant_bundle_is_named() {
    let (log, held) = shared_log().await;
    let mut lines = acme_bundle(&log, &held).await;
    let mut globex = Vec::new();
    write_tenant_bundle(&log.clone().for_tenant("globex"), 1, 30, &held, &mut globex)
        .await
        .unwrap();
    let globex: Vec<&str> = std::str::from_utf8(&globex).unwrap().lines().collect();
    // globex's seq 2, with its genuine proof, between acme's seqs 1 and 4.
    lines.insert(2, globex[1].to_owned());
    assert_eq!(
        fault_of(&verify_lines(&lines)),
        (2, TreeFaultKind::ForeignTenant)
    );
}

#[tokio::test]
async fn a_tenant_bundle_relabelled_for_another_tenant_is_refused() {
    let (log, held) = shared_log().await;
    let mut lines = acme_bundle(&log, &held).await;
    lines[0] = edit(&lines[0], |v| v["tenant"] = "globex".into());
    assert_eq!(
        fault_of(&verify_lines(&lines)),
        (1, TreeFaultKind::ForeignTenant)
    );
}

#[tokio::test]
async fn reordered_and_repeated_records_in_a_tenant_bundle_are_named() {
    let (log, held) = shared_log().await;
    let lines = acme_bundle(&log, &held).await;
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    assert_eq!(
        fault_of(&verify_lines(&swapped)),
        (7, TreeFaultKind::Reordered)
    );
    let mut repeated = lines.clone();
    repeated.insert(3, lines[3].clone());
    assert_eq!(
        fault_of(&verify_lines(&repeated)),
        (7, TreeFaultKind::Inserted)
    );
}

#[tokio::test]
async fn a_tenant_bundle_cut_short_is_truncated() {
    let (log, held) = shared_log().await;
    let lines = acme_bundle(&log, &held).await;
    // Cut at a line boundary: every record left verifies, the closing line is gone.
    let report = verify_lines(&lines[..8]);
    assert_eq!(fault_of(&report), (20, TreeFaultKind::Truncated));
    assert_eq!(report.records, 7);
}

#[tokio::test]
async fn a_record_removed_from_a_tenant_bundle_with_its_count_fixed_goes_unseen() {
    let (log, held) = shared_log().await;
    let mut lines = acme_bundle(&log, &held).await;
    lines.remove(5);
    // The count catches the removal...
    assert_eq!(fault_of(&verify_lines(&lines)).1, TreeFaultKind::Truncated);
    // ...until it is fixed too: the documented limit of unsigned lines.
    let last = lines.len() - 1;
    lines[last] = r#"{"records":9}"#.to_owned();
    assert!(verify_lines(&lines).is_valid());
}

#[tokio::test]
async fn a_store_that_no_longer_matches_the_checkpoint_writes_no_tenant_bundle() {
    let (log, held) = shared_log().await;
    log.tamper_modify(7, |r| r.event.description = Some("changed".into()));
    let err = write_tenant_bundle(&acme(&log), 1, 30, &held, Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("seq 7"), "{err}");
}
