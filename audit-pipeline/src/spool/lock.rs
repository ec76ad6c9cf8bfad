//! The spool directory's lock: one process at a time replays a spool.
//!
//! Two processes replaying the same spool would deliver it twice and interleave their
//! orders. The lock is an OS advisory lock (`flock` on Unix, `LockFileEx` on Windows) on
//! the directory's `LOCK` file, held for as long as the spool is open: the OS releases it
//! when the process ends however it ends, so there is no stale lock to guess about after a
//! crash, a `kill -9` or a reboot.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::Path;

pub(crate) const LOCK: &str = "LOCK";

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub(crate) struct DirLock {
    // Held open for the lock; closing it releases the lock.
    _file: File,
}

/// Claims the directory for this process, or fails with `WouldBlock` while another process
/// (or another open spool of this process) holds it.
pub(crate) fn lock(dir: &Path) -> io::Result<DirLock> {
    let path = dir.join(LOCK);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "the spool directory {} is in use by another auditor (process {})",
                    dir.display(),
                    holder.trim()
                ),
            ));
        }
        Err(TryLockError::Error(err)) => return Err(err),
    }
    // For people: who holds it. The lock itself is the OS's.
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_does_not_lock() {
        let dir = tempfile::tempdir().unwrap();
        // What a crashed process leaves: the file, with a pid, and no OS lock.
        std::fs::write(dir.path().join(LOCK), "1").unwrap();
        assert!(lock(dir.path()).is_ok());
    }
}
