//! `recurrent sample` and `recurrent eval`: using a trained checkpoint.

use crate::text::load_tokens;
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::checkpoint::load_model;
use recurrent::sample::{sample as draw, SampleOptions};
use recurrent::NumpyRng;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Flags of `recurrent sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A checkpoint written by `recurrent train` (e.g. runs/…/best.safetensors).
    checkpoint: PathBuf,
    /// Text fed to the model before sampling (printed first).
    #[arg(long, default_value = "")]
    prime: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 1000)]
    length: usize,
    /// Softmax temperature; 0 always takes the most likely character.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    temperature: f64,
    /// Sample among the K most likely characters only.
    #[arg(long)]
    top_k: Option<usize>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u32,
}

pub fn sample(a: SampleArgs) -> Result<()> {
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!("--temperature {} is invalid: use 0 (argmax) or a positive number such as 0.8", a.temperature);
    }
    if a.top_k == Some(0) {
        bail!("--top-k is 0: give at least 1, or leave it out");
    }
    let (mut model, vocab, _) = load_model::<f32>(&a.checkpoint)?;
    let bad = vocab.unknown(&a.prime);
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|c| format!("{c:?}")).collect();
        bail!(
            "--prime has {} character(s) outside the model's vocabulary: {}; remove them",
            bad.len(),
            list.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    match write!(out, "{}", a.prime) {
        // A reader gone before the prime was written: nothing more to do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        r => r?,
    }
    let mut rng = NumpyRng::new(a.seed);
    let opts = SampleOptions { length: a.length, temperature: a.temperature, top_k: a.top_k };
    // A reader that goes away (`| head`) stops the generation quietly; another write error
    // (a full disk) is reported.
    let mut failed = None;
    draw(&mut model, &vocab, &a.prime, opts, &mut rng, |c| {
        let mut buf = [0u8; 4];
        let written =
            out.write_all(c.encode_utf8(&mut buf).as_bytes())
                .and_then(|_| if c == '\n' { out.flush() } else { Ok(()) });
        match written {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    let end = match failed {
        None => writeln!(out).and_then(|_| out.flush()),
        Some(e) => Err(e),
    };
    match end {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(()),
    }
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
    let (mut model, vocab, _) = load_model::<f32>(&a.checkpoint)?;
    let tokens = load_tokens(&a.text, Some(&vocab), "").context("this text cannot be scored by this model")?.tokens;
    if tokens.len() < 2 {
        bail!("{} has fewer than 2 characters: nothing to predict", a.text.display());
    }
    let n = tokens.len() - 1;
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
        let j = serde_json::json!({"checkpoint": a.checkpoint.display().to_string(), "text": a.text.display().to_string(),
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
