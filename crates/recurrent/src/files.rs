//! Reading the files a user names: only regular files (a FIFO would block for ever, a device
//! like `/dev/zero` never ends), and never more than a stated limit, so no file can make the
//! program hang or take the machine's memory. Sizes a file declares are believed only once the
//! bytes are there (see `interop::read_npz` and `checkpoint::read_tensors`).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The memory this machine has available now (`MemAvailable`), in bytes, when it can be read.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// The most bytes read from one file: half of the memory available now (at least 64 MiB; 8 GiB
/// when that cannot be read). A text, checkpoint or `.npz` larger than this could not be worked
/// on in memory anyway.
pub fn memory_limit() -> u64 {
    available_memory().map_or(8 << 30, |b| (b / 2).max(64 << 20))
}

/// The bytes of `path`, which must be a regular file (or a link to one) of at most `limit`
/// bytes; `what` names it in messages ("a text", "a checkpoint").
///
/// # Errors
/// [`Error::File`] when it cannot be read, [`Error::Io`] when it is not a regular file or is
/// larger than `limit`.
pub fn read_regular(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let name = path.display();
    let md = std::fs::metadata(path).map_err(|e| Error::file(format!("cannot read {name}: {e}"), e))?;
    if !md.is_file() {
        let kind = if md.is_dir() { "a folder" } else { "not a regular file (a pipe, a device or a socket)" };
        return Err(Error::Io(format!("{name} is {kind}: give {what} as a regular file")));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::file(format!("cannot read {name}: {e}"), e))?;
    let mut out = Vec::with_capacity(md.len().min(limit) as usize);
    f.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::file(format!("cannot read {name}: {e}"), e))?;
    if out.len() as u64 > limit {
        return Err(Error::Io(format!(
            "{name} is larger than {}, the most recurrent reads as {what} on this machine (half of the memory available now): give a smaller file",
            human(limit)
        )));
    }
    Ok(out)
}

/// `1.5 GB`, `12 MB`, `300 bytes`.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1 << 20 => format!("{:.0} MB", b as f64 / 1e6),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, 5, "a text").unwrap(), b"12345");
        let e = read_regular(&f, 4, "a text").unwrap_err().to_string();
        assert!(e.contains("is larger than 4 bytes, the most recurrent reads as a text"), "{e}");
        let e = read_regular(d.path(), 100, "a text").unwrap_err().to_string();
        assert!(e.ends_with("is a folder: give a text as a regular file"), "{e}");
        let e = read_regular(Path::new("/dev/zero"), 100, "a checkpoint").unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
