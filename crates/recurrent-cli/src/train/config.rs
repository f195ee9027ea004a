//! `recurrent train`'s flags, and how they change a run's configuration (the library's
//! [`RunConfig`], which holds the presets and the checks).

use crate::args::{Cell, Optimizer, Preset, Schedule, Split};
use clap::Args;
use recurrent::train::config::RunConfig;
use std::path::PathBuf;

/// Flags of `recurrent train`. Every flag left out takes the preset's value (or the default).
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// The text to learn (UTF-8). Default: the bundled tiny-shakespeare (data/tinyshakespeare.txt,
    /// compiled into the binary).
    pub text: Option<PathBuf>,
    /// Start from a preset.
    #[arg(long, value_enum, conflicts_with = "config")]
    pub preset: Option<Preset>,
    /// Start from a run's configuration file (a run folder's config.json: the same keys);
    /// flags given as well override it. `train --config runs/X/config.json --steps N` repeats
    /// that run's first N steps exactly.
    #[arg(long, conflicts_with = "resume")]
    pub config: Option<PathBuf>,
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
    /// Dropout on the last layer's output before the head (char-rnn's dropout before its
    /// decoder), in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub dropout_head: Option<f64>,
    /// Variational dropout: one mask per sequence, the same at every time step (AWD-LSTM),
    /// instead of one per time step (torch.nn.LSTM's).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub variational_dropout: Option<bool>,
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
    /// How the learning rate moves: constant (with --lr-decay per epoch), or cosine from --lr
    /// down to --lr-min at the last step.
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Steps of linear warm-up from --lr/N to --lr (0 = none).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// The learning rate the cosine schedule ends at.
    #[arg(long, allow_negative_numbers = true)]
    pub lr_min: Option<f64>,
    /// Decoupled weight decay λ on the weight matrices, not the biases (AdamW with --optimizer
    /// adam); 0 = none.
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Clamp every gradient entry to [-X, X] (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Scale gradients down to this global L2 norm (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub clip_norm: Option<f64>,
    /// Total updates, counted from the start of the run (also when resuming).
    #[arg(long, conflicts_with = "epochs", allow_negative_numbers = true)]
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
    /// Evaluate on validation every N steps (and write a checkpoint when it improves); 0 = never.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Early stopping: stop once N validations in a row found no new best (0 = never).
    #[arg(long)]
    pub patience: Option<usize>,
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

/// Applies every flag given on the command line to `cfg`.
pub fn apply(cfg: &mut RunConfig, a: &TrainArgs) {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { cfg.$f = v.into(); } )* };
    }
    set!(cell, hidden, layers, dropout, seq_len, batch, optimizer, lr, lr_decay, lr_decay_after, clip, clip_norm);
    set!(val_frac, split, eval_every, sample_every, log_every, seed, threads, eval_windows);
    set!(dropout_head, variational_dropout, schedule, warmup, lr_min, weight_decay, patience);
    if a.checkpoint_every.is_some() {
        cfg.checkpoint_every = a.checkpoint_every;
    }
    if a.keep_all {
        cfg.keep_all = true;
    }
    if let Some(t) = &a.text {
        cfg.text = t.clone();
    }
    if a.steps.is_some() {
        (cfg.steps, cfg.epochs) = (a.steps, None);
    }
    if a.epochs.is_some() {
        (cfg.steps, cfg.epochs) = (None, a.epochs);
    }
}

/// The configuration a preset (or `--config FILE`) gives, with the flags applied.
pub fn from_flags(a: &TrainArgs) -> anyhow::Result<RunConfig> {
    let mut cfg = match &a.config {
        Some(file) => {
            let bytes = recurrent::files::read_regular(file, 1 << 20, "a run configuration")?;
            serde_json::from_slice::<RunConfig>(&bytes).map_err(|e| {
                anyhow::anyhow!("{} is not a run configuration ({e}): give a run folder's config.json", file.display())
            })?
        }
        None => RunConfig::preset(a.preset.unwrap_or(Preset::Default).into(), recurrent::train::text::default_corpus()),
    };
    apply(&mut cfg, a);
    if a.init_from.is_some() {
        cfg.init_from = a.init_from.clone();
    }
    Ok(cfg)
}
