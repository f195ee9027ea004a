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
    static FORCED_TUNING: Cell<Option<GemmTuning>> = const { Cell::new(None) };
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
    forced(Forced { backend, ..forced_now() }, f)
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
    Ok(forced(Forced { isa: Some(isa), ..forced_now() }, f))
}

/// The AVX-512 micro-tile of the products that read their operands in place or take `B`
/// packed once per sequence (the per-step recurrent product above all): the block of C one
/// call keeps in 24 registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// Six rows × 64 columns: each broadcast entry of A feeds four multiply-adds, and B is
    /// read 64 columns (four cache lines) per step of `k`.
    Wide,
    /// Twelve rows × 32 columns: B is read half as wide per multiply-add, so half as much of
    /// it passes from L2 to L1 for the same work; each step of `k` broadcasts twelve entries
    /// of A (BLIS's Skylake-X kernel is this shape). On a Xeon it ran the per-step products
    /// 5–12 % faster than the wide tile in one pass, and as fast as the wide tile in parts of
    /// `kb = 128`, the default there.
    Tall,
}

impl Tile {
    /// The name `RECURRENT_GEMM`'s `tile=` takes.
    pub fn name(self) -> &'static str {
        match self {
            Tile::Wide => "6x64",
            Tile::Tall => "12x32",
        }
    }
}

/// How the `f32` GEMMs block their work: the knobs of `RECURRENT_GEMM`, for a machine the
/// defaults were not measured on. None of them changes a result's bits: every entry of C is
/// still one fused multiply-add per term, `k` ascending, whatever the tile or the blocking
/// (a partial sum stored as f32 and loaded again is the same number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmTuning {
    /// The AVX-512 tile of the in-place and packed products (`tile=6x64` or `tile=12x32`).
    pub tile: Tile,
    /// Depth of the parts the in-place and packed products run in, with either kernel set
    /// (`kb=`; 0: all of `k` at once): a `kb`-deep slice of each panel of B that fits L1 serves
    /// every row block before the next.
    pub kb: usize,
    /// Depth of one block of the cache-blocked GEMM (`kc=`, at least 16).
    pub kc: usize,
    /// Columns of one packed block of B in the cache-blocked GEMM (`nc=`, a multiple of 64).
    pub nc: usize,
    /// Width of the panels the cache-blocked GEMM packs `B` in (`nr=16` or `nr=64`): 16 (each
    /// 16-column panel `kc × 16`, contiguous, the AVX2 block's own width), or 64 (a `kc × 64`
    /// panel read as one stream of four lines per step of `k`, where the AVX-512 `6x64` block
    /// otherwise reads four panels `16·kc` floats apart).
    pub nr: usize,
    /// Whether the cache-blocked GEMM packs a row-major `A` too (`pa=1`), into the `6 × kc`
    /// micro-panels it already makes of any other `A` (one stream of six entries per step of
    /// `k`), rather than reading its six rows in place (`pa=0`).
    pub pack_a: bool,
    /// Rows of the micro-panels the cache-blocked GEMM packs `A` in with AVX-512 (`mr=6` or
    /// `mr=12`). 6: the blocks above (`6x64`, `A` in place unless `pa=1`). 12: BLIS's shape for
    /// cores with two FMA ports (its `sgemm_skx` 32 × 12, transposed for row-major C): `A`
    /// always packed in `12 × kc` micro-panels and `B` in `kc × 32` ones, each read as one
    /// stream, a `12 × 32` block of C in 24 registers (a broadcast of `A` feeds two multiply-adds,
    /// each row of `B` twelve), the depth loop unrolled by four with the next lines of both
    /// panels prefetched. The AVX2 kernels have no such block (16 registers) and take 6.
    pub mr: usize,
    /// Whether the micro-kernels ask for the lines of C one block ahead (`pf=1`), or not
    /// (`pf=0`); `None` (`pf=auto`): each kernel set's own default. The AVX2 kernels do
    /// (measured on an AMD EPYC Zen 3, docs/performance.md); the AVX-512 kernels do not
    /// (measured only on an AMD EPYC Zen 5, where [`GemmTuning::for_this_cpu`] says `pf=1`).
    pub prefetch_c: Option<bool>,
}

