//! Issue 7, item 6: peak memory of a producer flooding a slow sink, per overflow policy.
//!
//! A plain `main` (no criterion: the figure is a peak, not a time). For each scenario the
//! binary re-runs itself as a child process, so every peak RSS (`VmHWM` in
//! `/proc/self/status`) belongs to one scenario alone. Each child builds an [`Auditor`]
//! over a sink that sleeps per batch and keeps nothing, floods it with `N` events from a
//! plain thread, shuts down (draining what was accepted), and prints one line of figures.
//!
//! Scenarios: each [`OverflowPolicy`] at two queue capacities; `Block` also from inside a
//! tokio runtime, where `record` refuses to block the executor and accepts events past the
//! capacity, and with `record_async().await`, which waits instead; a producer with no
//! pipeline (the floor); and an unbounded tokio channel drained at the same speed (what
//! memory does without a bound).
//!
//! `AUDIT_BENCH_MEMORY_EVENTS` sets `N` (default 200 000).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::{Actor, AuditEvent, AuditSink, BatchAck, SinkError};
use audit_pipeline::Auditor;
use audit_pipeline::OverflowPolicy;

/// Set in a child process: the scenario it runs.
const CHILD_ENV: &str = "AUDIT_BENCH_MEMORY_SCENARIO";
const MAX_BATCH: usize = 128;
/// Per batch of `MAX_BATCH`: about 100k events/s at best, several times slower than the
/// producer, so the queue fills within milliseconds.
const BATCH_DELAY: Duration = Duration::from_millis(1);
const CAPACITIES: [usize; 2] = [1 << 10, 1 << 16];

/// Sleeps per batch, keeps nothing, counts what it was given.
struct SlowSink {
    written: Arc<AtomicU64>,
}

#[async_trait]
impl AuditSink for SlowSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        tokio::time::sleep(BATCH_DELAY).await;
        self.written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(BatchAck::unchained())
    }
}

/// A realistic event (about 300 bytes of canonical encoding), distinct per `i`.
fn event(i: usize) -> AuditEvent {
    AuditEvent::builder("FTMS_BOOKING_CREATED")
        .actor(Actor::user(format!("user-{}", i % 1000)))
        .entity("booking", format!("b-{i}"))
        .ip(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]))
        .request_id(format!("req-{i:08}"))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) bench")
        .description("booking created for a fitness class")
        .metadata_entry("seats", i % 7)
        .build()
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status =
        std::fs::read_to_string("/proc/self/status").expect("cannot read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no VmHWM in /proc/self/status")
}

