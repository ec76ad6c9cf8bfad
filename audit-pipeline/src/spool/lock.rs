//! The spool directory's lock: one process at a time replays a spool.

use std::fs;
use std::io;
use std::path::Path;

pub(crate) const LOCK: &str = "LOCK";

/// Claims the directory for this process: two processes replaying the same spool would
/// deliver it twice and interleave their orders. A lock left by a process that died is taken
/// over (on Linux, a lock is stale when its process is gone or was started before the last
/// reboot; elsewhere every lock left at start-up is assumed stale, since a clean shutdown
/// removes it).
///
/// The file holds the pid and, on Linux, the boot id: after a crash and a reboot the old pid
/// is often alive again as another process, which must not keep the spool locked (and
/// unreplayed) forever.
pub(crate) fn lock(dir: &Path) -> io::Result<()> {
    let path = dir.join(LOCK);
    let boot = boot_id();
    if let Ok(text) = fs::read_to_string(&path) {
        let mut lines = text.lines().map(str::trim);
        let pid = lines.next().and_then(|pid| pid.parse::<u32>().ok());
        let locked_boot = lines.next().filter(|id| !id.is_empty());
        let same_boot = match (locked_boot, boot.as_deref()) {
            (Some(locked), Some(now)) => locked == now,
            // A lock without a boot id (older format), or no way to tell: assume this boot.
            _ => true,
        };
        if let Some(pid) = pid
            && pid != std::process::id()
            && same_boot
            && process_alive(pid)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("the spool directory is in use by process {pid}"),
            ));
        }
    }
    let holder = match boot {
        Some(boot) => format!("{}\n{boot}\n", std::process::id()),
        None => format!("{}\n", std::process::id()),
    };
    fs::write(&path, holder)
}

/// Where Linux publishes the id of the current boot.
pub(crate) const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn boot_id() -> Option<String> {
    let id = fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn process_alive(pid: u32) -> bool {
    cfg!(target_os = "linux") && Path::new(&format!("/proc/{pid}")).exists()
}
