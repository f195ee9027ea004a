//! A training run as a library object: [`Session`] owns everything between the first step and
//! the last — the data position and epochs, the learning-rate schedule, the smoothed loss and
//! the divergence guard, the validation and checkpoint cadence, the best validation loss, the
//! resume checks, an interrupt flag, and the share and seed of each rank of a data-parallel run
//! — and writes the run folder (its lock, atomic checkpoints and training state, metrics). A
//! front end (the command line, a Python package, a test) builds a [`RunConfig`], opens a
//! session and hears how it goes through an [`Observer`]; it prints, plots and handles signals.
//!
//! ```
//! use recurrent::train::config::{Preset, RunConfig};
//! use recurrent::train::session::{Options, Outcome, Session, Silent};
//!
//! // A tanh RNN on a small text, in memory (no run folder), 200 steps.
//! let text = "the cat sat on the mat. the dog sat on the log. ".repeat(40);
//! let mut cfg = RunConfig::preset(Preset::MinCharRnn, "example".into());
//! (cfg.hidden, cfg.steps, cfg.threads) = (32, Some(200), 1);
//! let opts = Options { text: Some(text.into_bytes()), ..Options::in_memory() };
//! let mut run = Session::new(cfg, opts)?;
//! let first = run.progress().smooth;
//! assert_eq!(run.run(&mut Silent)?, Outcome::Done);
//! assert!(run.progress().smooth < first, "the smoothed loss falls");
//! let sample = run.sample_text(40, 0.8)?;
//! assert_eq!(sample.chars().count(), 40);
//! # Ok::<(), recurrent::Error>(())
//! ```

use super::config::{cores, RunConfig};
use super::folder::{self, Claimed};
use super::state::{self, DataId, Progress};
use super::team::{digest, Team};
use super::text::{absolute, describe, Loaded};
use super::{AllSum, StepOutcome, Trainer};
use crate::checkpoint::{load_model, model_bytes, write_atomic, Meta};
use crate::data::{Split, Tokens, Vocab};
use crate::error::{Error, Result};
use crate::layer::Parameters;
use crate::model::{CharModel, ModelConfig};
use crate::optim::{Clip, Optimizer};
use crate::parallel::{columns, part_seed, Parallelism};
use crate::rng::NumpyRng;
use crate::sample::{sample, SampleOptions};
use crate::{Reduction, State};
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One line of `metrics.jsonl`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Metric {
    /// Updates done.
    pub step: usize,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// The smoothed training loss, in the run's unit ([`RunConfig::chars_per_loss`]).
    pub train_loss: f64,
    /// The validation loss in nats per character, when measured at this step.
    pub val_loss: Option<f64>,
    /// The learning rate.
    pub lr: f64,
    /// The gradient norm of the last step, before clipping.
    pub grad_norm: f64,
    /// Training speed since the previous line.
    pub chars_per_sec: f64,
    /// Seconds of training so far, over every session of the run.
    pub elapsed_s: f64,
    /// The unit of `train_loss`: `nats/char`, or for a loss summed over the window
    /// (min-char-rnn's) `nats/25 chars` (the validation loss is always per character).
    #[serde(default = "per_char_unit")]
    pub train_loss_unit: String,
}

fn per_char_unit() -> String {
    "nats/char".into()
}

impl RunConfig {
    /// The unit of the reported training loss (see [`Metric::train_loss_unit`]).
    pub fn loss_unit(&self) -> String {
        match self.chars_per_loss() {
            1.0 => per_char_unit(),
            n => format!("nats/{n} chars"),
        }
    }
}

/// Where a run's files go.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Out {
    /// A new `runs/<timestamp>` for a new run; the run's own folder for a resume.
    #[default]
    Auto,
    /// This folder (created if needed; refused if it holds another run).
    Dir(PathBuf),
    /// Nowhere: the run lives in memory (a benchmark, a quick experiment, a test).
    Memory,
}

/// How a session starts besides its configuration.
#[derive(Default)]
pub struct Options {
    /// Where its files go.
    pub out: Out,
    /// The processes it is spread over (one by default).
    pub team: Team,
    /// The text itself, instead of reading `cfg.text` (which then only names it).
    pub text: Option<Vec<u8>>,
    /// A learning rate that replaces the resumed run's (possibly decayed) one.
    pub lr: Option<f64>,
    /// Whether `cfg.threads` was asked for (refused when impossible) rather than a default
    /// (lowered to the batch).
    pub threads_asked: bool,
    /// Set by the caller (a signal handler, say) to stop after the step in progress, saving a
    /// checkpoint. The session makes its own when `None` ([`Session::interrupt_flag`]).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Options {
    /// A run in memory: no folder, nothing written.
    pub fn in_memory() -> Self {
        Options { out: Out::Memory, ..Options::default() }
    }
}

/// How a call of [`Session::run`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every step of the run is done (the last checkpoint written).
    Done,
    /// The run was already at its last step: nothing to do.
    AlreadyDone,
    /// Interrupted (the flag, or an observer's [`Control::Stop`]) after a step: `saved` when a
    /// checkpoint of it was written (not when no step was taken in this session, or in memory).
    Interrupted {
        /// Whether a checkpoint was written.
        saved: bool,
    },
    /// Early stopping: `patience` validations in a row found no new best; stopped at `step`
    /// (saved), the best checkpoint kept.
    EarlyStopped {
        /// The step it stopped at.
        step: usize,
        /// The best validation loss, nats per character.
        best: Option<f64>,
    },
    /// The loss or the weights diverged at step `step`: training stopped, the last good
    /// checkpoint kept.
    Diverged {
        /// The step that diverged (1-based).
        step: usize,
        /// What happened, in words.
        reason: String,
    },
}

/// An observer's answer after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop as on an interrupt (a checkpoint is saved).
    Stop,
}

/// One step's figures, as an [`Observer`] hears them.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// Updates done (this one included).
    pub step: usize,
    /// The run's total.
    pub total: usize,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// This window's training loss, in the run's unit ([`RunConfig::chars_per_loss`]).
    pub loss: f64,
    /// The smoothed training loss, in the run's unit.
    pub smooth: f64,
}

