//! Text as tokens: the vocabulary (the sorted set of the text's characters) and the windows a
//! trainer reads — `B` parallel streams cut into `T`-step windows, so a stream's hidden state can
//! be carried from one window to the next (truncated BPTT).

use crate::error::{Error, Result};
use ndarray::Array2;
use std::collections::{BTreeSet, HashMap};

/// The characters of a text, sorted; a token is an index into them.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    chars: Vec<char>,
    index: HashMap<char, usize>,
}

impl Vocab {
    /// The sorted set of `text`'s Unicode characters.
    pub fn from_text(text: &str) -> Self {
        Self::from_chars(text.chars().collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// From characters in token order.
    pub fn from_chars(chars: Vec<char>) -> Self {
        let index = chars.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        Vocab { chars, index }
    }

    /// From one-character strings in token order (a checkpoint's `vocab`, a PyTorch script's
    /// `chars`).
    ///
    /// # Errors
    /// [`Error::Config`] for an entry that is not exactly one character (a word-level `"<unk>"`)
    /// or a character listed twice.
    pub fn from_strings(items: &[String]) -> Result<Self> {
        let mut chars = Vec::with_capacity(items.len());
        let mut seen: HashMap<char, usize> = HashMap::new();
        for (i, s) in items.iter().enumerate() {
            let mut it = s.chars();
            let (Some(c), None) = (it.next(), it.next()) else {
                return Err(Error::Config(format!(
                    "vocabulary entry {i} is {s:?} ({} characters): a character model's vocabulary lists single characters",
                    s.chars().count()
                )));
            };
            if let Some(j) = seen.insert(c, i) {
                return Err(Error::Config(format!(
                    "vocabulary entry {i} repeats {c:?} (entry {j}): each character must appear once"
                )));
            }
            chars.push(c);
        }
        Ok(Self::from_chars(chars))
    }

    /// `V`.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether there are no characters.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in token order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The characters of `text` that are not in the vocabulary, in order of first appearance.
    pub fn unknown(&self, text: &str) -> Vec<char> {
        let (mut seen, mut order) = (std::collections::HashSet::new(), Vec::new());
        for c in text.chars() {
            if !self.index.contains_key(&c) && seen.insert(c) {
                order.push(c);
            }
        }
        order
    }

    /// Tokens of `text`; an error names the characters outside the vocabulary (the first 20,
    /// and how many there are).
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        let bad = self.unknown(text);
        if !bad.is_empty() {
            let list: Vec<String> = bad.iter().take(20).map(|c| format!("{c:?}")).collect();
            let more = if bad.len() > 20 { format!(" and {} more", bad.len() - 20) } else { String::new() };
            return Err(Error::Config(format!(
                "{} character(s) are not in the model's vocabulary: {}{more}; use only characters the model was trained on",
                bad.len(),
                list.join(", ")
            )));
        }
        Ok(text.chars().map(|c| self.index[&c]).collect())
    }

    /// The token's character.
    pub fn decode_one(&self, t: usize) -> char {
        self.chars[t]
    }

    /// The text of some tokens.
    pub fn decode(&self, tokens: &[usize]) -> String {
        tokens.iter().map(|&t| self.chars[t]).collect()
    }

    /// The sorted set of the characters of UTF-8 `text` (ASCII counted in a table, so a large
    /// file is scanned at memory speed).
    ///
    /// # Errors
    /// [`Error::Config`] when `text` is not valid UTF-8.
    pub fn from_utf8(text: &[u8]) -> Result<Self> {
        let s = std::str::from_utf8(text).map_err(|e| {
            Error::Config(format!("the text is not valid UTF-8 (bad byte at offset {})", e.valid_up_to()))
        })?;
        let mut ascii = [false; 128];
        let mut other = BTreeSet::new();
        for c in s.chars() {
            match ascii.get_mut(c as usize) {
                Some(seen) => *seen = true,
                None => {
                    other.insert(c);
                }
            }
        }
        let mut chars: Vec<char> = (0u8..128).filter(|&b| ascii[b as usize]).map(char::from).collect();
        chars.extend(other);
        Ok(Self::from_chars(chars))
    }
}

/// A text as tokens in the narrowest integer that holds the vocabulary: one byte per character
/// when `V ≤ 256`, two when `V ≤ 65,536`, else four (a `Vec<usize>` would take eight).
#[derive(Clone, Debug, PartialEq)]
pub enum Tokens {
    /// `V ≤ 256`.
    U8(Vec<u8>),
    /// `V ≤ 65,536`.
    U16(Vec<u16>),
    /// Any vocabulary.
    U32(Vec<u32>),
}

impl Tokens {
    /// Encodes UTF-8 `text` with `vocab`, consuming the bytes: with one-byte tokens the text's
    /// own buffer is reused (token `j` is written over byte `j`, and a character's bytes start at
    /// or after its token's index), so at no moment are there two copies of a large file.
    ///
    /// # Errors
    /// [`Error::Config`] when `text` is not UTF-8 or has characters outside `vocab` (all listed).
    pub fn encode(vocab: &Vocab, mut text: Vec<u8>) -> Result<Self> {
        let s = std::str::from_utf8(&text).map_err(|e| {
            Error::Config(format!("the text is not valid UTF-8 (bad byte at offset {})", e.valid_up_to()))
        })?;
        // Characters outside the vocabulary, listed by `encode`'s error (checked on a table for
        // ASCII, so the common case makes no second pass over a hash map).
        let mut ascii = [u32::MAX; 128];
        for (i, &c) in vocab.chars.iter().enumerate() {
            if (c as usize) < 128 {
                ascii[c as usize] = i as u32;
            }
        }
        let known = |c: char| ascii.get(c as usize).map_or_else(|| vocab.index.contains_key(&c), |&t| t != u32::MAX);
        if !s.chars().all(known) {
            return Err(vocab.encode(s).expect_err("an unknown character"));
        }
        let tok = |c: char| ascii.get(c as usize).map_or_else(|| vocab.index[&c] as u32, |&t| t);
        match vocab.len() {
            0..=256 => {
                let (mut i, mut j) = (0, 0);
                while i < text.len() {
                    let b = text[i];
                    let (c, len) = if b < 0x80 {
                        (b as char, 1)
                    } else {
                        let len = utf8_len(b);
                        let c = std::str::from_utf8(&text[i..i + len]).expect("checked").chars().next();
                        (c.expect("one character"), len)
                    };
                    text[j] = tok(c) as u8;
                    i += len;
                    j += 1;
                }
                text.truncate(j);
                text.shrink_to_fit();
                Ok(Tokens::U8(text))
            }
            257..=65_536 => Ok(Tokens::U16(s.chars().map(|c| tok(c) as u16).collect())),
            _ => Ok(Tokens::U32(s.chars().map(tok).collect())),
        }
    }

