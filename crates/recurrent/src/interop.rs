//! Moving tensors in and out: PyTorch-named weights to and from a [`Recurrent`], numpy `.npz`
//! files, and the `grads` computation a learner runs on a case saved from numpy.

use crate::cell::{CellKind, CellParams};
use crate::error::{fmt_shape, Error, Result};
use crate::layer::stack::{Input, Recurrent, RecurrentConfig, State};
use crate::layer::Parameters;
use crate::Float;
use ndarray::{Array1, Array2, Array3, ArrayD, Ix1, Ix2};
use std::collections::BTreeMap;
use std::path::Path;

/// Named arrays, as in an `.npz` file or a safetensors checkpoint.
pub type Tensors = BTreeMap<String, ArrayD<f64>>;

/// Reads every array of an `.npz` file as `f64` (float32 arrays are widened), written by
/// `np.savez` or `np.savez_compressed`. Only a regular file within [`crate::files::memory_limit`]
/// is read; each array's bytes are read (at most what is left of that limit) before its header
/// is believed, and an array whose declared shape needs more or fewer bytes than it holds is
/// refused before anything is allocated for it.
pub fn read_npz(path: &Path) -> Result<Tensors> {
    use std::io::Read;
    let io = |e: &dyn std::fmt::Display| {
        Error::Io(format!("cannot read {} as a numpy .npz file ({e}): save it with np.savez", path.display()))
    };
    let limit = crate::files::memory_limit();
    let bytes = crate::files::read_regular(path, limit, "an .npz file")?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).map_err(|e| io(&e))?;
    let mut out = Tensors::new();
    let mut left = limit.saturating_sub(bytes.len() as u64);
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| io(&e))?;
        let name = entry.name().to_string();
        let key = name.trim_end_matches(".npy").to_string();
        let mut npy = Vec::new();
        entry.take(left.saturating_add(1)).read_to_end(&mut npy).map_err(|e| io(&e))?;
        if npy.len() as u64 > left {
            return Err(Error::Io(format!(
                "array {key} in {} decompresses to more than {}, the most recurrent reads on this machine: give a smaller file",
                path.display(),
                crate::files::human(limit)
            )));
        }
        left -= npy.len() as u64;
        check_npy_size(&npy).map_err(|why| {
            Error::Io(format!(
                "array {key} in {}: {why}: the file is damaged or was not written by numpy",
                path.display()
            ))
        })?;
        use ndarray_npy::ReadNpyExt;
        let a: ArrayD<f64> = match ArrayD::<f64>::read_npy(&npy[..]) {
            Ok(a) => a,
            Err(_) => ArrayD::<f32>::read_npy(&npy[..])
                .map_err(|e| Error::Io(format!("array {key} in {}: {e}: save it as float64", path.display())))?
                .mapv(f64::from),
        };
        out.insert(key, a);
    }
    Ok(out)
}

/// Whether an `.npy` file's header declares the shape its data holds: `descr` of 4 or 8 bytes
/// per element (others are left to the reader, which refuses them), and the product of
/// `shape` (in checked arithmetic) times that equal to the bytes after the header.
fn check_npy_size(npy: &[u8]) -> std::result::Result<(), String> {
    if npy.len() < 10 || &npy[..6] != b"\x93NUMPY" {
        return Err("it is not an .npy array".into());
    }
    let (len_bytes, start): (usize, usize) = if npy[6] == 1 { (2, 10) } else { (4, 12) };
    let hlen = if len_bytes == 2 {
        u16::from_le_bytes([npy[8], npy[9]]) as usize
    } else {
        u32::from_le_bytes(npy.get(8..12).ok_or("its header is cut short")?.try_into().expect("4")) as usize
    };
    let header = npy.get(start..start.saturating_add(hlen)).ok_or("its header is cut short")?;
    let header = String::from_utf8_lossy(header);
    let item = if header.contains("f8") || header.contains("i8") {
        8
    } else if header.contains("f4") || header.contains("i4") {
        4
    } else {
        return Ok(());
    };
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|r| r.split_once('(').map(|x| x.1))
        .and_then(|r| r.split_once(')').map(|x| x.0))
        .ok_or("its header has no shape")?;
    let mut n: u64 = 1;
    for d in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d: u64 = d.parse().map_err(|_| format!("its shape ({shape}) is not a list of sizes"))?;
        n = n.checked_mul(d).ok_or_else(|| format!("its shape ({shape}) overflows"))?;
    }
    let need = n.checked_mul(item).ok_or_else(|| format!("its shape ({shape}) overflows"))?;
    let have = (npy.len() - start - hlen) as u64;
    if need != have {
        return Err(format!("its header declares shape ({shape}), {need} bytes, but it holds {have}"));
    }
    Ok(())
}

