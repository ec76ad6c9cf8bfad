//! Where a command's output goes: a file that appears only once complete, or stdout.
//!
//! A file is written as a hidden temporary file beside its destination and renamed over it
//! on [`OutFile::commit`]; an interrupted or failed command drops the `OutFile`, which
//! removes the temporary file, so the destination never holds half an output. (A process
//! killed with SIGKILL cannot clean up: it leaves only a `.NAME.*.partial` file, never
//! `NAME`.)

use std::fs::File;
use std::io::{self, IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::CliError;

/// An output being written.
pub enum OutFile {
    /// A temporary file to be renamed to `dest`.
    File {
        /// The temporary file.
        temp: NamedTempFile,
        /// The destination.
        dest: PathBuf,
        /// Whether an existing destination may be replaced.
        force: bool,
    },
    /// Standard output, through an anonymous temporary file when the format needs `Seek`.
    Stdout {
        /// The spooled output, copied to stdout on commit.
        spool: Option<File>,
    },
}

impl OutFile {
    /// Starts an output to `dest`, or to stdout when `None`. `binary` outputs are refused on
    /// a terminal; `seekable` ones (xlsx) are spooled to a temporary file first.
    pub fn create(
        dest: Option<&Path>,
        force: bool,
        binary: bool,
        seekable: bool,
    ) -> Result<Self, CliError> {
        let Some(dest) = dest.filter(|d| d.as_os_str() != "-") else {
            if binary && io::stdout().is_terminal() {
                return Err(CliError::usage(
                    "refusing to write a binary report to the terminal: give --out FILE or redirect stdout",
                ));
            }
            let spool = if seekable {
                Some(tempfile::tempfile()?)
            } else {
                None
            };
            return Ok(Self::Stdout { spool });
        };
        if dest.exists() && !force {
            return Err(CliError::failure(format!(
                "{} exists; use --force to replace it",
                dest.display()
            )));
        }
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(CliError::failure(format!(
                "no such directory: {}",
                dir.display()
            )));
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|err| {
                CliError::failure(format!("cannot write in {}: {err}", dir.display()))
            })?;
        Ok(Self::File {
            temp,
            dest: dest.to_owned(),
            force,
        })
    }

    /// A handle to write the output through (for a file: a second handle on the temporary
    /// file; for stdout: the spool, or `None` to write to stdout directly).
    pub fn handle(&self) -> Result<Option<File>, CliError> {
        Ok(match self {
            Self::File { temp, .. } => Some(temp.as_file().try_clone()?),
            Self::Stdout { spool } => match spool {
                Some(file) => Some(file.try_clone()?),
                None => None,
            },
        })
    }

    /// Makes the output appear: syncs and renames the temporary file, or copies the spool to
    /// stdout. Returns the destination (`None` for stdout).
    pub fn commit(self) -> Result<Option<PathBuf>, CliError> {
        match self {
            Self::File { temp, dest, force } => {
                temp.as_file().sync_all()?;
                let persisted = if force {
                    temp.persist(&dest).map(|_| ())
                } else {
                    temp.persist_noclobber(&dest).map(|_| ())
                };
                persisted.map_err(|err| {
                    CliError::failure(format!("cannot create {}: {}", dest.display(), err.error))
                })?;
                // Persist the rename; not every platform can open a directory.
                if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
                    && let Ok(dir) = File::open(dir)
                {
                    let _ = dir.sync_all();
                }
                Ok(Some(dest))
            }
            Self::Stdout { spool } => {
                let mut out = io::stdout().lock();
                if let Some(mut file) = spool {
                    file.rewind()?;
                    io::copy(&mut file, &mut out)?;
                }
                out.flush()?;
                Ok(None)
            }
        }
    }
}
