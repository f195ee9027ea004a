//! Reading a text to learn or score, with one-line errors for every way it can be wrong, as
//! compact tokens (one byte per character for vocabularies up to 256), with progress notes for
//! large files.

use crate::data::{Tokens, Vocab};
use crate::error::{Error, Result};
use crate::train::config::BUNDLED;
use crate::train::state::DataId;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Karpathy's tiny-shakespeare (`data/tinyshakespeare.txt`), inside the library, so that an
/// installed `recurrent` (or a program using the library) trains without the source tree.
pub static TINY_SHAKESPEARE: &[u8] = include_bytes!("../../../../data/tinyshakespeare.txt");

/// The bundled corpus's name as a text path.
pub fn default_corpus() -> PathBuf {
    PathBuf::from(BUNDLED)
}

/// The text's name for messages.
pub fn describe(path: &Path) -> String {
    if path == Path::new(BUNDLED) {
        "the bundled tiny-shakespeare".into()
    } else {
        path.display().to_string()
    }
}

/// A path to save with a run: absolute, so that a resume from another folder finds it.
pub fn absolute(path: &Path) -> PathBuf {
    if path == Path::new(BUNDLED) {
        return path.to_path_buf();
    }
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// Files larger than this get progress notes while they load.
const LARGE: usize = 32 << 20;

/// The file's bytes, refusing missing and empty files.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new(BUNDLED) {
        return Ok(TINY_SHAKESPEARE.to_vec());
    }
    let bytes = crate::files::read_regular(path, crate::files::memory_limit(), "a text").map_err(|e| match e {
        Error::File { message, source } => {
            Error::File { message: format!("{message}: give the path of a UTF-8 text file"), source }
        }
        e => e,
    })?;
    if bytes.is_empty() {
        return Err(Error::Config(format!(
            "{} is empty: give a UTF-8 text, of a few thousand characters at least to train on (2 at least to score)",
            path.display()
        )));
    }
    Ok(bytes)
}

fn not_utf8(name: &str, e: std::str::Utf8Error) -> Error {
    Error::Config(format!(
        "{name} is not valid UTF-8 (bad byte at offset {}): convert it first, e.g. iconv -f latin1 -t utf-8",
        e.valid_up_to()
    ))
}

/// A text loaded for training or scoring.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Its vocabulary: the given one, or the text's own characters.
    pub vocab: Vocab,
    /// The text as tokens of `vocab`.
    pub tokens: Tokens,
    /// Which text it is (checked when a run resumes).
    pub id: DataId,
}

/// Reads `path` (or the bundled corpus, [`BUNDLED`]) as tokens of `vocab` (or of its own
/// characters when `None`). Large files get a note before each slow phase. `why` is added to
/// the error when a character is outside `vocab`.
///
/// # Errors
/// When the file cannot be read, is empty, is not UTF-8, or holds a character outside `vocab`.
pub fn load_tokens(path: &Path, vocab: Option<&Vocab>, why: &str, note: &mut dyn FnMut(String)) -> Result<Loaded> {
    let size = std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0);
    if size > LARGE {
        note(format!("reading {} ({:.0} MB)…", path.display(), size as f64 / 1e6));
    }
    let bytes = read_bytes(path)?;
    encode(&path.display().to_string(), bytes, vocab, why, note)
}

/// [`load_tokens`] on a text held in memory, named `name` in messages.
///
/// # Errors
/// As [`load_tokens`], but for reading.
pub fn encode(
    name: &str,
    bytes: Vec<u8>,
    vocab: Option<&Vocab>,
    why: &str,
    note: &mut dyn FnMut(String),
) -> Result<Loaded> {
    let t0 = Instant::now();
    let large = bytes.len() > LARGE;
    if bytes.is_empty() {
        return Err(Error::Config(format!("{name} is empty: give a UTF-8 text, of a few thousand characters at least to train on (2 at least to score)")));
    }
    let s = std::str::from_utf8(&bytes).map_err(|e| not_utf8(name, e))?;
    let chars = s.chars().count();
    let id = DataId::of(&bytes, chars);
    let vocab = match vocab {
        Some(v) => v.clone(),
        None => Vocab::from_utf8(&bytes)?,
    };
    if large {
        note(format!("{chars} characters, vocabulary {}: encoding…", vocab.len()));
    }
    let tokens = match Tokens::encode(&vocab, bytes) {
        Ok(t) => t,
        Err(e) => return Err(Error::Config(format!("{name}: {e}{why}"))),
    };
    if large {
        note(format!(
            "{name} encoded in {:.1} s ({} byte{} per character)",
            t0.elapsed().as_secs_f64(),
            tokens.width(),
            if tokens.width() == 1 { "" } else { "s" }
        ));
    }
    Ok(Loaded { vocab, tokens, id })
}
