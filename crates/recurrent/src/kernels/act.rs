//! Vectorised `f32` activations. `tanh` is Eigen's rational approximation (|error| ≲ 1e-7 on
//! the clamped range, where f32 tanh is ±1 beyond it); `sigmoid(x) = ½ + ½·tanh(x/2)` exactly;
//! `exp` is Cephes' `expf` (range reduction by ln 2, degree-5 polynomial, 2ⁿ by exponent bits).
//! Branch-free loops over slices with AVX2+FMA, chosen at run time; the portable versions
//! evaluate in f64 with the standard library instead (without hardware FMA the approximations
//! lose about a bit near saturation, and `mul_add` becomes a slow library call).

#[inline(always)]
fn tanh1(x: f32) -> f32 {
    const A: [f32; 7] =
        [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = A[6];
    for &a in A[..6].iter().rev() {
        p = p.mul_add(x2, a);
    }
    let q = B[3].mul_add(x2, B[2]).mul_add(x2, B[1]).mul_add(x2, B[0]);
    x * p / q
}

/// The range of [`exp1`]: below `LO` the result would be subnormal, above `HI` it overflows.
const EXP_LO: f32 = -87.336_54;
const EXP_HI: f32 = 88.722_83;

#[inline(always)]
fn exp1(x: f32) -> f32 {
    // `max`/`min` (not `clamp`) send NaN to EXP_LO, so the float-to-int conversion below never
    // sees NaN; the NaN itself is put back at the end.
    #[allow(clippy::manual_clamp)] // clamp would keep NaN, which must not reach the conversion
    let xc = x.max(EXP_LO).min(EXP_HI);
    let n = (xc * std::f32::consts::LOG2_E).round();
    let r = n.mul_add(-0.693_359_4, xc);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = p.mul_add(r, c);
    }
    let y = (p * r).mul_add(r, r) + 1.0;
    // SAFETY: xc is finite and in [EXP_LO, EXP_HI], so n is a whole number in [−126, 128],
    // which an i32 holds. The unchecked conversion vectorises (`n as i32` saturates, which the
    // compiler turns into eight scalar conversions).
    let n = unsafe { n.to_int_unchecked::<i32>() };
    // 2ⁿ as two normal factors, since 2¹²⁸ itself is not an f32.
    let half = n >> 1;
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    edges_of_exp(x, y * pow2(half) * pow2(n - half))
}

/// IEEE's answers outside the approximated range: NaN stays NaN, an overflow is +∞ and
/// `exp(−∞) = 0` (selects, so the loops stay branch-free).
#[inline(always)]
fn edges_of_exp(x: f32, y: f32) -> f32 {
    let y = if x > EXP_HI { f32::INFINITY } else { y };
    let y = if x == f32::NEG_INFINITY { 0.0 } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

macro_rules! dispatch {
    ($name:ident, $fast:ident, $widest:ident, $plain:ident, $body:expr, $plain_body:expr) => {
        /// # Safety
        /// The CPU has AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $fast(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = $body(*x);
            }
        }
        /// The same loop, vectorised 16 lanes wide: each lane computes what an AVX2 lane does.
        ///
        /// # Safety
        /// The CPU has AVX2, FMA and AVX-512 F/VL/BW/DQ.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")]
        unsafe fn $widest(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = $body(*x);
            }
        }
        fn $plain(v: &mut [f32]) {
            for x in v.iter_mut() {
                *x = $plain_body(*x);
            }
        }
        /// In place, over the whole slice.
        pub fn $name(v: &mut [f32]) {
            #[cfg(target_arch = "x86_64")]
            match super::active() {
                // SAFETY: the active set is one the CPU supports (see `backend`).
                super::Isa::Avx512 => return unsafe { $widest(v) },
                // SAFETY: as above.
                super::Isa::Avx2 => return unsafe { $fast(v) },
                super::Isa::Portable => {}
            }
            $plain(v)
        }
    };
}

dispatch!(tanh, tanh_avx2, tanh_avx512, tanh_plain, tanh1, |x: f32| (x as f64).tanh() as f32);
dispatch!(
    sigmoid,
    sigmoid_avx2,
    sigmoid_avx512,
    sigmoid_plain,
    |x: f32| 0.5f32.mul_add(tanh1(0.5 * x), 0.5),
    |x: f32| { (0.5 + 0.5 * (0.5 * x as f64).tanh()) as f32 }
);
dispatch!(exp, exp_avx2, exp_avx512, exp_plain, exp1, |x: f32| edges_of_exp(
    x,
    (x.clamp(EXP_LO, EXP_HI) as f64).exp() as f32
));
#[cfg(test)]
mod tests {
    // Against the exact functions in f64, over a dense grid well past the saturation points.
    #[test]
    fn close_to_the_exact_functions() {
        let xs: Vec<f32> = (-20000..=20000).map(|i| i as f32 * 1e-3).collect();
        for (name, f, exact, tol) in [
            ("tanh", super::tanh as fn(&mut [f32]), f64::tanh as fn(f64) -> f64, 3e-7),
            ("sigmoid", super::sigmoid, |x: f64| 1.0 / (1.0 + (-x).exp()), 3e-7),
        ] {
            let mut v = xs.clone();
            f(&mut v);
            let worst = v.iter().zip(&xs).map(|(&y, &x)| (y as f64 - exact(x as f64)).abs()).fold(0.0, f64::max);
            assert!(worst < tol, "{name}: largest absolute error {worst:e}");
        }
        // Up to the clamp at 88.72283, just below ln(f32::MAX), where 2ⁿ is 2¹²⁸.
        let mut v: Vec<f32> = (-8733..=8872).map(|i| i as f32 * 1e-2).chain([88.722_83]).collect();
        let xs = v.clone();
        super::exp(&mut v);
        let worst = v
            .iter()
            .zip(&xs)
            .map(|(&y, &x)| ((y as f64 - (x as f64).exp()) / (x as f64).exp()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "exp: largest relative error {worst:e}");
    }
}
