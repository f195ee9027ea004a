//! The named choices of the command line, as clap value enums: clap refuses an unknown name
//! with the list of the possible ones, and each turns into the library's own type here, so no
//! string travels past the command line. They serialise under the names the flags take, so a
//! run's `config.json` reads as the command line did.

use clap::ValueEnum;
use recurrent::data::SplitKind;
use recurrent::optim::Rule;
use recurrent::{CellKind, Reduction};
use serde::{Deserialize, Serialize};

/// `--preset`.
#[derive(ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Karpathy's min-char-rnn.
    MinCharRnn,
    /// Karpathy's char-rnn defaults.
    CharRnn,
    /// An LSTM sized for a good model in five minutes.
    Default,
}

/// `--cell`.
#[derive(ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Cell {
    /// The tanh RNN.
    #[value(alias = "tanh")]
    Rnn,
    /// The LSTM.
    Lstm,
    /// The GRU.
    Gru,
}

impl From<Cell> for CellKind {
    fn from(c: Cell) -> CellKind {
        match c {
            Cell::Rnn => CellKind::Rnn,
            Cell::Lstm => CellKind::Lstm,
            Cell::Gru => CellKind::Gru,
        }
    }
}

impl From<CellKind> for Cell {
    fn from(c: CellKind) -> Cell {
        match c {
            CellKind::Rnn => Cell::Rnn,
            CellKind::Lstm => Cell::Lstm,
            CellKind::Gru => Cell::Gru,
        }
    }
}

/// `--optimizer`.
#[derive(ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Adam (β = 0.9, 0.999).
    Adam,
    /// Adagrad.
    Adagrad,
    /// RMSProp (α from the preset, 0.99 by default).
    Rmsprop,
    /// SGD with momentum 0.9.
    Momentum,
    /// Plain SGD.
    Sgd,
}

impl Optimizer {
    /// The library's rule, RMSProp with smoothing `alpha`.
    pub fn rule(self, alpha: f64) -> Rule {
        match self {
            Optimizer::Adam => Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            Optimizer::Adagrad => Rule::Adagrad { eps: 1e-8 },
            Optimizer::Rmsprop => Rule::RmsProp { alpha, eps: 1e-8 },
            Optimizer::Momentum => Rule::Momentum(0.9),
            Optimizer::Sgd => Rule::Sgd,
        }
    }
}

/// `--split`.
#[derive(ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The last part of the text.
    Tail,
    /// char-rnn's: the end of every stream.
    Stripes,
}

impl From<Split> for SplitKind {
    fn from(s: Split) -> SplitKind {
        match s {
            Split::Tail => SplitKind::Tail,
            Split::Stripes => SplitKind::Stripes,
        }
    }
}

/// `--parallel`: how two threads share a step.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallel {
    /// Each thread runs half of the batch (the default).
    Batch,
    /// The whole batch, each large product cut in two by rows.
    Products,
}

impl From<Parallel> for recurrent::parallel::Parallelism {
    fn from(p: Parallel) -> Self {
        match p {
            Parallel::Batch => recurrent::parallel::Parallelism::Batch,
            Parallel::Products => recurrent::parallel::Parallelism::Products,
        }
    }
}

/// How a window's losses are combined (set by the presets).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Per character (PyTorch's default).
    Mean,
    /// Summed over the window (min-char-rnn).
    Sum,
}

impl From<Loss> for Reduction {
    fn from(l: Loss) -> Reduction {
        match l {
            Loss::Mean => Reduction::Mean,
            Loss::Sum => Reduction::Sum,
        }
    }
}

/// Each choice prints as the name its flag takes.
macro_rules! display_as_flag {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.to_possible_value().expect("no skipped variants").get_name())
            }
        }
    )*};
}
display_as_flag!(Preset, Cell, Optimizer, Split, Parallel);

#[cfg(test)]
mod tests {
    use super::*;

    // The enums take and write the very names the string flags had, so earlier runs' config.json
    // files still resume; the library's parser agrees on every optimizer's constants.
    #[test]
    fn names_are_the_old_strings() {
        assert_eq!(serde_json::to_string(&Preset::MinCharRnn).unwrap(), "\"min-char-rnn\"");
        assert_eq!(serde_json::to_string(&Optimizer::Rmsprop).unwrap(), "\"rmsprop\"");
        assert_eq!(serde_json::from_str::<Cell>("\"gru\"").unwrap(), Cell::Gru);
        assert_eq!(serde_json::from_str::<Loss>("\"sum\"").unwrap(), Loss::Sum);
        for o in Optimizer::value_variants() {
            let name = o.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(Rule::parse(&name).unwrap(), o.rule(0.99), "{name}");
        }
    }
}
