//! A run's configuration: the presets, every setting of a training run, and the checks that
//! refuse nonsense. Saved as the run folder's `config.json` and in every checkpoint's
//! `train_config` metadata, under the names the command line's flags take.

use crate::cell::CellKind;
use crate::data::SplitKind;
use crate::error::{Error, Result};
use crate::model::Init;
use crate::optim::Rule;
use crate::Reduction;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A starting point for a run's settings.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Karpathy's min-char-rnn: tanh RNN 100, 25-step windows, Adagrad 0.1, clip ±5, summed loss.
    MinCharRnn,
    /// Karpathy's char-rnn defaults: LSTM 2×128, T 50, B 50, RMSProp 2e-3, stripes split.
    CharRnn,
    /// An LSTM 2×256 sized for a good model in five minutes on two cores.
    Default,
    /// The best model an hour on two cores gives (docs/shakespeare.md): an LSTM 2×512,
    /// dropout between the layers and before the head, AdamW with a warm-up and a cosine
    /// schedule.
    Shakespeare,
}

/// The update rule of a run (the constants are the usual ones; RMSProp's α is
/// [`RunConfig::rmsprop_alpha`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999, ε = 1e-8).
    Adam,
    /// Adagrad (ε = 1e-8).
    Adagrad,
    /// RMSProp (ε = 1e-8).
    Rmsprop,
    /// SGD with momentum 0.9.
    Momentum,
    /// Plain SGD.
    Sgd,
}

impl OptimizerKind {
    /// The library's rule, RMSProp with smoothing `alpha`.
    pub fn rule(self, alpha: f64) -> Rule {
        match self {
            OptimizerKind::Adam => Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            OptimizerKind::Adagrad => Rule::Adagrad { eps: 1e-8 },
            OptimizerKind::Rmsprop => Rule::RmsProp { alpha, eps: 1e-8 },
            OptimizerKind::Momentum => Rule::Momentum(0.9),
            OptimizerKind::Sgd => Rule::Sgd,
        }
    }
}

/// How the learning rate moves over a run (after any warm-up).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` throughout, decayed per epoch by `lr_decay` from `lr_decay_after` (char-rnn).
    #[default]
    Constant,
    /// Half a cosine from `lr` at the end of the warm-up to `lr_min` at the last step
    /// (Loshchilov & Hutter's SGDR without restarts; nanoGPT's schedule).
    Cosine,
}

/// How the bundled corpus is named where a text's path goes.
pub const BUNDLED: &str = "bundled:tinyshakespeare.txt";

/// Everything a run needs, resolved from a preset and the caller's changes; saved as
/// `config.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The preset it started from.
    pub preset: Preset,
    /// The text: a file, or [`BUNDLED`].
    pub text: PathBuf,
    /// The recurrence.
    pub cell: CellKind,
    /// `H`.
    pub hidden: usize,
    /// `L`.
    pub layers: usize,
    /// Dropout between layers in training, in [0, 1).
    pub dropout: f64,
    /// Dropout on the last layer's output before the head in training, in [0, 1) (char-rnn
    /// applies its dropout there too).
    #[serde(default)]
    pub dropout_head: f64,
    /// Variational dropout: one mask per sequence and window, the same at every time step
    /// (Gal & Ghahramani; AWD-LSTM), instead of one per time step (PyTorch's `nn.LSTM`).
    #[serde(default)]
    pub variational_dropout: bool,
    /// `T`, the truncated-BPTT window.
    pub seq_len: usize,
    /// `B`, the parallel streams.
    pub batch: usize,
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// The learning rate.
    pub lr: f64,
    /// RMSProp's smoothing α.
    pub rmsprop_alpha: f64,
    /// The learning rate is multiplied by this at the start of every epoch from `lr_decay_after`.
    pub lr_decay: f64,
    /// The first epoch whose start decays the learning rate.
    pub lr_decay_after: usize,
    /// How the learning rate moves within the run.
    #[serde(default)]
    pub schedule: Schedule,
    /// Steps of linear warm-up: step `s ≤ warmup` uses `lr·s/warmup` (0 = none).
    #[serde(default)]
    pub warmup: usize,
    /// The learning rate the cosine schedule ends at.
    #[serde(default)]
    pub lr_min: f64,
    /// Decoupled weight decay λ on the weight matrices, not the biases (AdamW with Adam;
    /// 0 = none).
    #[serde(default)]
    pub weight_decay: f64,
    /// Every gradient entry clamped to ±`clip` (0 = off).
    pub clip: f64,
    /// Gradients scaled down to this global L2 norm (0 = off).
    pub clip_norm: f64,
    /// Total updates (or `epochs`).
    pub steps: Option<usize>,
    /// Total epochs (when `steps` is `None`).
    pub epochs: Option<usize>,
    /// The fraction of the text held out for validation.
    pub val_frac: f64,
    /// Where the validation text comes from.
    pub split: SplitKind,
    /// Steps between validations (0 = never: no validation, checkpoints at the end, or every
    /// `checkpoint_every`).
    pub eval_every: usize,
    /// Stop once this many validations in a row found no new best (0 = never): early
    /// stopping, the best checkpoint kept.
    #[serde(default)]
    pub patience: usize,
    /// Steps between samples (0 = never).
    pub sample_every: usize,
    /// Steps between metrics lines.
    pub log_every: usize,
    /// Seed of the initial weights (and, offset by 1 and 2, of dropout and samples).
    pub seed: u32,
    /// How weights start.
    pub init: Init,
    /// Per character, or summed over the window (min-char-rnn).
    pub loss: Reduction,
    /// Parameters never updated (min-char-rnn has one hidden bias, so `bias_hh` stays zero).
    pub frozen: Vec<String>,
    /// The smoothed training loss: `s ← decay·s + (1 − decay)·loss`.
    pub smooth_decay: f64,
    /// Threads (batch shards). Results are exactly reproducible for a given count.
    #[serde(default = "one")]
    pub threads: usize,
    /// Validation windows used (0 = all; runs saved before this field validated on all).
    #[serde(default)]
    pub eval_windows: usize,
    /// Checkpoint interval in steps (`None`: every `eval_every`).
    #[serde(default)]
    pub checkpoint_every: Option<usize>,
    /// Keep every checkpoint under `checkpoints/`.
    #[serde(default)]
    pub keep_all: bool,
    /// Processes (MPI ranks) the run is spread over.
    #[serde(default = "one")]
    pub ranks: usize,
    /// The checkpoint whose weights the run started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

