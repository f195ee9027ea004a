//! The named choices of the command line, as clap value enums: clap refuses an unknown name
//! with the list of the possible ones, and each turns into the library's own type here, so no
//! string travels past the command line (the library's types serialise under the same names,
//! so a run's `config.json` reads as the command line did).

use clap::ValueEnum;
use recurrent::data::SplitKind;
use recurrent::train::config::{OptimizerKind, Preset as PresetKind, Schedule as ScheduleKind};
use recurrent::CellKind;

/// `--preset`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Karpathy's min-char-rnn.
    MinCharRnn,
    /// Karpathy's char-rnn defaults.
    CharRnn,
    /// An LSTM sized for a good model in five minutes.
    Default,
    /// An LSTM 2×512 with the regularisation and schedule for the best model in an hour on
    /// two cores.
    Shakespeare,
}

/// `--schedule`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The learning rate of --lr, decayed per epoch by --lr-decay.
    Constant,
    /// Half a cosine from --lr to --lr-min over the run (after --warmup).
    Cosine,
}

impl From<Schedule> for ScheduleKind {
    fn from(s: Schedule) -> ScheduleKind {
        match s {
            Schedule::Constant => ScheduleKind::Constant,
            Schedule::Cosine => ScheduleKind::Cosine,
        }
    }
}

/// `--cell`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
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

impl From<Optimizer> for OptimizerKind {
    fn from(o: Optimizer) -> OptimizerKind {
        match o {
            Optimizer::Adam => OptimizerKind::Adam,
            Optimizer::Adagrad => OptimizerKind::Adagrad,
            Optimizer::Rmsprop => OptimizerKind::Rmsprop,
            Optimizer::Momentum => OptimizerKind::Momentum,
            Optimizer::Sgd => OptimizerKind::Sgd,
        }
    }
}

impl From<Preset> for PresetKind {
    fn from(p: Preset) -> PresetKind {
        match p {
            Preset::MinCharRnn => PresetKind::MinCharRnn,
            Preset::CharRnn => PresetKind::CharRnn,
            Preset::Default => PresetKind::Default,
            Preset::Shakespeare => PresetKind::Shakespeare,
        }
    }
}

/// `--split`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
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
display_as_flag!(Preset, Cell, Optimizer, Split, Parallel, Schedule);

#[cfg(test)]
mod tests {
    use super::*;

    // Each flag's name is the name the library's type serialises under, so a run's
    // config.json reads as the command line did.
    #[test]
    fn flag_names_are_the_saved_names() {
        let name = |v: &dyn Fn() -> Option<clap::builder::PossibleValue>| v().unwrap().get_name().to_string();
        for o in Optimizer::value_variants() {
            let saved = serde_json::to_string(&OptimizerKind::from(*o)).unwrap();
            assert_eq!(saved, format!("\"{}\"", name(&|| o.to_possible_value())));
        }
        for p in Preset::value_variants() {
            let saved = serde_json::to_string(&PresetKind::from(*p)).unwrap();
            assert_eq!(saved, format!("\"{}\"", name(&|| p.to_possible_value())));
        }
        for c in Cell::value_variants() {
            let saved = serde_json::to_string(&CellKind::from(*c)).unwrap();
            assert_eq!(saved, format!("\"{}\"", name(&|| c.to_possible_value())));
        }
        for s in Split::value_variants() {
            let saved = serde_json::to_string(&SplitKind::from(*s)).unwrap();
            assert_eq!(saved, format!("\"{}\"", name(&|| s.to_possible_value())));
        }
    }
}