fn events() -> usize {
    std::env::var("AUDIT_BENCH_MEMORY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// How the producer hands events over.
#[derive(Clone, Copy, Debug)]
enum Producer {
    /// `Auditor::record` from a plain thread.
    Thread,
    /// `Auditor::record` from inside a tokio runtime.
    RuntimeRecord,
    /// `Auditor::record_async().await` inside a tokio runtime.
    RuntimeRecordAsync,
}

#[derive(Clone, Debug)]
enum Scenario {
    Floor,
    Unbounded,
    Pipeline {
        policy: OverflowPolicy,
        capacity: usize,
        producer: Producer,
    },
}

impl Scenario {
    fn all() -> Vec<Scenario> {
        let mut all = vec![Scenario::Floor];
        for policy in [
            OverflowPolicy::Block,
            OverflowPolicy::DropNewest,
            OverflowPolicy::Spool,
        ] {
            for capacity in CAPACITIES {
                all.push(Scenario::Pipeline {
                    policy,
                    capacity,
                    producer: Producer::Thread,
                });
            }
        }
        for producer in [Producer::RuntimeRecordAsync, Producer::RuntimeRecord] {
            all.push(Scenario::Pipeline {
                policy: OverflowPolicy::Block,
                capacity: CAPACITIES[0],
                producer,
            });
        }
        all.push(Scenario::Unbounded);
        all
    }

    fn encode(&self) -> String {
        match self {
            Scenario::Floor => "floor".into(),
            Scenario::Unbounded => "unbounded".into(),
            Scenario::Pipeline {
                policy,
                capacity,
                producer,
            } => format!("{policy:?}:{capacity}:{producer:?}"),
        }
    }

    fn decode(s: &str) -> Option<Scenario> {
        match s {
            "floor" => return Some(Scenario::Floor),
            "unbounded" => return Some(Scenario::Unbounded),
            _ => {}
        }
        let mut parts = s.split(':');
        let policy = match parts.next()? {
            "Block" => OverflowPolicy::Block,
            "DropNewest" => OverflowPolicy::DropNewest,
            "Spool" => OverflowPolicy::Spool,
            _ => return None,
        };
        let capacity = parts.next()?.parse().ok()?;
        let producer = match parts.next()? {
            "Thread" => Producer::Thread,
            "RuntimeRecord" => Producer::RuntimeRecord,
            "RuntimeRecordAsync" => Producer::RuntimeRecordAsync,
            _ => return None,
        };
        Some(Scenario::Pipeline {
            policy,
            capacity,
            producer,
        })
    }

    fn label(&self) -> String {
        match self {
            Scenario::Floor => "no pipeline (build + drop)".into(),
            Scenario::Unbounded => "unbounded tokio mpsc, same drain".into(),
            Scenario::Pipeline {
                policy, producer, ..
            } => match producer {
                Producer::Thread => format!("{policy:?}"),
                Producer::RuntimeRecord => format!("{policy:?}, record() in a runtime"),
                Producer::RuntimeRecordAsync => format!("{policy:?}, record_async() in a runtime"),
            },
        }
    }
}

/// What a child reports.
type Figures = BTreeMap<String, String>;

fn run_child(scenario: &Scenario, n: usize) -> Figures {
    let started = Instant::now();
    let mut figures = Figures::new();
    match scenario {
        Scenario::Floor => {
            for i in 0..n {
                std::hint::black_box(event(i));
            }
        }
        Scenario::Unbounded => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<AuditEvent>();
            // Drained like the slow sink: `MAX_BATCH` events per `BATCH_DELAY`.
            let consumer = std::thread::spawn(move || {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                let mut written = 0u64;
                loop {
                    batch.clear();
                    let got = rx.blocking_recv_many(&mut batch, MAX_BATCH);
                    if got == 0 {
                        return written;
                    }
                    std::thread::sleep(BATCH_DELAY);
                    written += got as u64;
                }
            });
            for i in 0..n {
                let _ = tx.send(event(i));
            }
            figures.insert("flood_ms".into(), started.elapsed().as_millis().to_string());
            drop(tx);
            let written = consumer.join().expect("the consumer thread panicked");
            figures.insert("written".into(), written.to_string());
        }
        Scenario::Pipeline {
            policy,
            capacity,
            producer,
        } => {
            let spool = tempfile::tempdir().expect("cannot create a spool dir");
            let written = Arc::new(AtomicU64::new(0));
            let sink = SlowSink {
                written: Arc::clone(&written),
            };
            let auditor = Auditor::builder(sink)
                .queue_capacity(*capacity)
                .max_batch_size(MAX_BATCH)
                .overflow(*policy)
                .spool_dir(spool.path())
                .build()
                .expect("cannot build the auditor");
            match producer {
                Producer::Thread => {
                    for i in 0..n {
                        auditor.record(event(i));
                    }
                }
                Producer::RuntimeRecord | Producer::RuntimeRecordAsync => {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("cannot build the producer runtime");
                    let use_async = matches!(producer, Producer::RuntimeRecordAsync);
                    runtime.block_on(async {
                        for i in 0..n {
                            if use_async {
                                auditor.record_async(event(i)).await;
                            } else {
                                auditor.record(event(i));
                            }
                        }
                    });
                }
            }
            figures.insert("flood_ms".into(), started.elapsed().as_millis().to_string());
            auditor
                .shutdown_blocking()
                .expect("the auditor did not shut down cleanly");
            let m = auditor.metrics();
            figures.insert(
                "written".into(),
                written.load(Ordering::Relaxed).to_string(),
            );
            figures.insert("dropped".into(), m.dropped.to_string());
            figures.insert("spooled".into(), m.spooled.to_string());
            figures.insert("over_capacity".into(), m.over_capacity.to_string());
            figures.insert("capacity".into(), capacity.to_string());
        }
    }
    figures.insert("total_ms".into(), started.elapsed().as_millis().to_string());
    figures.insert("peak_kib".into(), peak_rss_kib().to_string());
    figures
}

fn child_main(spec: &str) {
    let scenario = Scenario::decode(spec).expect("unknown scenario");
    let figures = run_child(&scenario, events());
    let line: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("FIGURES {}", line.join(" "));
}

fn spawn_child(scenario: &Scenario) -> Figures {
    let exe = std::env::current_exe().expect("cannot find this bench binary");
    let output = Command::new(exe)
        .env(CHILD_ENV, scenario.encode())
        .output()
        .expect("cannot start a child process");
    if !output.status.success() {
        panic!(
            "scenario {} failed: {}",
            scenario.encode(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("FIGURES "))
        .expect("the child printed no figures")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child_main(&spec);
    }
    // `cargo bench` passes `--bench` (and criterion-style filters); a plain main ignores them.
    let n = events();
    println!(
        "memory: {n} events flooded into a sink that sleeps {BATCH_DELAY:?} per batch of \
         {MAX_BATCH}; peak RSS (VmHWM) per scenario, each in its own process"
    );
    println!(
        "| scenario | queue capacity | peak RSS MiB | above floor MiB | flood ms | total ms | written | dropped | spooled | over capacity |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut floor_kib = None;
    for scenario in Scenario::all() {
        let f = spawn_child(&scenario);
        let get = |k: &str| f.get(k).cloned().unwrap_or_else(|| "-".into());
        let peak: u64 = f.get("peak_kib").and_then(|v| v.parse().ok()).unwrap_or(0);
        if matches!(scenario, Scenario::Floor) {
            floor_kib = Some(peak);
        }
        let above = floor_kib
            .map(|floor| format!("{:.1}", peak.saturating_sub(floor) as f64 / 1024.0))
            .unwrap_or_else(|| "-".into());
        let capacity = match &scenario {
            Scenario::Unbounded => "unbounded".into(),
            _ => get("capacity"),
        };
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            scenario.label(),
            capacity,
            peak as f64 / 1024.0,
            above,
            get("flood_ms"),
            get("total_ms"),
            get("written"),
            get("dropped"),
            get("spooled"),
            get("over_capacity"),
        );
    }
}