impl GemmTuning {
    /// The defaults for this CPU. On Intel's AVX-512 cores, depth parts of `kb = 128` (a
    /// `128 × 64` slice of B, 32 KB, stays in L1 for every row block): measured on a Xeon with
    /// two FMA ports (`scripts/sweep_gemm.sh`, then whole training steps), 2–4 % faster on
    /// lstm-small and gru-medium than one pass, and the tall tile no faster than this. Elsewhere
    /// `kb = 0`: on an AMD EPYC Zen 3 (AVX2, 512 KB of L2) one pass ran the per-step products
    /// faster than parts of 128 (docs/performance.md). The cache-blocked GEMM's block from the L2
    /// size ([`l2_bytes`]): `kc × nc = 384 × 512` (768 KB) from 2 MB of L2 (on the same Xeon 2–4 %
    /// faster on lstm-large than 256 × 256), else `256 × 256`, what the smaller-L2 machines
    /// (a Zen 3 with 512 KB, a Zen 4 with 1 MB) were measured with, as when CPUID does not say.
    ///
    /// The blocked GEMM packs `B` in 16-column panels and reads a row-major `A` in place
    /// (`nr=16,pa=0`) on every CPU: on the AMD EPYC Zen 3 (AVX2) neither 64-column panels nor a
    /// packed `A` was faster (docs/performance.md); with AVX-512 they were swept only on an AMD
    /// EPYC Zen 5, where no setting stood out from the host's noise.
    /// C is prefetched as each kernel set does by default (`pf=auto`), except on AMD's Zen 5
    /// (below). The blocked GEMM's AVX-512 micro-kernel is the `6x64` block (`mr=6`)
    /// everywhere: on the one CPU with AVX-512 it has been timed on (an AMD EPYC Zen 5, two
    /// 512-bit FMA pipes) the `12 × 32` packed path (`mr=12`) gave the same bits but no faster
    /// whole steps (docs/performance.md); it has not been timed on an Intel core.
    ///
    /// On AMD's family 0x1A (Zen 5) and later: `kc × nc = 384 × 1024` and `pf=1`, measured there
    /// (see the comment in the body).
    pub fn for_this_cpu() -> GemmTuning {
        let vendor = cpu_vendor();
        let kb = if vendor == "GenuineIntel" { 128 } else { 0 };
        // AMD Zen 5 and later (family 0x1A: two 512-bit FMA pipes, 1 MB of L2): a block
        // 384 deep and 1024 wide, C prefetched a block ahead, measured on an EPYC of family 26
        // model 2 (docs/performance.md) 4–6 % faster on lstm-large's whole step at one and two
        // threads than 256 × 256 without the prefetch, the other configurations unchanged.
        let zen5 = vendor == "AuthenticAMD" && cpu_family().is_some_and(|f| f >= 0x1A);
        let (kc, nc, prefetch_c) = match l2_bytes() {
            _ if zen5 => (384, 1024, Some(true)),
            Some(b) if b >= 2 << 20 => (384, 512, None),
            _ => (256, 256, None),
        };
        GemmTuning { tile: Tile::Wide, kb, kc, nc, nr: 16, pack_a: false, mr: 6, prefetch_c }
    }

