//! `audit export --format csv|jsonl|xlsx|pdf [--out FILE]`.

use std::io::{BufWriter, IsTerminal, Write};

use audit_core::AuditStore;
use audit_core::export::{ExportFormat, Exporter};
use audit_core::query::{AuditQuery, MAX_PAGE_SIZE, Order};
use audit_report::pdf::PdfOptions;
use audit_report::{Report, ReportRequest};

use crate::cli::{ExportArgs, Format};
use crate::error::{CliError, Exit};
use crate::outfile::OutFile;
use crate::output;
use crate::target::Target;

pub async fn run(args: ExportArgs, target: &Target) -> Result<Exit, CliError> {
    let store = target.store();
    let query = args.filters.query();
    let (binary, seekable) = match args.format {
        Format::Csv | Format::Jsonl => (false, false),
        Format::Xlsx => (true, true),
        Format::Pdf => (true, false),
    };
    let out = OutFile::create(args.out.as_deref(), args.force, binary, seekable)?;
    // Counting costs a scan; only worth it when a progress bar can show it.
    let total = if std::io::stderr().is_terminal() {
        store.count(&query).await?
    } else {
        0
    };
    let bar = output::progress(total, "exporting");
    let handle = out.handle()?;
    let rows = match args.format {
        Format::Csv | Format::Jsonl => {
            let format = if args.format == Format::Csv {
                ExportFormat::Csv
            } else {
                ExportFormat::JsonLines
            };
            let writer: Box<dyn Write> = match handle {
                Some(file) => Box::new(file),
                None => Box::new(std::io::stdout()),
            };
            export_lines(store, &query, format, writer, &|n| bar.set_position(n)).await?
        }
        Format::Xlsx | Format::Pdf => {
            let request = ReportRequest::new(args.title.clone(), query, target.hasher());
            let report = Report::gather(store, request).await?;
            bar.set_length(report.summary.total);
            let file = handle.ok_or_else(|| CliError::failure("no output file for the report"))?;
            let progress = |n: u64| bar.set_position(n);
            let writer = BufWriter::with_capacity(1 << 16, file);
            let (writer, rows) = if args.format == Format::Xlsx {
                audit_report::xlsx::write(store, &report, writer, &progress).await?
            } else {
                audit_report::pdf::write(store, &report, writer, &PdfOptions::default(), &progress)
                    .await?
            };
            writer
                .into_inner()
                .map_err(|err| CliError::from(err.into_error()))?;
            rows
        }
    };
    bar.finish_and_clear();
    let dest = out.commit()?;
    if let Some(dest) = dest {
        output::note(&format!("wrote {rows} events to {}", dest.display()));
    }
    Ok(Exit::Ok)
}

/// Streams every match, oldest first, in keyset pages through audit-core's [`Exporter`].
async fn export_lines(
    store: &dyn AuditStore,
    query: &AuditQuery,
    format: ExportFormat,
    writer: Box<dyn Write>,
    progress: &dyn Fn(u64),
) -> Result<u64, CliError> {
    let mut exporter = Exporter::new(format, writer);
    let mut q = query.clone().order(Order::OldestFirst).limit(MAX_PAGE_SIZE);
    loop {
        let page = store.query(&q).await?;
        for record in &page.events {
            exporter.push(record)?;
        }
        progress(exporter.written());
        match page.next {
            Some(cursor) => q = q.after(cursor),
            None => break,
        }
    }
    let rows = exporter.written();
    exporter.finish()?.flush()?;
    Ok(rows)
}
