//! `recurrent train`: truncated-BPTT training of a character model, with validation, samples,
//! checkpoints, metrics, plots and exact resume.

pub mod config;
mod plot;

pub mod folder;
pub mod team;

use crate::args::{Cell, Loss, Preset};
use crate::text::{absolute, default_corpus, describe, load_tokens};
use anyhow::{bail, Context, Result};
use config::{TrainArgs, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use recurrent::checkpoint::{load_model, write_atomic, Meta};
use recurrent::data::{Split, Tokens, Vocab};
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer};
use recurrent::parallel::columns;
use recurrent::sample::{sample, SampleOptions};
use recurrent::train::state::{self, DataId, Progress};
use recurrent::train::Trainer;
use recurrent::{CellKind, NumpyRng, Parameters, Reduction, State};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// One metrics line.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Metric {
    pub step: usize,
    pub epoch: f64,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub lr: f64,
    pub grad_norm: f64,
    pub chars_per_sec: f64,
    pub elapsed_s: f64,
}

/// Everything a running training owns.
struct Run {
    cfg: TrainConfig,
    /// The run folder.
    out: PathBuf,
    /// Its lock, held while this run writes into it (by the lead process only).
    _lock: Option<folder::Claimed>,
    /// The processes the run is spread over (one, or MPI ranks).
    team: team::Team,
    /// A stop requested on any rank, known to every rank after the last step's reduction.
    stop_all: bool,
    /// Seconds of training in this session.
    session_seconds: f64,
    vocab: Vocab,
    tokens: Tokens,
    split: Split,
    /// The model, its optimizer, clipping and the loss's reduction: one training step.
    tr: Trainer<f32>,
    p: Progress,
    total: usize,
    metrics: Vec<Metric>,
    bar: Option<ProgressBar>,
    /// The step this session started from (an interruption before any step saves nothing).
    start_step: usize,
}

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let mut team = if args.distributed { team::Team::mpi()? } else { team::Team::solo() };
    let prepared = Run::prepare(&args, &team);
    // Every rank must start, or none: a rank alone in a collective would wait for ever.
    if !team.all_agree(prepared.is_ok()) {
        return match prepared {
            Err(e) => Err(e),
            Ok(_) => bail!("another rank could not start this run (its message says why)"),
        };
    }
    let mut run = prepared?;
    run.team = team;
    signals::install();
    // A helper thread for the work inside a step (see `recurrent::par`) with two threads or more.
    let code = recurrent::parallel::with_threads(run.cfg.threads, || run.train_loop())?;
    Ok(code)
}

/// Ctrl-C and SIGTERM: the first asks the training loop to save and stop after the step in
/// progress; a second ends the process at once.
mod signals {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SIGNALS: AtomicUsize = AtomicUsize::new(0);

    /// Installs the handler (once per process; a second call is a no-op).
    pub fn install() {
        let _ = ctrlc::set_handler(|| {
            if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
                eprintln!("\nsecond interrupt: exiting at once (the last checkpoint is whole)");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: saving a checkpoint after this step (interrupt again to exit at once)");
        });
    }

    /// Whether an interrupt has come.
    pub fn requested() -> bool {
        SIGNALS.load(Ordering::SeqCst) > 0
    }
}

/// `pytorch`, `normal:σ` or `uniform:a`.
pub fn parse_init(s: &str) -> Result<Init> {
    let num = |v: &str| v.parse::<f64>().with_context(|| format!("bad init '{s}'"));
    Ok(match s.split_once(':') {
        None if s == "pytorch" => Init::PyTorch,
        Some(("normal", v)) => Init::Normal(num(v)?),
        Some(("uniform", v)) => Init::Uniform(num(v)?),
        _ => bail!("unknown init '{s}': use pytorch, normal:σ or uniform:a"),
    })
}

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

/// Where a run comes from.
enum Start {
    /// A new model.
    New,
    /// The run saved in this folder, continued exactly.
    Resume(PathBuf),
    /// A new run from this checkpoint's weights.
    InitFrom(PathBuf),
}