    /// `RECURRENT_GEMM`'s syntax: comma-separated `key=value` pairs over [`Self::for_this_cpu`]
    /// (`tile=12x32,kc=192`); keys `tile`, `kb`, `kc`, `nc`, `nr`, `pa`, `mr`, `pf`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the pair that is not one, with the keys and values allowed.
    pub fn parse(s: &str) -> Result<GemmTuning> {
        let mut t = GemmTuning::for_this_cpu();
        let bad = |what: &str| {
            Error::Config(format!(
                "RECURRENT_GEMM='{s}': {what}; use comma-separated tile=6x64|12x32, kb=N (0 or 16..), \
                 kc=N (16..), nc=N (a multiple of 64), nr=16|64, pa=0|1, mr=6|12, pf=0|1|auto"
            ))
        };
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| bad(&format!("'{pair}' is not key=value")))?;
            let num = || value.parse::<usize>().map_err(|_| bad(&format!("'{value}' is not a whole number")));
            match key.trim() {
                "tile" => {
                    t.tile = match value {
                        "6x64" => Tile::Wide,
                        "12x32" => Tile::Tall,
                        _ => return Err(bad(&format!("no tile '{value}'"))),
                    }
                }
                "kb" => t.kb = num().and_then(|v| if v == 0 || v >= 16 { Ok(v) } else { Err(bad("kb below 16")) })?,
                "kc" => t.kc = num().and_then(|v| if v >= 16 { Ok(v) } else { Err(bad("kc below 16")) })?,
                "nc" => {
                    t.nc = num().and_then(|v| {
                        if v >= 64 && v % 64 == 0 {
                            Ok(v)
                        } else {
                            Err(bad("nc not a multiple of 64"))
                        }
                    })?
                }
                "nr" => {
                    t.nr = match value {
                        "16" => 16,
                        "64" => 64,
                        _ => return Err(bad(&format!("no panel width '{value}'"))),
                    }
                }
                "pa" => {
                    t.pack_a = match value {
                        "0" => false,
                        "1" => true,
                        _ => return Err(bad(&format!("'{value}' is not 0 or 1"))),
                    }
                }
                "mr" => {
                    t.mr = match value {
                        "6" => 6,
                        "12" => 12,
                        _ => return Err(bad(&format!("no micro-panel height '{value}'"))),
                    }
                }
                "pf" => {
                    t.prefetch_c = match value {
                        "0" => Some(false),
                        "1" => Some(true),
                        "auto" => None,
                        _ => return Err(bad(&format!("'{value}' is not 0, 1 or auto"))),
                    }
                }
                other => return Err(bad(&format!("no key '{other}'"))),
            }
        }
        Ok(t)
    }

    /// The tuning the environment asks for: [`Self::parse`] of `RECURRENT_GEMM` when it is set,
    /// else [`Self::for_this_cpu`].
    ///
    /// # Errors
    /// As [`Self::parse`].
    pub fn from_env() -> Result<GemmTuning> {
        match std::env::var("RECURRENT_GEMM") {
            Ok(v) => GemmTuning::parse(&v),
            Err(_) => Ok(GemmTuning::for_this_cpu()),
        }
    }

    /// `tile=…,kb=…,kc=…,nc=…,nr=…,pa=…,mr=…,pf=…`, as [`Self::parse`] reads it back.
    pub fn describe(&self) -> String {
        format!(
            "tile={},kb={},kc={},nc={},nr={},pa={},mr={},pf={}",
            self.tile.name(),
            self.kb,
            self.kc,
            self.nc,
            self.nr,
            u8::from(self.pack_a),
            self.mr,
            match self.prefetch_c {
                None => "auto",
                Some(true) => "1",
                Some(false) => "0",
            }
        )
    }
}

/// The CPU's vendor string from CPUID leaf 0 (`GenuineIntel`, `AuthenticAMD`; empty off x86-64).
pub fn cpu_vendor() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let r = std::arch::x86_64::__cpuid(0);
        let bytes: Vec<u8> = [r.ebx, r.edx, r.ecx].iter().flat_map(|w| w.to_le_bytes()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
    #[cfg(not(target_arch = "x86_64"))]
    String::new()
}

/// The CPU's family from CPUID leaf 1 (the base family, plus the extended family when the base
/// is 0xF: 0x19 for AMD's Zen 3 and Zen 4, 0x1A for Zen 5, 6 for Intel's cores); `None` off
/// x86-64.
pub fn cpu_family() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        let eax = std::arch::x86_64::__cpuid(1).eax;
        let base = (eax >> 8) & 0xf;
        Some(if base == 0xf { base + ((eax >> 20) & 0xff) } else { base })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// One core's L2 cache in bytes, from CPUID: leaf 4 on Intel (the level-2 data or unified
/// cache: ways × partitions × line × sets), else leaf 0x8000_0006 (its size in KB); `None`
/// when neither says (or off x86-64).
pub fn l2_bytes() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        if cpu_vendor() == "GenuineIntel" && __cpuid(0).eax >= 4 {
            for i in 0..16 {
                let r = __cpuid_count(4, i);
                let kind = r.eax & 0x1f;
                if kind == 0 {
                    break;
                }
                if (r.eax >> 5) & 7 == 2 && kind != 2 {
                    let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
                    let parts = ((r.ebx >> 12) & 0x3ff) as usize + 1;
                    let line = (r.ebx & 0xfff) as usize + 1;
                    return Some(ways * parts * line * (r.ecx as usize + 1));
                }
            }
        }
        if __cpuid(0x8000_0000).eax >= 0x8000_0006 {
            let kb = (__cpuid(0x8000_0006).ecx >> 16) as usize;
            if kb > 0 {
                return Some(kb << 10);
            }
        }
        None
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// The GEMM tuning on this thread: the one [`with_gemm_tuning`] forces, else the process's,
/// read once from [`GemmTuning::from_env`] (falling back to [`GemmTuning::for_this_cpu`] when
/// `RECURRENT_GEMM` is malformed; the command line reports that as an error first).
#[inline]
pub fn gemm_tuning() -> GemmTuning {
    if let Some(t) = FORCED_TUNING.with(Cell::get) {
        return t;
    }
    static CHOSEN: OnceLock<GemmTuning> = OnceLock::new();
    *CHOSEN.get_or_init(|| GemmTuning::from_env().unwrap_or_else(|_| GemmTuning::for_this_cpu()))
}

