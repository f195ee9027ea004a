//! `recurrent bench`: training speed of the standard configurations on this machine — chars/s,
//! effective GFLOP/s, peak memory — and the library's own f32 GEMM rate at 1024³ for reference.
//! `scripts/bench_pytorch.py` runs the same configurations in PyTorch; `scripts/compare.sh`
//! runs both and prints the ratios.

use crate::args::Parallel;
use crate::text::default_corpus;
use anyhow::{bail, Result};
use clap::Args;
use recurrent::data::Vocab;
use recurrent::model::{CharModel, Init};
use recurrent::train::configs::{StandardConfig, STANDARD};
use recurrent::train::session::{Control, Observer, Options, Session, StepReport};
use recurrent::NumpyRng;
use std::time::Instant;

/// `bench --config`: a standard configuration (`recurrent::train::configs`), a kernel
/// measurement, or all of them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    /// Karpathy's min-char-rnn: tanh RNN 100, B 1, T 25.
    MinCharRnn,
    /// LSTM 1×128, B 32, T 64.
    LstmSmall,
    /// LSTM 2×512, B 64, T 64.
    LstmLarge,
    /// GRU 1×256, B 32, T 64.
    GruMedium,
    /// The library's f32 GEMM at 1024³.
    Gemm,
    /// This core's f32 FMA peak.
    Peak,
    /// Every matrix product of each standard configuration's step, timed alone at the rows
    /// one thread gets: GFLOP/s and share of the peak, beside the whole step's share.
    Shapes,
    /// Every one above.
    All,
}

/// Flags of `recurrent bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// min-char-rnn, lstm-small, lstm-large, gru-medium, gemm (the library's f32 GEMM at 1024³),
    /// peak (this core's f32 FMA peak for the widest kernel set it runs, from registers), or all.
    /// The kernel set (portable, avx2, avx512) is printed with each row; RECURRENT_ISA forces one.
    #[arg(long, value_enum, default_value = "all")]
    config: Which,
    /// Threads for matrix products.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds of timed training per configuration (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print one JSON object per configuration instead of a table row.
    #[arg(long)]
    json: bool,
    /// Time sampling (one character at a time, temperature 1) instead of training.
    #[arg(long)]
    sample: bool,
    /// How two threads share a step: half of the batch each, or the whole batch with every
    /// large product cut in two.
    #[arg(long, value_enum, default_value = "batch")]
    parallel: Parallel,
    /// Run exactly this many timed steps (instead of --seconds), e.g. to compare the loss
    /// reached with PyTorch's after the same number of steps.
    #[arg(long)]
    steps: Option<usize>,
    /// With --config shapes: measure everything this many times over, one configuration after
    /// another, and report each rate's best and median round. A shared machine (a cloud VM)
    /// runs slower for seconds to minutes at a time; rounds spread over minutes see past that.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
}

/// Peak resident memory of this process in MiB (VmHWM), if the system reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn bench(a: BenchArgs) -> Result<()> {
    if a.threads == 0 {
        bail!("--threads is 0: give at least 1");
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds {} is not a duration: give a positive number of seconds, e.g. 5", a.seconds);
    }
    if a.steps == Some(0) {
        bail!("--steps is 0: give at least 1, or leave it out to time --seconds");
    }
    if a.config == Which::Shapes {
        return bench_shapes(&a);
    }
    let names: Vec<&str> = match a.config {
        Which::All => STANDARD.iter().map(|c| c.name).chain(["gemm", "peak"]).collect(),
        Which::MinCharRnn => vec!["min-char-rnn"],
        Which::LstmSmall => vec!["lstm-small"],
        Which::LstmLarge => vec!["lstm-large"],
        Which::GruMedium => vec!["gru-medium"],
        Which::Gemm => vec!["gemm"],
        Which::Peak => vec!["peak"],
        Which::Shapes => unreachable!("returned above"),
    };
    if !a.json {
        crate::outln(&format!(
            "{:<14} {:>8} {:>8} {:>14} {:>10} {:>14} {:>12}",
            "config", "kernels", "threads", "chars/s", "GFLOP/s", "peak RSS MiB", "loss"
        ));
    }
    let isa = recurrent::backend::active();
    for n in names {
        let r = if n == "peak" {
            (0.0, recurrent::measure::fma_peak_gflops(a.seconds.min(2.0)), peak_rss_mib(), None)
        } else if a.sample && n != "gemm" {
            bench_sample(&StandardConfig::named(n).expect("listed"), a.seconds)?
        } else if n == "gemm" {
            bench_gemm(a.seconds)
        } else {
            // The session runs the step with a helper thread when asked for two or more.
            bench_config(&StandardConfig::named(n).expect("listed"), a.seconds, a.threads, a.steps, a.parallel)?.0
        };
        if a.json {
            crate::outln(&format!(
                "{}",
                serde_json::json!({"config": n, "kernels": isa.name(), "gemm": recurrent::backend::gemm_tuning().describe(), "threads": a.threads, "parallel": a.parallel.to_string(), "chars_per_sec": r.0, "gflops": r.1, "peak_rss_mib": r.2, "loss": r.3})
            ));
        } else {
            crate::outln(&format!(
                "{n:<14} {:>8} {:>8} {:>14.0} {:>10.2} {:>14.1} {:>12.4}",
                isa.name(),
                a.threads,
                r.0,
                r.1,
                r.2.unwrap_or(f64::NAN),
                r.3.unwrap_or(f64::NAN)
            ));
        }
    }
    Ok(())
}

