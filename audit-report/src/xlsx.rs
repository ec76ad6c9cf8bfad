//! The Excel workbook: a summary sheet, the events sheet (typed columns, frozen header,
//! autofilter), and the verification sheet.
//!
//! The events sheet is a `rust_xlsxwriter` constant-memory worksheet: each row goes straight
//! to a temporary file (in the system's temporary directory) as it is written, so memory
//! stays flat whatever the size; the summary and verification sheets are small and kept in
//! memory. Formats are made once and reused. Every text cell is written with
//! `write_string`, so no value is ever read as a formula: text starting with `=`, `+`, `-`
//! or `@` stays text. Timestamps are Excel dates in UTC with millisecond display (the stored
//! microseconds are kept in the serial number to Excel's precision); `seq` is a number.
//!
//! Excel holds 1 048 576 rows per sheet: a longer listing continues on `Events (2)`, and so on.

use std::io::{Seek, Write};

use audit_core::StoredEvent;
use audit_core::export::CSV_COLUMNS;
use audit_core::query::GroupCount;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::error::Result;
use crate::model::{Report, fault_name};
use crate::rows::{Progress, stream};
use audit_core::AuditStore;

/// Excel's row limit per sheet (header included).
const MAX_ROWS: u32 = 1_048_576;
/// Excel's limit on the characters of one cell.
const MAX_CELL_CHARS: usize = 32_767;
const TRUNCATED: &str = "… [truncated]";

/// The sheet names, in workbook order (more `Events (n)` sheets follow a long listing).
pub const SHEETS: [&str; 3] = ["Summary", "Events", "Verification"];

/// Column widths of the events sheet, in characters, by column name.
fn width(column: &str) -> f64 {
    match column {
        "seq" => 9.0,
        "id" => 37.0,
        "occurred_at" => 24.0,
        "action" => 28.0,
        "description" => 48.0,
        "user_agent" | "metadata" => 40.0,
        "prev_hash" | "hash" => 66.0,
        "ip" => 18.0,
        _ => 14.0,
    }
}

/// The formats, made once.
struct Formats {
    header: Format,
    datetime: Format,
    day: Format,
    title: Format,
    bold: Format,
    fault: Format,
    valid: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xDDE4EE))
                .set_border_bottom(FormatBorder::Thin),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000"),
            day: Format::new().set_num_format("yyyy-mm-dd"),
            title: Format::new().set_bold().set_font_size(14),
            bold: Format::new().set_bold(),
            fault: Format::new()
                .set_bold()
                .set_font_color(Color::RGB(0xB00020)),
            valid: Format::new()
                .set_bold()
                .set_font_color(Color::RGB(0x1B6E20)),
        }
    }
}

/// Writes `report` as an `.xlsx` workbook to `writer`, streaming the listing from `store`
/// (keyset pages of the report's query, oldest first, up to its last seq). Returns the
/// writer and how many events were listed. Memory stays bounded by a few pages of events and
/// the summary's distinct keys.
///
/// ```
/// use audit_core::{AuditEvent, AuditQuery, ChainHasher};
/// use audit_report::{Report, ReportRequest};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = audit_sqlite::SqliteStore::open(dir.path().join("audit.db"))?;
/// store.append(&[AuditEvent::builder("USER_LOGIN").description("=1+1").build()]).await?;
///
/// let request = ReportRequest::new("Logins", AuditQuery::new(), store.hasher());
/// let report = Report::gather(&store, request).await?;
/// let file = std::fs::File::create(dir.path().join("report.xlsx"))?;
/// let (_file, rows) = audit_report::xlsx::write(&store, &report, file, &()).await?;
/// assert_eq!(rows, 1);
/// # Ok(()) }
/// ```
pub async fn write<S, W>(
    store: &S,
    report: &Report,
    writer: W,
    progress: &dyn Progress,
) -> Result<(W, u64)>
where
    S: AuditStore + ?Sized,
    W: Write + Seek + Send + 'static,
{
    let front = report.clone();
    let back = report.clone();
    stream(
        store,
        report,
        progress,
        move || {
            let formats = Formats::new();
            let mut workbook = Workbook::new();
            summary_sheet(workbook.add_worksheet(), &front, &formats)?;
            EventsSheets::start(workbook, formats)
        },
        |sheets, record| sheets.push(record),
        move |sheets, _| {
            let (mut workbook, formats) = sheets.finish()?;
            verification_sheet(workbook.add_worksheet(), &back, &formats)?;
            let mut writer = writer;
            workbook.save_to_writer(&mut writer)?;
            Ok(writer)
        },
    )
    .await
}

/// The events sheet(s) being streamed.
struct EventsSheets {
    workbook: Workbook,
    formats: Formats,
    sheet: usize,
    sheets: u32,
    row: u32,
}

