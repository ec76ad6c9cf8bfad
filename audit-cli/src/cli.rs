//! The command line: global options and one subcommand per job (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::filters::Filters;

/// Query, export, verify and archive an audit log (SQLite or PostgreSQL).
///
/// Results go to stdout, progress and diagnostics to stderr. Exit status: 0 success,
/// 1 the chain or an archive does not verify (tampering or corruption found),
/// 2 usage error (a bad argument or URL), 3 any other failure (a missing file, the database,
/// a wrong key, a schema newer than this tool, I/O), 130 interrupted.
#[derive(Debug, Parser)]
#[command(
    name = "audit",
    version,
    propagate_version = true,
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  export AUDIT_DATABASE_URL=sqlite:audit.db
  audit query --actor alice --since 2026-11-01 --limit 20
  audit query --action-prefix AUTHN_ --outcome failure --json | jq .actor
  audit tail --follow
  audit stats --by action --by day
  audit export --format pdf --since 2026-11-01 --until 2026-12-01 --out november.pdf
  audit verify && audit checkpoint --out head.json
  audit verify --checkpoint head.json
  audit archive --before 2025-01-01 --to /var/backups/audit
  audit verify-archive /var/backups/audit/audit-archive-1-52000.jsonl
  audit keygen --origin audit.example.com/ftms --out signer.key > verifier.pub
  audit verify --checkpoint witness/checkpoint --key verifier.pub
  audit prove --seq 1042 --key verifier.pub
  audit bundle --from 1000 --to 2000 --out bundle.jsonl
  audit verify-bundle bundle.jsonl --key verifier.pub
  audit bundle --tenant acme --from 1 --out acme.jsonl
  audit verify --tenant acme --checkpoint witness/checkpoint --key verifier.pub
  audit --db postgres://audit_owner@db.internal/app --key-file /etc/audit/key verify";

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The audit store: `sqlite:PATH`, `postgres://user@host:port/db` or
    /// `mysql://user:password@host:port/db` (also `mariadb://`).
    #[arg(long, global = true, env = "AUDIT_DATABASE_URL", value_name = "URL")]
    pub db: Option<String>,

    /// The PostgreSQL schema holding the audit tables.
    #[arg(long, global = true, default_value = "audit", value_name = "NAME")]
    pub schema: String,

    /// A file holding the chain's HMAC key (its bytes; one trailing newline is ignored).
    /// Without it, the key is read from AUDIT_HMAC_KEY when that is set; without either,
    /// the chain is plain SHA-256. The key is never taken as an argument (it would show in
    /// `ps`).
    #[arg(long, global = true, env = "AUDIT_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When the output is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The jobs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List matching events, newest first: a table, or JSON lines with --json.
    Query(QueryArgs),
    /// Show the newest events; with --follow, keep printing new ones as they are written.
    Tail(TailArgs),
    /// Count matching events by action, actor, outcome and day.
    Stats(StatsArgs),
    /// Write every matching event to a file (or stdout) as CSV, JSON Lines, Excel or PDF.
    Export(ExportArgs),
    /// Verify the hash chain: all of it, a seq range, or against a saved checkpoint.
    Verify(VerifyArgs),
    /// Print the chain head (seq and hash) as JSON, or save it to a file.
    Checkpoint(CheckpointArgs),
    /// Move events older than a date into an archive file and remove them from the store.
    Archive(ArchiveArgs),
    /// Verify an archive file on its own.
    VerifyArchive(VerifyArchiveArgs),
    /// Print an inclusion proof (an event is in the signed log) or a consistency proof (the
    /// log only grew between two signed checkpoints), as JSON.
    Prove(ProveArgs),
    /// Write events with a signed checkpoint and their proof: a bundle anyone verifies
    /// offline with `audit verify-bundle`.
    Bundle(BundleArgs),
    /// Verify a bundle offline, with the log's verifying key and no database.
    VerifyBundle(VerifyBundleArgs),
    /// Generate an Ed25519 key for signing a log's checkpoints.
    Keygen(KeygenArgs),
    /// Serve the dashboard for this store: sign in with the printed link (Ctrl-C stops).
    Serve(ServeArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `audit serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// A file holding the sign-in token (at least 16 characters); without it, a random
    /// token is made and printed in the sign-in link.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// The name recorded as the actor of everything done through the dashboard (default:
    /// $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// `audit query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// How many events to show (pages through the store as needed).
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: u64,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub oldest_first: bool,
    /// Continue after the cursor a previous query printed.
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// One JSON object per line (a stored event, as `export --format jsonl` writes it).
    #[arg(long)]
    pub json: bool,
}

