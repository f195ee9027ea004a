//! `recurrent train`'s flags, the presets, and the resolved configuration saved with a run.

use crate::args::{Cell, Loss, Optimizer, Preset, Split};
use anyhow::{bail, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Flags of `recurrent train`. Every flag left out takes the preset's value (or the default).
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// The text to learn (UTF-8). Default: the bundled tiny-shakespeare (data/tinyshakespeare.txt,
    /// compiled into the binary).
    pub text: Option<PathBuf>,
    /// Start from a preset.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// The cell.
    #[arg(long, value_enum)]
    pub cell: Option<Cell>,
    /// Hidden size H.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked layers L.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Dropout between layers, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub dropout: Option<f64>,
    /// Steps per window T (truncated BPTT length).
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Parallel streams B.
    #[arg(long)]
    pub batch: Option<usize>,
    /// The update rule.
    #[arg(long, value_enum)]
    pub optimizer: Option<Optimizer>,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Multiply the learning rate by this at the end of every epoch after --lr-decay-after.
    #[arg(long, allow_negative_numbers = true)]
    pub lr_decay: Option<f64>,
    /// Epochs before the learning-rate decay starts.
    #[arg(long)]
    pub lr_decay_after: Option<usize>,
    /// Clamp every gradient entry to [-X, X] (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Scale gradients down to this global L2 norm (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub clip_norm: Option<f64>,
    /// Total updates, counted from the start of the run (also when resuming).
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Total epochs (passes over the training text).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Fraction of the text held out for validation.
    #[arg(long, allow_negative_numbers = true)]
    pub val_frac: Option<f64>,
    /// Where validation comes from: the last part of the text, or (char-rnn's) the end of every
    /// stream.
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    /// Evaluate on validation every N steps (and write a checkpoint when it improves).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Validate on the first N windows of the validation text only (0 = all of it); nanoGPT's
    /// eval_iters.
    #[arg(long)]
    pub eval_windows: Option<usize>,
    /// Write a checkpoint (last.safetensors and the training state) every N steps. Default:
    /// --eval-every.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Also keep every checkpoint, as checkpoints/step<N>-epoch<E>-val<LOSS>.safetensors.
    #[arg(long)]
    pub keep_all: bool,
    /// Print a sample every N steps (0 = never).
    #[arg(long)]
    pub sample_every: Option<usize>,
    /// Write a metrics line (and a log line when not on a terminal) every N steps.
    #[arg(long)]
    pub log_every: Option<usize>,
    /// Seed of the initial weights, dropout and samples.
    #[arg(long)]
    pub seed: Option<u32>,
    /// Where to write checkpoints, metrics and plots. Default: runs/<timestamp>, or the
    /// resumed folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run saved in this folder, exactly.
    #[arg(long, conflicts_with = "init_from")]
    pub resume: Option<PathBuf>,
    /// Data parallelism over the ranks of an MPI job: run under `mpirun -n N` (a binary built
    /// with `--features mpi`); each rank trains its share of the batch on one thread.
    #[arg(long)]
    pub distributed: bool,
    /// Start a new run from this checkpoint's weights (a fresh optimizer, step 0), e.g. to go
    /// on training on another text; the model's size and vocabulary come from the checkpoint.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Threads: the batch is split over them (default: every core; saved with the run).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Everything a run needs, resolved from a preset and the flags; saved as `config.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub preset: Preset,
    pub text: PathBuf,
    pub cell: Cell,
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f64,
    pub seq_len: usize,
    pub batch: usize,
    pub optimizer: Optimizer,
    pub lr: f64,
    pub rmsprop_alpha: f64,
    pub lr_decay: f64,
    pub lr_decay_after: usize,
    pub clip: f64,
    pub clip_norm: f64,
    pub steps: Option<usize>,
    pub epochs: Option<usize>,
    pub val_frac: f64,
    pub split: Split,
    pub eval_every: usize,
    pub sample_every: usize,
    pub log_every: usize,
    pub seed: u32,
    /// "pytorch", "normal:σ" or "uniform:a".
    pub init: String,
    /// Per character, or summed over the window (min-char-rnn).
    pub loss: Loss,
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
    /// The checkpoint whose weights the run started from (`--init-from`).
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

impl TrainConfig {
    /// The preset's values.
    pub fn preset(name: Preset, text: PathBuf) -> Self {
        let base = TrainConfig {
            preset: name,
            text,
            cell: Cell::Lstm,
            hidden: 256,
            layers: 2,
            dropout: 0.1,
            seq_len: 64,
            batch: 32,
            optimizer: Optimizer::Adam,
            lr: 2e-3,
            rmsprop_alpha: 0.99,
            lr_decay: 1.0,
            lr_decay_after: 0,
            clip: 0.0,
            clip_norm: 5.0,
            steps: Some(3600),
            epochs: None,
            val_frac: 0.1,
            split: Split::Tail,
            eval_every: 300,
            sample_every: 1200,
            log_every: 50,
            seed: 42,
            init: "pytorch".into(),
            loss: Loss::Mean,
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
            Preset::MinCharRnn => TrainConfig {
                cell: Cell::Rnn,
                hidden: 100,
                layers: 1,
                dropout: 0.0,
                seq_len: 25,
                batch: 1,
                optimizer: Optimizer::Adagrad,
                lr: 0.1,
                clip: 5.0,
                clip_norm: 0.0,
                steps: Some(20_000),
                val_frac: 0.0,
                eval_every: 5000,
                sample_every: 5000,
                log_every: 100,
                init: "normal:0.01".into(),
                loss: Loss::Sum,
                frozen: vec!["rnn.bias_hh_l0".into()],
                smooth_decay: 0.999,
                ..base
            },
            Preset::CharRnn => TrainConfig {
                cell: Cell::Lstm,
                hidden: 128,
                layers: 2,
                dropout: 0.0,
                seq_len: 50,
                batch: 50,
                optimizer: Optimizer::Rmsprop,
                lr: 2e-3,
                rmsprop_alpha: 0.95,
                lr_decay: 0.97,
                lr_decay_after: 10,
                clip: 5.0,
                clip_norm: 0.0,
                steps: None,
                epochs: Some(50),
                val_frac: 0.05,
                split: Split::Stripes,
                eval_every: 1000,
                sample_every: 1000,
                log_every: 100,
                init: "uniform:0.08".into(),
                ..base
            },
        }
    }

    /// Applies every flag given on the command line.
    pub fn apply(&mut self, a: &TrainArgs) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { self.$f = v; } )* };
        }
        set!(cell, hidden, layers, dropout, seq_len, batch, optimizer, lr, lr_decay, lr_decay_after, clip, clip_norm);
        set!(val_frac, split, eval_every, sample_every, log_every, seed, threads, eval_windows);
        if a.checkpoint_every.is_some() {
            self.checkpoint_every = a.checkpoint_every;
        }
        if a.keep_all {
            self.keep_all = true;
        }
        if let Some(t) = &a.text {
            self.text = t.clone();
        }
        if a.steps.is_some() {
            (self.steps, self.epochs) = (a.steps, None);
        }
        if a.epochs.is_some() {
            (self.steps, self.epochs) = (None, a.epochs);
        }
    }

    /// Rejects nonsense with a message naming the flag and a fix.
    pub fn validate(&self) -> Result<()> {
        crate::train::parse_init(&self.init)?;
        let positive = [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--seq-len", self.seq_len),
            ("--batch", self.batch),
            ("--eval-every", self.eval_every),
            ("--log-every", self.log_every),
            ("--checkpoint-every", self.checkpoint_every.unwrap_or(1)),
            ("--threads", self.threads),
        ];
        for (flag, v) in positive {
            if v == 0 {
                bail!("{flag} is 0: give a positive number");
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr {} is not a positive learning rate: use e.g. 0.002", self.lr);
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout {} is outside [0, 1): use e.g. 0.2, or 0 for none", self.dropout);
        }
        if !(0.0..1.0).contains(&self.val_frac) {
            bail!("--val-frac {} is outside [0, 1): use e.g. 0.1", self.val_frac);
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            bail!("--lr-decay {} is outside (0, 1]: use e.g. 0.97, or 1 for none", self.lr_decay);
        }
        for (flag, v) in [("--clip", self.clip), ("--clip-norm", self.clip_norm)] {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("{flag} {v} is not a clipping threshold: give 0 (off) or a positive number such as 5");
            }
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            bail!("--steps/--epochs is 0: give at least 1");
        }
        Ok(())
    }

    /// The fields that fix the model and data layout: a resume must not change them (the
    /// validation fraction moves the split, and with it what the saved data position means).
    pub fn architecture(&self) -> (Cell, usize, usize, usize, usize, Split, u64) {
        (self.cell, self.hidden, self.layers, self.seq_len, self.batch, self.split, self.val_frac.to_bits())
    }

    /// Steps between checkpoints.
    pub fn checkpoint_interval(&self) -> usize {
        self.checkpoint_every.unwrap_or(self.eval_every)
    }
}
