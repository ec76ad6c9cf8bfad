//! The event table: the listing and the highlight sections share its columns.

use audit_core::StoredEvent;
use chrono::SecondsFormat;

use super::canvas::{Align, BAND, Canvas, INK, MARGIN, MUTED, PAGE_HEIGHT, RULE, Weight};

/// Font size of table cells.
pub(crate) const CELL_SIZE: f32 = 7.2;
/// Height of one table row.
pub(crate) const ROW_HEIGHT: f32 = 10.4;
/// Where page content must end (above the footer).
pub(crate) const CONTENT_BOTTOM: f32 = PAGE_HEIGHT - MARGIN - 8.0;

/// The columns: title and width in points (they fill the width between the margins).
pub(crate) const COLUMNS: [(&str, f32); 8] = [
    ("seq", 44.0),
    ("time (UTC)", 100.0),
    ("action", 124.0),
    ("outcome", 44.0),
    ("actor", 82.0),
    ("entity", 104.0),
    ("ip", 72.0),
    ("description / reason", 200.0),
];

/// The text of each column for one event.
pub(crate) fn cells(record: &StoredEvent) -> [String; COLUMNS.len()] {
    let e = &record.event;
    let entity = match (&e.entity_type, &e.entity_id) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        (Some(t), None) => t.to_string(),
        (None, Some(id)) => id.clone(),
        (None, None) => String::new(),
    };
    let detail = match (&e.description, &e.reason) {
        (Some(d), Some(r)) => format!("{d} — {r}"),
        (Some(d), None) => d.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => String::new(),
    };
    [
        record.seq.to_string(),
        e.occurred_at
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_owned(),
        e.action.to_string(),
        e.outcome.as_str().to_owned(),
        e.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
        entity,
        e.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        detail,
    ]
}

/// Draws the header row at `y`; returns the y below it.
pub(crate) fn header(canvas: &mut Canvas, y: f32) -> f32 {
    let mut x = MARGIN;
    canvas.rect(MARGIN, y, total_width(), ROW_HEIGHT + 2.0, BAND);
    for (title, width) in COLUMNS {
        let align = if title == "seq" {
            Align::Right
        } else {
            Align::Left
        };
        canvas.text(
            x + 2.0,
            y + 2.0,
            width - 6.0,
            title,
            Weight::Bold,
            CELL_SIZE,
            INK,
            align,
        );
        x += width;
    }
    let bottom = y + ROW_HEIGHT + 2.0;
    canvas.line(
        (MARGIN, bottom),
        (MARGIN + total_width(), bottom),
        0.6,
        RULE,
    );
    bottom + 1.0
}

/// Draws one event's row at `y`; returns the y below it.
pub(crate) fn row(canvas: &mut Canvas, y: f32, record: &StoredEvent) -> f32 {
    let mut x = MARGIN;
    for ((title, width), value) in COLUMNS.iter().zip(cells(record)) {
        let (align, color) = match *title {
            "seq" => (Align::Right, MUTED),
            _ => (Align::Left, INK),
        };
        canvas.text(
            x + 2.0,
            y + 1.5,
            width - 6.0,
            &value,
            Weight::Regular,
            CELL_SIZE,
            color,
            align,
        );
        x += width;
    }
    y + ROW_HEIGHT
}

pub(crate) fn total_width() -> f32 {
    COLUMNS.iter().map(|(_, w)| w).sum()
}