/// The memory this machine has available now (`MemAvailable`), when it can be read.
fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Refuses a run whose estimated memory exceeds what the machine has available.
fn check_memory(cfg: &TrainConfig, mc: &ModelConfig, slots: usize, text_bytes: usize) -> Result<()> {
    let need = mc.training_bytes(cfg.seq_len, cfg.batch, cfg.threads, slots) + text_bytes as f64;
    let Some(have) = available_memory() else {
        return Ok(());
    };
    if need > have {
        bail!(
            "a {} {}×{} on windows of batch {} × seq-len {} with {} thread(s) needs about {:.1} GB (weights, gradients, optimizer moments and activations), more than the {:.1} GB this machine has available: use a smaller --hidden, --batch or --seq-len",
            mc.cell, cfg.layers, cfg.hidden, cfg.batch, cfg.seq_len, cfg.threads, need / 1e9, have / 1e9
        );
    }
    Ok(())
}

impl Run {
    fn prepare(args: &TrainArgs, team: &team::Team) -> Result<Run> {
        let distributed = team.comm.is_some();
        if distributed && args.out.is_none() && args.resume.is_none() {
            bail!("--distributed needs --out DIR (every rank must write to, and read from, the same folder)");
        }
        // Threads are used coarsely (batch shards); the GEMMs inside each run on one.
        std::env::set_var("MATMUL_NUM_THREADS", "1");
        let start = match (&args.resume, &args.init_from) {
            (Some(dir), _) => Start::Resume(dir.clone()),
            (None, Some(ck)) => Start::InitFrom(ck.clone()),
            (None, None) => Start::New,
        };
        let (mut cfg, out) = match &start {
            Start::Resume(dir) => resolve_resume(dir, args)?,
            Start::New | Start::InitFrom(_) => {
                let mut cfg = TrainConfig::preset(args.preset.unwrap_or(Preset::Default), default_corpus());
                cfg.apply(args);
                (cfg, args.out.clone())
            }
        };
        let cores = config::cores();
        if distributed {
            if team.size > cfg.batch {
                bail!(
                    "{} ranks but --batch {}: each rank runs at least one stream; use at most {} ranks",
                    team.size,
                    cfg.batch,
                    cfg.batch
                );
            }
            // One thread per rank: run a rank per core.
            cfg.threads = 1;
        }
        let ranks_before = cfg.ranks;
        cfg.ranks = team.size;
        if matches!(start, Start::Resume(_)) && ranks_before != team.size && team.leads() {
            eprintln!(
                "note: this run was trained on {ranks_before} process(es); on {} its continuation is not bit for bit an uninterrupted run's (the dropout masks are drawn per rank and the gradients added in another order)",
                team.size
            );
        }
        match args.threads.filter(|_| !distributed) {
            Some(n) if n > cores => {
                bail!("--threads {n} is more than this machine's {cores} core(s): use at most {cores}")
            }
            Some(n) if n > cfg.batch => bail!(
                "--threads {n} is more than --batch {}: each thread runs at least one stream; use at most {}",
                cfg.batch,
                cfg.batch
            ),
            Some(_) => {}
            None if !matches!(start, Start::Resume(_)) => cfg.threads = cfg.threads.min(cfg.batch).max(1),
            None => {}
        }
        // The model a run starts from, when it comes from a file.
        let mut opt = Optimizer::new(cfg.optimizer.rule(cfg.rmsprop_alpha), cfg.lr).zeroing_grads(true);
        let kind = CellKind::from(cfg.cell);
        let loaded = match &start {
            Start::New => None,
            Start::Resume(dir) => Some(load_resumable(dir, &mut opt, kind)?),
            Start::InitFrom(ck) => {
                let (m, v, _) = load_model::<f32>(ck)?;
                init_from_sizes(ck, &m.config, args, &mut cfg)?;
                Some((m, v, None))
            }
        };
        cfg.validate()?;
        let why = match &start {
            Start::New => "",
            Start::Resume(_) => "; resume on the run's own text",
            Start::InitFrom(_) => "; --init-from needs a text of the checkpoint's characters, or train a new model",
        };
        let text = load_tokens(&cfg.text, loaded.as_ref().map(|l| &l.1), why).map_err(|e| match &start {
            Start::Resume(dir) if args.text.is_none() => {
                e.context(format!("the text saved in {}/config.json", dir.display()))
            }
            _ => e,
        })?;
        if !matches!(start, Start::Resume(_)) {
            cfg.text = absolute(&cfg.text);
        }
        let (vocab, tokens) = (text.vocab, text.tokens);
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
            None => (CharModel::new(mc, parse_init(&cfg.init)?, &mut NumpyRng::new(cfg.seed))?, None),
        };
        model.rnn.config.dropout = cfg.dropout;
        let split = Split::new(cfg.split.into(), tokens.len(), cfg.batch, cfg.seq_len, cfg.val_frac)?;
        let total = match (cfg.steps, cfg.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e * split.train.count,
            (None, None) => bail!("give --steps or --epochs"),
        };
        let p = match saved {
            Some(mut p) => {
                check_same_data(&p, &text.id, &split, &cfg, args)?;
                if total < p.step {
                    bail!(
                        "--steps {total} is below the run's step {}: give a larger --steps (or --epochs) to continue it",
                        p.step
                    );
                }
                if let Some(lr) = args.lr {
                    opt.lr = lr; // an explicit --lr overrides the saved (possibly decayed) rate
                }
                p.data = Some(text.id);
                p
            }
            None => Progress {
                step: 0,
                epoch: 0,
                window: 0,
                carry: None,
                rng_dropout: NumpyRng::new(cfg.seed.wrapping_add(1)),
                rng_sample: NumpyRng::new(cfg.seed.wrapping_add(2)),
                smooth: (vocab.len() as f64).ln() * if cfg.loss == Loss::Sum { cfg.seq_len as f64 } else { 1.0 },
                best_val: None,
                elapsed: 0.0,
                first_loss: None,
                data: Some(text.id),
            },
        };
        let (out, lock, metrics) = if team.leads() {
            let folder = claim_folder(&start, out)?;
            let path = folder.path.clone();
            write_atomic(&path.join("config.json"), serde_json::to_string_pretty(&cfg)?.as_bytes())?;
            let metrics = load_metrics(&path.join("metrics.jsonl"), p.step)?;
            (path, Some(folder), metrics)
        } else {
            (out.unwrap_or_default(), None, Vec::new())
        };
        let reduction = Reduction::from(cfg.loss);
        let clip = Clip { norm: cfg.clip_norm, value: cfg.clip };
        let mut tr = Trainer::new(model, opt, clip, reduction, cfg.threads);
        tr.frozen = cfg.frozen.clone();
        tr.report_grad_norm = true;
        let start_step = p.step;
        Ok(Run {
            cfg,
            out,
            _lock: lock,
            team: team::Team::solo(),
            stop_all: false,
            session_seconds: 0.0,
            vocab,
            tokens,
            split,
            tr,
            p,
            total,
            metrics,
            bar: None,
            start_step,
        })
    }

    fn say(&self, line: &str) {
        if !self.team.leads() {
            return;
        }
        match &self.bar {
            Some(b) => b.suspend(|| crate::outln(line)),
            None => crate::outln(line),
        }
    }

    fn out(&self) -> &Path {
        &self.out
    }

    fn train_loop(&mut self) -> Result<ExitCode> {
        let (t, b) = (self.cfg.seq_len, self.cfg.batch);
        let nparams = self.tr.model.num_params();
        self.say(&format!(
            "training a {} {}×{} ({nparams} parameters) on {} ({} characters, vocabulary {}): {} windows of {b}×{t} per epoch, {} steps → {}",
            self.cfg.cell, self.cfg.layers, self.cfg.hidden, describe(&self.cfg.text), self.tokens.len(), self.vocab.len(),
            self.split.train.count, self.total, self.out().display()
        ));
        if self.p.step >= self.total {
            self.say(&format!(
                "the run is already at step {} of {}: nothing to do (raise --steps)",
                self.p.step, self.total
            ));
            return Ok(ExitCode::SUCCESS);
        }
        if std::io::stderr().is_terminal() && self.team.leads() {
            let bar = ProgressBar::new(self.total as u64).with_position(self.p.step as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}").expect("valid template"),
            );
            self.bar = Some(bar);
        }
        let mut inputs = Array2::zeros((t, b));
        let mut targets = vec![0usize; t * b];
        let (mut tick, mut tick_step) = (Instant::now(), self.p.step);
        let session = Instant::now();
        while self.p.step < self.total {
            let stop = if self.team.comm.is_some() { self.stop_all } else { signals::requested() };
            if stop {
                self.p.elapsed += tick.elapsed().as_secs_f64();
                return self.interrupted();
            }
            if self.p.window == self.split.train.count {
                self.p.epoch += 1;
                self.p.window = 0;
                self.p.carry = None;
                if self.cfg.lr_decay < 1.0 && self.p.epoch >= self.cfg.lr_decay_after {
                    self.tr.opt.lr *= self.cfg.lr_decay;
                }
            }
            self.split.train.fill(&self.tokens, self.p.window, &mut inputs, &mut targets);
            let out = self.one_step(&inputs, &targets)?;
            let loss = out.loss;
            if !out.updated {
                return self.stop(&format!("the loss (or the weights) became {loss}"));
            }
            // char-rnn's guard: a loss three times the first is an explosion, not learning.
            let first = *self.p.first_loss.get_or_insert(loss);
            if loss > 3.0 * first {
                return self
                    .stop(&format!("the loss exploded to {loss:.4} (more than 3× the first step's {first:.4})"));
            }
            let last_norm = out.grad_norm.expect("the trainer reports the norm");
            self.p.carry = Some(out.state);
            self.p.window += 1;
            self.p.step += 1;
            // min-char-rnn starts its smoothed loss at the loss of a uniform guess; other runs
            // start from their first loss so the reported value does not lag behind.
            let d = if self.p.step == 1 && self.cfg.loss != Loss::Sum { 0.0 } else { self.cfg.smooth_decay };
            self.p.smooth = d * self.p.smooth + (1.0 - d) * loss;
            let step = self.p.step;
            let last = step == self.total;
            let log = step.is_multiple_of(self.cfg.log_every);
            let eval = step.is_multiple_of(self.cfg.eval_every) || last;
            let ckpt = step.is_multiple_of(self.cfg.checkpoint_interval()) || last;
            if log && self.team.comm.is_some() {
                let mut w = Vec::new();
                self.tr.model.visit_values(&mut |p, _| w.extend_from_slice(p));
                self.team.check_same_weights(team::digest(w.into_iter()), step)?;
            }
            if log || eval || ckpt {
                let dt = tick.elapsed().as_secs_f64();
                self.p.elapsed += dt;
                let cps = ((step - tick_step) * t * b) as f64 / dt.max(1e-9);
                (tick, tick_step) = (Instant::now(), step);
                let val = if eval { self.validate()? } else { None };
                if log || eval {
                    self.record(cps, last_norm, val)?;
                }
                if eval || ckpt {
                    if !self.weights_finite() || val.is_some_and(|v| !v.is_finite()) {
                        return self.stop("the weights (or the validation loss) became NaN or infinite");
                    }
                    let improved = self.improves(val);
                    if ckpt || improved {
                        self.checkpoint(val, improved)?;
                    }
                }
            }
            if self.cfg.sample_every > 0 && step.is_multiple_of(self.cfg.sample_every) && !last {
                let s = self.sample_text(200, 1.0)?;
                self.say(&format!("--- sample at step {step} ---\n{s}\n---"));
            }
            if let Some(bar) = &self.bar {
                bar.set_position(step as u64);
            }
        }
        self.session_seconds = session.elapsed().as_secs_f64();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.team.leads() {
            return Ok(ExitCode::SUCCESS);
        }
        let best = self.p.best_val.map(|v| format!(", best validation loss {v:.4} nats/char")).unwrap_or_default();
        crate::outln(&format!(
            "done: {} steps in {:.1} s{best}; checkpoints in {}",
            self.p.step,
            self.p.elapsed,
            self.out().display()
        ));
        if let Some(c) = &self.team.comm {
            let steps = (self.p.step - self.start_step).max(1);
            crate::outln(&format!(
                "{} ranks: {:.2} ms per step in MPI_Allreduce on rank 0 (waiting for the other ranks included), {:.1} ms per step in all",
                self.team.size,
                1e3 * c.seconds() / steps as f64,
                1e3 * self.session_seconds / steps as f64
            ));
        }
        crate::outln("--- sample (temperature 0.8) ---");
        let s = self.sample_text(500, 0.8)?;
        crate::outln(&s);
        Ok(ExitCode::SUCCESS)
    }

    /// Ctrl-C or SIGTERM: a checkpoint of the step reached, a line saying how to continue, and
    /// exit status 130.
    fn interrupted(&mut self) -> Result<ExitCode> {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
        let out = self.out().display().to_string();
        if self.p.step > self.start_step {
            self.checkpoint(None, false)?;
            if !self.team.leads() {
                return Ok(ExitCode::from(130));
            }
            eprintln!(
                "interrupted at step {}: checkpoint saved in {out}; continue with: recurrent train --resume {out}",
                self.p.step
            );
        } else {
            eprintln!("interrupted before the first step of this session: nothing new to save in {out}");
        }
        Ok(ExitCode::from(130))
    }

    fn weights_finite(&mut self) -> bool {
        let mut ok = true;
        self.tr.model.visit(&mut |_, _, p, _| ok &= p.iter().all(|v| v.is_finite()));
        ok
    }

    /// Stops a run that diverged, keeping the last good checkpoint; exit status 3.
    fn stop(&mut self, what: &str) -> Result<ExitCode> {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
        if !self.team.leads() {
            return Ok(ExitCode::from(3));
        }
        let last = self.out().join("last.safetensors");
        let kept = if last.exists() {
            format!("the last good checkpoint is {}", last.display())
        } else {
            "no checkpoint was written yet".into()
        };
        eprintln!("error: {what} at step {}: training stopped; {kept}; lower --lr or set --clip-norm", self.p.step + 1);
        Ok(ExitCode::from(3))
    }

    /// Validation loss in nats per character, from a zero state, state carried, over the first
    /// `eval_windows` windows, on the training threads; `None` without validation text or when
    /// an interrupt stops it.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some(w) = self.split.val.as_ref().map(|w| w.first_n(self.cfg.eval_windows)) else {
            return Ok(None);
        };
        let mut inputs = Array2::zeros((w.steps, w.batch));
        let mut targets = vec![0; w.steps * w.batch];
        let mut state: Option<State<f32>> = None;
        let mut total = 0.0;
        let t0 = Instant::now();
        let distributed = self.team.comm.is_some();
        let (b0, b1) = self.team.cols(w.batch);
        for i in 0..w.count {
            // Alone, an interrupt stops the validation; across ranks it waits for the next step's
            // reduction, so that every rank stops at the same point.
            if !distributed && signals::requested() {
                return Ok(None);
            }
            if let Some(bar) = self.bar.as_ref().filter(|_| t0.elapsed().as_secs_f64() > 1.0) {
                bar.set_message(format!("validating {}/{}", i, w.count));
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

    fn record(&mut self, cps: f64, norm: f64, val: Option<f64>) -> Result<()> {
        let per_char = if self.cfg.loss == Loss::Sum { self.cfg.seq_len as f64 * self.cfg.batch as f64 } else { 1.0 };
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
        };
        // The last validation loss, whenever it was measured.
        let last_val = val.or_else(|| self.metrics.iter().rev().find_map(|m| m.val_loss));
        let vs = last_val.map(|v| format!(" | val {v:.4}")).unwrap_or_default();
        let msg = format!("epoch {epoch:.2} | loss {:.4}{vs} | {:.0} chars/s", self.p.smooth, cps);
        match &self.bar {
            Some(b) => b.set_message(msg),
            None if self.team.leads() => eprintln!("step {}/{} {msg}", self.p.step, self.total),
            None => {}
        }
        // One write of one whole line, appended: a kill leaves at worst a torn last line, which
        // the next resume drops (it keeps only lines up to its step, parsed whole).
        if !self.team.leads() {
            return Ok(());
        }
        let line = serde_json::to_string(&m).expect("serialisable") + "\n";
        let path = self.out().join("metrics.jsonl");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .with_context(|| format!("cannot append to {}", path.display()))?;
        self.metrics.push(m);
        let train: Vec<(f64, f64)> = self.metrics.iter().map(|m| (m.step as f64, m.train_loss / per_char)).collect();
        let vals: Vec<(f64, f64)> =
            self.metrics.iter().filter_map(|m| m.val_loss.map(|v| (m.step as f64, v))).collect();
        if val.is_some() || self.p.step == self.total {
            if let Err(e) = plot::write(self.out(), &train, &vals) {
                self.say(&format!("warning: {e}"));
            }
        }
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
    /// `best.safetensors`, then with --keep-all a copy named by step, epoch and loss.
    fn checkpoint(&mut self, val: Option<f64>, improved: bool) -> Result<()> {
        if improved {
            self.p.best_val = val.or(self.p.best_val);
        }
        let mut meta = Meta::new();
        meta.insert("step".into(), self.p.step.to_string());
        meta.insert("train_config".into(), serde_json::to_string(&self.cfg)?);
        if let Some(v) = val {
            meta.insert("val_loss".into(), v.to_string());
        }
        if !self.team.leads() {
            return Ok(());
        }
        let out = self.out.clone();
        let tr = &mut self.tr;
        let (sp, prev) = (out.join("last.state.safetensors"), out.join("prev.state.safetensors"));
        state::save(&sp, Some(&prev), &self.p, &tr.opt, &mut tr.model, &self.vocab, &meta)?;
        // The model's bytes once, written to each file that takes this checkpoint.
        let bytes = recurrent::checkpoint::model_bytes(&mut tr.model, &self.vocab, &meta)?;
        write_atomic(&out.join("last.safetensors"), &bytes)?;
        if improved {
            write_atomic(&out.join("best.safetensors"), &bytes)?;
        }
        if self.cfg.keep_all {
            let epoch = self.p.epoch as f64 + self.p.window as f64 / self.split.train.count as f64;
            let v = val.map(|v| format!("-val{v:.4}")).unwrap_or_default();
            let dir = out.join("checkpoints");
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let name = format!("step{:07}-epoch{epoch:.2}{v}.safetensors", self.p.step);
            write_atomic(&dir.join(name), &bytes)?;
        }
        Ok(())
    }

    /// One training step: alone, [`Trainer::step`]; across ranks, this rank's columns through
    /// [`Trainer::step_shared`], the carried state then gathered whole on every rank (each
    /// rank's columns added into zeros), and the stop flags of every rank summed with the loss.
    fn one_step(&mut self, inputs: &Array2<usize>, targets: &[usize]) -> Result<recurrent::train::StepOutcome<f32>> {
        let rng = (self.cfg.dropout > 0.0).then_some(&mut self.p.rng_dropout);
        let carry = self.p.carry.as_ref();
        let Some(comm) = self.team.comm.as_mut() else {
            return Ok(self.tr.step(inputs.view(), targets, carry, rng)?);
        };
        let (rank, size) = (self.team.rank, self.team.size);
        let b = inputs.ncols();
        let (b0, b1) = (rank * b / size, (rank + 1) * b / size);
        let (xl, yl, local) = columns(inputs.view(), targets, carry, (b0, b1));
        // The dropout seeds the batch shards would draw, one per rank: this rank's.
        // (All are drawn, so the generator stays the same on every rank.)
        let seed = rng.map(|r| {
            let mut mine = 0;
            for i in 0..size {
                let s = r.next_u32();
                if i == rank {
                    mine = s;
                }
            }
            mine
        });
        let weight = if self.cfg.loss == Loss::Sum { 1.0 } else { (b1 - b0) as f64 / b as f64 };
        let mut extra = [f64::from(u8::from(signals::requested()))];
        let all: &mut dyn recurrent::train::AllSum<f32> = &mut **comm;
        let mut out = self.tr.step_shared(xl.view(), &yl, local.as_ref(), seed, weight, all, &mut extra)?;
        self.stop_all = extra[0] > 0.0;
        let gather = |team: &mut team::Team, part: &ndarray::Array3<f32>| {
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

    fn sample_text(&mut self, n: usize, temperature: f64) -> Result<String> {
        let mut s = String::new();
        let mut m = self.tr.model.clone();
        let opts = SampleOptions { length: n, temperature, top_k: None };
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
    kind: CellKind,
) -> Result<(CharModel<f32>, Vocab, Option<Progress>)> {
    let (sp, prev, last) =
        (dir.join("last.state.safetensors"), dir.join("prev.state.safetensors"), dir.join("last.safetensors"));
    // One read of the state file: its weights and its progress.
    let attempt = |path: &Path, opt: &mut Optimizer<f32>| -> Result<(CharModel<f32>, Vocab, Option<Progress>)> {
        let (t, st_meta) = state::read(path)?;
        if state::holds_weights(&st_meta) {
            let (mut m, v) = recurrent::checkpoint::model_from_tensors::<f32>(path, &t, &st_meta)?;
            let p = state::load_from(path, &t, &st_meta, opt, &mut m, kind)?;
            return Ok((m, v, Some(p)));
        }
        let (mut m, v, meta) = load_model::<f32>(&last)?;
        let p = state::load_from(path, &t, &st_meta, opt, &mut m, kind)?;
        let saved = meta.get("step").and_then(|s| s.parse::<usize>().ok());
        if saved.is_some_and(|s| s != p.step) {
            bail!("{} (step {}) and {} (step {}) disagree: the run was interrupted while saving; resume from an earlier copy", last.display(), saved.unwrap_or(0), path.display(), p.step);
        }
        Ok((m, v, Some(p)))
    };
    match attempt(&sp, opt) {
        Ok(r) => Ok(r),
        Err(e) if prev.exists() => {
            let r = attempt(&prev, opt).map_err(|e2| e2.context(format!("{e}; and the checkpoint before it")))?;
            let step = r.2.as_ref().map_or(0, |p| p.step);
            eprintln!("note: {e}; resuming from the checkpoint before it, {} (step {step})", prev.display());
            Ok(r)
        }
        Err(e) => Err(e),
    }
}

/// With --init-from, the model's sizes come from the checkpoint; flags asking for others are
/// refused.
fn init_from_sizes(ck: &Path, mc: &ModelConfig, args: &TrainArgs, cfg: &mut TrainConfig) -> Result<()> {
    let cell = Cell::from(mc.cell);
    let asks_other = args.cell.is_some_and(|c| c != cell)
        || args.hidden.is_some_and(|h| h != mc.hidden)
        || args.layers.is_some_and(|l| l != mc.layers);
    if asks_other {
        bail!(
            "--init-from {} holds a {} {}×{}: leave out --cell/--hidden/--layers, or give the checkpoint's",
            ck.display(),
            mc.cell,
            mc.layers,
            mc.hidden
        );
    }
    (cfg.cell, cfg.hidden, cfg.layers) = (cell, mc.hidden, mc.layers);
    cfg.init_from = Some(absolute(ck));
    Ok(())
}

/// A resumed run's saved data position must refer to this text and split.
fn check_same_data(p: &Progress, id: &DataId, split: &Split, cfg: &TrainConfig, args: &TrainArgs) -> Result<()> {
    let dir = args.resume.as_deref().unwrap_or(Path::new("RUN")).display().to_string();
    let init = format!("start a new run from its weights with --init-from {dir}/last.safetensors");
    match &p.data {
        Some(d) if d != id => bail!(
            "{} is not the text this run was trained on ({} characters, sha256 {}…; this one: {} characters, sha256 {}…): resume on that text, or {init}",
            describe(&cfg.text),
            d.chars,
            &d.sha256[..12.min(d.sha256.len())],
            id.chars,
            &id.sha256[..12]
        ),
        None if p.window > split.train.count => bail!(
            "the run's saved position (window {} of an epoch) is past the {} windows of {}: resume on the text the run was trained on, or {init}",
            p.window,
            split.train.count,
            describe(&cfg.text)
        ),
        _ => Ok(()),
    }
}

/// The run folder, claimed: a new run's (given and empty, or a new `runs/<timestamp>`), or the
/// resumed run's own, or another one for its continuation (given and empty; the metrics and
/// `best.safetensors` are copied into it).
fn claim_folder(start: &Start, out: Option<PathBuf>) -> Result<folder::Claimed> {
    match start {
        Start::New | Start::InitFrom(_) => {
            let dir = match out {
                Some(o) => o,
                None => folder::create_unique(Path::new("runs"), &timestamp())?,
            };
            let claimed = folder::claim(&dir)?;
            folder::refuse_existing_run(&dir)?;
            Ok(claimed)
        }
        Start::Resume(dir) => {
            let out = out.unwrap_or_else(|| dir.clone());
            if folder::same_folder(dir, &out) {
                return folder::claim(dir);
            }
            let claimed = folder::claim(&out)?;
            folder::refuse_existing_run(&out)?;
            for f in ["metrics.jsonl", "best.safetensors"] {
                if dir.join(f).exists() {
                    let bytes =
                        std::fs::read(dir.join(f)).with_context(|| format!("cannot read {}", dir.join(f).display()))?;
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
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let rows: Vec<Metric> =
        text.lines().filter_map(|l| serde_json::from_str::<Metric>(l).ok()).filter(|m| m.step <= upto).collect();
    let kept: String = rows.iter().map(|m| serde_json::to_string(m).expect("serialisable") + "\n").collect();
    if kept != text {
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(rows)
}

/// The saved configuration of the run in `dir`, with the flags given now applied; flags that
/// would change the model or the data layout are refused. Returns it and the output folder.
fn resolve_resume(dir: &Path, args: &TrainArgs) -> Result<(TrainConfig, Option<PathBuf>)> {
    if folder::run_files(dir).is_empty() {
        if dir.join("config.json").exists() {
            bail!("{} holds no checkpoint (last.safetensors): the run stopped before its first; start it again with --out {}", dir.display(), dir.display());
        }
        bail!("{} holds no checkpoint (last.safetensors): give the --out folder of an earlier run", dir.display());
    }
    let saved = std::fs::read_to_string(dir.join("config.json"))
        .with_context(|| format!("{} has no config.json: it is not a run folder", dir.display()))?;
    let mut cfg: TrainConfig = serde_json::from_str(&saved)
        .with_context(|| format!("{}/config.json is not a run configuration", dir.display()))?;
    let before = cfg.architecture();
    if args.preset.is_some() {
        bail!("--preset cannot change a resumed run: leave it out");
    }
    let threads_before = cfg.threads;
    cfg.apply(args);
    if cfg.architecture() != before {
        bail!("--resume {}: the run is a {} {}×{} with seq-len {}, batch {}, {} split and val-frac {}; flags asking for another architecture or data layout cannot resume it: leave them out or start a new run", dir.display(), before.0, before.2, before.1, before.3, before.4, before.5, f64::from_bits(before.6));
    }
    if args.optimizer.is_some() && cfg.optimizer != serde_json::from_str::<TrainConfig>(&saved)?.optimizer {
        bail!("--optimizer cannot change a resumed run: leave it out");
    }
    if cfg.threads != threads_before {
        eprintln!(
            "note: this run was trained on {threads_before} thread(s); on {} its continuation is not bit for bit an uninterrupted run's (the shards' gradients are added in another order): leave --threads out to keep it exact",
            cfg.threads
        );
    }
    Ok((cfg, Some(args.out.clone().unwrap_or_else(|| dir.to_path_buf()))))
}
