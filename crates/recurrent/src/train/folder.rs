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

/// Every name a run writes in its folder: recurrent writes nothing else there.
pub const WRITTEN: [&str; 11] = [
    ".lock",
    "config.json",
    "metrics.jsonl",
    "train.log",
    "loss.svg",
    "loss.png",
    "last.state.safetensors",
    "prev.state.safetensors",
    "last.safetensors",
    "best.safetensors",
    "checkpoints",
];

/// Refuses a folder where a name the run writes is a symbolic link (writing through it would
/// change a file outside the folder) or something other than a regular file (the
/// `checkpoints` folder excepted).
///
/// # Errors
/// [`Error::Config`] naming the entry and the fix.
pub fn refuse_links(dir: &Path) -> Result<()> {
    for name in WRITTEN {
        let p = dir.join(name);
        let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
        let ok = if name == "checkpoints" { md.is_dir() } else { md.is_file() };
        if md.file_type().is_symlink() || !ok {
            return Err(Error::Config(format!(
                "{} is {}: recurrent writes only regular files of its own in a run folder; remove it or give another --out; nothing was changed",
                p.display(),
                if md.file_type().is_symlink() { "a symbolic link" } else { "not a regular file" }
            )));
        }
    }
    Ok(())
}

/// Refuses to start a run in a folder holding files under the names a run writes that a run
/// did not write: a `config.json` that is not a run configuration, a `metrics.jsonl` that is
/// not metrics, plots, a log or a non-empty `.lock` without a run's `config.json` beside them. (The
/// files of a run stopped before its first checkpoint are its own, and may be replaced.)
///
/// # Errors
/// [`Error::Config`] naming the foreign files and the fix.
pub fn refuse_foreign(dir: &Path) -> Result<()> {
    let exists = |n: &str| std::fs::symlink_metadata(dir.join(n)).is_ok();
    let ours_config = exists("config.json")
        && crate::files::read_regular(&dir.join("config.json"), 1 << 20, "a run configuration")
            .ok()
            .and_then(|b| serde_json::from_slice::<crate::train::config::RunConfig>(&b).ok())
            .is_some();
    let mut foreign = Vec::new();
    if exists("config.json") && !ours_config {
        foreign.push("config.json");
    }
    if exists("metrics.jsonl") {
        let ok = crate::files::read_regular(&dir.join("metrics.jsonl"), 1 << 30, "metrics").ok().is_some_and(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| serde_json::from_str::<crate::train::session::Metric>(l).is_ok())
        });
        if !ok || !ours_config {
            foreign.push("metrics.jsonl");
        }
    }
    for n in ["loss.svg", "loss.png", "train.log"] {
        if exists(n) && !ours_config {
            foreign.push(n);
        }
    }
    if std::fs::metadata(dir.join(".lock")).is_ok_and(|m| m.len() > 0) {
        foreign.push(".lock");
    }
    if !foreign.is_empty() {
        return Err(Error::Config(format!(
            "{} holds files recurrent did not write under the names a run writes ({}): give an empty or new --out folder; nothing was changed",
            dir.display(),
            foreign.join(", ")
        )));
    }
    Ok(())
}

/// Opens `path` for writing without following a symbolic link at its last component, creating
/// it when missing; `append` appends, else the file is left as it is (no truncation).
///
/// # Errors
/// The system's error (a link gives `ELOOP`).
pub fn open_no_follow(path: &Path, append: bool) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

/// A folder for a new run (or a resumed run's continuation): refused, before anything is
/// created or written there, when it holds a run, links under a run's names, or files a run did
/// not write under them; then claimed ([`claim`]) and checked once more under the lock (another
/// process may have started a run there in between).
///
/// # Errors
/// As [`refuse_existing_run`], [`refuse_foreign`] and [`claim`].
pub fn claim_new(dir: &Path, note: &mut dyn FnMut(String)) -> Result<Claimed> {
    if dir.is_dir() {
        refuse_links(dir)?;
        refuse_existing_run(dir)?;
        refuse_foreign(dir)?;
    }
    let claimed = claim(dir, note)?;
    refuse_existing_run(dir)?;
    Ok(claimed)
}

/// Creates `dir` if needed and takes its lock (`dir/.lock`, opened without following a link
/// and never truncated); refuses when another process holds it, or when a name the run writes
/// is a link ([`refuse_links`]). Temporary files that a killed writer of this folder left
/// (`.NAME.tmp-PID` for the names a run writes) are removed; `note` is told how many.
pub fn claim(dir: &Path, note: &mut dyn FnMut(String)) -> Result<Claimed> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::file(format!("cannot create the output folder {}: {e}", dir.display()), e))?;
    refuse_links(dir)?;
    let lock_path = dir.join(".lock");
    let lock = open_no_follow(&lock_path, false)
        .map_err(|e| Error::file(format!("cannot write into {}: {e}", dir.display()), e))?;
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
    let removed = crate::checkpoint::remove_stale_temporaries(dir, &WRITTEN);
    if removed > 0 {
        note(format!("removed {removed} temporary file(s) an interrupted run left in {}", dir.display()));
    }
    Ok(Claimed { path: dir.to_path_buf(), _lock: lock })
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
