//! Streaming export of stored events as JSON Lines or CSV, shared by every backend.
//!
//! An [`Exporter`] takes records one at a time and writes them straight through, so an
//! export of any size uses constant memory: a backend streams its query result into
//! [`Exporter::push`] and calls [`Exporter::finish`] at the end.
//!
//! ```
//! use audit_core::export::{ExportFormat, Exporter};
//! # use audit_core::{AuditEvent, StoredEvent, chain::ChainHash};
//! # let record = StoredEvent {
//! #     seq: 1, prev_hash: ChainHash::ZERO, hash: ChainHash::ZERO,
//! #     event: AuditEvent::builder("USER_LOGIN").description("=HYPERLINK(\"x\")").build(),
//! # };
//!
//! let mut exporter = Exporter::new(ExportFormat::Csv, Vec::new());
//! exporter.push(&record)?;
//! let csv = String::from_utf8(exporter.finish()?).unwrap();
//! assert!(csv.starts_with("seq,id,occurred_at,action,"));
//! assert!(csv.contains("'=HYPERLINK")); // neutralised for spreadsheets
//! # Ok::<(), audit_core::export::ExportError>(())
//! ```
//!
//! # CSV and formula injection
//!
//! Spreadsheet programs run a cell that starts with `=`, `+`, `-` or `@` (and, in some, a
//! tab or carriage return) as a formula, so an attacker who controls a description could
//! make an admin's spreadsheet run one. Every CSV cell that starts with one of those
//! characters — or with a single quote `'` — gets a single quote `'` prepended, which
//! spreadsheets show as plain text. Prefixing cells that already start with `'` keeps the
//! escape reversible: to recover the exact value, remove one leading `'` when present.
//! JSON Lines output is never altered.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufWriter, Write};
use std::str::FromStr;

use chrono::SecondsFormat;

use crate::event::StoredEvent;
use crate::fields::{Field, FieldValue};

/// The columns of a CSV export, in order: `seq`, every [`Field`] of the event, then the two
/// hashes.
pub const CSV_COLUMNS: [&str; Field::ALL.len() + 3] = {
    let mut columns = [""; Field::ALL.len() + 3];
    columns[0] = "seq";
    let mut i = 0;
    while i < Field::ALL.len() {
        columns[i + 1] = Field::ALL[i].name();
        i += 1;
    }
    columns[Field::ALL.len() + 1] = "prev_hash";
    columns[Field::ALL.len() + 2] = "hash";
    columns
};

/// How exported records are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// One JSON object (a serialized [`StoredEvent`]) per line.
    JsonLines,
    /// Comma-separated values with a header row and the fixed [`CSV_COLUMNS`]; formula
    /// injection is neutralised (see the [module docs](self)).
    Csv,
}

impl ExportFormat {
    /// The usual file extension (`jsonl`, `csv`).
    pub fn extension(&self) -> &'static str {
        match self {
            Self::JsonLines => "jsonl",
            Self::Csv => "csv",
        }
    }

    /// The media type, for HTTP responses.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::JsonLines => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// A format name that is not `jsonl`/`json-lines`/`ndjson` or `csv`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format {0:?} (expected `jsonl` or `csv`)")]
pub struct UnknownFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "json-lines" | "jsonlines" | "ndjson" => Ok(Self::JsonLines),
            "csv" => Ok(Self::Csv),
            _ => Err(UnknownFormat(s.chars().take(32).collect())),
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing to the destination failed.
    #[error("export I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be serialized as JSON.
    #[error("export JSON encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The CSV writer failed (usually an I/O error underneath).
    #[error("export CSV encoding failed: {0}")]
    Csv(#[from] csv::Error),
}

/// Writes records in an [`ExportFormat`] to `W`, one at a time, in constant memory.
///
/// Output is buffered; [`finish`](Self::finish) flushes it and hands the writer back.
/// Dropping an exporter without `finish` may lose the buffered tail.
pub struct Exporter<W: Write> {
    encoder: Encoder<W>,
    written: u64,
}

enum Encoder<W: Write> {
    JsonLines(BufWriter<W>),
    // Boxed: the CSV writer carries its own buffer state, far larger than a BufWriter.
    Csv {
        writer: Box<csv::Writer<W>>,
        header_written: bool,
    },
}

