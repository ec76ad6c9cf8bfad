//! `audit query`: matching events, a table for people or JSON lines for scripts.

use std::io::Write;

use audit_core::query::{Cursor, MAX_PAGE_SIZE, Order};

use crate::cli::QueryArgs;
use crate::error::{CliError, Exit};
use crate::output;
use crate::target::Target;

pub async fn run(args: QueryArgs, target: &Target) -> Result<Exit, CliError> {
    let order = if args.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let mut q = args.filters.query().order(order);
    if let Some(after) = &args.after {
        let cursor: Cursor = after.parse().map_err(|_| {
            CliError::usage(format!(
                "--after {after:?} is not a cursor this tool printed"
            ))
        })?;
        q = q.after(cursor);
    }
    let mut events = Vec::new();
    let mut next = None;
    let mut out = std::io::stdout().lock();
    while (events.len() as u64) < args.limit {
        let want = (args.limit - events.len() as u64).min(u64::from(MAX_PAGE_SIZE)) as u32;
        let page = target.store().query(&q.clone().limit(want)).await?;
        next = page.next;
        if args.json {
            for record in &page.events {
                serde_json::to_writer(&mut out, record).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
        events.extend(page.events);
        match next {
            Some(cursor) => q = q.after(cursor),
            None => break,
        }
    }
    if !args.json {
        if events.is_empty() {
            output::note("no matching events");
        } else {
            writeln!(out, "{}", output::table(&events))?;
        }
    }
    out.flush()?;
    if let (Some(cursor), false) = (next, events.is_empty()) {
        output::note(&format!(
            "{} events shown; more follow: --after {cursor}",
            events.len()
        ));
    }
    Ok(Exit::Ok)
}
