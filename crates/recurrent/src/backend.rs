//! Which implementation computes the products and activations, and which set of hot kernels
//! runs: the measurements `recurrent bench` reports against (this core's FMA peak, the library's
//! GEMM rate) are here too.
//!
//! Two implementations, chosen by name ([`Backend`], per thread with [`with_backend`]):
//! - [`Backend::Reference`]: ndarray's products and the standard library's `tanh`/`exp`
//!   evaluated in `f64`: plain, `f64`-capable, the path the gradient check trusts. `f64` always
//!   runs it (the kernels are `f32` only);
//! - [`Backend::Kernels`], the default for `f32`: the library's own kernels, in one of the
//!   kernel sets below.
//!
//! Three kernel sets compute the same products and activations:
//! - [`Isa::Portable`]: plain Rust for the baseline target (any CPU);
//! - [`Isa::Avx2`]: AVX2 + FMA, 8 lanes, 16 registers;
//! - [`Isa::Avx512`]: AVX-512 F/VL/BW/DQ, 16 lanes, 32 registers, masked tails.
//!
//! The AVX2 and AVX-512 products sum every output in the same order (one fused multiply-add per
//! term, `k` ascending, blocked at the same depths), so they give the same bits; the portable set
//! rounds differently (no hardware FMA) and agrees to f32 rounding. Every choice happens in
//! `kernels/` through [`active`]; nothing else in the crate asks which CPU it runs on.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::sync::OnceLock;

/// A set of kernels, from the narrowest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust compiled for the baseline target.
    Portable,
    /// AVX2 and FMA (x86-64 since Haswell and Zen 1).
    Avx2,
    /// AVX-512 F, VL, BW and DQ (Xeon since Skylake-SP, Zen 4 and later).
    Avx512,
}

impl Isa {
    /// Every set, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `RECURRENT_ISA` takes and `recurrent bench` prints.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses `portable`, `avx2` or `avx512`.
    ///
    /// # Errors
    /// [`Error::Config`] for any other name.
    pub fn parse(s: &str) -> Result<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            Error::Config(format!("RECURRENT_ISA='{s}' is not a kernel set: use portable, avx2 or avx512"))
        })
    }

    /// Whether this CPU can run the set.
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest set this CPU runs.
    pub fn best() -> Isa {
        Isa::ALL.into_iter().rev().find(|i| i.supported()).unwrap_or(Isa::Portable)
    }

    /// The set the environment asks for: `RECURRENT_ISA` if set, else portable when
    /// `RECURRENT_PORTABLE` is set, else [`Isa::best`].
    ///
    /// # Errors
    /// [`Error::Config`] when `RECURRENT_ISA` names no set, or one this CPU lacks.
    pub fn from_env() -> Result<Isa> {
        if let Some(v) = std::env::var_os("RECURRENT_ISA") {
            let isa = Isa::parse(&v.to_string_lossy())?;
            if !isa.supported() {
                return Err(Error::Config(format!(
                    "RECURRENT_ISA={} but this CPU cannot run it (the widest it runs is {}): unset \
                     RECURRENT_ISA or choose {}",
                    isa.name(),
                    Isa::best().name(),
                    Isa::ALL.iter().filter(|i| i.supported()).map(|i| i.name()).collect::<Vec<_>>().join(", ")
                )));
            }
            return Ok(isa);
        }
        Ok(if std::env::var_os("RECURRENT_PORTABLE").is_some() { Isa::Portable } else { Isa::best() })
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which implementation computes the `f32` products and activations (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// ndarray's products and `f64`-evaluated activations: what `f64` always runs.
    Reference,
    /// The library's kernels in the [`active`] kernel set.
    #[default]
    Kernels,
}

thread_local! {
    static FORCED: Cell<Option<Isa>> = const { Cell::new(None) };
    static FORCED_BACKEND: Cell<Backend> = const { Cell::new(Backend::Kernels) };
}

/// The implementation `f32` runs on this thread: [`Backend::Kernels`] unless [`with_backend`]
/// says otherwise.
#[inline]
pub fn backend() -> Backend {
    FORCED_BACKEND.with(Cell::get)
}

/// Runs `f` with the `f32` products and activations of `backend` on this thread (and on the
/// helper thread for the joins `f` makes): how the tests hold the kernels against the reference.
pub fn with_backend<R>(backend: Backend, f: impl FnOnce() -> R) -> R {
    forced(Forced { isa: forced_now().isa, backend }, f)
}

/// The set the kernels run on this thread: the one [`with_isa`] forces, else the process's
/// choice, made once from [`Isa::from_env`] (falling back to [`Isa::best`] when the environment
/// asks for something this CPU lacks; the command line reports that as an error first).
#[inline]
pub fn active() -> Isa {
    if let Some(i) = FORCED.with(Cell::get) {
        return i;
    }
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| Isa::from_env().unwrap_or_else(|_| Isa::best()))
}

/// Runs `f` with the kernels of `isa` on this thread (and on the helper thread for the joins
/// `f` makes, see `parallel::join`): how the tests compare the sets in one process.
///
/// # Errors
/// [`Error::Config`] when this CPU cannot run `isa` (`f` is not run).
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> Result<R> {
    if !isa.supported() {
        return Err(Error::Config(format!("this CPU cannot run the {} kernels", isa.name())));
    }
    Ok(forced(Forced { isa: Some(isa), backend: backend() }, f))
}

/// What a thread was told to run: its forced kernel set, if any, and its backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forced {
    isa: Option<Isa>,
    backend: Backend,
}

/// This thread's choices, for handing to another thread with [`forced`].
pub(crate) fn forced_now() -> Forced {
    Forced { isa: FORCED.with(Cell::get), backend: backend() }
}

/// Runs `f` with this thread's choices replaced by `to` (restored afterwards, also on panic).
pub(crate) fn forced<R>(to: Forced, f: impl FnOnce() -> R) -> R {
    struct Restore(Forced);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0.isa));
            FORCED_BACKEND.with(|c| c.set(self.0.backend));
        }
    }
    let before = forced_now();
    FORCED.with(|c| c.set(to.isa));
    FORCED_BACKEND.with(|c| c.set(to.backend));
    let _restore = Restore(before);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Names round-trip; a forced set applies on this thread only and is restored after.
    #[test]
    fn names_and_forcing() {
        for i in Isa::ALL {
            assert_eq!(Isa::parse(i.name()).unwrap(), i);
        }
        assert!(Isa::parse("sse9").unwrap_err().to_string().contains("portable, avx2 or avx512"));
        assert!(Isa::Portable.supported());
        let before = active();
        assert_eq!(with_isa(Isa::Portable, active).unwrap(), Isa::Portable);
        assert_eq!(active(), before);
        assert_eq!(backend(), Backend::Kernels);
        let inside = with_backend(Backend::Reference, || (backend(), with_isa(Isa::Portable, backend).unwrap()));
        assert_eq!(inside, (Backend::Reference, Backend::Reference), "forcing a set keeps the backend");
        assert_eq!(backend(), Backend::Kernels);
        for i in Isa::ALL {
            match with_isa(i, active) {
                Ok(got) => assert_eq!(got, i),
                Err(e) => {
                    assert!(!i.supported());
                    assert!(e.to_string().contains(i.name()));
                }
            }
        }
    }
}
