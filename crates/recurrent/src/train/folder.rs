//! The run folder: a new one is never an existing run's, a run's files are never replaced by
//! another run's, and while a run writes into a folder it holds a lock on it, so a second
//! process cannot write there at the same time.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The files that make a folder a run's: its checkpoints. A folder with only a `config.json`
/// and metrics holds a run stopped before its first checkpoint, which cannot be resumed; a new
/// run may start over in it.
pub const RUN_FILES: [&str; 4] =
    ["last.state.safetensors", "prev.state.safetensors", "last.safetensors", "best.safetensors"];

/// A run folder claimed for writing; the lock is released when this is dropped (or the
/// process dies, whatever the way).
#[derive(Debug)]
pub struct Claimed {
    /// The folder.
    pub path: PathBuf,
    _lock: File,
}

/// The run files `dir` already holds.
pub fn run_files(dir: &Path) -> Vec<&'static str> {
    RUN_FILES.into_iter().filter(|f| dir.join(f).exists()).collect()
}

/// Refuses to start a new run in a folder that holds one.
pub fn refuse_existing_run(dir: &Path) -> Result<()> {
    let found = run_files(dir);
    if !found.is_empty() {
        return Err(Error::Config(format!(
            "{} already holds a run ({}): continue it with --resume {}, or give another --out; nothing was changed",
            dir.display(),
            found.join(", "),
            dir.display()
        )));
    }
    Ok(())
}

/// Whether `a` and `b` name the same folder, however written (`b` may not exist yet).
pub fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// A new folder `runs/<timestamp>` (created here, so two runs started in the same second get
/// `runs/<timestamp>` and `runs/<timestamp>-2`).
pub fn create_unique(parent: &Path, stamp: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::file(format!("cannot create the folder {}: {e}", parent.display()), e))?;
    for n in 1.. {
        let p = if n == 1 { parent.join(stamp) } else { parent.join(format!("{stamp}-{n}")) };
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::file(format!("cannot create the run folder {}: {e}", p.display()), e)),
        }
    }
    unreachable!("the loop returns")
}

/// Creates `dir` if needed and takes its lock (`dir/.lock`); refuses when another process
/// holds it. Temporary files that a killed writer left are removed; `note` is told how many.
pub fn claim(dir: &Path, note: &mut dyn FnMut(String)) -> Result<Claimed> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::file(format!("cannot create the output folder {}: {e}", dir.display()), e))?;
    let lock_path = dir.join(".lock");
    let lock =
        File::create(&lock_path).map_err(|e| Error::file(format!("cannot write into {}: {e}", dir.display()), e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::Config(format!(
                "another `recurrent train` is writing into {}: wait for it to finish, or give another --out",
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::file(format!("cannot lock {}: {e}", lock_path.display()), e))
        }
    }
    let removed = crate::checkpoint::remove_stale_temporaries(dir);
    if removed > 0 {
        note(format!("removed {removed} temporary file(s) an interrupted run left in {}", dir.display()));
    }
    Ok(Claimed { path: dir.to_path_buf(), _lock: lock })
}

/// The bytes of the regular file `path`, refused when it is not a regular file or holds more
/// than `limit` bytes (read with the limit, so an endless device stops there).
///
/// # Errors
/// [`Error::Io`] naming the file and the problem.
pub fn read_small(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let md = std::fs::metadata(path).map_err(|e| Error::file(format!("cannot read {}: {e}", path.display()), e))?;
    if !md.is_file() {
        return Err(Error::Io(format!("{} is not a regular file", path.display())));
    }
    let f = File::open(path).map_err(|e| Error::file(format!("cannot read {}: {e}", path.display()), e))?;
    let mut out = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::file(format!("cannot read {}: {e}", path.display()), e))?;
    if out.len() as u64 > limit {
        return Err(Error::Io(format!("{} is larger than {limit} bytes", path.display())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_until_the_first_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".last.safetensors.tmp-99999"), b"half").unwrap();
        let first = claim(d.path(), &mut |_| {}).unwrap();
        assert!(!d.path().join(".last.safetensors.tmp-99999").exists(), "stale temporary removed");
        let e = claim(d.path(), &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("another `recurrent train` is writing into"), "{e}");
        drop(first);
        assert!(claim(d.path(), &mut |_| {}).is_ok());
    }

    #[test]
    fn unique_folders_and_existing_runs() {
        let d = tempfile::tempdir().unwrap();
        let a = create_unique(d.path(), "20261201-120000").unwrap();
        let b = create_unique(d.path(), "20261201-120000").unwrap();
        assert_eq!(b.file_name().unwrap(), "20261201-120000-2");
        assert!(refuse_existing_run(&a).is_ok());
        std::fs::write(a.join("metrics.jsonl"), "").unwrap();
        std::fs::write(a.join("config.json"), "").unwrap();
        assert!(refuse_existing_run(&a).is_ok(), "no checkpoint yet: nothing to lose");
        std::fs::write(a.join("best.safetensors"), "").unwrap();
        let e = refuse_existing_run(&a).unwrap_err().to_string();
        assert!(e.contains("already holds a run (best.safetensors): continue it with --resume"), "{e}");
        assert!(same_folder(&a, &d.path().join("./20261201-120000")));
        assert!(!same_folder(&a, &b));
    }
}