/// `(chars/s, GFLOP/s, peak RSS MiB, mean loss per char of the timed steps)`.
type Figures = (f64, f64, Option<f64>, Option<f64>);

/// The configuration's figures over the timed steps, and the GFLOP/s of its fastest step.
fn bench_config(
    c: &StandardConfig,
    seconds: f64,
    threads: usize,
    steps: Option<usize>,
    parallel: Parallel,
) -> Result<(Figures, f64)> {
    // The configuration's run, in memory, on the bundled corpus: every window for training,
    // weights from seed 0, no validation, samples or checkpoints; 5 steps to warm up, then
    // `steps` steps or `seconds` of them, timed by the observer.
    let warmup = 5;
    let mut cfg = c.run_config(default_corpus(), threads);
    cfg.steps = Some(steps.map_or(usize::MAX, |s| s + warmup));
    let mut session = Session::new(cfg, Options::in_memory())?;
    session.set_parallelism(parallel.into());
    let mut timer =
        Timer { warmup, seconds, steps, t0: None, losses: Vec::new(), dt: 0.0, last: 0.0, fastest: f64::MAX };
    session.run(&mut timer)?;
    let n = timer.losses.len();
    // The loss reached: the mean of the last 20 steps, per character.
    let tail = &timer.losses[n.saturating_sub(20)..];
    let loss_sum = tail.iter().sum::<f64>() * n as f64 / tail.len().max(1) as f64;
    let per_char = session.config().chars_per_loss();
    let chars = (n * c.steps * c.batch) as f64;
    let cps = chars / timer.dt;
    let loss = loss_sum / n as f64 / per_char;
    let flops_per_char = c.flops_per_char(session.vocab().len());
    let fastest = (c.steps * c.batch) as f64 / timer.fastest * flops_per_char / 1e9;
    Ok(((cps, cps * flops_per_char / 1e9, peak_rss_mib(), Some(loss)), fastest))
}

/// Times the steps after the warm-up, and keeps their losses (in the run's unit).
struct Timer {
    warmup: usize,
    seconds: f64,
    steps: Option<usize>,
    t0: Option<Instant>,
    losses: Vec<f64>,
    dt: f64,
    /// When the previous timed step ended (seconds from `t0`).
    last: f64,
    /// The fastest timed step, in seconds.
    fastest: f64,
}