fn one() -> usize {
    1
}

/// The cores this machine offers (the default thread count).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// What fixes the model and the data layout of a run: a resume must not change it (the
/// validation fraction moves the split, and with it what the saved data position means).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The recurrence.
    pub cell: CellKind,
    /// `H`.
    pub hidden: usize,
    /// `L`.
    pub layers: usize,
    /// `T`.
    pub seq_len: usize,
    /// `B`.
    pub batch: usize,
    /// The split.
    pub split: SplitKind,
    /// The validation fraction.
    pub val_frac: f64,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {} {}×{} with seq-len {}, batch {}, {} split and val-frac {}",
            self.cell,
            self.layers,
            self.hidden,
            self.seq_len,
            self.batch,
            match self.split {
                SplitKind::Tail => "tail",
                SplitKind::Stripes => "stripes",
            },
            self.val_frac
        )
    }
}

impl RunConfig {
    /// The preset's values, on `text`.
    pub fn preset(name: Preset, text: PathBuf) -> Self {
        let base = RunConfig {
            preset: name,
            text,
            cell: CellKind::Lstm,
            hidden: 256,
            layers: 2,
            dropout: 0.1,
            dropout_head: 0.0,
            variational_dropout: false,
            seq_len: 64,
            batch: 32,
            optimizer: OptimizerKind::Adam,
            lr: 2e-3,
            rmsprop_alpha: 0.99,
            lr_decay: 1.0,
            lr_decay_after: 0,
            schedule: Schedule::Constant,
            warmup: 0,
            lr_min: 0.0,
            weight_decay: 0.0,
            clip: 0.0,
            clip_norm: 5.0,
            steps: Some(3600),
            epochs: None,
            val_frac: 0.1,
            split: SplitKind::Tail,
            eval_every: 300,
            patience: 0,
            sample_every: 1200,
            log_every: 50,
            seed: 42,
            init: Init::PyTorch,
            loss: Reduction::Mean,
            frozen: vec![],
            smooth_decay: 0.98,
            threads: cores(),
            eval_windows: 200,
            checkpoint_every: None,
            keep_all: false,
            init_from: None,
            ranks: 1,
        };
        match name {
            Preset::Default => base,
            Preset::Shakespeare => RunConfig {
                hidden: 512,
                dropout: 0.3,
                dropout_head: 0.3,
                seq_len: 128,
                batch: 32,
                lr: 2e-3,
                schedule: Schedule::Cosine,
                warmup: 100,
                lr_min: 1e-4,
                weight_decay: 0.1,
                steps: Some(3800),
                eval_every: 200,
                sample_every: 1000,
                log_every: 20,
                eval_windows: 0,
                ..base
            },
            Preset::MinCharRnn => RunConfig {
                cell: CellKind::Rnn,
                hidden: 100,
                layers: 1,
                dropout: 0.0,
                seq_len: 25,
                batch: 1,
                optimizer: OptimizerKind::Adagrad,
                lr: 0.1,
                clip: 5.0,
                clip_norm: 0.0,
                steps: Some(20_000),
                val_frac: 0.0,
                eval_every: 5000,
                sample_every: 5000,
                log_every: 100,
                init: Init::Normal(0.01),
                loss: Reduction::Sum,
                frozen: vec!["rnn.bias_hh_l0".into()],
                smooth_decay: 0.999,
                ..base
            },
            Preset::CharRnn => RunConfig {
                cell: CellKind::Lstm,
                hidden: 128,
                layers: 2,
                dropout: 0.0,
                seq_len: 50,
                batch: 50,
                optimizer: OptimizerKind::Rmsprop,
                lr: 2e-3,
                rmsprop_alpha: 0.95,
                lr_decay: 0.97,
                lr_decay_after: 10,
                clip: 5.0,
                clip_norm: 0.0,
                steps: None,
                epochs: Some(50),
                val_frac: 0.05,
                split: SplitKind::Stripes,
                eval_every: 1000,
                sample_every: 1000,
                log_every: 100,
                init: Init::Uniform(0.08),
                ..base
            },
        }
    }

