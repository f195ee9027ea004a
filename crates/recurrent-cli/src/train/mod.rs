//! `recurrent train`: truncated-BPTT training of a character model, with validation, samples,
//! checkpoints, metrics, plots and exact resume.

pub mod config;
mod plot;

use crate::args::{Loss, Preset};
use crate::text::{default_corpus, read_text};
use anyhow::{bail, Context, Result};
use config::{TrainArgs, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use recurrent::checkpoint::{load_model, save_model, Meta};
use recurrent::data::{Split, Vocab, Windows};
use recurrent::model::{CharModel, Init, ModelConfig};
use recurrent::optim::{Clip, Optimizer};
use recurrent::sample::{sample, SampleOptions};
use recurrent::train::state::{self, Progress};
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
    out: PathBuf,
    vocab: Vocab,
    tokens: Vec<usize>,
    split: Split,
    /// The model, its optimizer, clipping and the loss's reduction: one training step.
    tr: Trainer<f32>,
    p: Progress,
    total: usize,
    metrics: Vec<Metric>,
    bar: Option<ProgressBar>,
}

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let mut run = Run::prepare(&args)?;
    // A helper thread for the work inside a step (see `recurrent::par`) with two threads or more.
    let code = recurrent::parallel::with_threads(run.cfg.threads, || run.train_loop())?;
    Ok(code)
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

