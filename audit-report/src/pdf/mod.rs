//! The PDF report: a front page a manager can read and sign (filters, the verification
//! statement, counts, a chart of activity per day), sections for failed logins, denials and
//! alerts, then the event listing over as many pages as it takes (A4 landscape).
//!
//! # Why krilla
//!
//! Both candidates were measured writing the same 100 000-row listing (2 084 pages, DejaVu
//! Sans, one text object per cell) on the reference machine (2 vCPUs, load ≈ 2):
//!
//! | crate | peak RSS | time | output | font |
//! | --- | ---: | ---: | ---: | --- |
//! | krilla 0.8 | 23 MB | 11.2 s (with its rustybuzz shaping per cell) | 5.8 MB | subset, ToUnicode |
//! | printpdf 0.12 | 693 MB | 3.7 s | 5.6 MB | whole font embedded |
//!
//! printpdf builds the whole document as a `Vec` of operations per page and serialises it
//! only on `save`, so its memory grows with the listing (about 7 KB per row); krilla writes
//! each page's content stream (compressed) as the page is finished, so memory holds the
//! compressed output and little else. Both render the same text (checked with `pdftotext`
//! and `pdftoppm`), krilla subsets the font. krilla's shaping cost (it parses the font for
//! every string it shapes) is avoided here by mapping glyphs directly (see
//! [`font`]): the whole `audit export --format pdf` of 100 000 events, store
//! reads, summary and verification included, takes 3.9 s, about printpdf's time for the
//! bare listing, at an eighth of its memory.
//!
//! # Memory
//!
//! Events are read in keyset pages and drawn one PDF page at a time; they are never all held.
//! krilla keeps the compressed pages (and their resources) until the document is finished,
//! then serialises it and the bytes are written out, so memory grows with the output: the
//! `audit export --format pdf` of 100 000 events (2 086 pages, a 9.1 MB file) peaked at
//! 82 MiB RSS, 55 MiB at 50 000, about 0.55 KiB per listed event on top of the store's
//! caches (`docs/benchmarks.md`, section 8).

pub mod font;

mod canvas;
mod chart;
mod table;

use std::io::Write;

use audit_core::{AuditStore, StoredEvent};
use krilla::Document;
use krilla::metadata::Metadata;

use self::canvas::{
    ACCENT, Align, BAD, BAND, Canvas, GOOD, INK, MARGIN, MUTED, PAGE_WIDTH, RULE, Weight,
};
use self::font::FontFiles;
use self::table::{CONTENT_BOTTOM, ROW_HEIGHT};
use crate::error::{ReportError, Result};
use crate::model::{Highlight, Report};
use crate::rows::{Progress, stream};

/// How a PDF report is made.
#[derive(Debug, Clone, Default)]
pub struct PdfOptions {
    /// The fonts to set the report in ([`FontFiles::discover`] by default).
    pub fonts: Option<FontFiles>,
}

/// Writes `report` as a PDF to `writer`, streaming the listing from `store`. Returns the
/// writer and how many events were listed.
///
/// ```no_run
/// use audit_core::{AuditQuery, ChainHasher};
/// use audit_report::{Report, ReportRequest, pdf::PdfOptions};
/// # async fn demo(store: audit_sqlite::SqliteStore) -> Result<(), Box<dyn std::error::Error>> {
/// let request = ReportRequest::new("Bookings, November", AuditQuery::new(), store.hasher());
/// let report = Report::gather(&store, request).await?;
/// let file = std::fs::File::create("report.pdf")?;
/// let (_file, rows) = audit_report::pdf::write(&store, &report, file, &PdfOptions::default(), &()).await?;
/// # Ok(()) }
/// ```
pub async fn write<S, W>(
    store: &S,
    report: &Report,
    writer: W,
    options: &PdfOptions,
    progress: &dyn Progress,
) -> Result<(W, u64)>
where
    S: AuditStore + ?Sized,
    W: Write + Send + 'static,
{
    let fonts = match &options.fonts {
        Some(fonts) => fonts.clone(),
        None => FontFiles::discover()?,
    };
    let front = report.clone();
    stream(
        store,
        report,
        progress,
        move || {
            let (regular, bold) = fonts.load()?;
            let mut document = Document::new();
            document.set_metadata(
                Metadata::new()
                    .title(front.title.clone())
                    .creator("audit-report".into())
                    .producer(format!("audit-report {}", env!("CARGO_PKG_VERSION"))),
            );
            let footer = format!(
                "{}  ·  generated {}",
                front.title,
                stamp(&front.generated_at)
            );
            let mut canvas = Canvas::new(document, regular, bold, footer);
            let y = front_page(&mut canvas, &front);
            let y = highlights(&mut canvas, y, &front.highlights);
            Ok(Listing::start(canvas, y, front.summary.total))
        },
        |listing, record| {
            listing.push(record);
            Ok(())
        },
        move |listing, _| {
            let pdf = listing.finish()?;
            let mut writer = writer;
            writer.write_all(&pdf)?;
            writer.flush()?;
            Ok(writer)
        },
    )
    .await
}

