//! `recurrent report`: one self-contained HTML page showing what a trained network does —
//! training curves, units shaded over a passage with the features they track, gate saturation,
//! how far back gradients reach, and samples. The numbers come from `recurrent::analysis`; this
//! module only gathers them into the page (`report.html`, a minijinja template; the plots are SVG
//! drawn by a little vanilla JavaScript, with no network access).

use crate::text::load_tokens;
use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Args;
use recurrent::analysis::{best_trackers, gradient_reach, saturation, text_features, trace};
use recurrent::checkpoint::load_model;
use recurrent::data::Vocab;
use recurrent::model::{CharModel, Init};
use recurrent::sample::{sample, SampleOptions};
use recurrent::train::config::RunConfig;
use recurrent::train::session::Metric;
use recurrent::NumpyRng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Flags of `recurrent report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run folder (runs/…: its best.safetensors, metrics and configuration) or a checkpoint.
    run: PathBuf,
    /// The text to take the passage from. Default: the run's text (its validation part).
    #[arg(long)]
    text: Option<PathBuf>,
    /// Where to write the page.
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
    /// Characters of the passage.
    #[arg(long, default_value_t = 2000)]
    chars: usize,
    /// Another run or checkpoint whose gradient reach is drawn beside this one's (e.g. an RNN
    /// beside an LSTM trained on the same text).
    #[arg(long)]
    compare: Option<PathBuf>,
}

/// Gradient reach is measured at these distances k (steps back).
pub const DISTANCES: [usize; 14] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];
/// Window ends per passage for the gradient reach.
const ENDS: usize = 8;

/// What a run folder or a checkpoint gives.
struct Source {
    checkpoint: PathBuf,
    config: Option<RunConfig>,
    metrics: Vec<Metric>,
}

fn source(path: &Path) -> Result<Source> {
    if path.is_dir() {
        let checkpoint = ["best.safetensors", "last.safetensors"]
            .iter()
            .map(|f| path.join(f))
            .find(|p| p.exists())
            .with_context(|| {
                format!("{} holds no checkpoint (best.safetensors): give a run folder or a checkpoint", path.display())
            })?;
        let read =
            |name: &str, limit: u64| recurrent::files::read_regular(&path.join(name), limit, "a run's file").ok();
        let config = read("config.json", 1 << 20).and_then(|b| serde_json::from_slice(&b).ok());
        let metrics = read("metrics.jsonl", 1 << 30)
            .map(|b| {
                String::from_utf8_lossy(&b).lines().filter_map(|l| serde_json::from_str::<Metric>(l).ok()).collect()
            })
            .unwrap_or_default();
        Ok(Source { checkpoint, config, metrics })
    } else {
        Ok(Source { checkpoint: path.to_path_buf(), config: None, metrics: Vec::new() })
    }
}

/// The passage: `chars` characters of the validation part of the text (its last `val_frac`),
/// or of the start of the text when the run kept none; the tokens of the checkpoint's vocabulary.
fn passage(
    text: &Path,
    vocab: &Vocab,
    val_frac: f64,
    chars: usize,
) -> Result<(String, Vec<usize>, recurrent::train::state::DataId)> {
    let loaded = load_tokens(text, Some(vocab), "; give --text with the model's characters")?;
    let n = loaded.tokens.len();
    if n < 2 * DISTANCES[DISTANCES.len() - 1] + 2 {
        bail!("{} has {n} characters: the report needs at least {}", text.display(), 2 * DISTANCES[13] + 2);
    }
    let start = if val_frac > 0.0 { n - (n as f64 * val_frac).round() as usize } else { 0 };
    let start = start.min(n.saturating_sub(chars));
    let end = (start + chars).min(n);
    let tokens: Vec<usize> = (start..end).map(|i| loaded.tokens.get(i)).collect();
    Ok((vocab.decode(&tokens), tokens, loaded.id))
}

/// The same architecture at initialisation, as the run was initialised (else PyTorch's, seed 0).
fn at_init(model: &CharModel<f32>, cfg: Option<&RunConfig>) -> Result<CharModel<f32>> {
    let (init, seed) = match cfg {
        Some(c) => (c.init, c.seed),
        None => (Init::PyTorch, 0),
    };
    Ok(CharModel::new(model.config.clone(), init, &mut NumpyRng::new(seed))?)
}

/// Evenly spread window ends with room for the longest distance.
fn ends(len: usize) -> Vec<usize> {
    let kmax = DISTANCES[DISTANCES.len() - 1];
    let (lo, hi) = (kmax, len - 2);
    (0..ENDS).map(|i| lo + (hi - lo) * i / (ENDS - 1).max(1)).collect()
}

fn describe(m: &CharModel<f32>) -> String {
    format!("{} {}×{}", m.config.cell, m.config.layers, m.config.hidden)
}

/// Gradient reach of a model and of its initialisation on `tokens`.
fn reach_pair(model: &mut CharModel<f32>, cfg: Option<&RunConfig>, tokens: &[usize], who: &str) -> Result<Vec<Value>> {
    let e = ends(tokens.len());
    let trained = gradient_reach(model, tokens, &e, &DISTANCES)?;
    let mut init = at_init(model, cfg)?;
    let initial = gradient_reach(&mut init, tokens, &e, &DISTANCES)?;
    let name = describe(model);
    Ok(vec![
        json!({"name": format!("{who}{name}, trained"), "values": trained}),
        json!({"name": format!("{who}{name}, at initialisation"), "values": initial}),
    ])
}

/// Everything the page shows, as the JSON the page reads.
pub fn report_data(a: &ReportArgs) -> Result<(String, Value)> {
    let src = source(&a.run)?;
    let (mut model, vocab, meta) = load_model::<f32>(&src.checkpoint)?;
    let text = match (&a.text, &src.config) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) => c.text.clone(),
        (None, None) => bail!("{} is a checkpoint without its run: give the text with --text FILE", a.run.display()),
    };
    let val_frac = if a.text.is_some() { 0.0 } else { src.config.as_ref().map_or(0.0, |c| c.val_frac) };
    let (passage, tokens, id) = passage(&text, &vocab, val_frac, a.chars)?;
    // The text a run folder's config.json names is shown only when it is the text the run was
    // trained on (a received folder could name any local file): its identity must match the
    // one the training state recorded.
    if a.text.is_none() {
        let state = a.run.join("last.state.safetensors");
        let (_, meta) = recurrent::train::state::read(&state).map_err(|e| {
            anyhow::anyhow!(
                "{} holds no readable training state to tell which text the run was trained on ({e}): give the text to show with --text FILE",
                a.run.display()
            )
        })?;
        let recorded = meta
            .get("state")
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v["data"]["sha256"].as_str().map(String::from));
        if recorded.as_deref() != Some(id.sha256.as_str()) {
            bail!(
                "{} names the text {}, which is not the text this run recorded in its training state: give the text to show with --text FILE",
                a.run.join("config.json").display(),
                crate::text::describe(&text)
            );
        }
    }
    let tr = trace(&mut model, &tokens)?;
    let chars: Vec<char> = passage.chars().collect();
    let trackers = best_trackers(&tr, &text_features(&chars));
    let (layers, hidden) = (model.config.layers, model.config.hidden);
    // h of every layer, quantised to int8 (h is in (−1, 1)): T × L × H bytes, base64.
    let mut q = Vec::with_capacity(tokens.len() * layers * hidden);
    for t in 0..tokens.len() {
        for l in 0..layers {
            q.extend(tr.h[l].row(t).iter().map(|&v| ((v.clamp(-1.0, 1.0) * 127.0).round() as i8) as u8));
        }
    }
    let trackers_json: Vec<Value> = trackers
        .iter()
        .map(|k| {
            let a = if k.state == "h" { &tr.h[k.layer] } else { &tr.c[k.layer] };
            let values: Vec<f64> = a.column(k.unit).iter().map(|&v| (v as f64 * 1e4).round() / 1e4).collect();
            json!({"feature": k.feature, "state": k.state, "layer": k.layer, "unit": k.unit, "r": k.r, "values": values})
        })
        .collect();
    let top5: Vec<Value> = tr
        .probs
        .rows()
        .into_iter()
        .map(|row| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]));
            Value::Array(
                idx[..5.min(idx.len())]
                    .iter()
                    .map(|&i| json!([vocab.decode_one(i).to_string(), (row[i] as f64 * 1e4).round() / 1e4]))
                    .collect(),
            )
        })
        .collect();
    let gates: Vec<Value> = saturation(&tr, model.config.cell)
        .into_iter()
        .map(|s| json!({"gate": s.gate, "layer": s.layer, "left": s.left, "right": s.right}))
        .collect();
    let mut series = reach_pair(&mut model, src.config.as_ref(), &tokens, "")?;
    if let Some(other) = &a.compare {
        let o = source(other)?;
        let (mut m2, v2, _) = load_model::<f32>(&o.checkpoint)?;
        if v2 != vocab {
            bail!(
                "--compare {}: its vocabulary differs from this model's; compare models trained on the same text",
                other.display()
            );
        }
        series.extend(reach_pair(&mut m2, o.config.as_ref(), &tokens, "")?);
    }
    let mut samples = Vec::new();
    for (i, temperature) in [0.5, 0.8, 1.0].into_iter().enumerate() {
        let mut s = String::new();
        let mut m = model.clone();
        let opts = SampleOptions { length: 400, temperature, top_k: None, top_p: None };
        sample(&mut m, &vocab, "", opts, &mut NumpyRng::new(i as u32), |c| {
            s.push(c);
            true
        })?;
        samples.push(json!({"temperature": temperature, "text": s}));
    }
    let metrics: Vec<Value> = src
        .metrics
        .iter()
        .map(|m| {
            // Per character (min-char-rnn sums the loss over the window).
            let per = src.config.as_ref().map_or(1.0, |c| c.chars_per_loss());
            json!({"step": m.step, "epoch": m.epoch, "train_loss": m.train_loss / per, "val_loss": m.val_loss,
                   "lr": m.lr, "grad_norm": m.grad_norm, "chars_per_sec": m.chars_per_sec})
        })
        .collect();
    let params = recurrent::Parameters::num_params(&mut model);
    let title = format!("{} on {}", describe(&model), crate::text::describe(&text));
    let data = json!({
        "model": {"cell": model.config.cell.name(), "layers": layers, "hidden": hidden, "vocab": vocab.len(), "params": params,
                  "step": meta.get("step"), "val_loss": meta.get("val_loss")},
        "checkpoint": src.checkpoint.display().to_string(),
        "metrics": metrics,
        // The steps the run planned (a run given in epochs: its last metrics line's step).
        "planned_steps": src.config.as_ref().and_then(|c| c.steps),
        "passage": passage,
        "units": {"layers": layers, "hidden": hidden, "h_b64": base64::engine::general_purpose::STANDARD.encode(&q)},
        "trackers": trackers_json,
        "top5": top5,
        "gates": gates,
        "reach": {"distances": DISTANCES, "ends": ends(tokens.len()), "series": series},
        "samples": samples,
    });
    Ok((title, data))
}

pub fn report(a: ReportArgs) -> Result<()> {
    if a.chars < 2 * DISTANCES[13] + 2 {
        bail!("--chars {} is too short: the gradient reach needs at least {}", a.chars, 2 * DISTANCES[13] + 2);
    }
    let (title, data) = report_data(&a)?;
    let subtitle = format!(
        "{} parameters · checkpoint {}{}{}",
        data["model"]["params"],
        data["checkpoint"].as_str().unwrap_or_default(),
        data["model"]["step"].as_str().map(|s| format!(" (step {s})")).unwrap_or_default(),
        data["model"]["val_loss"]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| format!(", validation loss {v:.4} nats/char"))
            .unwrap_or_default()
    );
    // The JSON sits inside a <script> element: `</script`, `<!--` and `<script` in a string
    // would end it or switch the HTML parser into a state that swallows the page. `<`, `>` and
    // `&` only occur inside JSON strings, where `\u003c` means the same character.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", include_str!("report.html"))?;
    let page = env
        .get_template("report.html")?
        .render(minijinja::context! { title => title, subtitle => subtitle, data => json })?;
    recurrent::checkpoint::write_atomic(&a.out, page.as_bytes())?;
    crate::outln(&format!(
        "wrote {} ({:.1} MB): {} units tracked, {} gate scatters, gradient reach at {} distances",
        a.out.display(),
        page.len() as f64 / 1e6,
        data["trackers"].as_array().map_or(0, |v| v.len()),
        data["gates"].as_array().map_or(0, |v| v.len()),
        DISTANCES.len(),
    ));
    Ok(())
}
