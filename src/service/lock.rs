//! One daemon per SQLite file. SQLite has a single writer and no row claims
//! across processes, so a second `iopd run` on the same file is refused at
//! start with a message that names the file and the process holding it.
//! (PostgreSQL deployments may run several; see the module docs.)

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for the life of the process; the OS drops the lock when it exits,
/// however it exits.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    pub path: PathBuf,
}

/// The database file of a `sqlite:` URL (`sqlite://path`, `sqlite:path`, options after `?`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

pub fn acquire(db_file: &Path) -> Result<DaemonLock, String> {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(format!(
                "another iopd service is already running on the SQLite database {}{}; \
                 run one service per SQLite file (several services need PostgreSQL)",
                db_file.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder}, lock file {})", path.display())
                }
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    // Best effort: the pid is only for the message above.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(DaemonLock { _file: file, path })
}

/// A clean stop removes the lock file (while still holding the lock), so
/// nothing is left beside the database; after a crash the stale file is
/// harmless, since only the OS lock counts.
impl Drop for DaemonLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/iopd/iopd.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/iopd/iopd.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:iopd.db"),
            Some(PathBuf::from("iopd.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("iopd.db");
        let first = acquire(&db).unwrap();
        let err = acquire(&db).unwrap_err();
        assert!(err.contains("already running"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert!(acquire(&db).is_ok());
    }
}
