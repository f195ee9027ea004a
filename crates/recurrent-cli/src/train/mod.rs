//! `recurrent train`: flags into a run's configuration, the library's [`Session`] to run it,
//! and what a person sees — the header, a progress bar or log lines, samples, plots, the last
//! lines — plus Ctrl-C/SIGTERM and the MPI ranks. The training policy (cadence, schedule,
//! guard, checkpoints, resume checks) is the library's.

pub mod config;
mod plot;

pub mod team;

use anyhow::{bail, Result};
use config::TrainArgs;
use indicatif::{ProgressBar, ProgressStyle};
use recurrent::train::session::{Control, Metric, Observer, Options, Out, Outcome, Session, StepReport};
use recurrent::train::team::Team;
use recurrent::train::text::describe;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let team = if args.distributed { team::mpi()? } else { Team::solo() };
    let leads = team.leads();
    let cfg = match &args.resume {
        Some(dir) => {
            let mut cfg = Session::saved_config(dir)?;
            if args.preset.is_some() {
                bail!("--preset cannot change a resumed run: leave it out");
            }
            config::apply(&mut cfg, &args);
            cfg
        }
        None => config::from_flags(&args)?,
    };
    let opts = Options {
        out: args.out.clone().map_or(Out::Auto, Out::Dir),
        team,
        text: None,
        lr: args.lr.filter(|_| args.resume.is_some()),
        threads_asked: args.threads.is_some(),
        interrupt: Some(signals::install()),
    };
    let mut session = match &args.resume {
        Some(dir) => Session::resume(dir, cfg, opts)?,
        None => Session::new(cfg, opts)?,
    };
    let mut printer = Printer::new(&session, leads);
    printer.header(&session);
    let outcome = session.run(&mut printer)?;
    if let Some(bar) = printer.bar.take() {
        match outcome {
            Outcome::Done | Outcome::AlreadyDone | Outcome::EarlyStopped { .. } => bar.finish_and_clear(),
            _ => bar.abandon(),
        }
    }
    if !leads {
        return Ok(exit_code(&outcome));
    }
    let out = printer.out.display().to_string();
    let p = session.progress();
    match &outcome {
        Outcome::AlreadyDone => {
            printer.say(&format!(
                "the run is already at step {} of {}: nothing to do (raise --steps)",
                p.step,
                session.total_steps()
            ));
        }
        Outcome::Done | Outcome::EarlyStopped { .. } => {
            let best = p.best_val.map(|v| format!(", best validation loss {v:.4} nats/char")).unwrap_or_default();
            let how = match outcome {
                Outcome::EarlyStopped { .. } => format!(
                    "stopped early at step {} of {}: {} validations in a row without a new best (--patience)",
                    p.step,
                    session.total_steps(),
                    session.config().patience
                ),
                _ => format!("done: {} steps", p.step),
            };
            printer.say(&format!("{how} in {:.1} s{best}; checkpoints in {out}", p.elapsed));
            printer.say(&format!(
                "next: recurrent sample {out} --prime \"ROMEO:\" · recurrent eval {out} TEXT · recurrent report {out} --out report.html · recurrent train --resume {out} --steps {}",
                2 * session.total_steps()
            ));
            let team = session.team();
            if team.distributed() {
                let steps = (p.step - printer.start_step).max(1);
                let line = format!(
                    "{} ranks: {:.2} ms per step in MPI_Allreduce on rank 0 (waiting for the other ranks included), {:.1} ms per step in all",
                    team.size,
                    1e3 * team.seconds() / steps as f64,
                    1e3 * session.session_seconds() / steps as f64
                );
                printer.say(&line);
            }
            let s = session.sample_text(500, 0.8)?;
            printer.say(&format!("--- sample (temperature 0.8) ---\n{s}"));
        }
        Outcome::Interrupted { saved: true } => printer.note(&format!(
            "interrupted at step {}: checkpoint saved in {out}; continue with: recurrent train --resume {out}",
            p.step
        )),
        Outcome::Interrupted { saved: false } => {
            printer.note(&format!("interrupted before the first step of this session: nothing new to save in {out}"))
        }
        Outcome::Diverged { step, reason } => {
            let last = printer.out.join("last.safetensors");
            let kept = if last.exists() {
                format!("the last good checkpoint is {}", last.display())
            } else {
                "no checkpoint was written yet".into()
            };
            printer.note(&format!(
                "error: {reason} at step {step}: training stopped; {kept}; lower --lr or set --clip-norm"
            ));
        }
    }
    Ok(exit_code(&outcome))
}

