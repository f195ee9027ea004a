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
        let mut seen = Vec::new();
        for c in text.chars() {
            if !self.index.contains_key(&c) && !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    }

    /// Tokens of `text`; an error lists every character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        let bad = self.unknown(text);
        if !bad.is_empty() {
            let list: Vec<String> = bad.iter().map(|c| format!("{c:?}")).collect();
            return Err(Error::Config(format!(
                "{} character(s) are not in the model's vocabulary: {}; use only characters the model was trained on",
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
    pub fn fill(&self, tokens: &[usize], w: usize, inputs: &mut Array2<usize>, targets: &mut [usize]) {
        let (t, b) = (self.steps, self.batch);
        let base = (self.first + w) * t;
        for s in 0..t {
            for (j, &st) in self.starts.iter().enumerate() {
                inputs[[s, j]] = tokens[st + base + s];
                targets[s * b + j] = tokens[st + base + s + 1];
            }
        }
    }
}

/// How the text is split into training and validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        let tokens: Vec<usize> = (0..21).collect();
        let w = Windows::contiguous(0, 21, 2, 3).unwrap();
        assert_eq!((w.count, w.starts.clone()), (3, vec![0, 10]));
        let mut x = Array2::zeros((3, 2));
        let mut y = vec![0; 6];
        w.fill(&tokens, 1, &mut x, &mut y);
        assert_eq!(x.column(1).to_vec(), vec![13, 14, 15]);
        assert_eq!(y, vec![4, 14, 5, 15, 6, 16]);
    }

    #[test]
    fn too_short_text_says_what_is_needed() {
        let e = Split::new(SplitKind::Tail, 50, 4, 25, 0.1).unwrap_err().to_string();
        assert!(e.contains("fewer than one training window needs (101"), "{e}");
    }
}