    /// The configuration saved in the run folder `dir` (its `config.json`).
    ///
    /// # Errors
    /// [`Error::Config`] when the folder holds no run, or its `config.json` is missing or is
    /// not a run configuration.
    pub fn saved(dir: &Path) -> Result<RunConfig> {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "{} is not a folder: give the --out folder of an earlier run",
                dir.display()
            )));
        }
        let saved =
            crate::files::read_regular(&dir.join("config.json"), 1 << 20, "a run configuration").map_err(|e| {
                Error::Config(format!("{} has no readable config.json ({e}): it is not a run folder", dir.display()))
            })?;
        serde_json::from_slice(&saved)
            .map_err(|e| Error::Config(format!("{}/config.json is not a run configuration: {e}", dir.display())))
    }

    /// Rejects nonsense with a message naming the flag and a fix.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let positive = [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--seq-len", self.seq_len),
            ("--batch", self.batch),
            ("--log-every", self.log_every),
            ("--checkpoint-every", self.checkpoint_every.unwrap_or(1)),
            ("--threads", self.threads),
        ];
        for (flag, v) in positive {
            if v == 0 {
                return bad(format!("{flag} is 0: give a positive number"));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr {} is not a positive learning rate: use e.g. 0.002", self.lr));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout {} is outside [0, 1): use e.g. 0.2, or 0 for none", self.dropout));
        }
        if !(0.0..1.0).contains(&self.dropout_head) {
            return bad(format!("--dropout-head {} is outside [0, 1): use e.g. 0.2, or 0 for none", self.dropout_head));
        }
        if !(self.weight_decay >= 0.0 && self.lr * self.weight_decay < 1.0) {
            return bad(format!(
                "--weight-decay {} is not a decay with --lr {} (it needs 0 ≤ lr·λ < 1): use e.g. 0.1, or 0 for none",
                self.weight_decay, self.lr
            ));
        }
        if !(self.lr_min >= 0.0 && self.lr_min <= self.lr) {
            return bad(format!(
                "--lr-min {} is not between 0 and --lr {}: use e.g. a tenth of --lr",
                self.lr_min, self.lr
            ));
        }
        if self.lr_decay < 1.0 && (self.schedule != Schedule::Constant || self.warmup > 0) {
            return bad(format!(
                "--lr-decay {} decays per epoch, which --schedule cosine and --warmup replace: give --lr-decay 1, or leave out --schedule cosine and --warmup",
                self.lr_decay
            ));
        }
        if !(0.0..1.0).contains(&self.val_frac) {
            return bad(format!("--val-frac {} is outside [0, 1): use e.g. 0.1", self.val_frac));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad(format!("--lr-decay {} is outside (0, 1]: use e.g. 0.97, or 1 for none", self.lr_decay));
        }
        for (flag, v) in [("--clip", self.clip), ("--clip-norm", self.clip_norm)] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!(
                    "{flag} {v} is not a clipping threshold: give 0 (off) or a positive number such as 5"
                ));
            }
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return bad("--steps/--epochs is 0: give at least 1".into());
        }
        if self.steps.is_none() && self.epochs.is_none() {
            return bad("give --steps or --epochs".into());
        }
        if !(0.0..1.0).contains(&self.smooth_decay) {
            return bad(format!("smooth_decay {} is outside [0, 1)", self.smooth_decay));
        }
        Ok(())
    }

    /// What a resume must not change.
    pub fn layout(&self) -> Layout {
        Layout {
            cell: self.cell,
            hidden: self.hidden,
            layers: self.layers,
            seq_len: self.seq_len,
            batch: self.batch,
            split: self.split,
            val_frac: self.val_frac,
        }
    }

    /// The learning rate of step `step` (1-based) of `total` when the schedule sets it from the
    /// step alone (a warm-up, or the cosine); `None` for a constant schedule without warm-up,
    /// whose rate only `lr_decay` moves, per epoch.
    pub fn scheduled_lr(&self, step: usize, total: usize) -> Option<f64> {
        if self.schedule == Schedule::Constant && self.warmup == 0 {
            return None;
        }
        if step <= self.warmup {
            return Some(self.lr * step as f64 / self.warmup as f64);
        }
        Some(match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => {
                let span = total.saturating_sub(self.warmup).max(1) as f64;
                let done = ((step - self.warmup) as f64 / span).min(1.0);
                self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + (std::f64::consts::PI * done).cos())
            }
        })
    }

    /// Steps between checkpoints (0: at the end only).
    pub fn checkpoint_interval(&self) -> usize {
        self.checkpoint_every.unwrap_or(self.eval_every)
    }

    /// Characters one reported training loss is over: 1 for a mean loss, the window's
    /// `T·B` for a summed one (min-char-rnn's).
    pub fn chars_per_loss(&self) -> f64 {
        match self.loss {
            Reduction::Mean => 1.0,
            Reduction::Sum => self.seq_len as f64 * self.batch as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The names the command line's string flags had, so earlier runs' config.json files still
    // resume.
    #[test]
    fn names_are_the_flags() {
        let c = RunConfig::preset(Preset::MinCharRnn, BUNDLED.into());
        let j: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(j["preset"], "min-char-rnn");
        assert_eq!(j["cell"], "rnn");
        assert_eq!(j["optimizer"], "adagrad");
        assert_eq!(j["init"], "normal:0.01");
        assert_eq!(j["loss"], "sum");
        assert_eq!(j["split"], "tail");
        let back: RunConfig = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
        let c = RunConfig::preset(Preset::CharRnn, BUNDLED.into());
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!((j["init"].as_str(), j["split"].as_str()), (Some("uniform:0.08"), Some("stripes")));
        assert!(serde_json::from_str::<Init>("\"normal:x\"").is_err());
        for (name, o) in [("adam", OptimizerKind::Adam), ("rmsprop", OptimizerKind::Rmsprop)] {
            assert_eq!(Rule::parse(name).unwrap(), o.rule(0.99), "{name}");
        }
        // A config.json written before the schedule, weight decay, head dropout and patience
        // existed reads with them off.
        let mut j = serde_json::to_value(RunConfig::preset(Preset::Default, BUNDLED.into())).unwrap();
        for k in ["schedule", "warmup", "lr_min", "weight_decay", "dropout_head", "variational_dropout", "patience"] {
            j.as_object_mut().unwrap().remove(k).unwrap();
        }
        let old: RunConfig = serde_json::from_value(j).unwrap();
        assert_eq!(old, RunConfig::preset(Preset::Default, BUNDLED.into()));
    }

    // The schedule by hand: warm-up 4 of lr 1 gives 0.25, 0.5, 0.75, 1; a cosine from 1 to 0.1
    // over the 10 steps after it is 0.55 half-way (step 9) and 0.1 at the last (step 14);
    // cos(π/10) = 0.9510565163 at its first step: 0.1 + 0.9·(1 + 0.9510565163)/2 = 0.9779754323.
    #[test]
    fn schedules_by_hand() {
        let mut c = RunConfig::preset(Preset::Default, BUNDLED.into());
        assert_eq!(c.scheduled_lr(1, 100), None, "constant without warm-up: per epoch only");
        c.lr = 1.0;
        c.warmup = 4;
        let warm: Vec<f64> = (1..=5).map(|s| c.scheduled_lr(s, 14).unwrap()).collect();
        assert_eq!(warm, [0.25, 0.5, 0.75, 1.0, 1.0]);
        c.schedule = Schedule::Cosine;
        c.lr_min = 0.1;
        let at = |s| c.scheduled_lr(s, 14).unwrap();
        assert_eq!(at(4), 1.0);
        assert!((at(5) - 0.9779754323).abs() < 1e-9, "{}", at(5));
        assert!((at(9) - 0.55).abs() < 1e-12, "{}", at(9));
        assert!((at(14) - 0.1).abs() < 1e-12, "{}", at(14));
        c.validate().unwrap();
        c.lr_decay = 0.9;
        assert!(c.validate().unwrap_err().to_string().contains("--lr-decay 0.9 decays per epoch"));
    }
}