impl<W: Write> fmt::Debug for Exporter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.encoder {
            Encoder::JsonLines(_) => ExportFormat::JsonLines,
            Encoder::Csv { .. } => ExportFormat::Csv,
        };
        f.debug_struct("Exporter")
            .field("format", &format)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Exporter<W> {
    /// An exporter writing `format` to `writer`. Nothing is written until the first
    /// [`push`](Self::push) or [`finish`](Self::finish) (a CSV export of no records is
    /// just the header row).
    pub fn new(format: ExportFormat, writer: W) -> Self {
        let encoder = match format {
            ExportFormat::JsonLines => Encoder::JsonLines(BufWriter::new(writer)),
            ExportFormat::Csv => Encoder::Csv {
                writer: Box::new(
                    csv::WriterBuilder::new()
                        .terminator(csv::Terminator::CRLF)
                        .from_writer(writer),
                ),
                header_written: false,
            },
        };
        Self {
            encoder,
            written: 0,
        }
    }

    /// How many records were written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes one record.
    pub fn push(&mut self, record: &StoredEvent) -> Result<(), ExportError> {
        match &mut self.encoder {
            Encoder::JsonLines(out) => {
                serde_json::to_writer(&mut *out, record)?;
                out.write_all(b"\n")?;
            }
            Encoder::Csv {
                writer,
                header_written,
            } => {
                write_header(writer, header_written)?;
                write_csv_row(writer, record)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes everything and returns the writer.
    pub fn finish(self) -> Result<W, ExportError> {
        match self.encoder {
            Encoder::JsonLines(out) => out.into_inner().map_err(|e| e.into_error().into()),
            Encoder::Csv {
                mut writer,
                mut header_written,
            } => {
                write_header(&mut writer, &mut header_written)?;
                writer
                    .into_inner()
                    .map_err(|e| ExportError::Io(e.into_error()))
            }
        }
    }
}

fn write_header<W: Write>(
    writer: &mut csv::Writer<W>,
    header_written: &mut bool,
) -> Result<(), ExportError> {
    if !*header_written {
        writer.write_record(CSV_COLUMNS)?;
        *header_written = true;
    }
    Ok(())
}

/// Neutralises a cell a spreadsheet would run as a formula (see the module docs).
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

fn write_csv_row<W: Write>(
    writer: &mut csv::Writer<W>,
    record: &StoredEvent,
) -> Result<(), ExportError> {
    let mut cells: Vec<Cow<'_, str>> = Vec::with_capacity(CSV_COLUMNS.len());
    cells.push(Cow::Owned(record.seq.to_string()));
    for field in Field::ALL {
        cells.push(match field.value(&record.event) {
            FieldValue::Id(id) => Cow::Owned(id.to_string()),
            FieldValue::Time(at) => Cow::Owned(at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            FieldValue::Text(text) => csv_safe(text.unwrap_or("")),
            FieldValue::Ip(ip) => Cow::Owned(ip.map(|ip| ip.to_string()).unwrap_or_default()),
            // A JSON object starts with `{`, so it never needs the formula escape.
            FieldValue::Json(value) => Cow::Owned(serde_json::to_string(value)?),
        });
    }
    cells.push(Cow::Owned(record.prev_hash.to_hex()));
    cells.push(Cow::Owned(record.hash.to_hex()));
    writer.write_record(cells.iter().map(|c| c.as_bytes()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainHash, ChainHasher};
    use crate::event::{Actor, AuditEvent};

    fn record(seq: u64, event: AuditEvent) -> StoredEvent {
        let prev = ChainHash([seq as u8; 32]);
        StoredEvent {
            seq,
            prev_hash: prev,
            hash: ChainHasher::sha256().hash(&prev, &event),
            event,
        }
    }

    fn full_event() -> AuditEvent {
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .actor(Actor::user("alice"))
            .entity("booking", "b-1")
            .denied("no, \"really\"")
            .description("line one\nline two, with comma")
            .ip("2001:db8::1".parse().unwrap())
            .user_agent("curl/8")
            .request_id("r-1")
            .session_id("s-1")
            .tenant("acme")
            .metadata_entry("seats", 2)
            .build()
    }

    fn export(format: ExportFormat, records: &[StoredEvent]) -> String {
        let mut exporter = Exporter::new(format, Vec::new());
        for r in records {
            exporter.push(r).unwrap();
        }
        assert_eq!(exporter.written(), records.len() as u64);
        String::from_utf8(exporter.finish().unwrap()).unwrap()
    }

    fn read_csv(text: &str) -> Vec<csv::StringRecord> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.iter().collect::<Vec<_>>(), CSV_COLUMNS);
        reader.records().map(|r| r.unwrap()).collect()
    }

    fn unescape(cell: &str) -> &str {
        cell.strip_prefix('\'').unwrap_or(cell)
    }

    #[test]
    fn json_lines_round_trip_one_record_per_line() {
        let records = vec![
            record(1, full_event()),
            record(2, AuditEvent::builder("A").build()),
        ];
        let text = export(ExportFormat::JsonLines, &records);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        for (line, want) in lines.iter().zip(&records) {
            let back: StoredEvent = serde_json::from_str(line).unwrap();
            assert_eq!(&back, want);
        }
    }

    #[test]
    fn empty_exports_are_empty_or_just_the_header() {
        assert_eq!(export(ExportFormat::JsonLines, &[]), "");
        let csv = export(ExportFormat::Csv, &[]);
        assert_eq!(csv, format!("{}\r\n", CSV_COLUMNS.join(",")));
    }

    #[test]
    fn csv_has_the_fixed_columns_with_every_field() {
        let r = record(7, full_event());
        let rows = read_csv(&export(ExportFormat::Csv, std::slice::from_ref(&r)));
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        let get = |name: &str| &row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(get("seq"), "7");
        assert_eq!(get("id"), r.event.id.to_string());
        assert_eq!(
            get("occurred_at"),
            r.event
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
        );
        assert!(get("occurred_at").ends_with('Z'));
        assert_eq!(get("outcome"), "denied");
        assert_eq!(get("reason"), "no, \"really\"");
        assert_eq!(get("actor_kind"), "user");
        assert_eq!(get("description"), "line one\nline two, with comma");
        assert_eq!(get("ip"), "2001:db8::1");
        let metadata: serde_json::Value = serde_json::from_str(get("metadata")).unwrap();
        assert_eq!(metadata, r.event.metadata);
        assert_eq!(get("prev_hash"), r.prev_hash.to_hex());
        assert_eq!(get("hash"), r.hash.to_hex());
    }

    #[test]
    fn absent_fields_are_empty_cells() {
        let r = record(1, AuditEvent::builder("A").build());
        let rows = read_csv(&export(ExportFormat::Csv, &[r]));
        for name in ["reason", "actor_kind", "actor_id", "ip", "tenant"] {
            let i = CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
            assert_eq!(&rows[0][i], "", "{name}");
        }
    }

    #[test]
    fn formula_cells_are_prefixed_with_a_quote() {
        for (input, output) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("a=1", "a=1"),
            ("", ""),
            ("ünï", "ünï"),
        ] {
            assert_eq!(csv_safe(input), output, "{input:?}");
        }
    }

    #[test]
    fn awkward_strings_survive_csv_and_never_start_a_formula() {
        // Property-style: every combination of a risky first character and awkward body.
        let starts = [
            "", "=", "+", "-", "@", "\t", "\r", "'", "\"", ",", "\n", " ", "é", "\u{feff}",
        ];
        let bodies = [
            "",
            "cmd|' /C calc'!A0",
            "HYPERLINK(\"http://x\",\"y\")",
            "a,b",
            "quote \" inside",
            "multi\nline\r\nvalue",
            "trailing\r",
            "🚀 emoji",
            "=nested",
        ];
        let mut records = Vec::new();
        for (i, start) in starts.iter().enumerate() {
            for (j, body) in bodies.iter().enumerate() {
                let text = format!("{start}{body}");
                let event = AuditEvent::builder("A")
                    .description(text.clone())
                    .actor(Actor::user(text.clone()))
                    .tenant(text)
                    .build();
                records.push(record((i * bodies.len() + j + 1) as u64, event));
            }
        }
        let rows = read_csv(&export(ExportFormat::Csv, &records));
        assert_eq!(rows.len(), records.len());
        let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        for (row, want) in rows.iter().zip(&records) {
            for (name, value) in [
                ("description", want.event.description.as_deref().unwrap()),
                ("actor_id", want.event.actor.as_ref().unwrap().id.as_str()),
                ("tenant", want.event.tenant.as_deref().unwrap()),
            ] {
                let cell = &row[col(name)];
                assert!(
                    !matches!(
                        cell.as_bytes().first(),
                        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
                    ),
                    "{name} cell {cell:?} starts a formula"
                );
                assert_eq!(unescape(cell), value, "{name} did not round-trip");
            }
            assert_eq!(&row[col("seq")], want.seq.to_string());
        }
    }

    #[test]
    fn write_errors_are_reported_not_panicked() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("disk full"))
            }
        }
        for format in [ExportFormat::JsonLines, ExportFormat::Csv] {
            let mut exporter = Exporter::new(format, Broken);
            // Output is buffered, so the error may surface on push or on finish.
            let pushed = (0..100).try_for_each(|i| exporter.push(&record(i, full_event())));
            let result = pushed.and_then(|()| exporter.finish().map(|_| ()));
            assert!(result.is_err(), "{format}");
        }
    }

    #[test]
    fn format_names_parse() {
        assert_eq!(
            "JSONL".parse::<ExportFormat>().unwrap(),
            ExportFormat::JsonLines
        );
        assert_eq!("csv".parse::<ExportFormat>().unwrap(), ExportFormat::Csv);
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }
}
