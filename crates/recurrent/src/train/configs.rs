//! The standard configurations that `recurrent bench`, the criterion benches and
//! `scripts/bench_pytorch.py` (which mirrors this table) all measure: one-hot input over
//! tiny-shakespeare's 65 characters, f32.

use super::Trainer;
use crate::cell::CellKind;
use crate::error::Result;
use crate::model::{CharModel, Init, ModelConfig};
use crate::optim::{Clip, Optimizer};
use crate::rng::NumpyRng;
use crate::train::config::{OptimizerKind, Preset, RunConfig};
use crate::{Float, Reduction};
use std::path::PathBuf;

/// One standard configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardConfig {
    /// Its name on the command line.
    pub name: &'static str,
    /// The recurrence.
    pub cell: CellKind,
    /// `L`.
    pub layers: usize,
    /// `H`.
    pub hidden: usize,
    /// `B`.
    pub batch: usize,
    /// `T`, the truncated-BPTT window.
    pub steps: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Its learning rate.
    pub lr: f64,
    /// Element-wise (min-char-rnn) or global-norm clipping.
    pub clip: Clip,
    /// How weights start.
    pub init: Init,
    /// Summed (min-char-rnn) or mean loss.
    pub reduction: Reduction,
}

/// Global-norm clipping at 5, as every configuration but min-char-rnn uses.
const NORM5: Clip = Clip { norm: 5.0, value: 0.0 };

/// min-char-rnn, lstm-small, lstm-large, gru-medium.
pub const STANDARD: [StandardConfig; 4] = [
    StandardConfig {
        name: "min-char-rnn",
        cell: CellKind::Rnn,
        layers: 1,
        hidden: 100,
        batch: 1,
        steps: 25,
        optimizer: OptimizerKind::Adagrad,
        lr: 0.1,
        clip: Clip { norm: 0.0, value: 5.0 },
        init: Init::Normal(0.01),
        reduction: Reduction::Sum,
    },
    StandardConfig {
        name: "lstm-small",
        cell: CellKind::Lstm,
        layers: 1,
        hidden: 128,
        batch: 32,
        steps: 64,
        optimizer: OptimizerKind::Adam,
        lr: 2e-3,
        clip: NORM5,
        init: Init::PyTorch,
        reduction: Reduction::Mean,
    },
    StandardConfig {
        name: "lstm-large",
        cell: CellKind::Lstm,
        layers: 2,
        hidden: 512,
        batch: 64,
        steps: 64,
        optimizer: OptimizerKind::Adam,
        lr: 2e-3,
        clip: NORM5,
        init: Init::PyTorch,
        reduction: Reduction::Mean,
    },
    StandardConfig {
        name: "gru-medium",
        cell: CellKind::Gru,
        layers: 1,
        hidden: 256,
        batch: 32,
        steps: 64,
        optimizer: OptimizerKind::Adam,
        lr: 2e-3,
        clip: NORM5,
        init: Init::PyTorch,
        reduction: Reduction::Mean,
    },
];

impl StandardConfig {
    /// The configuration called `name`, if any.
    pub fn named(name: &str) -> Option<StandardConfig> {
        STANDARD.iter().copied().find(|c| c.name == name)
    }

    /// The model's sizes over a vocabulary of `vocab`.
    pub fn model(&self, vocab: usize) -> ModelConfig {
        ModelConfig { cell: self.cell, vocab, hidden: self.hidden, layers: self.layers, dropout: 0.0 }
    }

    /// A trainer for this configuration over `threads` shards, weights drawn from seed 0.
    ///
    /// # Errors
    /// When the sizes are refused (they never are for the standard table).
    pub fn trainer<F: Float>(&self, vocab: usize, threads: usize) -> Result<Trainer<F>> {
        // (Two threads share the step as `Parallelism::Batch`; see `Trainer::set_parallelism`.)
        let model = CharModel::new(self.model(vocab), self.init, &mut NumpyRng::new(0))?;
        let opt = Optimizer::new(self.optimizer.rule(0.99), self.lr);
        Ok(Trainer::new(model, opt, self.clip, self.reduction, threads))
    }

    /// The configuration as a run on `text` (see [`crate::train::session::Session`]): weights
    /// from seed 0, every window for training, no validation, samples or checkpoints, `threads`
    /// batch shards. Its steps are those of [`StandardConfig::trainer`] bit for bit.
    pub fn run_config(&self, text: PathBuf, threads: usize) -> RunConfig {
        RunConfig {
            cell: self.cell,
            layers: self.layers,
            hidden: self.hidden,
            batch: self.batch,
            seq_len: self.steps,
            optimizer: self.optimizer,
            lr: self.lr,
            clip: self.clip.value,
            clip_norm: self.clip.norm,
            init: self.init,
            loss: self.reduction,
            dropout: 0.0,
            frozen: Vec::new(),
            val_frac: 0.0,
            eval_every: usize::MAX,
            log_every: usize::MAX,
            sample_every: 0,
            seed: 0,
            threads,
            ..RunConfig::preset(Preset::Default, text)
        }
    }

    /// Training FLOPs per character: 3 × the forward's multiply-adds × 2 (backward = 2 ×
    /// forward), counting the recurrent and dense input products and the head; a one-hot
    /// input product is a gather and counts 0.
    pub fn flops_per_char(&self, vocab: usize) -> f64 {
        let g = self.cell.gates() as f64;
        let h = self.hidden as f64;
        let mut f = 0.0;
        for l in 0..self.layers {
            let dense_in = if l == 0 { 0.0 } else { h };
            f += 2.0 * g * h * (h + dense_in);
        }
        3.0 * (f + 2.0 * vocab as f64 * h)
    }
}
