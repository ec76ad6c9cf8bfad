//! The spool's file format, shared by segments, lanes and dead letters: one JSON record per
//! line, written through an fsync'd temporary file and a rename where a file must be whole.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use audit_core::event::AuditEvent;
use serde::{Deserialize, Serialize};

pub(crate) const SEGMENT: &str = "spool-";
pub(crate) const LANE: &str = "lane-";
pub(crate) const REJECTED: &str = "rejected-";
pub(crate) const EXT: &str = ".jsonl";
pub(crate) const TMP: &str = ".jsonl.tmp";

/// One spooled event: prepared (context merged, redacted, validated) and ready for the sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SpoolRecord {
    /// Whether the pipeline's observers already saw it.
    pub(crate) observed: bool,
    /// The event's queue ticket (lane records only), for `flush`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ticket: Option<u64>,
    /// The event.
    pub(crate) event: AuditEvent,
}

/// A record with the file offset just past its line.
pub(crate) type Positioned = (SpoolRecord, u64);

/// A spool line that could not be read back.
#[derive(Debug)]
pub(crate) struct Corrupt {
    pub(crate) path: PathBuf,
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Reads the events of a spool file (a segment, a lane or a `rejected-*.jsonl` dead-letter
/// file), for an operator inspecting or re-importing them. Unreadable lines are skipped;
/// their 1-based numbers are returned alongside.
///
/// ```
/// use audit_pipeline::spool::read_spool_file;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rejected-00000000000000000001.jsonl");
/// std::fs::write(&path, "{\"observed\":true,\"event\":{\"id\":\"0190b3a0-0000-7000-8000-000000000000\",\"occurred_at\":\"2026-01-01T00:00:00Z\",\"action\":\"A\",\"category\":\"business\",\"outcome\":\"success\",\"severity\":\"info\"}}\n{torn").unwrap();
/// let (events, skipped) = read_spool_file(&path).unwrap();
/// assert_eq!(events[0].action, "A");
/// assert_eq!(skipped, [2]);
/// ```
pub fn read_spool_file(path: &Path) -> io::Result<(Vec<AuditEvent>, Vec<usize>)> {
    let bytes = fs::read(path)?;
    let (records, corrupt) = parse_lines(&bytes, path);
    Ok((
        records.into_iter().map(|r| r.event).collect(),
        corrupt.into_iter().map(|c| c.line).collect(),
    ))
}

pub(crate) fn segment_name(id: u64) -> String {
    format!("{SEGMENT}{id:020}{EXT}")
}

pub(crate) fn parse_id(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

pub(crate) fn parse_lines(bytes: &[u8], path: &Path) -> (Vec<SpoolRecord>, Vec<Corrupt>) {
    let (records, corrupt) = parse_lines_at(bytes, path);
    (records.into_iter().map(|(r, _)| r).collect(), corrupt)
}

/// Parses JSON lines; each record comes with the offset just past its line.
pub(crate) fn parse_lines_at(bytes: &[u8], path: &Path) -> (Vec<Positioned>, Vec<Corrupt>) {
    let mut records = Vec::new();
    let mut corrupt = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < bytes.len() {
        number += 1;
        let (line, end, last) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[start..start + i], start + i + 1, false),
            None => (&bytes[start..], bytes.len(), true),
        };
        start = end;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<SpoolRecord>(line) {
            Ok(record) => records.push((record, end as u64)),
            Err(err) => corrupt.push(Corrupt {
                path: path.to_path_buf(),
                line: number,
                message: if last {
                    format!("torn last line (the writer stopped mid-line): {err}")
                } else {
                    err.to_string()
                },
            }),
        }
    }
    (records, corrupt)
}

/// Counts lines a buffer at a time (a recovered lane can be as big as the flood was).
pub(crate) fn count_lines(path: &Path) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut lines = 0;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(lines);
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = chunk.len();
        reader.consume(n);
    }
}

/// Writes `records` to `path` through a fsync'd temporary file and a rename.
pub(crate) fn write_atomically(path: &Path, records: &[SpoolRecord]) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(records.len() * 512);
    for record in records {
        serde_json::to_writer(&mut bytes, record).map_err(io::Error::other)?;
        bytes.push(b'\n');
    }
    write_bytes_atomically(path, &bytes)
}

pub(crate) fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes a directory entry (a new or renamed file) durable. Best effort: not every platform
/// can open a directory for syncing.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_skipped_and_reported() {
        let record = SpoolRecord {
            observed: true,
            ticket: None,
            event: AuditEvent::builder("A").build(),
        };
        let mut bytes = Vec::new();
        serde_json::to_writer(&mut bytes, &record).unwrap();
        bytes.extend_from_slice(b"\n{\"observed\":true,\"ev");
        let (records, corrupt) = parse_lines(&bytes, Path::new("x"));
        assert_eq!(records.len(), 1);
        assert_eq!(corrupt.len(), 1);
        assert_eq!(corrupt[0].line, 2);
    }
}