impl EventsSheets {
    fn start(mut workbook: Workbook, formats: Formats) -> Result<Self> {
        let sheet = add_events_sheet(&mut workbook, &formats, 1)?;
        Ok(Self {
            workbook,
            formats,
            sheet,
            sheets: 1,
            row: 0,
        })
    }

    fn push(&mut self, record: &StoredEvent) -> Result<()> {
        if self.row + 1 >= MAX_ROWS {
            self.close_sheet()?;
            self.sheets += 1;
            self.sheet = add_events_sheet(&mut self.workbook, &self.formats, self.sheets)?;
            self.row = 0;
        }
        self.row += 1;
        let sheet = self.workbook.worksheet_from_index(self.sheet)?;
        event_row(sheet, self.row, record, &self.formats)?;
        Ok(())
    }

    /// Sets the autofilter over the rows written to the current sheet.
    fn close_sheet(&mut self) -> Result<()> {
        let last_col = (CSV_COLUMNS.len() - 1) as u16;
        let row = self.row;
        self.workbook
            .worksheet_from_index(self.sheet)?
            .autofilter(0, 0, row, last_col)?;
        Ok(())
    }

    fn finish(mut self) -> Result<(Workbook, Formats)> {
        self.close_sheet()?;
        Ok((self.workbook, self.formats))
    }
}

fn add_events_sheet(workbook: &mut Workbook, formats: &Formats, number: u32) -> Result<usize> {
    let name = if number == 1 {
        SHEETS[1].to_owned()
    } else {
        format!("{} ({number})", SHEETS[1])
    };
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(name)?;
    for (col, name) in CSV_COLUMNS.iter().enumerate() {
        sheet.set_column_width(col as u16, width(name))?;
        sheet.write_string_with_format(0, col as u16, *name, &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(workbook.worksheets().len() - 1)
}

/// Text within Excel's cell limit, marked when cut.
fn cell_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.into();
    }
    let keep = MAX_CELL_CHARS - TRUNCATED.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(TRUNCATED);
    cut.into()
}

fn text(sheet: &mut Worksheet, row: u32, col: u16, value: Option<&str>) -> Result<(), XlsxError> {
    match value {
        Some(value) if !value.is_empty() => {
            sheet.write_string(row, col, cell_text(value)).map(|_| ())
        }
        _ => Ok(()),
    }
}

fn datetime(at: &DateTime<Utc>) -> chrono::NaiveDateTime {
    at.naive_utc()
}

/// One event in the column order of [`CSV_COLUMNS`].
fn event_row(
    sheet: &mut Worksheet,
    row: u32,
    record: &StoredEvent,
    formats: &Formats,
) -> Result<(), XlsxError> {
    let e = &record.event;
    let actor = e.actor.as_ref();
    sheet.write_number(row, 0, record.seq as f64)?;
    sheet.write_string(row, 1, e.id.to_string())?;
    sheet.write_datetime_with_format(row, 2, datetime(&e.occurred_at), &formats.datetime)?;
    text(sheet, row, 3, Some(&e.action))?;
    text(sheet, row, 4, Some(e.category.as_str()))?;
    text(sheet, row, 5, Some(e.outcome.as_str()))?;
    text(sheet, row, 6, e.reason.as_deref())?;
    text(sheet, row, 7, actor.map(|a| a.kind.as_str()))?;
    text(sheet, row, 8, actor.map(|a| a.id.as_str()))?;
    text(sheet, row, 9, e.entity_type.as_deref())?;
    text(sheet, row, 10, e.entity_id.as_deref())?;
    text(sheet, row, 11, e.description.as_deref())?;
    if let Some(ip) = e.ip {
        sheet.write_string(row, 12, ip.to_string())?;
    }
    text(sheet, row, 13, e.user_agent.as_deref())?;
    text(sheet, row, 14, e.request_id.as_deref())?;
    text(sheet, row, 15, e.session_id.as_deref())?;
    text(sheet, row, 16, e.tenant.as_deref())?;
    text(sheet, row, 17, Some(e.severity.as_str()))?;
    if e.metadata.as_object().is_some_and(|m| !m.is_empty()) {
        text(sheet, row, 18, Some(&e.metadata.to_string()))?;
    }
    sheet.write_string(row, 19, record.prev_hash.to_hex())?;
    sheet.write_string(row, 20, record.hash.to_hex())?;
    Ok(())
}

/// Writes `label | value` pairs from `row` on; returns the next free row.
fn pairs(
    sheet: &mut Worksheet,
    mut row: u32,
    items: &[(String, String)],
    formats: &Formats,
) -> Result<u32, XlsxError> {
    for (label, value) in items {
        sheet.write_string_with_format(row, 0, label, &formats.bold)?;
        sheet.write_string(row, 1, cell_text(value))?;
        row += 1;
    }
    Ok(row)
}