/// `audit tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// How many of the newest events to show first.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub lines: u64,
    /// Keep running and print events as they are written (Ctrl-C stops).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// How often --follow looks for new events, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub interval_ms: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// What `audit stats` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// The action code.
    Action,
    /// The actor id.
    Actor,
    /// The outcome.
    Outcome,
    /// The UTC day.
    Day,
}

/// `audit stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// Group by this (repeat for several; default: all four).
    #[arg(long, value_enum)]
    pub by: Vec<GroupBy>,
    /// One JSON object: `{"total": n, "action": [{"key", "count"}], ...}`.
    #[arg(long)]
    pub json: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values (formula injection escaped).
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// An Excel workbook: summary, events and verification sheets.
    Xlsx,
    /// A PDF report: summary, chart, highlights, verification statement, listing.
    Pdf,
}

/// `audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// The output format.
    #[arg(long, short = 'F', value_enum)]
    pub format: Format,
    /// Where to write (default: stdout). The file appears only once complete.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The report's title (xlsx and pdf).
    #[arg(long, default_value = "Audit report")]
    pub title: String,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// First seq of a range to verify (with --to).
    #[arg(long, requires = "to", value_name = "SEQ")]
    pub from: Option<u64>,
    /// Last seq of a range to verify (with --from).
    #[arg(long, requires = "from", value_name = "SEQ")]
    pub to: Option<u64>,
    /// A checkpoint saved earlier by `audit checkpoint --out`: the chain must still reach it
    /// with the same hash (detects a truncated or rewritten log). With --key, a signed
    /// checkpoint (the note the store signed and published): the log must hold exactly the
    /// events its Merkle tree vouches for.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "to"])]
    pub checkpoint: Option<PathBuf>,
    /// The log's verifying key(s), one per line (`origin+id+key`, as `audit keygen` prints):
    /// --checkpoint is then a signed checkpoint.
    #[arg(long, value_name = "PUBFILE", requires = "checkpoint")]
    pub key: Option<PathBuf>,
    /// Check only this tenant's events, each by its inclusion proof against the signed
    /// --checkpoint (reads no other tenant's events; an event missing from the store is
    /// not found this way).
    #[arg(long, value_name = "TENANT", requires = "key")]
    pub tenant: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `audit checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Save the checkpoint to this file instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `audit archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive events that happened before this time (`YYYY-MM-DD` or RFC 3339), as a
    /// prefix of the chain: it stops at the first later event.
    #[arg(long, value_name = "DATE", value_parser = crate::filters::parse_time)]
    pub before: chrono::DateTime<chrono::Utc>,
    /// The directory to write the archive file into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `audit verify-archive`.
#[derive(Debug, Args)]
pub struct VerifyArchiveArgs {
    /// The archive file.
    pub file: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `audit prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["seq", "id", "since"])))]
pub struct ProveArgs {
    /// The event's seq.
    #[arg(long, value_name = "SEQ")]
    pub seq: Option<u64>,
    /// The event's id.
    #[arg(long, value_name = "UUID")]
    pub id: Option<uuid::Uuid>,
    /// A consistency proof from this older signed checkpoint (a file) to --checkpoint.
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
    /// The signed checkpoint to prove against (default: the newest the store holds).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Check the checkpoints with these verifying keys before proving, and the proof after.
    #[arg(long, value_name = "PUBFILE")]
    pub key: Option<PathBuf>,
}

/// `audit bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The first seq to include.
    #[arg(long, value_name = "SEQ")]
    pub from: u64,
    /// The last seq to include (default: the checkpoint's size).
    #[arg(long, value_name = "SEQ")]
    pub to: Option<u64>,
    /// The signed checkpoint to prove against (default: the newest the store holds).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Only this tenant's events of the range, each with its inclusion proof: a bundle to
    /// hand the tenant, which it verifies offline without seeing any other tenant's event.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Where to write the bundle. The file appears only once complete.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `audit verify-bundle`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle file.
    pub file: PathBuf,
    /// The log's verifying key(s), one per line.
    #[arg(long, value_name = "PUBFILE")]
    pub key: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `audit keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The log's origin, which names it in every checkpoint (e.g. `audit.example.com/ftms`).
    #[arg(long)]
    pub origin: String,
    /// Where to write the private key (created with mode 0600; never replaced).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

/// `audit completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