fn stamp(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

const WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

/// A label and its value on one line; returns the y below.
fn pair(
    canvas: &mut Canvas,
    x: f32,
    y: f32,
    label_w: f32,
    width: f32,
    label: &str,
    value: &str,
) -> f32 {
    canvas.text(x, y, label_w, label, Weight::Bold, 8.0, MUTED, Align::Left);
    canvas.text(
        x + label_w,
        y,
        width - label_w,
        value,
        Weight::Regular,
        8.0,
        INK,
        Align::Left,
    );
    y + 11.5
}

fn heading(canvas: &mut Canvas, y: f32, text: &str) -> f32 {
    canvas.text(
        MARGIN,
        y,
        WIDTH,
        text,
        Weight::Bold,
        11.0,
        ACCENT,
        Align::Left,
    );
    canvas.line((MARGIN, y + 15.0), (MARGIN + WIDTH, y + 15.0), 0.6, RULE);
    y + 20.0
}

/// The first page: title, filters, verification statement, counts, chart.
fn front_page(canvas: &mut Canvas, report: &Report) -> f32 {
    let mut y = MARGIN;
    canvas.text(
        MARGIN,
        y,
        WIDTH,
        &report.title,
        Weight::Bold,
        18.0,
        INK,
        Align::Left,
    );
    y += 26.0;
    canvas.text(
        MARGIN,
        y,
        WIDTH,
        &format!(
            "Audit report generated {} · {} events",
            stamp(&report.generated_at),
            report.summary.total
        ),
        Weight::Regular,
        9.0,
        MUTED,
        Align::Left,
    );
    y += 20.0;

    // Left column: filters and the verification statement; right column: counts.
    let left_w = 430.0;
    let right_x = MARGIN + left_w + 24.0;
    let right_w = WIDTH - left_w - 24.0;
    let top = y;
    y = heading_in(canvas, MARGIN, y, left_w, "Filters used");
    let filters = report.filters();
    if filters.is_empty() {
        y = pair(
            canvas,
            MARGIN,
            y,
            110.0,
            left_w,
            "filters",
            "none: every event",
        );
    }
    for (name, value) in &filters {
        y = pair(canvas, MARGIN, y, 110.0, left_w, name, value);
    }
    y += 8.0;
    y = verification_box(canvas, y, left_w, report);

    let mut ry = heading_in(canvas, right_x, top, right_w, "Events by outcome");
    for g in &report.summary.by_outcome {
        ry = count_line(canvas, right_x, ry, right_w, &g.key, g.count);
    }
    for h in &report.highlights {
        ry = count_line(
            canvas,
            right_x,
            ry,
            right_w,
            &h.title.to_lowercase(),
            h.count,
        );
    }
    ry += 6.0;
    ry = heading_in(canvas, right_x, ry, right_w, "Top actions");
    for g in top_n(&report.summary.by_action, 6) {
        ry = count_line(canvas, right_x, ry, right_w, &g.key, g.count);
    }
    ry += 6.0;
    ry = heading_in(canvas, right_x, ry, right_w, "Top actors");
    for g in top_n(&report.summary.by_actor, 6) {
        let name = if g.key.is_empty() {
            "(none)"
        } else {
            g.key.as_str()
        };
        ry = count_line(canvas, right_x, ry, right_w, name, g.count);
    }
    y = y.max(ry) + 10.0;

    let chart_h = 120.0;
    if y + chart_h + 24.0 > CONTENT_BOTTOM {
        canvas.finish_page();
        y = MARGIN;
    }
    y = heading(canvas, y, "Activity per day (UTC)");
    chart::draw(canvas, MARGIN, y, WIDTH, chart_h, &report.summary.by_day);
    y + chart_h + 14.0
}

fn heading_in(canvas: &mut Canvas, x: f32, y: f32, width: f32, text: &str) -> f32 {
    canvas.text(x, y, width, text, Weight::Bold, 10.0, ACCENT, Align::Left);
    canvas.line((x, y + 14.0), (x + width, y + 14.0), 0.5, RULE);
    y + 18.0
}

fn count_line(canvas: &mut Canvas, x: f32, y: f32, width: f32, label: &str, count: u64) -> f32 {
    canvas.text(
        x,
        y,
        width - 70.0,
        label,
        Weight::Regular,
        8.0,
        INK,
        Align::Left,
    );
    canvas.text(
        x + width - 70.0,
        y,
        70.0,
        &count.to_string(),
        Weight::Bold,
        8.0,
        INK,
        Align::Right,
    );
    y + 11.0
}

fn top_n(
    groups: &[audit_core::query::GroupCount],
    n: usize,
) -> Vec<&audit_core::query::GroupCount> {
    let mut sorted: Vec<_> = groups.iter().collect();
    sorted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    sorted.truncate(n);
    sorted
}

/// The verification statement, boxed, with a line to sign; returns the y below it.
fn verification_box(canvas: &mut Canvas, y: f32, width: f32, report: &Report) -> f32 {
    let v = &report.verification;
    let height = 128.0;
    canvas.rect(MARGIN, y, width, height, BAND);
    let color = if v.is_valid() { GOOD } else { BAD };
    canvas.rect(MARGIN, y, 3.0, height, color);
    let x = MARGIN + 10.0;
    let w = width - 16.0;
    let mut line = y + 8.0;
    canvas.text(
        x,
        line,
        w,
        "Verification",
        Weight::Bold,
        10.0,
        INK,
        Align::Left,
    );
    line += 15.0;
    canvas.text(
        x,
        line,
        w,
        &v.statement(),
        Weight::Bold,
        8.5,
        color,
        Align::Left,
    );
    line += 14.0;
    let key = match &v.chain.key_id {
        Some(id) => format!("{} with key {id}", v.chain.algorithm),
        None => format!("{} (no key)", v.chain.algorithm),
    };
    line = pair(
        canvas,
        x,
        line,
        80.0,
        w,
        "head hash",
        v.head_hash.as_deref().unwrap_or("–"),
    );
    line = pair(canvas, x, line, 80.0, w, "chain", &key);
    line = pair(
        canvas,
        x,
        line,
        80.0,
        w,
        "verified at",
        &stamp(&v.verified_at),
    );
    line += 14.0;
    canvas.line((x, line), (x + w * 0.55, line), 0.5, MUTED);
    canvas.line((x + w * 0.62, line), (x + w, line), 0.5, MUTED);
    canvas.text(
        x,
        line + 2.0,
        w * 0.55,
        "reviewed by",
        Weight::Regular,
        6.5,
        MUTED,
        Align::Left,
    );
    canvas.text(
        x + w * 0.62,
        line + 2.0,
        w * 0.38,
        "date",
        Weight::Regular,
        6.5,
        MUTED,
        Align::Left,
    );
    y + height + 8.0
}

/// The failed-login, denial and alert sections; returns the y below them.
fn highlights(canvas: &mut Canvas, mut y: f32, sections: &[Highlight]) -> f32 {
    for section in sections {
        let rows = section.newest.len() as f32;
        let needed = 20.0 + 14.0 + ROW_HEIGHT * rows.min(3.0);
        if y + needed > CONTENT_BOTTOM {
            canvas.finish_page();
            y = canvas::MARGIN;
        }
        y = heading(canvas, y, &format!("{} — {}", section.title, section.count));
        if section.newest.is_empty() {
            canvas.text(
                MARGIN,
                y,
                WIDTH,
                "none in this report",
                Weight::Regular,
                8.0,
                MUTED,
                Align::Left,
            );
            y += 18.0;
            continue;
        }
        if section.count > section.newest.len() as u64 {
            canvas.text(
                MARGIN,
                y,
                WIDTH,
                &format!(
                    "the newest {} of {}, newest first",
                    section.newest.len(),
                    section.count
                ),
                Weight::Regular,
                7.5,
                MUTED,
                Align::Left,
            );
            y += 11.0;
        }
        y = table::header(canvas, y);
        for record in &section.newest {
            if y + ROW_HEIGHT > CONTENT_BOTTOM {
                canvas.finish_page();
                y = table::header(canvas, MARGIN);
            }
            y = table::row(canvas, y, record);
        }
        y += 12.0;
    }
    y
}

/// The listing being streamed onto pages.
struct Listing {
    canvas: Canvas,
    y: f32,
    started: bool,
    total: u64,
}

impl Listing {
    fn start(canvas: Canvas, y: f32, total: u64) -> Self {
        Self {
            canvas,
            y,
            started: false,
            total,
        }
    }

    fn push(&mut self, record: &StoredEvent) {
        if !self.started {
            self.started = true;
            if self.y + 60.0 > CONTENT_BOTTOM {
                self.canvas.finish_page();
                self.y = MARGIN;
            }
            self.y = heading(
                &mut self.canvas,
                self.y,
                &format!("Event listing — {} events, oldest first", self.total),
            );
            self.y = table::header(&mut self.canvas, self.y);
        }
        if self.y + ROW_HEIGHT > CONTENT_BOTTOM {
            self.canvas.finish_page();
            self.y = table::header(&mut self.canvas, MARGIN);
        }
        self.y = table::row(&mut self.canvas, self.y, record);
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        if !self.started {
            self.y = heading(&mut self.canvas, self.y, "Event listing");
            self.canvas.text(
                MARGIN,
                self.y,
                WIDTH,
                "No events matched.",
                Weight::Regular,
                8.0,
                MUTED,
                Align::Left,
            );
        }
        self.canvas.finish_page();
        self.canvas.into_pdf().map_err(ReportError::Pdf)
    }
}