impl Run {
    fn prepare(args: &TrainArgs) -> Result<Run> {
        // Threads are used coarsely (batch shards); the GEMMs inside each run on one.
        std::env::set_var("MATMUL_NUM_THREADS", "1");
        let (cfg, out, resume) = match &args.resume {
            Some(dir) => resolve_resume(dir, args)?,
            None => {
                let mut cfg = TrainConfig::preset(args.preset.unwrap_or(Preset::Default), default_corpus());
                cfg.apply(args);
                let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(timestamp()));
                (cfg, out, None)
            }
        };
        cfg.validate()?;
        let text = read_text(&cfg.text)?;
        let kind = CellKind::from(cfg.cell);
        let (mut model, vocab, resumed_from) = match &resume {
            Some(ckpt) => {
                let (m, v, meta) = load_model::<f32>(ckpt)?;
                if m.config.cell != kind || m.config.hidden != cfg.hidden || m.config.layers != cfg.layers {
                    bail!(
                        "{} holds a {} {}×{}, but the run asks for a {} {}×{}: resume with the run's own settings",
                        ckpt.display(),
                        m.config.cell,
                        m.config.layers,
                        m.config.hidden,
                        kind,
                        cfg.layers,
                        cfg.hidden
                    );
                }
                (m, v, meta.get("step").and_then(|s| s.parse::<usize>().ok()))
            }
            None => {
                let vocab = Vocab::from_text(&text);
                let mc = ModelConfig {
                    cell: kind,
                    vocab: vocab.len(),
                    hidden: cfg.hidden,
                    layers: cfg.layers,
                    dropout: cfg.dropout,
                };
                let mut rng = NumpyRng::new(cfg.seed);
                (CharModel::new(mc, parse_init(&cfg.init)?, &mut rng)?, vocab, None)
            }
        };
        model.rnn.config.dropout = cfg.dropout;
        let tokens = vocab
            .encode(&text)
            .context("the text does not fit the checkpoint's vocabulary; resume on the same text")?;
        let split = Split::new(cfg.split.into(), tokens.len(), cfg.batch, cfg.seq_len, cfg.val_frac)?;
        let total = match (cfg.steps, cfg.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => e * split.train.count,
            (None, None) => bail!("give --steps or --epochs"),
        };
        let mut opt = Optimizer::new(cfg.optimizer.rule(cfg.rmsprop_alpha), cfg.lr).zeroing_grads(true);
        let p = match &resume {
            Some(ckpt) => {
                let sp = ckpt.with_file_name("last.state.safetensors");
                let p = state::load(&sp, &mut opt, &mut model, kind)?;
                if let Some(lr) = args.lr {
                    opt.lr = lr; // an explicit --lr overrides the saved (possibly decayed) rate
                }
                if resumed_from.is_some_and(|s| s != p.step) {
                    bail!("{} (step {}) and {} (step {}) disagree: the run was interrupted while saving; resume from an earlier copy", ckpt.display(), resumed_from.unwrap_or(0), sp.display(), p.step);
                }
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
            },
        };
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create the output folder {}", out.display()))?;
        std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&cfg)?)
            .with_context(|| format!("cannot write into {}", out.display()))?;
        let metrics = load_metrics(&out.join("metrics.jsonl"), p.step);
        let reduction = Reduction::from(cfg.loss);
        let clip = Clip { norm: cfg.clip_norm, value: cfg.clip };
        let mut tr = Trainer::new(model, opt, clip, reduction, cfg.threads);
        tr.frozen = cfg.frozen.clone();
        tr.report_grad_norm = true;
        Ok(Run { cfg, out, vocab, tokens, split, tr, p, total, metrics, bar: None })
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn train_loop(&mut self) -> Result<ExitCode> {
        let (t, b) = (self.cfg.seq_len, self.cfg.batch);
        let nparams = self.tr.model.num_params();
        self.say(&format!(
            "training a {} {}×{} ({nparams} parameters) on {} ({} characters, vocabulary {}): {} windows of {b}×{t} per epoch, {} steps → {}",
            self.cfg.cell, self.cfg.layers, self.cfg.hidden, self.cfg.text.display(), self.tokens.len(), self.vocab.len(),
            self.split.train.count, self.total, self.out.display()
        ));
        if self.p.step >= self.total {
            self.say(&format!(
                "the run is already at step {} of {}: nothing to do (raise --steps)",
                self.p.step, self.total
            ));
            return Ok(ExitCode::SUCCESS);
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(self.total as u64).with_position(self.p.step as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}").expect("valid template"),
            );
            self.bar = Some(bar);
        }
        let mut inputs = Array2::zeros((t, b));
        let mut targets = vec![0usize; t * b];
        let (mut tick, mut tick_step) = (Instant::now(), self.p.step);
        while self.p.step < self.total {
            if self.p.window == self.split.train.count {
                self.p.epoch += 1;
                self.p.window = 0;
                self.p.carry = None;
                if self.cfg.lr_decay < 1.0 && self.p.epoch >= self.cfg.lr_decay_after {
                    self.tr.opt.lr *= self.cfg.lr_decay;
                }
            }
            self.split.train.fill(&self.tokens, self.p.window, &mut inputs, &mut targets);
            let rng = (self.cfg.dropout > 0.0).then_some(&mut self.p.rng_dropout);
            let carry = self.p.carry.as_ref();
            let out = self.tr.step(inputs.view(), &targets, carry, rng)?;
            let loss = out.loss;
            if !out.updated {
                return self.stop_on_nan(loss);
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
            let (log, eval, last) =
                (step.is_multiple_of(self.cfg.log_every), step.is_multiple_of(self.cfg.eval_every), step == self.total);
            if log || eval || last {
                let dt = tick.elapsed().as_secs_f64();
                self.p.elapsed += dt;
                let cps = ((step - tick_step) * t * b) as f64 / dt.max(1e-9);
                (tick, tick_step) = (Instant::now(), step);
                let val = if eval || last { self.validate()? } else { None };
                self.record(cps, last_norm, val);
                if eval || last {
                    if !self.weights_finite() || val.is_some_and(|v| !v.is_finite()) {
                        return self.stop_on_nan(f64::NAN);
                    }
                    self.checkpoint(val)?;
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
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let best = self.p.best_val.map(|v| format!(", best validation loss {v:.4} nats/char")).unwrap_or_default();
        println!("done: {} steps in {:.1} s{best}; checkpoints in {}", self.p.step, self.p.elapsed, self.out.display());
        println!("--- sample (temperature 0.8) ---");
        let s = self.sample_text(500, 0.8)?;
        println!("{s}");
        Ok(ExitCode::SUCCESS)
    }

    fn weights_finite(&mut self) -> bool {
        let mut ok = true;
        self.tr.model.visit(&mut |_, _, p, _| ok &= p.iter().all(|v| v.is_finite()));
        ok
    }

    fn stop_on_nan(&mut self, loss: f64) -> Result<ExitCode> {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
        let last = self.out.join("last.safetensors");
        let kept = if last.exists() {
            format!("the last good checkpoint is {}", last.display())
        } else {
            "no checkpoint was written yet".into()
        };
        eprintln!("error: the loss (or the weights) became {loss} at step {}: training stopped; {kept}; lower --lr or set --clip-norm", self.p.step + 1);
        Ok(ExitCode::from(3))
    }

    /// Validation loss in nats per character, from a zero state, state carried.
    fn validate(&mut self) -> Result<Option<f64>> {
        let Some(w) = self.split.val.clone() else {
            return Ok(None);
        };
        Ok(Some(eval_windows(&mut self.tr.model, &self.tokens, &w)?))
    }

    fn record(&mut self, cps: f64, norm: f64, val: Option<f64>) {
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
            None => eprintln!("step {}/{} {msg}", self.p.step, self.total),
        }
        let line = serde_json::to_string(&m).expect("serialisable");
        let path = self.out.join("metrics.jsonl");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = writeln!(f, "{line}");
        }
        self.metrics.push(m);
        let train: Vec<(f64, f64)> = self.metrics.iter().map(|m| (m.step as f64, m.train_loss / per_char)).collect();
        let vals: Vec<(f64, f64)> =
            self.metrics.iter().filter_map(|m| m.val_loss.map(|v| (m.step as f64, v))).collect();
        if val.is_some() || self.p.step == self.total {
            if let Err(e) = plot::write(&self.out, &train, &vals) {
                self.say(&format!("warning: {e}"));
            }
        }
    }

    fn checkpoint(&mut self, val: Option<f64>) -> Result<()> {
        let mut meta = Meta::new();
        meta.insert("step".into(), self.p.step.to_string());
        meta.insert("train_config".into(), serde_json::to_string(&self.cfg)?);
        if let Some(v) = val {
            meta.insert("val_loss".into(), v.to_string());
        }
        let improved = match (val, self.p.best_val) {
            (Some(v), Some(b)) => v < b,
            (Some(_), None) => true,
            (None, _) => true,
        };
        if improved {
            self.p.best_val = val.or(self.p.best_val);
        }
        // The state first: a checkpoint is only resumable once both agree on the step.
        let tr = &mut self.tr;
        state::save(&self.out.join("last.state.safetensors"), &self.p, &tr.opt, &mut tr.model)?;
        save_model(&self.out.join("last.safetensors"), &mut tr.model, &self.vocab, &meta)?;
        if improved {
            save_model(&self.out.join("best.safetensors"), &mut tr.model, &self.vocab, &meta)?;
        }
        Ok(())
    }

    fn sample_text(&mut self, n: usize, temperature: f64) -> Result<String> {
        let mut s = String::new();
        let mut m = self.tr.model.clone();
        let opts = SampleOptions { length: n, temperature, top_k: None };
        sample(&mut m, &self.vocab, "", opts, &mut self.p.rng_sample, |c| s.push(c))?;
        Ok(s)
    }
}

