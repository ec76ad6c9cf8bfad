//! `audit tail [--follow]`: the newest events, then new ones as they are written.

use std::io::Write;
use std::time::Duration;

use audit_core::StoredEvent;
use audit_core::query::{Cursor, MAX_PAGE_SIZE, Order};

use crate::cli::TailArgs;
use crate::error::{CliError, Exit};
use crate::output;
use crate::target::Target;

fn print(records: &[StoredEvent], json: bool) -> Result<(), CliError> {
    let mut out = anstream::stdout().lock();
    for record in records {
        if json {
            serde_json::to_writer(&mut out, record).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", output::line(record))?;
        }
    }
    out.flush()?;
    Ok(())
}

pub async fn run(args: TailArgs, target: &Target) -> Result<Exit, CliError> {
    let store = target.store();
    let base = args.filters.query();
    let first = store
        .query(
            &base
                .clone()
                .order(Order::NewestFirst)
                .limit(args.lines.clamp(1, u64::from(MAX_PAGE_SIZE)) as u32),
        )
        .await?;
    let mut last = first.events.first().map_or(0, |e| e.seq);
    let mut newest: Vec<StoredEvent> = first.events;
    newest.truncate(args.lines as usize);
    newest.reverse();
    print(&newest, args.json)?;
    if !args.follow {
        return Ok(Exit::Ok);
    }
    let interval = Duration::from_millis(args.interval_ms.max(50));
    loop {
        tokio::time::sleep(interval).await;
        loop {
            let page = store
                .query(
                    &base
                        .clone()
                        .order(Order::OldestFirst)
                        .limit(MAX_PAGE_SIZE)
                        .after(Cursor::after_seq(last)),
                )
                .await?;
            if let Some(e) = page.events.last() {
                last = e.seq;
            }
            print(&page.events, args.json)?;
            if page.next.is_none() {
                break;
            }
        }
    }
}