/// 0 when done, 130 when interrupted, 3 when the run diverged.
fn exit_code(o: &Outcome) -> ExitCode {
    match o {
        Outcome::Done | Outcome::AlreadyDone | Outcome::EarlyStopped { .. } => ExitCode::SUCCESS,
        Outcome::Interrupted { .. } => ExitCode::from(130),
        Outcome::Diverged { .. } => ExitCode::from(3),
    }
}

/// What a person sees of a run: a progress bar on a terminal, log lines otherwise; samples;
/// the plots, redrawn with each validation. The run's story (the header, the progress lines,
/// the samples, notes and the last lines) is one stream, stdout (warnings and notes on stderr),
/// and is appended as it goes to `train.log` in the run folder, progress lines included when a
/// bar shows them on the terminal.
struct Printer {
    bar: Option<ProgressBar>,
    /// `train.log` in the run folder, appended (the lead rank of a run with a folder).
    log: Option<std::fs::File>,
    /// The run folder.
    out: PathBuf,
    leads: bool,
    total: usize,
    start_step: usize,
    /// Characters one reported training loss is over (plots are per character).
    per_char: f64,
    /// When the validation in progress started.
    validation_started: Option<std::time::Instant>,
    /// When this session's training started.
    started: std::time::Instant,
}

/// `1:02:03`, `4:05` or `17 s`.
fn clock(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
    }
}

impl Printer {
    fn new(s: &Session, leads: bool) -> Printer {
        let (step, total) = (s.progress().step, s.total_steps());
        let bar = (std::io::stderr().is_terminal() && leads && step < total).then(|| {
            let bar = ProgressBar::new(total as u64).with_position(step as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}").expect("valid template"),
            );
            bar
        });
        // The folder was claimed by the session: its names were checked for links and foreign
        // files; the log is opened without following a link all the same.
        let log = s.folder().filter(|_| leads).and_then(|d| {
            let path = d.join("train.log");
            recurrent::train::folder::open_no_follow(&path, true)
                .map_err(|e| errln!("warning: cannot write {}: {e}; the run goes on without it", path.display()))
                .ok()
        });
        Printer {
            bar,
            log,
            out: s.folder().map(PathBuf::from).unwrap_or_default(),
            leads,
            total,
            start_step: step,
            per_char: s.config().chars_per_loss(),
            validation_started: None,
            started: std::time::Instant::now(),
        }
    }

    /// A line of the run's story on stdout (above the bar), and in the log.
    fn say(&mut self, line: &str) {
        if !self.leads {
            return;
        }
        match &self.bar {
            Some(b) => b.suspend(|| crate::outln(line)),
            None => crate::outln(line),
        }
        self.log(line);
    }

    /// Appends `line` to `train.log`; a failed write is said once, and the log given up (the
    /// run matters more than its log).
    fn log(&mut self, line: &str) {
        use std::io::Write;
        if let Some(f) = &mut self.log {
            // One write per line, so a kill leaves whole lines.
            if let Err(e) = f.write_all(format!("{line}\n").as_bytes()) {
                errln!(
                    "warning: cannot append to {}: {e}; the run goes on without it",
                    self.out.join("train.log").display()
                );
                self.log = None;
            }
        }
    }

    fn header(&mut self, s: &Session) {
        let c = s.config();
        if s.resumed() {
            let p = s.progress();
            let epoch = p.epoch as f64 + p.window as f64 / s.windows_per_epoch().max(1) as f64;
            self.say(&format!(
                "resuming {} at step {} of {} (epoch {epoch:.2}, {:.0} s trained so far)",
                self.out.display(),
                p.step,
                s.total_steps(),
                p.elapsed
            ));
        }
        self.say(&format!(
            "training a {} {}×{} ({} parameters) on {} ({} characters, vocabulary {}): {} windows of {}×{} per epoch, {} steps → {}",
            c.cell, c.layers, c.hidden, s.model().config.params(), describe(&c.text), s.text_chars(), s.vocab().len(),
            s.windows_per_epoch(), c.batch, c.seq_len, s.total_steps(), self.out.display()
        ));
    }
}