/// A counts table under a heading; returns the next free row.
fn counts(
    sheet: &mut Worksheet,
    mut row: u32,
    heading: &str,
    key: &str,
    groups: &[GroupCount],
    formats: &Formats,
    as_date: bool,
) -> Result<u32, XlsxError> {
    sheet.write_string_with_format(row, 0, heading, &formats.bold)?;
    row += 1;
    sheet.write_string_with_format(row, 0, key, &formats.header)?;
    sheet.write_string_with_format(row, 1, "events", &formats.header)?;
    row += 1;
    for group in groups {
        let day = as_date
            .then(|| chrono::NaiveDate::parse_from_str(&group.key, "%Y-%m-%d").ok())
            .flatten();
        match day {
            Some(day) => {
                sheet.write_datetime_with_format(row, 0, day, &formats.day)?;
            }
            None if group.key.is_empty() => {
                sheet.write_string(row, 0, "(none)")?;
            }
            None => {
                sheet.write_string(row, 0, cell_text(&group.key))?;
            }
        }
        sheet.write_number(row, 1, group.count as f64)?;
        row += 1;
    }
    Ok(row + 1)
}

fn summary_sheet(sheet: &mut Worksheet, report: &Report, formats: &Formats) -> Result<()> {
    sheet.set_name(SHEETS[0])?;
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 16)?;
    sheet.write_string_with_format(0, 0, cell_text(&report.title), &formats.title)?;
    let mut info = vec![
        (
            "Generated at (UTC)".to_owned(),
            report.generated_at.to_rfc3339(),
        ),
        ("Events listed".to_owned(), report.summary.total.to_string()),
        ("Verification".to_owned(), report.verification.statement()),
    ];
    let filters = report.filters();
    if filters.is_empty() {
        info.push(("Filters".into(), "none (every event)".into()));
    }
    for (name, value) in filters {
        info.push((format!("Filter: {name}"), value));
    }
    let mut row = pairs(sheet, 2, &info, formats)? + 1;
    let s = &report.summary;
    row = counts(
        sheet,
        row,
        "By outcome",
        "outcome",
        &s.by_outcome,
        formats,
        false,
    )?;
    for h in &report.highlights {
        sheet.write_string_with_format(row, 0, &h.title, &formats.bold)?;
        sheet.write_number(row, 1, h.count as f64)?;
        row += 1;
    }
    row += 1;
    row = counts(
        sheet,
        row,
        "By action",
        "action",
        &s.by_action,
        formats,
        false,
    )?;
    row = counts(sheet, row, "By actor", "actor", &s.by_actor, formats, false)?;
    counts(sheet, row, "By day (UTC)", "day", &s.by_day, formats, true)?;
    Ok(())
}

fn verification_sheet(sheet: &mut Worksheet, report: &Report, formats: &Formats) -> Result<()> {
    let v = &report.verification;
    sheet.set_name(SHEETS[2])?;
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 70)?;
    sheet.write_string_with_format(0, 0, "Verification", &formats.title)?;
    let result_format = if v.is_valid() {
        &formats.valid
    } else {
        &formats.fault
    };
    sheet.write_string_with_format(2, 0, "Result", &formats.bold)?;
    sheet.write_string_with_format(
        2,
        1,
        if v.is_valid() { "valid" } else { "FAULT" },
        result_format,
    )?;
    sheet.write_string_with_format(3, 0, "Statement", &formats.bold)?;
    sheet.write_string(3, 1, cell_text(&v.statement()))?;
    let mut row = 4;
    let numbers = [
        ("First seq", v.range.map(|r| r.first)),
        ("Last seq", v.range.map(|r| r.last)),
        ("Records verified", Some(v.checked)),
        ("Fault seq", v.fault.as_ref().map(|f| f.seq)),
    ];
    for (label, value) in numbers {
        sheet.write_string_with_format(row, 0, label, &formats.bold)?;
        if let Some(value) = value {
            sheet.write_number(row, 1, value as f64)?;
        }
        row += 1;
    }
    let texts = [
        (
            "Fault kind".to_owned(),
            v.fault.as_ref().map(|f| fault_name(f.kind).to_owned()),
        ),
        (
            "Fault detail".to_owned(),
            v.fault.as_ref().map(|f| f.detail.clone()),
        ),
        ("Head hash".to_owned(), v.head_hash.clone()),
        ("Algorithm".to_owned(), Some(v.chain.algorithm.clone())),
        ("Key fingerprint".to_owned(), v.chain.key_id.clone()),
    ];
    for (label, value) in texts {
        sheet.write_string_with_format(row, 0, label, &formats.bold)?;
        if let Some(value) = value {
            sheet.write_string(row, 1, cell_text(&value))?;
        }
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "Verified at (UTC)", &formats.bold)?;
    sheet.write_datetime_with_format(row, 1, datetime(&v.verified_at), &formats.datetime)?;
    Ok(())
}