impl Observer for Timer {
    fn step(&mut self, r: &StepReport) -> Control {
        if r.step == self.warmup {
            self.t0 = Some(Instant::now());
            return Control::Continue;
        }
        let Some(t0) = self.t0 else {
            return Control::Continue;
        };
        self.losses.push(r.loss);
        self.dt = t0.elapsed().as_secs_f64();
        self.fastest = self.fastest.min(self.dt - self.last);
        self.last = self.dt;
        let done = match self.steps {
            Some(s) => self.losses.len() >= s,
            None => self.dt >= self.seconds,
        };
        if done {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

fn bench_sample(c: &StandardConfig, seconds: f64) -> Result<Figures> {
    let mut model = CharModel::<f32>::new(c.model(65), Init::PyTorch, &mut NumpyRng::new(0))?;
    let vocab = Vocab::from_chars((0..65u8).map(|i| (b'0' + i) as char).collect());
    let mut rng = NumpyRng::new(1);
    let opts = recurrent::sample::SampleOptions { length: 200, temperature: 1.0, top_k: None, top_p: None };
    let (t0, mut n) = (Instant::now(), 0usize);
    while t0.elapsed().as_secs_f64() < seconds {
        recurrent::sample::sample(&mut model, &vocab, "0", opts, &mut rng, |_| {
            n += 1;
            true
        })?;
    }
    Ok((n as f64 / t0.elapsed().as_secs_f64(), 0.0, peak_rss_mib(), None))
}

/// `bench --config shapes`: for each standard configuration, the share of this core's peak
/// of the whole step (on `--threads`), then of each product alone at the rows one thread gets
/// (the batch split in `--threads` shards), and how many of it one step runs. Everything is
/// measured `--rounds` times, one configuration after another; each rate is the fastest round
/// (within a round: the fastest of short runs of the product, the fastest step for the whole
/// step) beside the median round. On a shared machine the first is the code's speed, the
/// second how it fares among the neighbours.
fn bench_shapes(a: &BenchArgs) -> Result<()> {
    let isa = recurrent::backend::active();
    let gemm = recurrent::backend::gemm_tuning().describe();
    let per = (a.seconds / 10.0).clamp(0.05, 1.0);
    let rounds = a.rounds as usize;
    // Per round: the peak, then for each configuration the whole step per thread and the
    // products.
    let mut peaks = Vec::new();
    let mut wholes: Vec<Vec<f64>> = vec![Vec::new(); STANDARD.len()];
    let mut products: Vec<Vec<Vec<recurrent::measure::ProductRate>>> = vec![Vec::new(); STANDARD.len()];
    let threads_of = |c: &StandardConfig| {
        // A step too small to share runs on one thread (see `parallel::SHARE_MIN_MACS`).
        let small = c.batch * c.cell.gates() * c.hidden * c.hidden < recurrent::parallel::SHARE_MIN_MACS;
        if small {
            1
        } else {
            a.threads.min(c.batch)
        }
    };
    for round in 0..rounds {
        if rounds > 1 && !a.json {
            eprintln!("round {} of {rounds}", round + 1);
        }
        peaks.push(recurrent::measure::fma_peak_gflops(1.0));
        for (ci, c) in STANDARD.iter().enumerate() {
            let (_, fastest) = bench_config(c, a.seconds.min(3.0), a.threads, None, a.parallel)?;
            let threads = threads_of(c);
            wholes[ci].push(fastest / threads as f64);
            let b = c.batch.div_ceil(threads);
            products[ci].push(recurrent::measure::step_products(
                c.cell.gates(),
                c.hidden,
                c.layers,
                b,
                c.steps,
                None,
                per,
            ));
        }
    }
    // The best and the median of a row's rounds.
    let best_median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() - 1], v[(v.len() - 1) / 2])
    };
    let (peak, _) = best_median(peaks);
    if a.json {
        crate::outln(
            &serde_json::json!({"kernels": isa.name(), "gemm": gemm, "peak_gflops": peak, "rounds": rounds})
                .to_string(),
        );
    } else {
        crate::outln(&format!(
            "kernels {}, GEMM {gemm}, one core's f32 FMA peak {peak:.1} GFLOP/s, {rounds} round(s)",
            isa.name()
        ));
        crate::outln("(each rate: the fastest round; in brackets the median round)");
    }
    for (ci, c) in STANDARD.iter().enumerate() {
        let threads = threads_of(c);
        let (whole, whole_median) = best_median(wholes[ci].clone());
        if a.json {
            crate::outln(&serde_json::json!({"config": c.name, "product": "whole step", "threads": threads, "gflops_per_thread": whole, "gflops_per_thread_median": whole_median, "share": whole / peak}).to_string());
        } else {
            crate::outln(&format!(
                "\n{} ({} {}×{}, B {} T {}), {} thread(s): whole step {whole:.1} ({whole_median:.1}) GFLOP/s per thread, {:.0} % ({:.0} %) of the peak",
                c.name, c.cell, c.layers, c.hidden, c.batch, c.steps, threads, 100.0 * whole / peak, 100.0 * whole_median / peak
            ));
            crate::outln(&format!(
                "  {:<34} {:>20} {:>9} {:>17} {:>13}",
                "product", "m × k × n", "per step", "GFLOP/s", "peak"
            ));
        }
        for (pi, p) in products[ci][0].iter().enumerate() {
            // Within a round a product's best run; across rounds the best and the median of those.
            let (best, median) = best_median(products[ci].iter().map(|r| r[pi].gflops).collect());
            let (m, k, n) = p.shape;
            if a.json {
                crate::outln(&serde_json::json!({"config": c.name, "product": p.what, "m": m, "k": k, "n": n, "per_step": p.per_step, "gflops": best, "gflops_median": median, "share": best / peak}).to_string());
            } else {
                crate::outln(&format!(
                    "  {:<34} {:>20} {:>9} {:>17} {:>13}",
                    p.what,
                    format!("{m} × {k} × {n}"),
                    p.per_step,
                    format!("{best:.1} ({median:.1})"),
                    format!("{:.0} % ({:.0} %)", 100.0 * best / peak, 100.0 * median / peak)
                ));
            }
        }
    }
    Ok(())
}

/// The library's f32 GEMM for large products (the cache-blocked one) at 1024×1024×1024.
fn bench_gemm(seconds: f64) -> Figures {
    (0.0, recurrent::measure::gemm_gflops(1024, seconds.min(3.0)), peak_rss_mib(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    // Every configuration `--config` names is one of the library's standard table, and every
    // entry of the table has its name.
    #[test]
    fn config_names_are_the_standard_table() {
        let names: Vec<String> =
            Which::value_variants().iter().map(|w| w.to_possible_value().unwrap().get_name().to_string()).collect();
        for c in STANDARD {
            assert!(names.contains(&c.name.to_string()), "{} has no --config", c.name);
        }
        for n in &names {
            assert!(
                StandardConfig::named(n).is_some() || ["gemm", "peak", "shapes", "all"].contains(&n.as_str()),
                "{n}"
            );
        }
    }
}
