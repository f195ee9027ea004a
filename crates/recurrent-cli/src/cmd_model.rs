//! `recurrent sample` and `recurrent eval`: using a trained checkpoint.

use crate::text::load_tokens;
use anyhow::{bail, Result};
use clap::Args;
use recurrent::checkpoint::load_model;
use recurrent::sample::{sample_with_probs as draw, SampleOptions};
use recurrent::NumpyRng;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Flags of `recurrent sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `recurrent train` (e.g. runs/…/best.safetensors), or a run folder
    /// (its best checkpoint, else its last).
    checkpoint: PathBuf,
    /// Text fed to the model before sampling (printed first).
    #[arg(long, default_value = "")]
    prime: String,
    /// Characters to generate (per sample).
    #[arg(long, default_value_t = 1000)]
    length: usize,
    /// Softmax temperature; 0 always takes the most likely character.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    temperature: f64,
    /// Sample among the K most likely characters only.
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling: among the fewest most likely characters whose probabilities reach P
    /// (in (0, 1]; after --top-k).
    #[arg(long, allow_negative_numbers = true)]
    top_p: Option<f64>,
    /// How many samples, one after another from the same generator (nanoGPT's num_samples).
    #[arg(long, default_value_t = 1)]
    num_samples: usize,
    /// End a sample where this text appears (not printed), e.g. --stop $'\n\n'.
    #[arg(long)]
    stop: Option<String>,
    /// One JSON object per sample: the prime, the text, the seed, the options and the mean
    /// log-probability per character (of the distribution each was drawn from).
    #[arg(long)]
    json: bool,
    /// Random seed. Default: a new one each call, printed on stderr so the sample can be drawn
    /// again.
    #[arg(long)]
    seed: Option<u32>,
}

/// A seed from the clock and the process id (when none is given).
fn fresh_seed() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    ((t ^ (t >> 32) ^ u128::from(std::process::id()) << 16) & 0x7fff_ffff) as u32
}

pub fn sample(a: SampleArgs) -> Result<()> {
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!("--temperature {} is invalid: use 0 (argmax) or a positive number such as 0.8", a.temperature);
    }
    if a.top_k == Some(0) {
        bail!("--top-k is 0: give at least 1, or leave it out");
    }
    if let Some(p) = a.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        bail!("--top-p {p} is outside (0, 1]: use e.g. 0.9, or leave it out");
    }
    if a.num_samples == 0 {
        bail!("--num-samples is 0: give at least 1");
    }
    if a.stop.as_deref() == Some("") {
        bail!("--stop is empty: give the text that ends a sample, e.g. --stop $'\\n\\n'");
    }
    let checkpoint = crate::checkpoint_of(&a.checkpoint)?;
    let (mut model, vocab, _) = load_model::<f32>(&checkpoint)?;
    let bad = vocab.unknown(&a.prime);
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().take(20).map(|c| format!("{c:?}")).collect();
        bail!(
            "--prime has {} character(s) outside the model's vocabulary: {}; remove them",
            bad.len(),
            list.join(", ")
        );
    }
    let seed = match a.seed {
        Some(s) => s,
        None => {
            let s = fresh_seed();
            errln!("seed {s} (give --seed {s} to draw this sample again)");
            s
        }
    };
    let mut rng = NumpyRng::new(seed);
    let opts = SampleOptions { length: a.length, temperature: a.temperature, top_k: a.top_k, top_p: a.top_p };
    let mut out = std::io::stdout().lock();
    // Streamed as drawn, unless a stop string or JSON needs the whole sample first.
    let whole = a.stop.is_some() || a.json;
    for n in 0..a.num_samples {
        if n > 0 && !a.json && writeln!(out, "---").is_err() {
            return Ok(());
        }
        if !whole {
            match write!(out, "{}", a.prime) {
                // A reader gone before the prime was written: nothing more to do.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                r => r?,
            }
        }
        // A reader that goes away (`| head`) stops the generation quietly; another write error
        // (a full disk) is reported.
        let (mut failed, mut text, mut logp) = (None, String::new(), 0.0);
        draw(&mut model, &vocab, &a.prime, opts, &mut rng, |c, lp| {
            text.push(c);
            logp += lp;
            if let Some(stop) = &a.stop {
                return !text.ends_with(stop.as_str());
            }
            if whole {
                return true;
            }
            let mut buf = [0u8; 4];
            let written = out.write_all(c.encode_utf8(&mut buf).as_bytes()).and_then(|_| {
                if c == '\n' {
                    out.flush()
                } else {
                    Ok(())
                }
            });
            match written {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        let chars = text.chars().count().max(1);
        if let Some(stop) = &a.stop {
            if text.ends_with(stop.as_str()) {
                text.truncate(text.len() - stop.len());
            }
        }
        let end = match failed {
            Some(e) => Err(e),
            None if a.json => {
                let j = serde_json::json!({"prime": a.prime, "text": text, "seed": seed, "sample": n,
                    "temperature": a.temperature, "top_k": a.top_k, "top_p": a.top_p,
                    "mean_logprob": logp / chars as f64, "checkpoint": checkpoint.display().to_string()});
                writeln!(out, "{j}").and_then(|_| out.flush())
            }
            None if whole => writeln!(out, "{}{text}", a.prime).and_then(|_| out.flush()),
            None => writeln!(out).and_then(|_| out.flush()),
        };
        match end {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Flags of `recurrent eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `recurrent train`.
    checkpoint: PathBuf,
    /// The text to score (UTF-8, only characters of the model's vocabulary).
    text: PathBuf,
    /// One JSON object (full precision) instead of a line.
    #[arg(long)]
    json: bool,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let json = a.json;
    let r = eval_inner(a);
    // With --json the error is a JSON object on stdout too (and the exit is non-zero).
    if let (true, Err(e)) = (json, &r) {
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        crate::outln(&serde_json::json!({ "error": chain.join(": ") }).to_string());
    }
    r
}

fn eval_inner(a: EvalArgs) -> Result<()> {
    let checkpoint = crate::checkpoint_of(&a.checkpoint)?;
    let (mut model, vocab, _) = load_model::<f32>(&checkpoint)?;
    let tokens = load_tokens(&a.text, Some(&vocab), "; this text cannot be scored by this model")?.tokens;
    if tokens.len() < 2 {
        bail!("{} has fewer than 2 characters: nothing to predict", a.text.display());
    }
    let n = tokens.len() - 1;
    if n < 1000 {
        errln!(
            "note: {} gives only {n} prediction{} to score: a loss over so few characters says little about the model; score a few thousand",
            a.text.display(),
            if n == 1 { "" } else { "s" }
        );
    }
    // Progress on a terminal for texts that take more than a moment.
    let bar = (std::io::stderr().is_terminal() && n > 1 << 20).then(|| {
        let b = indicatif::ProgressBar::new(n as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("scoring {bar:30} {pos}/{len} characters ETA {eta}")
                .expect("valid template"),
        );
        b
    });
    let nats = model.nats_per_char(&tokens, &mut |at, _| {
        if let Some(b) = &bar {
            b.set_position(at as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let bits = nats / std::f64::consts::LN_2;
    if a.json {
        let j = serde_json::json!({"checkpoint": checkpoint.display().to_string(), "text": a.text.display().to_string(),
            "characters": n, "nats_per_char": nats, "bits_per_char": bits, "perplexity": nats.exp()});
        crate::outln(&j.to_string());
    } else {
        crate::outln(&format!(
            "{n} characters: {nats:.6} nats/char, {bits:.6} bits/char, perplexity {:.4}",
            nats.exp()
        ));
    }
    Ok(())
}
