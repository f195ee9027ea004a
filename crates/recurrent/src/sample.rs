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
}

/// Picks a token from probabilities `p` (already at temperature): argmax when `temperature` is
/// 0, else a draw among the `top_k` largest (renormalised) by inverse CDF.
pub fn pick(p: &[f64], temperature: f64, top_k: Option<usize>, rng: &mut NumpyRng) -> usize {
    let argmax =
        || p.iter().enumerate().fold((0, f64::MIN), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0;
    if temperature == 0.0 {
        return argmax();
    }
    match top_k {
        Some(k) if k < p.len() => {
            let mut idx: Vec<usize> = (0..p.len()).collect();
            idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            idx.truncate(k.max(1));
            let kept: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
            idx[rng.choice(&kept)]
        }
        _ => rng.choice(p),
    }
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
        let next = pick(&p, opts.temperature, opts.top_k, rng);
        if !emit(vocab.decode_one(next)) {
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

    #[test]
    fn temperature_zero_is_argmax_and_top_1_is_argmax() {
        let mut r = NumpyRng::new(0);
        let p = [0.1, 0.6, 0.3];
        assert_eq!(pick(&p, 0.0, None, &mut r), 1);
        for _ in 0..20 {
            assert_eq!(pick(&p, 1.0, Some(1), &mut r), 1);
            assert_ne!(pick(&p, 1.0, Some(2), &mut r), 0);
        }
    }
}
