//! Reading a text to learn or score, with one-line errors for every way it can be wrong.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The bundled corpus: `data/tinyshakespeare.txt` under the working folder, else in the source
/// tree this binary was built from.
pub fn default_corpus() -> PathBuf {
    let local = PathBuf::from("data/tinyshakespeare.txt");
    if local.exists() {
        return local;
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tinyshakespeare.txt");
    if built.exists() {
        built
    } else {
        local
    }
}

/// The whole file as UTF-8 text, refusing missing, empty and non-UTF-8 files.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => bail!("cannot read {}: {e}: give the path of a UTF-8 text file", path.display()),
    };
    if bytes.is_empty() {
        bail!("{} is empty: give a text with at least a few thousand characters", path.display());
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "{} is not valid UTF-8 (bad byte at offset {}): convert it first, e.g. iconv -f latin1 -t utf-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ),
    }
}