/// What a front end hears of a run. Every method has a default that ignores it.
pub trait Observer {
    /// A line worth telling a person (a note on exactness, a fallback used, a folder tidied).
    fn note(&mut self, line: &str) {
        let _ = line;
    }
    /// After every step; [`Control::Stop`] stops the run as an interrupt does.
    fn step(&mut self, report: &StepReport) -> Control {
        let _ = report;
        Control::Continue
    }
    /// During a validation of `of` windows, before each window (`done` of them done).
    fn validating(&mut self, done: usize, of: usize) {
        let _ = (done, of);
    }
    /// A metrics line, after it was appended to `metrics.jsonl`; `all` holds every line so far.
    fn metric(&mut self, m: &Metric, all: &[Metric]) {
        let _ = (m, all);
    }
    /// A sample drawn at `step` (every `sample_every` steps).
    fn sample(&mut self, step: usize, text: &str) {
        let _ = (step, text);
    }
    /// The files of a checkpoint taken at `step`, written.
    fn checkpoint(&mut self, step: usize, files: &[PathBuf]) {
        let _ = (step, files);
    }
}

/// An observer that hears nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Where a run comes from.
enum Start {
    New,
    Resume(PathBuf),
    InitFrom(PathBuf),
}

/// A training run. See the module's documentation.
pub struct Session {
    cfg: RunConfig,
    /// The run folder (`None` in memory, and on ranks other than the lead).
    out: Option<PathBuf>,
    _lock: Option<Claimed>,
    team: Team,
    /// A stop requested on any rank, known to every rank after the last step's reduction.
    stop_all: bool,
    interrupt: Arc<AtomicBool>,
    vocab: Vocab,
    tokens: Tokens,
    split: Split,
    tr: Trainer<f32>,
    p: Progress,
    total: usize,
    metrics: Vec<Metric>,
    /// The step this session started from (an interruption before any step saves nothing).
    start_step: usize,
    resumed: bool,
    /// Seconds of training in this session.
    session_seconds: f64,
    /// Notes from opening, told to the observer when the run starts.
    notes: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session {{ step: {}, total: {}, out: {:?} }}", self.p.step, self.total, self.out)
    }
}