impl Observer for Printer {
    fn note(&mut self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| errln!("{line}")),
            None => errln!("{line}"),
        }
        if self.leads {
            self.log(line);
        }
    }

    fn step(&mut self, r: &StepReport) -> Control {
        if let Some(bar) = &self.bar {
            bar.set_position(r.step as u64);
        }
        Control::Continue
    }

    fn validating(&mut self, done: usize, of: usize) {
        // Shown once a validation has taken a second (a short one would only flicker).
        let started = *self.validation_started.get_or_insert_with(std::time::Instant::now);
        if done + 1 == of {
            self.validation_started = None;
        }
        if let Some(bar) = self.bar.as_ref().filter(|_| started.elapsed().as_secs_f64() > 1.0) {
            bar.set_message(format!("validating {done}/{of}"));
        }
    }

    fn metric(&mut self, m: &Metric, all: &[Metric]) {
        // The last validation loss, whenever it was measured.
        let last_val = m.val_loss.or_else(|| all.iter().rev().find_map(|m| m.val_loss));
        let vs = last_val.map(|v| format!(" | val {v:.4}")).unwrap_or_default();
        let unit = &m.train_loss_unit;
        let msg =
            format!("epoch {:.2} | loss {:.4} {unit}{vs} | {:.0} chars/s", m.epoch, m.train_loss, m.chars_per_sec);
        // Without a terminal (a log file, a pipe) and in train.log: the clock and an estimate of
        // what is left.
        let done = (m.step - self.start_step).max(1) as f64;
        let left = self.started.elapsed().as_secs_f64() / done * (self.total - m.step) as f64;
        let line =
            format!("step {}/{} {msg} | {} elapsed, ETA {}", m.step, self.total, clock(m.elapsed_s), clock(left));
        match &self.bar {
            Some(b) => {
                b.set_message(msg);
                self.log(&line);
            }
            None => self.say(&line),
        }
        if m.val_loss.is_some() || m.step == self.total {
            let train: Vec<(f64, f64)> = all.iter().map(|m| (m.step as f64, m.train_loss / self.per_char)).collect();
            let vals: Vec<(f64, f64)> = all.iter().filter_map(|m| m.val_loss.map(|v| (m.step as f64, v))).collect();
            if let Err(e) = plot::write(&self.out, &train, &vals) {
                self.note(&format!("warning: {e}"));
            }
        }
    }

    fn sample(&mut self, step: usize, text: &str) {
        self.say(&format!("--- sample at step {step} ---\n{text}\n---"));
    }
}

/// Ctrl-C and SIGTERM: the first asks the run to save and stop after the step in progress; a
/// second ends the process at once.
mod signals {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};

    static SIGNALS: AtomicUsize = AtomicUsize::new(0);
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

    /// Installs the handler (once per process) and returns the flag it sets.
    pub fn install() -> Arc<AtomicBool> {
        FLAG.get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let _ = ctrlc::set_handler(move || {
                if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
                    errln!("\nsecond interrupt: exiting at once (the last checkpoint is whole)");
                    std::process::exit(130);
                }
                f.store(true, Ordering::SeqCst);
                errln!("\ninterrupted: saving a checkpoint after this step (interrupt again to exit at once)");
            });
            flag
        })
        .clone()
    }
}
