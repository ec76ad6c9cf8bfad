//! Output discipline: results on stdout, progress and diagnostics on stderr, colour and
//! progress bars only on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use audit_core::{Outcome, StoredEvent};
use chrono::SecondsFormat;
use comfy_table::{ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ColorChoice;

/// Progress bars appear only for work of more than this many events.
const PROGRESS_FROM: u64 = 5_000;

/// Applies `--color` to everything written through `anstream`.
pub fn set_color(choice: ColorChoice) {
    let choice = match choice {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();

/// Writes `line` to stderr (colour stripped when stderr is not a terminal).
pub fn note(line: &str) {
    anstream::eprintln!("{line}");
}

/// A one-line warning.
pub fn warn(message: &str) {
    anstream::eprintln!("audit: {WARN}warning{WARN:#}: {message}");
}

/// The one-line error report.
pub fn error(message: &str) {
    anstream::eprintln!("audit: {ERROR}error{ERROR:#}: {message}");
}

fn outcome_style(outcome: Outcome) -> Style {
    match outcome {
        Outcome::Success => Style::new(),
        Outcome::Failure => WARN,
        _ => ERROR,
    }
}

fn time(record: &StoredEvent) -> String {
    record
        .event
        .occurred_at
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn entity(record: &StoredEvent) -> String {
    let e = &record.event;
    match (&e.entity_type, &e.entity_id) {
        (Some(t), Some(id)) => format!("{t}:{id}"),
        (Some(t), None) => t.to_string(),
        (None, Some(id)) => id.clone(),
        (None, None) => String::new(),
    }
}

/// Control characters in stored text could move a terminal's cursor or recolour it.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A table of events for people.
pub fn table(events: &[StoredEvent]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "seq",
            "time (UTC)",
            "action",
            "outcome",
            "actor",
            "entity",
            "ip",
            "description",
        ]);
    if !std::io::stdout().is_terminal() {
        table.set_width(160);
    }
    for r in events {
        let e = &r.event;
        let detail = match (&e.description, &e.reason) {
            (Some(d), Some(reason)) => format!("{d} ({reason})"),
            (Some(d), None) => d.clone(),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        };
        table.add_row([
            r.seq.to_string(),
            time(r),
            printable(&e.action),
            e.outcome.as_str().to_owned(),
            printable(&e.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default()),
            printable(&entity(r)),
            e.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            printable(&detail),
        ]);
    }
    table.to_string()
}

/// One event on one line, for `tail`.
pub fn line(record: &StoredEvent) -> String {
    let e = &record.event;
    let style = outcome_style(e.outcome);
    let mut out = format!(
        "{DIM}{:>7}{DIM:#} {} {} {style}{}{style:#}",
        record.seq,
        time(record),
        printable(&e.action),
        e.outcome.as_str()
    );
    for part in [
        e.actor.as_ref().map(|a| printable(&a.id)),
        Some(entity(record))
            .filter(|s| !s.is_empty())
            .map(|s| printable(&s)),
        e.ip.map(|ip| ip.to_string()),
        e.description.as_deref().map(printable),
        e.reason.as_deref().map(|r| format!("({})", printable(r))),
    ]
    .into_iter()
    .flatten()
    {
        out.push(' ');
        out.push_str(&part);
    }
    out
}

/// A progress bar on stderr for `total` events; hidden when stderr is not a terminal or the
/// work is small.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if total < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} {bar:32.cyan/blue} {pos}/{len} events ({per_sec}, {eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A spinner on stderr for work that reports no steps (verify, archive); hidden when
/// stderr is not a terminal or the work is small.
pub fn spinner(total: u64, what: &str) -> ProgressBar {
    if total < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(format!("{what} {total} events"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