    /// From tokens already as indices (tests, benches).
    pub fn from_indices(tokens: &[usize], vocab_len: usize) -> Self {
        match vocab_len {
            0..=256 => Tokens::U8(tokens.iter().map(|&t| t as u8).collect()),
            257..=65_536 => Tokens::U16(tokens.iter().map(|&t| t as u16).collect()),
            _ => Tokens::U32(tokens.iter().map(|&t| t as u32).collect()),
        }
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        match self {
            Tokens::U8(v) => v.len(),
            Tokens::U16(v) => v.len(),
            Tokens::U32(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per token.
    pub fn width(&self) -> usize {
        match self {
            Tokens::U8(_) => 1,
            Tokens::U16(_) => 2,
            Tokens::U32(_) => 4,
        }
    }

    /// Token `i`.
    #[inline]
    pub fn get(&self, i: usize) -> usize {
        match self {
            Tokens::U8(v) => v[i] as usize,
            Tokens::U16(v) => v[i] as usize,
            Tokens::U32(v) => v[i] as usize,
        }
    }
}

/// The length of the UTF-8 sequence a lead byte starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

/// `B` streams of `T`-step windows over a token slice: stream `b` starts at `starts[b]`; window
/// `w` of stream `b` reads inputs `tokens[starts[b] + w·T ..][..T]` and the targets one later.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    /// `B`.
    pub batch: usize,
    /// `T`.
    pub steps: usize,
    /// Where each stream starts in the token slice.
    pub starts: Vec<usize>,
    /// The first window index used.
    pub first: usize,
    /// How many windows are used.
    pub count: usize,
}

impl Windows {
    /// `B` equal contiguous streams over `len` tokens: stream length `S = len / B`, windows
    /// `(S − 1) / T` (each needs its targets one token further). `None` if not one window fits.
    pub fn contiguous(offset: usize, len: usize, batch: usize, steps: usize) -> Option<Self> {
        let s = len / batch.max(1);
        let count = s.saturating_sub(1) / steps.max(1);
        (count > 0).then(|| Windows {
            batch,
            steps,
            starts: (0..batch).map(|b| offset + b * s).collect(),
            first: 0,
            count,
        })
    }

    /// Tokens per window, `T·B`.
    pub fn chars_per_window(&self) -> usize {
        self.batch * self.steps
    }

    /// Fills window `w` (0-based within `first..first+count`): `inputs (T, B)` and `targets`
    /// (`T·B`, time-major like the model's output rows).
    pub fn fill(&self, tokens: &Tokens, w: usize, inputs: &mut Array2<usize>, targets: &mut [usize]) {
        let (t, b) = (self.steps, self.batch);
        let base = (self.first + w) * t;
        for s in 0..t {
            for (j, &st) in self.starts.iter().enumerate() {
                inputs[[s, j]] = tokens.get(st + base + s);
                targets[s * b + j] = tokens.get(st + base + s + 1);
            }
        }
    }

    /// The first `n` windows only (all when `n` is 0 or not smaller): a bounded validation.
    pub fn first_n(&self, n: usize) -> Windows {
        Windows { count: if n == 0 { self.count } else { self.count.min(n) }, ..self.clone() }
    }
}

/// How the text is split into training and validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// The last fraction of the text, contiguous (the default).
    Tail,
    /// char-rnn's split: the last fraction of every stream's windows.
    Stripes,
}

/// Training and validation windows over one token sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Training windows.
    pub train: Windows,
    /// Validation windows (evaluated from a zero state, state carried); `None` for no validation.
    pub val: Option<Windows>,
}

impl Split {
    /// Splits `len` tokens. Errors say how long the text must be.
    pub fn new(kind: SplitKind, len: usize, batch: usize, steps: usize, val_frac: f64) -> Result<Self> {
        let need = batch * steps + 1;
        let short = |what: &str, have: usize| {
            Error::Config(format!(
                "the {what} has {have} characters, fewer than one training window needs ({need} = batch {batch} × seq-len {steps} + 1): use a longer text or smaller --batch/--seq-len"
            ))
        };
        match kind {
            SplitKind::Tail => {
                let n_val = (len as f64 * val_frac).round() as usize;
                let n_train = len - n_val;
                let train = Windows::contiguous(0, n_train, batch, steps)
                    .ok_or_else(|| short(if n_val > 0 { "training part of the text" } else { "text" }, n_train))?;
                let val = if n_val == 0 {
                    None
                } else {
                    // As many parallel streams as fit (at most B), each from a zero state.
                    let val = (1..=batch).rev().find_map(|b| Windows::contiguous(n_train, n_val, b, steps));
                    Some(val.ok_or_else(|| short("validation part of the text", n_val))?)
                };
                Ok(Split { train, val })
            }
            SplitKind::Stripes => {
                let all = Windows::contiguous(0, len, batch, steps).ok_or_else(|| short("text", len))?;
                let n_train = ((all.count as f64) * (1.0 - val_frac)).floor().max(1.0) as usize;
                let n_val = all.count - n_train.min(all.count);
                let train = Windows { count: n_train.min(all.count), ..all.clone() };
                let val = (n_val > 0).then_some(Windows { first: n_train, count: n_val, ..all });
                Ok(Split { train, val })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_sorted_and_names_unknown_characters() {
        let v = Vocab::from_text("hello");
        assert_eq!(v.chars(), &['e', 'h', 'l', 'o']);
        assert_eq!(v.encode("hole").unwrap(), vec![1, 3, 2, 0]);
        let e = v.encode("hex!x").unwrap_err().to_string();
        assert!(e.starts_with("2 character(s) are not in the model's vocabulary: 'x', '!'"), "{e}");
    }

    // 0..=20 in 2 streams of 10 (S = 21/2 = 10), T = 3: (10 − 1)/3 = 3 windows per stream.
    // Window 1, stream 1 reads tokens 13, 14, 15 with targets 14, 15, 16 (by hand).
    #[test]
    fn windows_read_parallel_streams() {
        let tokens = Tokens::from_indices(&(0..21).collect::<Vec<_>>(), 21);
        let w = Windows::contiguous(0, 21, 2, 3).unwrap();
        assert_eq!((w.count, w.starts.clone()), (3, vec![0, 10]));
        let mut x = Array2::zeros((3, 2));
        let mut y = vec![0; 6];
        w.fill(&tokens, 1, &mut x, &mut y);
        assert_eq!(x.column(1).to_vec(), vec![13, 14, 15]);
        assert_eq!(y, vec![4, 14, 5, 15, 6, 16]);
    }

    // One-byte tokens are written over the text's own bytes; multi-byte characters (é is two
    // bytes, 😀 four) each become one token; the sorted vocabulary puts ASCII first (by hand:
    // "\n", "a", "b", "é", "😀" are tokens 0..4).
    #[test]
    fn compact_tokens_encode_in_place_and_widen_for_large_vocabularies() {
        let text = "ab\né😀a";
        let v = Vocab::from_utf8(text.as_bytes()).unwrap();
        assert_eq!(v.chars(), &['\n', 'a', 'b', 'é', '😀']);
        let t = Tokens::encode(&v, text.as_bytes().to_vec()).unwrap();
        assert_eq!(t, Tokens::U8(vec![1, 2, 0, 3, 4, 1]));
        assert_eq!(v.encode(text).unwrap(), (0..t.len()).map(|i| t.get(i)).collect::<Vec<_>>());
        let e = Tokens::encode(&v, "abc€".as_bytes().to_vec()).unwrap_err().to_string();
        assert!(e.starts_with("2 character(s) are not in the model's vocabulary: 'c', '€'"), "{e}");
        let e = Tokens::encode(&v, vec![b'a', 0xE9]).unwrap_err().to_string();
        assert_eq!(e, "the text is not valid UTF-8 (bad byte at offset 1)");
        // 300 distinct characters need two bytes; the tokens agree with `encode`.
        let wide: String = (0..300u32).map(|i| char::from_u32(0x100 + i).unwrap()).collect();
        let v = Vocab::from_utf8(wide.as_bytes()).unwrap();
        let t = Tokens::encode(&v, wide.as_bytes().to_vec()).unwrap();
        assert_eq!((t.width(), t.len(), t.get(299)), (2, 300, 299));
        assert_eq!(Vocab::from_text(&wide), v);
    }

    #[test]
    fn too_short_text_says_what_is_needed() {
        let e = Split::new(SplitKind::Tail, 50, 4, 25, 0.1).unwrap_err().to_string();
        assert!(e.contains("fewer than one training window needs (101"), "{e}");
    }
}