/// Refuses a run whose estimated memory exceeds what the machine has available.
fn check_memory(cfg: &RunConfig, mc: &ModelConfig, slots: usize, text_bytes: usize) -> Result<()> {
    let need = mc.training_bytes(cfg.seq_len, cfg.batch, cfg.threads, slots) + text_bytes as f64;
    let Some(have) = crate::files::available_memory().map(|b| b as f64) else {
        return Ok(());
    };
    if need > have {
        return Err(Error::Config(format!(
            "a {} {}×{} on windows of batch {} × seq-len {} with {} thread(s) needs about {:.1} GB (weights, gradients, optimizer moments and activations), more than the {:.1} GB this machine has available: use a smaller --hidden, --batch or --seq-len",
            mc.cell, cfg.layers, cfg.hidden, cfg.batch, cfg.seq_len, cfg.threads, need / 1e9, have / 1e9
        )));
    }
    Ok(())
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn timestamp() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((s / 86400) as i64, s % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl Session {
    /// A new run of `cfg`: weights drawn from `cfg.seed`, or — when `cfg.init_from` names a
    /// checkpoint — that checkpoint's (its sizes replace `cfg`'s; asking for others is refused).
    ///
    /// # Errors
    /// A configuration out of range, a text that cannot be read or is too short, a folder that
    /// holds another run or is locked, a model too large for the machine's memory.
    pub fn new(mut cfg: RunConfig, opts: Options) -> Result<Session> {
        let start = match cfg.init_from.take() {
            Some(ck) => Start::InitFrom(ck),
            None => Start::New,
        };
        Session::open(cfg, start, opts)
    }

    /// The configuration of the run saved in `dir`, to change what may change (the steps, the
    /// cadence, the threads…) before [`Session::resume`].
    ///
    /// # Errors
    /// When `dir` holds no checkpoint or no readable `config.json`.
    pub fn saved_config(dir: &Path) -> Result<RunConfig> {
        if std::fs::symlink_metadata(dir).is_err() {
            return Err(Error::Config(format!(
                "{} does not exist: give the --out folder of an earlier run",
                dir.display()
            )));
        }
        if folder::run_files(dir).is_empty() {
            if dir.join("config.json").exists() {
                return Err(Error::Config(format!("{} holds no checkpoint (last.safetensors): the run stopped before its first; start it again with --out {}", dir.display(), dir.display())));
            }
            return Err(Error::Config(format!(
                "{} holds no checkpoint (last.safetensors): give the --out folder of an earlier run",
                dir.display()
            )));
        }
        RunConfig::saved(dir)
    }

    /// Continues the run saved in `dir` exactly (bit for bit, on the same threads), with `cfg`
    /// (from [`Session::saved_config`], changed where it may be): a change of the model or the
    /// data layout, or of the optimizer, is refused; `opts.out` other than [`Out::Auto`] copies
    /// the run's metrics and best checkpoint into a new folder and continues there.
    ///
    /// # Errors
    /// As [`Session::new`]; and when the saved state is damaged (the one before it is then
    /// used, with a note), belongs to another model, or the text is not the run's own.
    pub fn resume(dir: &Path, cfg: RunConfig, opts: Options) -> Result<Session> {
        Session::open(cfg, Start::Resume(dir.to_path_buf()), opts)
    }

    fn open(cfg: RunConfig, start: Start, mut opts: Options) -> Result<Session> {
        let mut team = std::mem::take(&mut opts.team);
        let opened = Session::open_here(cfg, start, opts, &team);
        // Every rank must start, or none: a rank alone in a collective would wait for ever.
        if !team.all_agree(opened.is_ok()) {
            opened?;
            return Err(Error::Config("another rank could not start this run (its message says why)".into()));
        }
        let mut s = opened?;
        s.team = team;
        Ok(s)
    }

    /// [`Session::open`] on this process, its place in the run `team`.
    fn open_here(mut cfg: RunConfig, start: Start, opts: Options, team: &Team) -> Result<Session> {
        let Options { out, team: _, text, lr, threads_asked, interrupt } = opts;
        let distributed = team.distributed();
        let mut notes = Vec::new();
        if distributed && out == Out::Auto && !matches!(start, Start::Resume(_)) {
            return Err(Error::Config(
                "--distributed needs --out DIR (every rank must write to, and read from, the same folder)".into(),
            ));
        }
        if distributed && out == Out::Memory {
            return Err(Error::Config("a distributed run needs a folder".into()));
        }
        let mut saved_text = None;
        if let Start::Resume(dir) = &start {
            // Nothing is read through a link, nor written through one later.
            folder::refuse_links(dir)?;
            let saved = RunConfig::saved(dir)?;
            saved_text = Some(saved.text.clone());
            if cfg.preset != saved.preset {
                return Err(Error::Config("--preset cannot change a resumed run: leave it out".into()));
            }
            if cfg.layout() != saved.layout() {
                return Err(Error::Config(format!("--resume {}: the run is {}; flags asking for another architecture or data layout cannot resume it: leave them out or start a new run", dir.display(), saved.layout())));
            }
            if cfg.optimizer != saved.optimizer {
                return Err(Error::Config("--optimizer cannot change a resumed run: leave it out".into()));
            }
            if cfg.threads != saved.threads && !distributed {
                notes.push(format!(
                    "note: this run was trained on {} thread(s); on {} its continuation is not bit for bit an uninterrupted run's (the shards' gradients are added in another order): leave --threads out to keep it exact",
                    saved.threads, cfg.threads
                ));
            }
        }
        let resumed = matches!(start, Start::Resume(_));
        if distributed {
            if team.size > cfg.batch {
                return Err(Error::Config(format!(
                    "{} ranks but --batch {}: each rank runs at least one stream; use at most {} ranks",
                    team.size, cfg.batch, cfg.batch
                )));
            }
            // One thread per rank: run a rank per core.
            cfg.threads = 1;
        }
        let ranks_before = cfg.ranks;
        cfg.ranks = team.size;
        if resumed && ranks_before != team.size && team.leads() {
            notes.push(format!(
                "note: this run was trained on {ranks_before} process(es); on {} its continuation is not bit for bit an uninterrupted run's (the dropout masks are drawn per rank and the gradients added in another order)",
                team.size
            ));
        }
        if !distributed {
            let cores = cores();
            if threads_asked && cfg.threads > cores {
                return Err(Error::Config(format!(
                    "--threads {} is more than this machine's {cores} core(s): use at most {cores}",
                    cfg.threads
                )));
            }
            if threads_asked && cfg.threads > cfg.batch {
                return Err(Error::Config(format!(
                    "--threads {} is more than --batch {}: each thread runs at least one stream; use at most {}",
                    cfg.threads, cfg.batch, cfg.batch
                )));
            }
            if !threads_asked && !resumed {
                cfg.threads = cfg.threads.min(cfg.batch).max(1);
            }
        }
        // The model a run starts from, when it comes from a file.
        let mut opt = Optimizer::new(cfg.optimizer.rule(cfg.rmsprop_alpha), cfg.lr).zeroing_grads(true);
        let kind = cfg.cell;
        let loaded = match &start {
            Start::New => None,
            Start::Resume(dir) => Some(load_resumable(dir, &mut opt, &cfg, &mut notes)?),
            Start::InitFrom(ck) => {
                let (ck, note) = crate::checkpoint::resolve(ck)?;
                notes.extend(note);
                let (m, v, _) = load_model::<f32>(&ck)?;
                init_from_sizes(&ck, &m.config, &mut cfg)?;
                Some((m, v, None))
            }
        };
        cfg.validate()?;
        let why = match &start {
            Start::New => "",
            Start::Resume(_) => "; resume on the run's own text",
            Start::InitFrom(_) => "; --init-from needs a text of the checkpoint's characters, or train a new model",
        };
        let vocab_given = loaded.as_ref().map(|l| &l.1);
        let mut note = |s: String| notes.push(s);
        let text = match text {
            Some(bytes) => super::text::encode(&describe(&cfg.text), bytes, vocab_given, why, &mut note),
            None => super::text::load_tokens(&cfg.text, vocab_given, why, &mut note),
        };
        let text: Loaded = text.map_err(|e| match &start {
            Start::Resume(dir) if saved_text.as_ref() == Some(&cfg.text) => {
                Error::Config(format!("the text saved in {}/config.json: {e}", dir.display()))
            }
            _ => e,
        })?;
        if !resumed {
            cfg.text = absolute(&cfg.text);
        }
        let Loaded { vocab, tokens, id } = text;
        let mc = ModelConfig {
            cell: kind,
            vocab: vocab.len(),
            hidden: cfg.hidden,
            layers: cfg.layers,
            dropout: cfg.dropout,
        };
        check_memory(&cfg, &mc, opt.moments.len(), tokens.len() * tokens.width())?;
        let (mut model, saved) = match loaded {
            Some((m, _, p)) => (m, p),
            None => (CharModel::new(mc, cfg.init, &mut NumpyRng::new(cfg.seed))?, None),
        };
        model.rnn.config.dropout = cfg.dropout;
        model.rnn.config.variational = cfg.variational_dropout;
        model.head_dropout = cfg.dropout_head;
        opt.weight_decay = cfg.weight_decay;
        let split = Split::new(cfg.split, tokens.len(), cfg.batch, cfg.seq_len, cfg.val_frac)?;
        let total = match (cfg.steps, cfg.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e.checked_mul(split.train.count).ok_or_else(|| {
                Error::Config(format!(
                    "--epochs {e} of {} windows is more steps than can be counted: give fewer epochs",
                    split.train.count
                ))
            })?,
            (None, None) => return Err(Error::Config("give --steps or --epochs".into())),
        };
        let p = match saved {
            Some(mut p) => {
                let dir = match &start {
                    Start::Resume(d) => d.display().to_string(),
                    _ => "RUN".into(),
                };
                check_same_data(&p, &id, &split, &cfg, &dir)?;
                if total < p.step {
                    return Err(Error::Config(format!(
                        "--steps {total} is below the run's step {}: give a larger --steps (or --epochs) to continue it",
                        p.step
                    )));
                }
                if let Some(lr) = lr {
                    opt.lr = lr; // an explicit learning rate overrides the saved (possibly decayed) one
                }
                p.data = Some(id);
                p
            }
            None => Progress {
                step: 0,
                epoch: 0,
                window: 0,
                carry: None,
                rng_dropout: NumpyRng::new(cfg.seed.wrapping_add(1)),
                rng_sample: NumpyRng::new(cfg.seed.wrapping_add(2)),
                smooth: (vocab.len() as f64).ln() * if cfg.loss == Reduction::Sum { cfg.seq_len as f64 } else { 1.0 },
                best_val: None,
                stale_evals: 0,
                elapsed: 0.0,
                first_loss: None,
                data: Some(id),
            },
        };
        let (out, lock, metrics) = match (&out, team.leads()) {
            (Out::Memory, _) => (None, None, Vec::new()),
            (_, true) => {
                // config.json names the text: a path that is not UTF-8 cannot be saved there, so
                // it is refused before the folder is made or claimed.
                let json = serde_json::to_string_pretty(&cfg).map_err(|_| {
                    Error::Config(format!(
                        "the text's path {} is not valid UTF-8, and the run's config.json must name it: rename the file",
                        cfg.text.display()
                    ))
                })?;
                let mut note = |s: String| notes.push(s);
                let claimed = claim_folder(&start, &out, &mut note)?;
                let path = claimed.path.clone();
                write_atomic(&path.join("config.json"), json.as_bytes())?;
                let metrics = load_metrics(&path.join("metrics.jsonl"), p.step)?;
                (Some(path), Some(claimed), metrics)
            }
            (Out::Dir(d), false) => (Some(d.clone()), None, Vec::new()),
            (Out::Auto, false) => match &start {
                Start::Resume(d) => (Some(d.clone()), None, Vec::new()),
                _ => (None, None, Vec::new()),
            },
        };
        let clip = Clip { norm: cfg.clip_norm, value: cfg.clip };
        let mut tr = Trainer::new(model, opt, clip, cfg.loss, cfg.threads);
        tr.freeze(&cfg.frozen)?;
        let start_step = p.step;
        Ok(Session {
            cfg,
            out,
            _lock: lock,
            team: Team::solo(),
            stop_all: false,
            interrupt: interrupt.unwrap_or_default(),
            vocab,
            tokens,
            split,
            tr,
            p,
            total,
            metrics,
            start_step,
            resumed,
            session_seconds: 0.0,
            notes,
        })
    }

    /// The run's configuration, as resolved (and saved in `config.json`).
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// The run folder (`None` in memory).
    pub fn folder(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    /// Where the run stands.
    pub fn progress(&self) -> &Progress {
        &self.p
    }

    /// The run's total steps.
    pub fn total_steps(&self) -> usize {
        self.total
    }

    /// Whether this session continues a saved run.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Every metrics line so far (a resumed run's earlier ones included).
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// The model being trained.
    pub fn model(&self) -> &CharModel<f32> {
        &self.tr.model
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The text's length in characters.
    pub fn text_chars(&self) -> usize {
        self.tokens.len()
    }

    /// Training windows per epoch.
    pub fn windows_per_epoch(&self) -> usize {
        self.split.train.count
    }

    /// The processes the run is spread over.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// Seconds of training in this session's last [`Session::run`].
    pub fn session_seconds(&self) -> f64 {
        self.session_seconds
    }

    /// The flag that stops the run after the step in progress (set it from a signal handler).
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// How two threads share a step (see [`Parallelism`]).
    pub fn set_parallelism(&mut self, p: Parallelism) {
        self.tr.set_parallelism(p);
    }

    /// Whether this process reports (the lead rank).
    fn leads(&self) -> bool {
        self.team.leads()
    }

    /// Trains to the run's total steps, or until interrupted or diverged.
    ///
    /// # Errors
    /// When a file cannot be written, or the ranks of a distributed run disagree.
    pub fn run(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        for n in std::mem::take(&mut self.notes) {
            if self.leads() {
                obs.note(&n);
            }
        }
        if self.p.step >= self.total {
            return Ok(Outcome::AlreadyDone);
        }
        if self.patience_spent() {
            return Ok(Outcome::EarlyStopped { step: self.p.step, best: self.p.best_val });
        }
        // A step too small to share (min-char-rnn: one sequence, H 100) runs on one thread:
        // the helper's hand-offs would cost more than they take over, and its polling takes a
        // core's sibling. One shard either way, so the numbers are the same bits.
        let c = &self.cfg;
        let step_macs = c.batch * c.cell.gates() * c.hidden * c.hidden;
        let threads = if step_macs < crate::parallel::SHARE_MIN_MACS { 1 } else { c.threads };
        crate::parallel::with_threads(threads, || self.train_loop(obs))
    }

    fn stop_requested(&self) -> bool {
        if self.team.distributed() {
            self.stop_all
        } else {
            self.interrupt.load(Ordering::SeqCst)
        }
    }

    fn train_loop(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        let (t, b) = (self.cfg.seq_len, self.cfg.batch);
        let mut inputs = Array2::zeros((t, b));
        let mut targets = vec![0usize; t * b];
        let (mut tick, mut tick_step) = (Instant::now(), self.p.step);
        let session = Instant::now();
        while self.p.step < self.total {
            if self.stop_requested() {
                self.p.elapsed += tick.elapsed().as_secs_f64();
                return self.interrupted(obs);
            }
            if self.p.window == self.split.train.count {
                self.p.epoch += 1;
                self.p.window = 0;
                self.p.carry = None;
                if self.cfg.lr_decay < 1.0 && self.p.epoch >= self.cfg.lr_decay_after {
                    self.tr.opt.lr *= self.cfg.lr_decay;
                }
            }
            let step = self.p.step + 1;
            if let Some(lr) = self.cfg.scheduled_lr(step, self.total) {
                self.tr.opt.lr = lr;
            }
            let last = step == self.total;
            let log = step.is_multiple_of(self.cfg.log_every);
            // An interval of 0 is "never" (is_multiple_of(0) is false for a step ≥ 1).
            let eval = self.cfg.eval_every > 0 && (step.is_multiple_of(self.cfg.eval_every) || last);
            let ckpt = step.is_multiple_of(self.cfg.checkpoint_interval()) || last;
            // The norm costs a pass over the gradients when clipping does not compute it: only
            // on the steps that record it.
            self.tr.report_grad_norm = log || eval;
            self.split.train.fill(&self.tokens, self.p.window, &mut inputs, &mut targets);
            let out = self.one_step(&inputs, &targets)?;
            let loss = out.loss;
            if !out.updated {
                return Ok(Outcome::Diverged { step, reason: format!("the loss (or the weights) became {loss}") });
            }
            let last_norm = out.grad_norm.unwrap_or(f64::NAN);
            self.p.first_loss.get_or_insert(loss);
            self.p.carry = Some(out.state);
            self.p.window += 1;
            self.p.step = step;
            // min-char-rnn starts its smoothed loss at the loss of a uniform guess; other runs
            // start from their first loss so the reported value does not lag behind.
            let d = if step == 1 && self.cfg.loss != Reduction::Sum { 0.0 } else { self.cfg.smooth_decay };
            self.p.smooth = d * self.p.smooth + (1.0 - d) * loss;
            // The guard, on the smoothed loss per character: no single window's noise can fire
            // it (min-char-rnn's Adagrad start has windows at 3.6× the first), a loss that
            // stays far above an untrained model's does.
            if let Some(reason) = self.exploded() {
                return Ok(Outcome::Diverged { step, reason });
            }
            if log && self.team.distributed() {
                let mut w = Vec::new();
                self.tr.model.visit_values(&mut |p, _| w.extend_from_slice(p));
                self.team.check_same_weights(digest(w.into_iter()), step)?;
            }
            if log || eval || ckpt {
                let dt = tick.elapsed().as_secs_f64();
                self.p.elapsed += dt;
                let cps = ((step - tick_step) * t * b) as f64 / dt.max(1e-9);
                (tick, tick_step) = (Instant::now(), step);
                let val = if eval { self.validate(obs)? } else { None };
                // An interrupt that stopped the validation: the step is saved as on any
                // interrupt (not as a best), and the run says so rather than "done".
                if eval && val.is_none() && self.split.val.is_some() {
                    self.p.elapsed += tick.elapsed().as_secs_f64();
                    return self.interrupted(obs);
                }
                if log || eval {
                    self.record(cps, last_norm, val, obs)?;
                }
                if eval || ckpt {
                    if !self.weights_finite() || val.is_some_and(|v| !v.is_finite()) {
                        let reason = "the weights (or the validation loss) became NaN or infinite".into();
                        return Ok(Outcome::Diverged { step, reason });
                    }
                    let improved = self.improves(val);
                    if val.is_some() {
                        self.p.stale_evals = if improved { 0 } else { self.p.stale_evals + 1 };
                    }
                    // Early stopping saves the step it stops at as any last step.
                    let stop = self.patience_spent() && !last;
                    if ckpt || improved || stop {
                        self.checkpoint(val, improved, obs)?;
                    }
                    if stop {
                        self.session_seconds = session.elapsed().as_secs_f64();
                        return Ok(Outcome::EarlyStopped { step, best: self.p.best_val });
                    }
                }
            }
            if self.cfg.sample_every > 0 && step.is_multiple_of(self.cfg.sample_every) && !last {
                let s = self.sample_text(200, 1.0)?;
                if self.leads() {
                    obs.sample(step, &s);
                }
            }
            let epoch = self.p.epoch as f64 + self.p.window as f64 / self.split.train.count as f64;
            let report = StepReport { step, total: self.total, epoch, loss, smooth: self.p.smooth };
            if obs.step(&report) == Control::Stop {
                self.interrupt.store(true, Ordering::SeqCst);
            }
        }
        self.session_seconds = session.elapsed().as_secs_f64();
        Ok(Outcome::Done)
    }

    /// Early stopping: `patience` validations in a row without a new best.
    fn patience_spent(&self) -> bool {
        self.cfg.patience > 0 && self.p.stale_evals >= self.cfg.patience
    }

    /// The divergence guard: the smoothed loss per character past three times that of an
    /// untrained model (the larger of the first step's and a uniform guess's, `ln V`).
    fn exploded(&self) -> Option<String> {
        let per_char = self.cfg.chars_per_loss();
        let first = self.p.first_loss? / per_char;
        let reference = first.max((self.vocab.len() as f64).ln());
        let smooth = self.p.smooth / per_char;
        (smooth > 3.0 * reference).then(|| {
            format!(
                "the smoothed loss exploded to {smooth:.4} nats/char (more than 3× an untrained model's {reference:.4})"
            )
        })
    }

    /// Ctrl-C, SIGTERM or an observer's stop: a checkpoint of the step reached.
    fn interrupted(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        if self.p.step > self.start_step && self.out.is_some() {
            self.checkpoint(None, false, obs)?;
            return Ok(Outcome::Interrupted { saved: true });
        }
        Ok(Outcome::Interrupted { saved: false })
    }

    fn weights_finite(&mut self) -> bool {
        let mut ok = true;
        self.tr.model.visit(&mut |_, _, p, _| ok &= p.iter().all(|v| v.is_finite()));
        ok
    }

    /// Validation loss in nats per character, from a zero state, state carried, over the first
    /// `eval_windows` windows, on the training threads; `None` without validation text or when
    /// an interrupt stops it.
    fn validate(&mut self, obs: &mut dyn Observer) -> Result<Option<f64>> {
        let Some(w) = self.split.val.as_ref().map(|w| w.first_n(self.cfg.eval_windows)) else {
            return Ok(None);
        };
        let mut inputs = Array2::zeros((w.steps, w.batch));
        let mut targets = vec![0; w.steps * w.batch];
        let mut state: Option<State<f32>> = None;
        let mut total = 0.0;
        let distributed = self.team.distributed();
        let (b0, b1) = self.team.cols(w.batch);
        for i in 0..w.count {
            // Alone, an interrupt stops the validation; across ranks it waits for the next step's
            // reduction, so that every rank stops at the same point.
            if !distributed && self.interrupt.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if self.leads() {
                obs.validating(i, w.count);
            }
            w.fill(&self.tokens, i, &mut inputs, &mut targets);
            if !distributed {
                let (l, s) = self.tr.eval_loss(inputs.view(), &targets, state.as_ref())?;
                total += l;
                state = Some(s);
                continue;
            }
            // This rank's streams; the window's sum over the ranks, in rank order as the
            // threads' shards add it.
            let mut l = [0.0];
            if b1 > b0 {
                let (xl, yl, _) = columns::<f32>(inputs.view(), &targets, None, (b0, b1));
                let (loss, s) = self.tr.eval_loss(xl.view(), &yl, state.as_ref())?;
                l[0] = loss;
                state = Some(s);
            }
            self.team.sum_f64(&mut l);
            total += l[0];
        }
        Ok(Some(total / (w.count * w.steps * w.batch) as f64))
    }

    fn record(&mut self, cps: f64, norm: f64, val: Option<f64>, obs: &mut dyn Observer) -> Result<()> {
        let epoch = self.p.epoch as f64 + self.p.window as f64 / self.split.train.count as f64;
        let m = Metric {
            step: self.p.step,
            epoch,
            train_loss: self.p.smooth,
            val_loss: val,
            lr: self.tr.opt.lr,
            grad_norm: norm,
            chars_per_sec: cps,
            elapsed_s: self.p.elapsed,
            train_loss_unit: self.cfg.loss_unit(),
        };
        if !self.leads() {
            return Ok(());
        }
        // One write of one whole line, appended: a kill leaves at worst a torn last line, which
        // the next resume drops (it keeps only lines up to its step, parsed whole).
        if let Some(out) = &self.out {
            use std::io::Write;
            let line = serde_json::to_string(&m).map_err(|e| Error::Config(e.to_string()))? + "\n";
            let path = out.join("metrics.jsonl");
            folder::open_no_follow(&path, true)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| Error::file(format!("cannot append to {}: {e}", path.display()), e))?;
        }
        self.metrics.push(m);
        obs.metric(self.metrics.last().expect("pushed"), &self.metrics);
        Ok(())
    }

    /// Whether `val` is a new best (a run without validation text keeps its last as its best).
    fn improves(&self, val: Option<f64>) -> bool {
        match (val, self.p.best_val) {
            (Some(v), Some(b)) => v < b,
            (Some(_), None) => true,
            (None, _) => self.split.val.is_none(),
        }
    }

    /// Writes the training state (weights included: the one file a resume needs, the previous
    /// one kept as `prev.state.safetensors`), then `last.safetensors`, then — when `improved` —
    /// `best.safetensors`, then with `keep_all` a copy named by step, epoch and loss.
    fn checkpoint(&mut self, val: Option<f64>, improved: bool, obs: &mut dyn Observer) -> Result<()> {
        if improved {
            self.p.best_val = val.or(self.p.best_val);
        }
        let Some(out) = self.out.clone().filter(|_| self.leads()) else {
            return Ok(());
        };
        let mut meta = Meta::new();
        meta.insert("step".into(), self.p.step.to_string());
        meta.insert("train_config".into(), serde_json::to_string(&self.cfg).map_err(|e| Error::Config(e.to_string()))?);
        if let Some(v) = val {
            meta.insert("val_loss".into(), v.to_string());
        }
        let tr = &mut self.tr;
        let (sp, prev) = (out.join("last.state.safetensors"), out.join("prev.state.safetensors"));
        state::save(&sp, Some(&prev), &self.p, &tr.opt, &mut tr.model, &self.vocab, &meta)?;
        // The model's bytes once, written to each file that takes this checkpoint.
        let bytes = model_bytes(&mut tr.model, &self.vocab, &meta)?;
        let mut files = vec![sp, out.join("last.safetensors")];
        write_atomic(&files[1], &bytes)?;
        if improved {
            files.push(out.join("best.safetensors"));
            write_atomic(&out.join("best.safetensors"), &bytes)?;
        }
        if self.cfg.keep_all {
            let epoch = self.p.epoch as f64 + self.p.window as f64 / self.split.train.count as f64;
            let v = val.map(|v| format!("-val{v:.4}")).unwrap_or_default();
            let dir = out.join("checkpoints");
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::file(format!("cannot create {}: {e}", dir.display()), e))?;
            let name = format!("step{:07}-epoch{epoch:.2}{v}.safetensors", self.p.step);
            write_atomic(&dir.join(&name), &bytes)?;
            files.push(dir.join(name));
        }
        obs.checkpoint(self.p.step, &files);
        Ok(())
    }

    /// One training step: alone, [`Trainer::step`]; across ranks, this rank's columns through
    /// [`Trainer::step_shared`], the carried state then gathered whole on every rank (each
    /// rank's columns added into zeros), and the stop flags of every rank summed with the loss.
    fn one_step(&mut self, inputs: &Array2<usize>, targets: &[usize]) -> Result<StepOutcome<f32>> {
        let rng = (self.cfg.dropout > 0.0 || self.cfg.dropout_head > 0.0).then_some(&mut self.p.rng_dropout);
        let carry = self.p.carry.as_ref();
        let (rank, size) = (self.team.rank, self.team.size);
        let b = inputs.ncols();
        let (b0, b1) = self.team.cols(b);
        let requested = self.interrupt.load(Ordering::SeqCst);
        let Some(comm) = self.team.comm.as_mut() else {
            return self.tr.step(inputs.view(), targets, carry, rng);
        };
        let (xl, yl, local) = columns(inputs.view(), targets, carry, (b0, b1));
        // The dropout seeds the batch shards would draw, one per rank: this rank's. (All are
        // drawn, so the generator stays the same on every rank.)
        let seed = rng.map(|r| part_seed(r, rank, size));
        let weight = if self.cfg.loss == Reduction::Sum { 1.0 } else { (b1 - b0) as f64 / b as f64 };
        let mut extra = [f64::from(u8::from(requested))];
        let all: &mut dyn AllSum<f32> = &mut **comm;
        let mut out = self.tr.step_shared(xl.view(), &yl, local.as_ref(), seed, weight, all, &mut extra)?;
        self.stop_all = extra[0] > 0.0;
        let gather = |team: &mut Team, part: &ndarray::Array3<f32>| {
            let (l, _, h) = part.dim();
            let mut full = ndarray::Array3::<f32>::zeros((l, b, h));
            full.slice_mut(ndarray::s![.., b0..b1, ..]).assign(part);
            team.sum_f32(full.as_slice_mut().expect("standard"));
            full
        };
        let h = gather(&mut self.team, &out.state.h);
        let c = out.state.c.as_ref().map(|c| gather(&mut self.team, c));
        out.state = State { h, c };
        Ok(out)
    }

    /// `n` characters drawn from the model at `temperature` with the run's sample generator
    /// (saved with the run, so a resumed run draws what an uninterrupted one would).
    ///
    /// # Errors
    /// When the temperature is not a number ≥ 0.
    pub fn sample_text(&mut self, n: usize, temperature: f64) -> Result<String> {
        let mut s = String::new();
        let mut m = self.tr.model.clone();
        let opts = SampleOptions { length: n, temperature, top_k: None, top_p: None };
        sample(&mut m, &self.vocab, "", opts, &mut self.p.rng_sample, |c| {
            s.push(c);
            true
        })?;
        Ok(s)
    }
}

/// The model, vocabulary and progress of the run saved in `dir`, from its training state
/// (weights included); when that file is missing or damaged, from the one before it
/// (`prev.state.safetensors`), with a note. A state of format 1 (no weights) resumes with the
/// `last.safetensors` of the same step.
fn load_resumable(
    dir: &Path,
    opt: &mut Optimizer<f32>,
    cfg: &RunConfig,
    notes: &mut Vec<String>,
) -> Result<(CharModel<f32>, Vocab, Option<Progress>)> {
    let kind = cfg.cell;
    let (sp, prev, last) =
        (dir.join("last.state.safetensors"), dir.join("prev.state.safetensors"), dir.join("last.safetensors"));
    let mut changed = Vec::new();
    // One read of the state file: its weights and its progress.
    let mut attempt = |path: &Path, opt: &mut Optimizer<f32>| -> Result<(CharModel<f32>, Vocab, Option<Progress>)> {
        let (t, st_meta) = state::read(path)?;
        changed = against_checkpoint(dir, cfg, &st_meta)?;
        if state::holds_weights(&st_meta) {
            let (mut m, v) = crate::checkpoint::model_from_tensors::<f32>(path, &t, &st_meta)?;
            let p = state::load_from(path, &t, &st_meta, opt, &mut m, kind)?;
            return Ok((m, v, Some(p)));
        }
        let (mut m, v, meta) = load_model::<f32>(&last)?;
        let p = state::load_from(path, &t, &st_meta, opt, &mut m, kind)?;
        let saved = meta.get("step").and_then(|s| s.parse::<usize>().ok());
        if saved.is_some_and(|s| s != p.step) {
            return Err(Error::Io(format!("{} (step {}) and {} (step {}) disagree: the run was interrupted while saving; resume from an earlier copy", last.display(), saved.unwrap_or(0), path.display(), p.step)));
        }
        Ok((m, v, Some(p)))
    };
    let r = match attempt(&sp, opt) {
        Ok(r) => Ok(r),
        // A configuration that contradicts the checkpoint is not a damaged file: no fallback.
        Err(e) if prev.exists() && !matches!(e, Error::Config(_)) => {
            let r = attempt(&prev, opt).map_err(|e2| Error::Io(format!("{e}; and the checkpoint before it: {e2}")))?;
            let step = r.2.as_ref().map_or(0, |p| p.step);
            notes.push(format!("note: {e}; resuming from the checkpoint before it, {} (step {step})", prev.display()));
            Ok(r)
        }
        Err(e) => Err(e),
    }?;
    if !changed.is_empty() {
        notes.push(format!(
            "note: {} changed since the run's last checkpoint ({}): its continuation is not bit for bit an uninterrupted run's",
            if changed.len() == 1 { "a setting that shapes training has" } else { "settings that shape training have" },
            changed.join(", ")
        ));
    }
    Ok(r)
}

/// The checkpoint's metadata is the truth about a run: a configuration (`config.json` as edited,
/// with the flags given now) whose model or data layout, or optimizer, contradicts the one the
/// checkpoint was trained with is refused; the other settings that shape training and differ
/// are returned, `name (then → now)`, for a note.
fn against_checkpoint(dir: &Path, cfg: &RunConfig, meta: &Meta) -> Result<Vec<String>> {
    let Some(trained) = meta.get("train_config").and_then(|j| serde_json::from_str::<RunConfig>(j).ok()) else {
        return Ok(Vec::new()); // written before the configuration was saved with the state
    };
    if trained.layout() != cfg.layout() || trained.optimizer != cfg.optimizer {
        return Err(Error::Config(format!(
            "{}/config.json (with the flags given) asks for {}{}, but the run's checkpoint was trained as {}{}: restore config.json (or leave those flags out), or start a new run from its weights with --init-from {}/last.safetensors",
            dir.display(),
            cfg.layout(),
            optimizer_words(cfg),
            trained.layout(),
            optimizer_words(&trained),
            dir.display()
        )));
    }
    let mut changed = Vec::new();
    let mut differs = |name: &str, then: String, now: String| {
        if then != now {
            changed.push(format!("{name} {then} → {now}"));
        }
    };
    differs("dropout", trained.dropout.to_string(), cfg.dropout.to_string());
    differs("dropout_head", trained.dropout_head.to_string(), cfg.dropout_head.to_string());
    differs("variational_dropout", trained.variational_dropout.to_string(), cfg.variational_dropout.to_string());
    differs("schedule", format!("{:?}", trained.schedule), format!("{:?}", cfg.schedule));
    differs("warmup", trained.warmup.to_string(), cfg.warmup.to_string());
    differs("lr_min", trained.lr_min.to_string(), cfg.lr_min.to_string());
    differs("weight_decay", trained.weight_decay.to_string(), cfg.weight_decay.to_string());
    differs("patience", trained.patience.to_string(), cfg.patience.to_string());
    differs("clip", trained.clip.to_string(), cfg.clip.to_string());
    differs("clip_norm", trained.clip_norm.to_string(), cfg.clip_norm.to_string());
    differs("lr_decay", trained.lr_decay.to_string(), cfg.lr_decay.to_string());
    differs("lr_decay_after", trained.lr_decay_after.to_string(), cfg.lr_decay_after.to_string());
    differs("rmsprop_alpha", trained.rmsprop_alpha.to_string(), cfg.rmsprop_alpha.to_string());
    differs("smooth_decay", trained.smooth_decay.to_string(), cfg.smooth_decay.to_string());
    differs("loss", format!("{:?}", trained.loss), format!("{:?}", cfg.loss));
    differs("frozen", format!("{:?}", trained.frozen), format!("{:?}", cfg.frozen));
    Ok(changed)
}

fn optimizer_words(c: &RunConfig) -> String {
    format!(" with optimizer {}", c.optimizer.rule(c.rmsprop_alpha).name())
}

/// With `init_from`, the model's sizes come from the checkpoint; a configuration asking for
/// others is refused.
fn init_from_sizes(ck: &Path, mc: &ModelConfig, cfg: &mut RunConfig) -> Result<()> {
    let preset = RunConfig::preset(cfg.preset, cfg.text.clone());
    let asks_other = (cfg.cell != preset.cell && cfg.cell != mc.cell)
        || (cfg.hidden != preset.hidden && cfg.hidden != mc.hidden)
        || (cfg.layers != preset.layers && cfg.layers != mc.layers);
    if asks_other {
        return Err(Error::Config(format!(
            "--init-from {} holds a {} {}×{}: leave out --cell/--hidden/--layers, or give the checkpoint's",
            ck.display(),
            mc.cell,
            mc.layers,
            mc.hidden
        )));
    }
    (cfg.cell, cfg.hidden, cfg.layers) = (mc.cell, mc.hidden, mc.layers);
    cfg.init_from = Some(absolute(ck));
    Ok(())
}

/// A resumed run's saved data position must refer to this text and split.
fn check_same_data(p: &Progress, id: &DataId, split: &Split, cfg: &RunConfig, dir: &str) -> Result<()> {
    let init = format!("start a new run from its weights with --init-from {dir}/last.safetensors");
    match &p.data {
        Some(d) if d != id => Err(Error::Config(format!(
            "{} is not the text this run was trained on ({} characters, sha256 {}…; this one: {} characters, sha256 {}…): resume on that text, or {init}",
            describe(&cfg.text),
            d.chars,
            &d.sha256[..12.min(d.sha256.len())],
            id.chars,
            &id.sha256[..12]
        ))),
        None if p.window > split.train.count => Err(Error::Config(format!(
            "the run's saved position (window {} of an epoch) is past the {} windows of {}: resume on the text the run was trained on, or {init}",
            p.window,
            split.train.count,
            describe(&cfg.text)
        ))),
        _ => Ok(()),
    }
}

/// The run folder, claimed: a new run's (given and empty, or a new `runs/<timestamp>`), or the
/// resumed run's own, or another one for its continuation (given and empty; the metrics and
/// `best.safetensors` are copied into it).
fn claim_folder(start: &Start, out: &Out, note: &mut dyn FnMut(String)) -> Result<Claimed> {
    let given = match out {
        Out::Dir(d) => Some(d.clone()),
        _ => None,
    };
    match start {
        Start::New | Start::InitFrom(_) => {
            let dir = match given {
                Some(o) => o,
                None => folder::create_unique(Path::new("runs"), &timestamp())?,
            };
            folder::claim_new(&dir, note)
        }
        Start::Resume(dir) => {
            let out = given.unwrap_or_else(|| dir.clone());
            if folder::same_folder(dir, &out) {
                return folder::claim(dir, note);
            }
            let claimed = folder::claim_new(&out, note)?;
            for f in ["metrics.jsonl", "best.safetensors"] {
                if dir.join(f).exists() {
                    let bytes = crate::files::read_regular(&dir.join(f), crate::files::memory_limit(), "a run's file")?;
                    write_atomic(&out.join(f), &bytes)?;
                }
            }
            Ok(claimed)
        }
    }
}

/// The metrics of a resumed run up to its step; lines past it (from an interrupted session)
/// or torn by a kill are dropped from the file too, which is rewritten atomically.
fn load_metrics(path: &Path, upto: usize) -> Result<Vec<Metric>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(Vec::new());
    }
    let bytes = crate::files::read_regular(path, 1 << 30, "metrics")?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let rows: Vec<Metric> =
        text.lines().filter_map(|l| serde_json::from_str::<Metric>(l).ok()).filter(|m| m.step <= upto).collect();
    let kept: String = rows.iter().map(|m| serde_json::to_string(m).expect("serialisable") + "\n").collect();
    if kept != text {
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(rows)
}
