//! `recurrent bench`: training speed of the standard configurations on this machine — chars/s,
//! effective GFLOP/s, peak memory — and the library's own f32 GEMM rate at 1024³ for reference.
//! `scripts/bench_pytorch.py` runs the same configurations in PyTorch; `scripts/compare.sh`
//! runs both and prints the ratios.

use crate::args::Parallel;
use crate::text::{default_corpus, load_tokens, Loaded};
use anyhow::{bail, Result};
use clap::Args;
use ndarray::Array2;
use recurrent::data::{Vocab, Windows};
use recurrent::model::{CharModel, Init};
use recurrent::train::configs::{StandardConfig, STANDARD};
use recurrent::{NumpyRng, Reduction, State};
use std::time::Instant;

/// Flags of `recurrent bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// min-char-rnn, lstm-small, lstm-large, gru-medium, gemm (the library's f32 GEMM at 1024³),
    /// peak (this core's f32 FMA peak for the widest kernel set it runs, from registers), or all.
    /// The kernel set (portable, avx2, avx512) is printed with each row; RECURRENT_ISA forces one.
    #[arg(long, default_value = "all")]
    config: String,
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
    // Threads are used coarsely (batch shards, see `Shards`); the GEMMs inside run on one.
    std::env::set_var("MATMUL_NUM_THREADS", "1");
    let names: Vec<&str> = match a.config.as_str() {
        "all" => STANDARD.iter().map(|c| c.name).chain(["gemm", "peak"]).collect(),
        n if n == "gemm" || n == "peak" || StandardConfig::named(n).is_some() => vec![n],
        n => bail!("unknown --config '{n}': use min-char-rnn, lstm-small, lstm-large, gru-medium, gemm, peak or all"),
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
            (0.0, recurrent::backend::fma_peak_gflops(a.seconds.min(2.0)), peak_rss_mib(), None)
        } else if a.sample && n != "gemm" {
            bench_sample(&StandardConfig::named(n).expect("listed"), a.seconds)?
        } else if n == "gemm" {
            bench_gemm(a.seconds)
        } else {
            // A helper thread for the work inside a step (see `recurrent::par`) when asked for
            // two or more threads.
            recurrent::parallel::with_threads(a.threads, || {
                let c = StandardConfig::named(n).expect("listed");
                bench_config(&c, a.seconds, a.threads, a.steps, a.parallel)
            })?
        };
        if a.json {
            crate::outln(&format!(
                "{}",
                serde_json::json!({"config": n, "kernels": isa.name(), "threads": a.threads, "parallel": a.parallel.to_string(), "chars_per_sec": r.0, "gflops": r.1, "peak_rss_mib": r.2, "loss": r.3})
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

fn bench_config(
    c: &StandardConfig,
    seconds: f64,
    threads: usize,
    steps: Option<usize>,
    parallel: Parallel,
) -> Result<Figures> {
    let Loaded { vocab, tokens, .. } = load_tokens(&default_corpus(), None, "")?;
    let w = Windows::contiguous(0, tokens.len(), c.batch, c.steps).expect("corpus is long");
    let mut trainer = c.trainer::<f32>(vocab.len(), threads)?;
    trainer.set_parallelism(parallel.into());
    let mut inputs = Array2::zeros((c.steps, c.batch));
    let mut targets = vec![0; c.steps * c.batch];
    let mut state: Option<State<f32>> = None;
    let mut run = |i: usize, state: &mut Option<State<f32>>| -> Result<f64> {
        w.fill(&tokens, i % w.count, &mut inputs, &mut targets);
        let out = trainer.step(inputs.view(), &targets, state.as_ref(), None)?;
        *state = Some(out.state);
        Ok(out.loss)
    };
    let warmup = 5;
    for i in 0..warmup {
        run(i, &mut state)?;
    }
    let (t0, mut i, mut losses) = (Instant::now(), warmup, Vec::new());
    while steps.map_or(t0.elapsed().as_secs_f64() < seconds, |s| i - warmup < s) {
        losses.push(run(i, &mut state)?);
        i += 1;
    }
    let dt = t0.elapsed().as_secs_f64();
    let n = i - warmup;
    // The loss reached: the mean of the last 20 steps.
    let tail = &losses[losses.len().saturating_sub(20)..];
    let loss_sum = tail.iter().sum::<f64>() * n as f64 / tail.len().max(1) as f64;
    let chars = (n * c.steps * c.batch) as f64;
    let per_char = if c.reduction == Reduction::Sum { (c.steps * c.batch) as f64 } else { 1.0 };
    let cps = chars / dt;
    Ok((cps, cps * c.flops_per_char(vocab.len()) / 1e9, peak_rss_mib(), Some(loss_sum / n as f64 / per_char)))
}

/// Sampling speed: the model of configuration `c` (untrained; speed does not depend on the
/// weights) generating one character at a time, as `recurrent sample` does.
fn bench_sample(c: &StandardConfig, seconds: f64) -> Result<Figures> {
    let mut model = CharModel::<f32>::new(c.model(65), Init::PyTorch, &mut NumpyRng::new(0))?;
    let vocab = Vocab::from_chars((0..65u8).map(|i| (b'0' + i) as char).collect());
    let mut rng = NumpyRng::new(1);
    let opts = recurrent::sample::SampleOptions { length: 200, temperature: 1.0, top_k: None };
    let (t0, mut n) = (Instant::now(), 0usize);
    while t0.elapsed().as_secs_f64() < seconds {
        recurrent::sample::sample(&mut model, &vocab, "0", opts, &mut rng, |_| {
            n += 1;
            true
        })?;
    }
    Ok((n as f64 / t0.elapsed().as_secs_f64(), 0.0, peak_rss_mib(), None))
}

/// The library's f32 GEMM for large products (the cache-blocked one) at 1024×1024×1024.
fn bench_gemm(seconds: f64) -> Figures {
    (0.0, recurrent::backend::gemm_gflops(1024, seconds.min(3.0)), peak_rss_mib(), None)
}
