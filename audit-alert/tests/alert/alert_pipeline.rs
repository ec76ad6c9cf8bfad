//! The alert engine as an observer of a real `Auditor` pipeline.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_alert::{ALERT_ACTION, Alert, AlertEngine, AlertRule, ManualClock};
use audit_core::Severity;
use audit_core::auth::{self, LoginFailure};
use audit_core::sinks::MemorySink;
use audit_pipeline::Auditor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_rule_is_recorded_by_the_pipeline_and_reaches_the_handler() {
    let sink = MemorySink::new();
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = handled.clone();
    let engine = AlertEngine::new(move |alert: &Alert| {
        seen.lock().expect("lock").push(alert.key.clone());
    })
    .with_clock(ManualClock::starting_now())
    .rule(AlertRule::failed_logins_per_ip(5, Duration::from_secs(300)));
    let auditor = Auditor::builder(sink.clone())
        .observer(engine)
        .build()
        .expect("auditor");

    let ip: IpAddr = "203.0.113.50".parse().expect("ip");
    for _ in 0..5 {
        let mut event = auth::login_failed("mallory", LoginFailure::WrongPassword);
        event.ip = Some(ip);
        auditor.record(event);
    }
    auditor.shutdown().await.expect("shutdown drains");

    let events = sink.events();
    let alerts: Vec<_> = events.iter().filter(|e| e.action == ALERT_ACTION).collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::Critical);
    assert_eq!(alerts[0].ip, Some(ip));
    assert_eq!(*handled.lock().expect("lock"), ["203.0.113.50"]);
}