/// Writes arrays to an `.npz` file (uncompressed, like `np.savez`).
pub fn write_npz(path: &Path, t: &Tensors) -> Result<()> {
    let io = |e: &dyn std::fmt::Display| Error::Io(format!("cannot write {}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut npz = ndarray_npy::NpzWriter::new(file);
    for (k, v) in t {
        npz.add_array(k.as_str(), v).map_err(|e| io(&e))?;
    }
    npz.finish().map_err(|e| io(&e))?;
    Ok(())
}

/// Takes tensor `name` as an `n`-d array of exactly `want`'s shape.
pub fn take<D: ndarray::Dimension>(
    t: &Tensors,
    name: &str,
    want: &[usize],
    why: &str,
) -> Result<ndarray::Array<f64, D>> {
    let a = t.get(name).ok_or_else(|| Error::Missing(format!("{name}: expected shape {}", fmt_shape(want))))?;
    crate::error::expect_shape(name, a.shape(), want, why)?;
    Ok(a.clone().into_dimensionality::<D>().expect("shape checked"))
}

/// The configuration a set of PyTorch-named tensors describes (`prefix` is e.g. `"rnn."`):
/// `L` from the `weight_ih_l{k}` present, bidirectional from any `_reverse`, `H` and `I` from
/// `weight_hh_l0` and `weight_ih_l0`.
pub fn infer_config(kind: CellKind, t: &Tensors, prefix: &str) -> Result<RecurrentConfig> {
    let g = kind.gates();
    let w0 = format!("{prefix}weight_ih_l0");
    let wih = t.get(&w0).ok_or_else(|| Error::Missing(format!("{w0}: the first layer's input weights")))?;
    let whh = t
        .get(&format!("{prefix}weight_hh_l0"))
        .ok_or_else(|| Error::Missing(format!("{prefix}weight_hh_l0: the first layer's recurrent weights")))?;
    if whh.ndim() != 2 || whh.shape()[0] != g * whh.shape()[1] {
        let why = format!("a {kind} has {g} gates, so it must be ({g}·H, H)");
        return Err(Error::shape(format!("{prefix}weight_hh_l0"), whh.shape(), why));
    }
    if wih.ndim() != 2 {
        return Err(Error::shape(w0, wih.shape(), "it must be 2-d (G·H, I)"));
    }
    let layers = (0..).take_while(|l| t.contains_key(&format!("{prefix}weight_ih_l{l}"))).count();
    let bi = t.keys().any(|k| k.starts_with(prefix) && k.ends_with("_reverse"));
    Ok(RecurrentConfig::new(kind, wih.shape()[1], whh.shape()[1]).with_layers(layers).with_bidirectional(bi))
}

/// Builds a stack from PyTorch-named tensors, checking every shape.
pub fn recurrent_from_tensors<F: Float>(cfg: &RecurrentConfig, t: &Tensors, prefix: &str) -> Result<Recurrent<F>> {
    let mut k = 0;
    let (d, gh) = (cfg.directions(), cfg.kind.gates() * cfg.hidden_size);
    let mut err = None;
    let r = cfg.init_with(|kind, input, hidden| {
        let names = CellParams::<f64>::names(k / d, k % d == 1);
        k += 1;
        let get = |i: usize, want: &[usize]| -> Result<ArrayD<f64>> {
            let name = format!("{prefix}{}", names[i]);
            take::<ndarray::IxDyn>(t, &name, want, &format!("a {kind} with input {input}, hidden {hidden}"))
        };
        let parts = (|| {
            Ok::<_, Error>(CellParams {
                weight_ih: conv2(get(0, &[gh, input])?),
                weight_hh: conv2(get(1, &[gh, hidden])?),
                bias_ih: conv1(get(2, &[gh])?),
                bias_hh: conv1(get(3, &[gh])?),
            })
        })();
        parts.unwrap_or_else(|e| {
            err.get_or_insert(e);
            CellParams::zeros(kind, input, hidden)
        })
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

fn conv2<F: Float>(a: ArrayD<f64>) -> Array2<F> {
    a.into_dimensionality::<Ix2>().expect("checked").mapv(F::c)
}
fn conv1<F: Float>(a: ArrayD<f64>) -> Array1<F> {
    a.into_dimensionality::<Ix1>().expect("checked").mapv(F::c)
}

/// Every parameter of `m` (`grads = false`) or its gradient (`grads = true`), PyTorch-named
/// with `prefix` (gradients get a `d` before the name).
pub fn parameters_to_tensors<F: Float>(m: &mut impl Parameters<F>, prefix: &str, grads: bool) -> Tensors {
    let mut out = Tensors::new();
    m.visit(&mut |n, s, p, g| {
        let v = if grads { g } else { p };
        let a = ArrayD::from_shape_vec(s.to_vec(), v.iter().map(|x| x.f64()).collect()).expect("shape");
        out.insert(format!("{}{prefix}{n}", if grads { "d" } else { "" }), a);
    });
    out
}

/// Reads the optional state tensors `h` and `c` (names given) for batch `b`.
pub fn read_state(cfg: &RecurrentConfig, t: &Tensors, h: &str, c: &str, b: usize) -> Result<Option<State<f64>>> {
    let want = [cfg.num_layers * cfg.directions(), b, cfg.hidden_size];
    let layout = if cfg.batch_first { "x as (B, T, I)" } else { "x as (T, B, I)" };
    let hint = if cfg.batch_first {
        "if x is (T, B, I), leave out --batch-first"
    } else {
        "if x is (B, T, I), add --batch-first"
    };
    let check = |name: &str| -> Result<Option<Array3<f64>>> {
        let Some(a) = t.get(name) else {
            return Ok(None);
        };
        if a.shape() != want {
            let why = format!(
                "a stack of {} layer(s) × {} direction(s) with hidden size {} and B = {b} (from {layout}) expects (L·D, B, H) = {}; {hint}",
                cfg.num_layers,
                cfg.directions(),
                cfg.hidden_size,
                fmt_shape(&want)
            );
            return Err(Error::shape(name, a.shape(), why));
        }
        Ok(Some(a.clone().into_dimensionality().expect("3-d")))
    };
    let (hv, cv) = (check(h)?, check(c)?);
    if cv.is_some() && !cfg.kind.has_cell_state() {
        return Err(Error::Config(format!("{c} is given but a {} has no cell state: remove it", cfg.kind)));
    }
    if hv.is_none() && cv.is_none() {
        return Ok(None);
    }
    let mut s = State::zeros(cfg, b);
    if let Some(hv) = hv {
        s.h = hv;
    }
    if let (Some(cv), Some(sc)) = (cv, s.c.as_mut()) {
        *sc = cv;
    }
    Ok(Some(s))
}

/// `recurrent grads`: the outputs and the gradients of `Σ y⊙dy + Σ h_n⊙dh_n + Σ c_n⊙dc_n` for a
/// case of PyTorch-named weights, `x (T, B, I)` (or `(B, T, I)` with `batch_first`, as
/// `nn.LSTM(batch_first=True)` takes it), optional `h0`/`c0 (L·D, B, H)`, optional `dy` (the
/// output's shape; zeros when absent) and optional `dh_n`/`dc_n`. Returns `y`, `h_n`, (`c_n`),
/// and `dNAME` for every weight, `dx`, `dh0` (and `dc0` for LSTM), all in `f64`.
pub fn grads_for_case(kind: CellKind, case: &Tensors, batch_first: bool) -> Result<Tensors> {
    let cfg = infer_config(kind, case, "")?.with_batch_first(batch_first);
    let mut r = recurrent_from_tensors::<f64>(&cfg, case, "")?;
    let layout = if batch_first { "(B, T, I)" } else { "(T, B, I)" };
    let x = case
        .get("x")
        .ok_or_else(|| Error::Missing(format!("x: expected shape {layout} with I = {}", cfg.input_size)))?;
    if x.ndim() != 3 || x.shape()[2] != cfg.input_size {
        let why = format!("the weights expect {layout} with input size {}", cfg.input_size);
        return Err(Error::shape("x", x.shape(), why));
    }
    let x: Array3<f64> = x.clone().into_dimensionality().expect("3-d");
    let (t, b) = if batch_first { (x.shape()[1], x.shape()[0]) } else { (x.shape()[0], x.shape()[1]) };
    let s0 = read_state(&cfg, case, "h0", "c0", b)?;
    let want_y = if batch_first { [b, t, r.output_size()] } else { [t, b, r.output_size()] };
    let dy = match case.get("dy") {
        Some(a) if a.shape() != want_y => {
            let (lay, hint) = if batch_first {
                ("(B, T, D·H)", "if x is (T, B, I), leave out --batch-first")
            } else {
                ("(T, B, D·H)", "if x is (B, T, I), add --batch-first")
            };
            let why = format!("the output y is {lay} = {}: give dy the output's shape; {hint}", fmt_shape(&want_y));
            return Err(Error::shape("dy", a.shape(), why));
        }
        Some(a) => a.clone().into_dimensionality().expect("3-d"),
        None => Array3::zeros(want_y),
    };
    let ds = read_state(&cfg, case, "dh_n", "dc_n", b)?;
    let (y, hn) = r.forward(Input::Dense(x.view()), s0.as_ref(), None)?;
    let (dx, dh0) = r.backward(dy.view(), ds.as_ref())?;
    let mut out = parameters_to_tensors(&mut r, "", true);
    out.insert("y".into(), y.into_dyn());
    out.insert("h_n".into(), hn.h.into_dyn());
    if let Some(c) = hn.c {
        out.insert("c_n".into(), c.into_dyn());
    }
    out.insert("dx".into(), dx.expect("dense input").into_dyn());
    out.insert("dh0".into(), dh0.h.into_dyn());
    if let Some(c) = dh0.c {
        out.insert("dc0".into(), c.into_dyn());
    }
    Ok(out)
}
