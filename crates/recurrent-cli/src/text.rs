//! Texts for the subcommands: the library's loading (`recurrent::train::text`), its progress
//! notes for large files on stderr.

use anyhow::Result;
use recurrent::data::Vocab;
pub use recurrent::train::text::{default_corpus, describe, Loaded};
use std::path::Path;

/// Reads `path` as tokens of `vocab` (or of its own characters); see
/// [`recurrent::train::text::load_tokens`].
pub fn load_tokens(path: &Path, vocab: Option<&Vocab>, why: &str) -> Result<Loaded> {
    Ok(recurrent::train::text::load_tokens(path, vocab, why, &mut |s| errln!("{s}"))?)
}
