//! The library's error type: every message names the problem and, where it can, the fix.

use std::fmt;

/// Everything the library can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A tensor whose shape does not fit: `what` names it, `expected` says what fits.
    Shape {
        /// The tensor, e.g. `"x"` or `"weight_ih_l0"`.
        what: String,
        /// The shape it has.
        got: Vec<usize>,
        /// What was expected, in words, e.g. `"(T, B, 3): the layer expects input size 3"`.
        expected: String,
    },
    /// A required tensor was not given.
    Missing(String),
    /// A configuration value that makes no sense (hidden size 0, dropout 1, ...).
    Config(String),
    /// A file could not be read or written (or is not what it should be).
    Io(String),
    /// A file operation the operating system refused: the message names the file and the fix,
    /// and the system's error is kept as the [`std::error::Error::source`].
    File {
        /// What could not be done, with the file, the system's reason and the fix.
        message: String,
        /// The system's error.
        source: IoSource,
    },
}

/// An [`std::io::Error`] kept inside an [`Error`] (shared, so `Error` stays `Clone`; equal when
/// of the same kind).
#[derive(Clone, Debug)]
pub struct IoSource(pub std::sync::Arc<std::io::Error>);

impl PartialEq for IoSource {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind()
    }
}

impl Error {
    /// A shape error for `what`, which has shape `got` but should match `expected`.
    pub fn shape(what: impl Into<String>, got: &[usize], expected: impl Into<String>) -> Self {
        Error::Shape { what: what.into(), got: got.to_vec(), expected: expected.into() }
    }

    /// A refused file operation: `message` (which names the file, the reason and the fix), and
    /// the system's error `source`.
    pub fn file(message: String, source: std::io::Error) -> Self {
        Error::File { message, source: IoSource(std::sync::Arc::new(source)) }
    }
}

/// Formats a shape the way numpy prints it: `(4, 10, 7)`.
pub fn fmt_shape(s: &[usize]) -> String {
    match s.len() {
        1 => format!("({},)", s[0]),
        _ => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { what, got, expected } => write!(f, "{what} is {} but {expected}", fmt_shape(got)),
            Error::Missing(what) => write!(f, "missing tensor {what}"),
            Error::Config(m) | Error::Io(m) => write!(f, "{m}"),
            Error::File { message, .. } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::File { source, .. } => Some(&*source.0),
            _ => None,
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `what` has exactly `want` as its shape.
pub fn expect_shape(what: &str, got: &[usize], want: &[usize], why: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::shape(what, got, format!("{why} expects {}", fmt_shape(want))))
    }
}