/// Runs `f` with the GEMMs tuned as `t` on this thread (and on the helper thread for the joins
/// `f` makes): how the tests check that no tuning changes a bit.
pub fn with_gemm_tuning<R>(t: GemmTuning, f: impl FnOnce() -> R) -> R {
    forced(Forced { tuning: Some(t), ..forced_now() }, f)
}

/// What a thread was told to run: its forced kernel set, if any, and its backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forced {
    isa: Option<Isa>,
    backend: Backend,
    tuning: Option<GemmTuning>,
}

/// This thread's choices, for handing to another thread with [`forced`].
pub(crate) fn forced_now() -> Forced {
    Forced { isa: FORCED.with(Cell::get), backend: backend(), tuning: FORCED_TUNING.with(Cell::get) }
}

/// Runs `f` with this thread's choices replaced by `to` (restored afterwards, also on panic).
pub(crate) fn forced<R>(to: Forced, f: impl FnOnce() -> R) -> R {
    struct Restore(Forced);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0.isa));
            FORCED_BACKEND.with(|c| c.set(self.0.backend));
            FORCED_TUNING.with(|c| c.set(self.0.tuning));
        }
    }
    let before = forced_now();
    FORCED.with(|c| c.set(to.isa));
    FORCED_BACKEND.with(|c| c.set(to.backend));
    FORCED_TUNING.with(|c| c.set(to.tuning));
    let _restore = Restore(before);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RECURRENT_GEMM's syntax: each key over this CPU's defaults, the description read back,
    // and every malformed pair refused in one line naming it.
    #[test]
    fn gemm_tunings_parse() {
        let d = GemmTuning::for_this_cpu();
        assert_eq!(GemmTuning::parse("").unwrap(), d);
        let t = GemmTuning::parse("tile=6x64, kb=128,kc=192,nc=512, nr=64,pa=1,mr=12,pf=0").unwrap();
        assert_eq!(
            t,
            GemmTuning {
                tile: Tile::Wide,
                kb: 128,
                kc: 192,
                nc: 512,
                nr: 64,
                pack_a: true,
                mr: 12,
                prefetch_c: Some(false)
            }
        );
        assert_eq!(GemmTuning::parse(&t.describe()).unwrap(), t);
        assert_eq!(GemmTuning::parse(&d.describe()).unwrap(), d);
        assert_eq!(GemmTuning::parse("pf=1,nr=16").unwrap(), GemmTuning { prefetch_c: Some(true), nr: 16, ..d });
        assert_eq!(GemmTuning::parse("pf=auto").unwrap().prefetch_c, None);
        assert_eq!(GemmTuning::parse("tile=12x32").unwrap(), GemmTuning { tile: Tile::Tall, ..d });
        for (bad, says) in [
            ("tile=8x8", "no tile '8x8'"),
            ("kc=8", "kc below 16"),
            ("kb=3", "kb below 16"),
            ("nc=100", "nc not a multiple of 64"),
            ("mc=4", "no key 'mc'"),
            ("mr=8", "no micro-panel height '8'"),
            ("kc", "'kc' is not key=value"),
            ("kc=big", "'big' is not a whole number"),
            ("nr=32", "no panel width '32'"),
            ("pa=yes", "'yes' is not 0 or 1"),
            ("pf=2", "'2' is not 0, 1 or auto"),
        ] {
            let e = GemmTuning::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("RECURRENT_GEMM") && !e.contains('\n'), "{bad}: {e}");
        }
        let inside = with_gemm_tuning(t, gemm_tuning);
        assert_eq!(inside, t);
        assert_ne!(gemm_tuning(), t, "forcing applies inside only");
    }

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
