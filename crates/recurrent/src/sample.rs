//! Drawing text from a character model: a prime fed through the network, then one character at a
//! time from the softmax at a temperature, optionally among the `k` most likely only.

use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::layer::stack::State;
use crate::model::CharModel;
use crate::rng::NumpyRng;
use crate::Float;

/// How to sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// Characters to generate after the prime.
    pub length: usize,
    /// Softmax temperature; `0` takes the most likely character every time (argmax).
    pub temperature: f64,
    /// Sample among the `k` most likely characters only.
    pub top_k: Option<usize>,
    /// Nucleus sampling: among the fewest most likely characters whose probabilities add up to
    /// at least `p` (after `top_k`), renormalised.
    pub top_p: Option<f64>,
}

/// Picks a token from probabilities `p` (already at temperature): argmax when `temperature` is
/// 0, else a draw by inverse CDF among the `top_k` largest and then (nucleus sampling) the
/// fewest largest whose sum reaches `top_p`, renormalised.
pub fn pick(p: &[f64], temperature: f64, top_k: Option<usize>, top_p: Option<f64>, rng: &mut NumpyRng) -> usize {
    let argmax =
        || p.iter().enumerate().fold((0, f64::MIN), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0;
    if temperature == 0.0 {
        return argmax();
    }
    let k = top_k.filter(|&k| k < p.len());
    let nucleus = top_p.filter(|&q| q < 1.0);
    if k.is_none() && nucleus.is_none() {
        return rng.choice(p);
    }
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    if let Some(k) = k {
        idx.truncate(k.max(1));
    }
    if let Some(q) = nucleus {
        let total: f64 = idx.iter().map(|&i| p[i]).sum();
        let (mut acc, mut keep) = (0.0, 0);
        for &i in &idx {
            acc += p[i];
            keep += 1;
            if acc >= q * total {
                break;
            }
        }
        idx.truncate(keep.max(1));
    }
    let kept: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
    idx[rng.choice(&kept)]
}

/// Feeds `prime` (or a newline, or the first character, when empty) and generates up to
/// `opts.length` characters, handing each to `emit` as it comes; generation stops early when
/// `emit` returns `false` (its reader has gone, e.g. `recurrent sample | head`).
pub fn sample<F: Float>(
    model: &mut CharModel<F>,
    vocab: &Vocab,
    prime: &str,
    opts: SampleOptions,
    rng: &mut NumpyRng,
    mut emit: impl FnMut(char) -> bool,
) -> Result<()> {
    sample_with_probs(model, vocab, prime, opts, rng, |c, _| emit(c))
}

/// [`sample`], handing `emit` each character with the natural log of the probability the
/// distribution it was drawn from gave it (at the temperature, before `top_k`/`top_p`; 0 for
/// argmax's certain pick at temperature 0).
///
/// # Errors
/// A temperature or `top_p` out of range, a prime with characters outside the vocabulary.
pub fn sample_with_probs<F: Float>(
    model: &mut CharModel<F>,
    vocab: &Vocab,
    prime: &str,
    opts: SampleOptions,
    rng: &mut NumpyRng,
    mut emit: impl FnMut(char, f64) -> bool,
) -> Result<()> {
    if let Some(q) = opts.top_p {
        if !(q > 0.0 && q <= 1.0) {
            return Err(Error::Config(format!("top-p {q} is outside (0, 1]: use e.g. 0.9")));
        }
    }
    if !(opts.temperature >= 0.0 && opts.temperature.is_finite()) {
        return Err(Error::Config(format!(
            "temperature {} is invalid: use 0 (argmax) or a positive number such as 0.8",
            opts.temperature
        )));
    }
    let mut tokens = vocab.encode(prime)?;
    if tokens.is_empty() {
        tokens = vocab.encode("\n").unwrap_or_else(|_| vec![0]);
    }
    let t = if opts.temperature == 0.0 { 1.0 } else { opts.temperature };
    let mut state: Option<State<F>> = None;
    let mut probs = None;
    for &tok in &tokens {
        let (p, s) = model.step_probs(&[tok], state.as_ref(), t)?;
        probs = Some(p);
        state = Some(s);
    }
    for _ in 0..opts.length {
        let p: Vec<f64> = probs.expect("primed").row(0).iter().map(|v| v.f64()).collect();
        let next = pick(&p, opts.temperature, opts.top_k, opts.top_p, rng);
        let logp = if opts.temperature == 0.0 { 0.0 } else { p[next].ln() };
        if !emit(vocab.decode_one(next), logp) {
            break;
        }
        let (p, s) = model.step_probs(&[next], state.as_ref(), t)?;
        probs = Some(p);
        state = Some(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Nucleus sampling by hand: with p = (0.5, 0.3, 0.15, 0.05), top-p 0.8 keeps the first two
    // (0.5 + 0.3 reaches 0.8), top-p 0.5 the first alone; with top-k 3 first, 0.9 of the kept
    // 0.95 is reached by the first three.
    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        let p = [0.5, 0.3, 0.15, 0.05];
        let mut r = NumpyRng::new(3);
        let draws = |top_k, top_p, r: &mut NumpyRng| -> Vec<usize> {
            (0..400).map(|_| pick(&p, 1.0, top_k, Some(top_p), r)).collect()
        };
        let d = draws(None, 0.8, &mut r);
        assert!(d.iter().all(|&i| i < 2) && d.contains(&0) && d.contains(&1));
        assert!(draws(None, 0.5, &mut r).iter().all(|&i| i == 0));
        let d = draws(Some(3), 0.9, &mut r);
        assert!(d.iter().all(|&i| i < 3) && d.contains(&2));
        assert!(draws(None, 1.0, &mut r).contains(&3), "top-p 1 keeps everything");
    }

    #[test]
    fn temperature_zero_is_argmax_and_top_1_is_argmax() {
        let mut r = NumpyRng::new(0);
        let p = [0.1, 0.6, 0.3];
        assert_eq!(pick(&p, 0.0, None, None, &mut r), 1);
        for _ in 0..20 {
            assert_eq!(pick(&p, 1.0, Some(1), None, &mut r), 1);
            assert_ne!(pick(&p, 1.0, Some(2), None, &mut r), 0);
        }
    }
}
