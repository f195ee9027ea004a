//! The input side of a layer, for all `T·B` rows at once: the projection `X · W_ihᵀ + b` before
//! the loop over time, and after it the input-side gradients `dW_ih`, `dX` and the bias sums.
//! A dense input is one GEMM each way; a one-hot input (tokens) is a gather forward and a
//! scatter backward, through a per-token table when there are many rows.

use super::SeqInput;
use crate::cell::CellParams;
use crate::linalg::{MatMut, MatRef};
use crate::Float;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayViewMut2};

/// `gates (T·B, G·H) = X · W_ihᵀ + bias` for all rows in one GEMM (a column gather for tokens).
/// `table` is scratch kept by the caller.
pub(super) fn project<F: Float>(
    x: SeqInput<'_, F>,
    params: &CellParams<F>,
    bias: &[F],
    gates: &mut Array2<F>,
    table: &mut Vec<F>,
) {
    match x {
        SeqInput::Dense(x) => {
            gates.rows_mut().into_iter().for_each(|mut r| r.iter_mut().zip(bias).for_each(|(g, &b)| *g = b));
            let (x, w) = (x.as_standard_layout(), &params.weight_ih);
            let (rows, (gh, i)) = (x.nrows(), w.dim());
            let gates = gates.as_slice_mut().expect("contiguous");
            let (x, w) = (x.as_slice().expect("standard"), w.as_slice().expect("contiguous"));
            crate::parallel::rows_in_two(rows, gh * i, gates, gh, |r, gates| {
                let x = MatRef::new(&x[r.start * i..r.end * i], r.len(), i);
                F::gemm(x, MatRef::new(w, gh, i).t(), MatMut::new(gates, r.len(), gh), true)
            });
        }
        SeqInput::Tokens(tok) if tok.len() >= 2 * params.input() => {
            // Column k of W_ih is strided; with many rows, first lay out the table
            // `W_ihᵀ + b` (I, G·H) once, so each row is one contiguous copy.
            let (i, gh) = (params.input(), params.weight_ih.nrows());
            let w = params.weight_ih.as_slice().expect("contiguous");
            table.resize(i * gh, F::zero());
            crate::kernels::transpose(gh, i, w, table);
            for row in table.chunks_exact_mut(gh) {
                row.iter_mut().zip(bias).for_each(|(t, &b)| *t += b);
            }
            let gates = gates.as_slice_mut().expect("contiguous");
            for (row, &k) in gates.chunks_exact_mut(gh).zip(tok) {
                row.copy_from_slice(&table[k * gh..(k + 1) * gh]);
            }
        }
        SeqInput::Tokens(tok) => {
            // Few rows (one sequence): gates[r, g] = b[g] + W_ih[g, tok[r]], one row of
            // W_ih (contiguous, in cache) at a time.
            let (i, gh) = (params.input(), params.weight_ih.nrows());
            let w = params.weight_ih.as_slice().expect("contiguous");
            let gates = gates.as_slice_mut().expect("contiguous");
            let n = tok.len().min(gates.len() / gh.max(1));
            for (g, (wrow, &bg)) in w.chunks_exact(i).zip(bias.iter()).enumerate() {
                for r in 0..n {
                    gates[r * gh + g] = bg + wrow[tok[r]];
                }
            }
        }
    }
}

/// After the loop over time: `dW_ih += dGiᵀ · X`, `dX += dGi · W_ih` when `dx` is given (dense
/// input), and `db_ih += Σ_rows dGi`. Returns the column sums of `dGi` (`db_ih`'s increment),
/// which a cell without a separate hidden side adds to `db_hh` too.
///
/// * `dgi`: `(T·B, G·H)`, the input-side pre-activation gradients.
/// * `acc`: scratch kept by the caller (the per-token table).
pub(super) fn gradients<F: Float>(
    x: SeqInput<'_, F>,
    dgi: &Array2<F>,
    weight_ih: &Array2<F>,
    grads: (&mut Array2<F>, &mut ndarray::Array1<F>),
    dx: Option<ArrayViewMut2<'_, F>>,
    acc: &mut Vec<F>,
) -> Vec<F> {
    let (dwih, dbih) = grads;
    let (rows, gh) = dgi.dim();
    let i = weight_ih.ncols();
    let dgis = dgi.as_slice().expect("contiguous");
    // With many token rows the column sums come from the per-token table (the same rows grouped
    // by token: I rows, not T·B).
    let table_sums = match x {
        SeqInput::Dense(x) => {
            // dW_ih (G·H, I) += dGiᵀ (G·H, T·B) · X (T·B, I)
            let x = x.as_standard_layout();
            let wih = dwih.as_slice_mut().expect("contiguous");
            let x = MatRef::new(x.as_slice().expect("standard"), rows, i);
            // Rows of dW_ih in two halves when a helper is free (see `parallel::rows_in_two`).
            crate::parallel::rows_in_two(gh, rows * i, wih, i, |r, c| {
                let dgi_t = MatRef::new(dgis, rows, gh).t().row_range(r.start, r.len());
                F::gemm(dgi_t, x, MatMut::new(c, r.len(), i), true)
            });
            if let Some(mut dx) = dx {
                // dX (T·B, I) += dGi (T·B, G·H) · W_ih (G·H, I)
                let w = weight_ih.as_slice().expect("contiguous");
                match dx.as_slice_mut() {
                    Some(d) => crate::parallel::rows_in_two(rows, gh * i, d, i, |r, d| {
                        let dgi = MatRef::new(&dgis[r.start * gh..r.end * gh], r.len(), gh);
                        F::gemm(dgi, MatRef::new(w, gh, i), MatMut::new(d, r.len(), i), true)
                    }),
                    None => general_mat_mul(F::one(), dgi, weight_ih, F::one(), &mut dx),
                }
            }
            None
        }
        SeqInput::Tokens(tok) if rows >= 2 * i => {
            // dW_ih[:, k] += every dGi row whose token is k. Column k is strided, so the rows
            // are summed per token into a contiguous (I, G·H) scratch first (vector adds), which
            // is then added in transposed once.
            acc.clear();
            acc.resize(i * gh, F::zero());
            for (row, &k) in dgis.chunks_exact(gh).zip(tok) {
                acc[k * gh..(k + 1) * gh].iter_mut().zip(row).for_each(|(a, &v)| *a += v);
            }
            let wih = dwih.as_slice_mut().expect("contiguous");
            for (k, a) in acc.chunks_exact(gh).enumerate() {
                for (r, &v) in a.iter().enumerate() {
                    wih[r * i + k] += v;
                }
            }
            Some(column_sums(acc, gh))
        }
        SeqInput::Tokens(tok) => {
            // Few rows (one sequence): add each row into its strided column directly.
            let mut wt = dwih.view_mut().reversed_axes();
            for (row, &k) in dgi.rows().into_iter().zip(tok) {
                let mut col = wt.row_mut(k);
                col += &row;
            }
            None
        }
    };
    let sums = table_sums.unwrap_or_else(|| column_sums(dgis, gh));
    dbih.iter_mut().zip(&sums).for_each(|(b, &v)| *b += v);
    sums
}

/// The sums of the columns of a row-major matrix `width` wide, row after row (contiguous
/// vector adds).
#[inline(always)]
pub(super) fn column_sums<F: Float>(m: &[F], width: usize) -> Vec<F> {
    let mut acc = vec![F::zero(); width];
    for row in m.chunks_exact(width) {
        acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    acc
}