/// Loss in nats per character over windows `w`, from a zero state, state carried.
pub fn eval_windows(model: &mut CharModel<f32>, tokens: &[usize], w: &Windows) -> Result<f64> {
    let mut inputs = Array2::zeros((w.steps, w.batch));
    let mut targets = vec![0; w.steps * w.batch];
    let mut state: Option<State<f32>> = None;
    let mut total = 0.0;
    for i in 0..w.count {
        w.fill(tokens, i, &mut inputs, &mut targets);
        let (l, s) = model.eval_loss(inputs.view(), &targets, state.as_ref())?;
        total += l;
        state = Some(s);
    }
    Ok(total / (w.count * w.steps * w.batch) as f64)
}

fn load_metrics(path: &Path, upto: usize) -> Vec<Metric> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let rows: Vec<Metric> =
        text.lines().filter_map(|l| serde_json::from_str::<Metric>(l).ok()).filter(|m| m.step <= upto).collect();
    // Lines past the resumed step came from an interrupted session: drop them from the file too.
    let kept: String = rows.iter().map(|m| serde_json::to_string(m).expect("serialisable") + "\n").collect();
    let _ = std::fs::write(path, kept);
    rows
}

/// The saved configuration of the run in `dir`, with the flags given now applied; flags that
/// would change the model or the data layout are refused.
fn resolve_resume(dir: &Path, args: &TrainArgs) -> Result<(TrainConfig, PathBuf, Option<PathBuf>)> {
    let ckpt = dir.join("last.safetensors");
    if !ckpt.exists() {
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
    cfg.apply(args);
    if cfg.architecture() != before {
        bail!("--resume {}: the run is a {} {}×{} with seq-len {} and batch {} ({} split); flags asking for another architecture or data layout cannot resume it: leave them out or start a new run", dir.display(), before.0, before.2, before.1, before.3, before.4, before.5);
    }
    if args.optimizer.is_some() && cfg.optimizer != serde_json::from_str::<TrainConfig>(&saved)?.optimizer {
        bail!("--optimizer cannot change a resumed run: leave it out");
    }
    let out = args.out.clone().unwrap_or_else(|| dir.to_path_buf());
    if out != dir {
        std::fs::create_dir_all(&out)?;
        if dir.join("metrics.jsonl").exists() {
            std::fs::copy(dir.join("metrics.jsonl"), out.join("metrics.jsonl"))?;
        }
    }
    Ok((cfg, out, Some(ckpt)))
}
