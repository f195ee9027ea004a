//! One direction of one layer run over `T` steps: the one forward loop and the one
//! backward-through-time loop, for any cell.
//!
//! Speed is designed in: the input projection `X · W_ihᵀ + b_ih` for all `T·B` rows is one GEMM
//! before the loop (a column gather for one-hot tokens); each step does one recurrent GEMM and one
//! fused pass over the gates; backward keeps the pre-activation gradients of every step so the
//! weight gradients are one GEMM per weight after the loop. Workspaces are sized for `(T, B)` once
//! and reused; nothing is allocated inside the time loop.
//!
//! Rows are time-major: row block `t` (rows `t·B .. (t+1)·B`) is time step `t`. The hidden
//! states live in `hbuf ((T+1)·B, H)`: forward direction `h0` in block 0 and `h_t` in block `t+1`;
//! reverse direction `h_t` in block `t` and `h0` in block `T`. Either way the outputs and the
//! "previous state" of every step are contiguous row ranges.

use crate::cell::{gru, lstm, rnn, CellKind, CellParams};
use crate::Float;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

/// The input of a sequence layer.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, F> {
    /// `(T·B, I)` dense rows, time-major.
    Dense(ArrayView2<'a, F>),
    /// `(T·B,)` token indices below `I`: a one-hot input without the zeros.
    Tokens(&'a [usize]),
}

/// With one sequence, the number of steps from which `W_hhᵀ` is laid out once per forward
/// for [`Float::vecmat`] rather than read in place by [`Float::gemv`] at every step.
const VECMAT_MIN_STEPS: usize = 4;

/// Activations kept for backward and scratch buffers, sized for one `(T, B)`.
#[derive(Clone, Debug, Default)]
struct Workspace<F> {
    t: usize,
    b: usize,
    /// `(T·B, G·H)`: input pre-activations, then the gate activations (LSTM, GRU), then in
    /// backward the pre-activation gradients (dGi), each row overwritten in place.
    gates: Array2<F>,
    /// `((T+1)·B, H)`: hidden states, see the module docs for the block order.
    hbuf: Array2<F>,
    /// `((T+1)·B, H)`: LSTM cell states, same order as `hbuf`.
    cbuf: Array2<F>,
    /// `(T·B, H)`: LSTM `tanh(c_t)`; GRU `W_hn h_{t-1} + b_hn`.
    aux: Array2<F>,
    /// `(B, G·H)`: GRU only, this step's `W_hh h_{t-1} + b_hh`.
    hproj: Array2<F>,
    /// `W_hhᵀ (H, G·H)` for the per-step product, once per forward: packed for a batch, rows
    /// padded and aligned (see `kernels::aligned`) for one sequence.
    w_fwd: Vec<F>,
    /// `W_hh (G·H, H)` for the per-step product, once per backward, laid out as `w_fwd`.
    w_bwd: Vec<F>,
    /// One sequence: where the rows of `w_fwd` and of `w_bwd` start, and their stride.
    fwd_at: (usize, usize),
    bwd_at: (usize, usize),
    /// `(T·B, G·H)`: GRU only, gradient of the hidden-side pre-activations.
    dgh: Array2<F>,
    /// Whether a backward pass has consumed the activations of the last forward.
    consumed: bool,
    /// `(B, H)`: the running `∂L/∂h` and `∂L/∂c`.
    dh: Array2<F>,
    dc: Array2<F>,
    /// `(I, G·H)` scratch for one-hot input: the table `W_ihᵀ + b` in forward, per-token sums
    /// of the input-side gradients in backward.
    tok_acc: Vec<F>,
}

/// One direction of one recurrent layer: parameters, their gradients, and its workspace.
#[derive(Clone, Debug)]
pub struct SeqLayer<F> {
    /// The recurrence.
    pub kind: CellKind,
    /// Runs from `t = T−1` down to `0` when set (the `_reverse` direction).
    pub reverse: bool,
    /// The weights.
    pub params: CellParams<F>,
    /// Gradients, accumulated by [`SeqLayer::backward`].
    pub grads: CellParams<F>,
    ws: Workspace<F>,
}

impl<F: Float> SeqLayer<F> {
    /// A layer with the given weights and zero gradients.
    pub fn new(kind: CellKind, params: CellParams<F>, reverse: bool) -> Self {
        // Kernels read flat row-major slices; accept transposed or sliced arrays from callers.
        let std2 = |a: ndarray::Array2<F>| a.as_standard_layout().into_owned();
        let std1 = |a: ndarray::Array1<F>| a.as_standard_layout().into_owned();
        let params = CellParams {
            weight_ih: std2(params.weight_ih),
            weight_hh: std2(params.weight_hh),
            bias_ih: std1(params.bias_ih),
            bias_hh: std1(params.bias_hh),
        };
        let grads = CellParams::zeros(kind, params.input(), params.hidden());
        SeqLayer { kind, reverse, params, grads, ws: Workspace::default() }
    }

    /// `H`.
    pub fn hidden(&self) -> usize {
        self.params.hidden()
    }

    fn ensure(&mut self, t: usize, b: usize) {
        let (h, gh) = (self.hidden(), self.kind.gates() * self.hidden());
        let ws = &mut self.ws;
        if ws.t == t && ws.b == b && ws.hbuf.nrows() == (t + 1) * b {
            return;
        }
        let lstm = self.kind == CellKind::Lstm;
        let aux_rows = if self.kind == CellKind::Rnn { 0 } else { t * b };
        *ws = Workspace {
            t,
            b,
            gates: Array2::zeros((t * b, gh)),
            hbuf: Array2::zeros(((t + 1) * b, h)),
            cbuf: Array2::zeros((if lstm { (t + 1) * b } else { 0 }, h)),
            aux: Array2::zeros((aux_rows, h)),
            hproj: Array2::zeros((if self.kind == CellKind::Gru { b } else { 0 }, gh)),
            w_fwd: Vec::new(),
            w_bwd: Vec::new(),
            fwd_at: (0, 0),
            bwd_at: (0, 0),
            dgh: Array2::zeros((if self.kind == CellKind::Gru { t * b } else { 0 }, gh)),
            consumed: false,
            dh: Array2::zeros((b, h)),
            dc: Array2::zeros((b, h)),
            tok_acc: Vec::new(),
        };
    }

    /// Row block of step `t`'s output and of its previous state in `hbuf`.
    fn blocks(&self, t: usize) -> (usize, usize) {
        if self.reverse {
            (t, t + 1)
        } else {
            (t + 1, t)
        }
    }

    /// Runs the layer over `T` steps of `B` rows.
    ///
    /// * `x`: `(T·B, I)` or `T·B` tokens.
    /// * `h0`, `c0`: `(B, H)` initial state (`c0` for LSTM only; `None` means zeros).
    ///
    /// The caller checks shapes; read the results with [`SeqLayer::output`] and
    /// [`SeqLayer::final_state`].
    pub fn forward(
        &mut self,
        x: SeqInput<'_, F>,
        t: usize,
        b: usize,
        h0: ArrayView2<'_, F>,
        c0: Option<ArrayView2<'_, F>>,
    ) {
        self.ensure(t, b);
        self.ws.consumed = false;
        self.project_inputs(x);
        let h = self.hidden();
        let init = if self.reverse { t } else { 0 };
        self.ws.hbuf.slice_mut(s![init * b..(init + 1) * b, ..]).assign(&h0);
        if self.kind == CellKind::Lstm {
            let mut c = self.ws.cbuf.slice_mut(s![init * b..(init + 1) * b, ..]);
            match c0 {
                Some(c0) => c.assign(&c0),
                None => c.fill(F::zero()),
            }
        }
        // The whole time loop in eight-lane code (see `kernels::wide`).
        crate::kernels::wide(
            #[inline(always)]
            || {
                for step in 0..t {
                    let ti = if self.reverse { t - 1 - step } else { step };
                    self.forward_step(ti, b, h);
                }
            },
        );
    }

    /// `gates = X · W_ihᵀ + b_ih` for all rows in one GEMM (a column gather for tokens).
    /// `gates = X · W_ihᵀ + b` for all rows in one GEMM (a column gather for tokens), where
    /// `b = b_ih + b_hh` for RNN and LSTM (the two biases are only ever added) and `b_ih` for
    /// the GRU (whose `b_hn` sits inside the reset gate's product).
    fn project_inputs(&mut self, x: SeqInput<'_, F>) {
        let ws = &mut self.ws;
        let bias = match self.kind {
            CellKind::Gru => self.params.bias_ih.clone(),
            _ => &self.params.bias_ih + &self.params.bias_hh,
        };
        match x {
            SeqInput::Dense(x) => {
                ws.gates.assign(&bias);
                let (x, w) = (x.as_standard_layout(), &self.params.weight_ih);
                let (rows, (gh, i)) = (x.nrows(), w.dim());
                let gates = ws.gates.as_slice_mut().expect("contiguous");
                let (x, w) = (x.as_slice().expect("standard"), w.as_slice().expect("contiguous"));
                F::gemm_nt(rows, gh, i, x, i, w, i, gates, gh, true);
            }
            SeqInput::Tokens(tok) if tok.len() >= 2 * self.params.input() => {
                // Column k of W_ih is strided; with many rows, first lay out the table
                // `W_ihᵀ + b` (I, G·H) once, so each row is one contiguous copy.
                let (i, gh) = (self.params.input(), self.params.weight_ih.nrows());
                let w = self.params.weight_ih.as_slice().expect("contiguous");
                let bias = bias.as_slice().expect("contiguous");
                let table = &mut ws.tok_acc;
                table.resize(i * gh, F::zero());
                crate::kernels::transpose(gh, i, w, table);
                for row in table.chunks_exact_mut(gh) {
                    row.iter_mut().zip(bias).for_each(|(t, &b)| *t += b);
                }
                let gates = ws.gates.as_slice_mut().expect("contiguous");
                for (row, &k) in gates.chunks_exact_mut(gh).zip(tok) {
                    row.copy_from_slice(&table[k * gh..(k + 1) * gh]);
                }
            }
            SeqInput::Tokens(tok) => {
                // Few rows (one sequence): gates[r, g] = b[g] + W_ih[g, tok[r]], one row of
                // W_ih (contiguous, in cache) at a time.
                let (i, gh) = (self.params.input(), self.params.weight_ih.nrows());
                let w = self.params.weight_ih.as_slice().expect("contiguous");
                let gates = ws.gates.as_slice_mut().expect("contiguous");
                let n = tok.len().min(gates.len() / gh.max(1));
                for (g, (wrow, &bg)) in w.chunks_exact(i).zip(bias.iter()).enumerate() {
                    for r in 0..n {
                        gates[r * gh + g] = bg + wrow[tok[r]];
                    }
                }
            }
        }
        // W_hhᵀ (H, G·H) for the per-step product, once per forward: packed in panels for a
        // batch; laid out row-major for one sequence over several steps (a row vector times
        // it, see `Float::vecmat`). A single step of a single sequence (sampling) reads W_hh
        // as it lies instead, since laying it out would cost as much as the product.
        let (h, gh) = (self.params.hidden(), self.params.weight_hh.nrows());
        let whh = self.params.weight_hh.as_slice().expect("contiguous");
        let mut wt = std::mem::take(&mut ws.w_fwd);
        if ws.b > 1 {
            // One buffer serves the forward's W_hhᵀ and the backward's W_hh in turn.
            if wt.is_empty() {
                wt = std::mem::take(&mut ws.w_bwd);
            }
            F::pack_b(h, gh, whh, (1, h), &mut wt);
        } else if ws.t >= VECMAT_MIN_STEPS {
            let ld = crate::kernels::vector_ld(gh);
            let off = crate::kernels::aligned(&mut wt, h * ld);
            crate::kernels::transpose_ld(gh, h, whh, &mut wt[off..], ld);
            ws.fwd_at = (off, ld);
        }
        ws.w_fwd = wt;
    }

    #[inline(always)]
    fn forward_step(&mut self, ti: usize, b: usize, h: usize) {
        let (out, prev) = self.blocks(ti);
        let gh = self.kind.gates() * h;
        let ws = &mut self.ws;
        let rows = |blk: usize| blk * b..(blk + 1) * b;
        let (wt, whh) = (&ws.w_fwd, self.params.weight_hh.as_slice().expect("contiguous"));
        // hproj (B, G·H) += h_prev (B, H) · W_hhᵀ
        let (steps, (off, ld)) = (ws.t, ws.fwd_at);
        let rec = |hprev: &[F], out: &mut [F]| {
            if b == 1 && steps >= VECMAT_MIN_STEPS {
                // Alternate the reading order step by step, so W_hhᵀ is partly still in L1.
                F::vecmat(gh, h, hprev, &wt[off..], ld, out, true, ti % 2 == 1)
            } else if b == 1 {
                F::gemv(gh, h, whh, h, hprev, out, true)
            } else {
                F::gemm_packed(b, gh, h, hprev, h, wt, out, gh, true)
            }
        };
        let gates = rows_mut(&mut ws.gates, rows(ti));
        let (hprev, hout) = read_write_blocks(&mut ws.hbuf, prev, out, b * h);
        match self.kind {
            CellKind::Rnn => {
                rec(hprev, gates);
                rnn::forward_step(gates, hout)
            }
            CellKind::Gru => {
                // The hidden side stays separate: r multiplies W_hn h + b_hn.
                ws.hproj.assign(&self.params.bias_hh);
                let hp = ws.hproj.as_slice_mut().expect("contiguous");
                rec(hprev, hp);
                let hn = rows_mut(&mut ws.aux, rows(ti));
                gru::forward_step(gates, hp, hprev, hout, hn, h);
            }
            CellKind::Lstm => {
                rec(hprev, gates);
                let tc = rows_mut(&mut ws.aux, rows(ti));
                let (cprev, cout) = read_write_blocks(&mut ws.cbuf, prev, out, b * h);
                lstm::forward_step(gates, cprev, cout, tc, hout, h);
            }
        }
    }

    /// Whether [`SeqLayer::backward`] can run: a forward has run and no backward has consumed its
    /// activations yet (backward turns them into gradients in place).
    pub fn ready_for_backward(&self) -> bool {
        self.ws.t > 0 && !self.ws.consumed
    }

    /// `(T·B, H)`: `h_t` for every step, in time order.
    pub fn output(&self) -> ArrayView2<'_, F> {
        let (t, b) = (self.ws.t, self.ws.b);
        let start = if self.reverse { 0 } else { b };
        self.ws.hbuf.slice(s![start..start + t * b, ..])
    }

    /// `(B, H)` each: the state after the last step processed (`h_n`, and `c_n` for LSTM).
    pub fn final_state(&self) -> (ArrayView2<'_, F>, Option<ArrayView2<'_, F>>) {
        let (t, b) = (self.ws.t, self.ws.b);
        let blk = if self.reverse { 0 } else { t };
        let h = self.ws.hbuf.slice(s![blk * b..(blk + 1) * b, ..]);
        let c = (self.kind == CellKind::Lstm).then(|| self.ws.cbuf.slice(s![blk * b..(blk + 1) * b, ..]));
        (h, c)
    }

    /// Backpropagation through time over the steps of the last [`SeqLayer::forward`]. It
    /// consumes that forward's activations (see [`SeqLayer::ready_for_backward`]).
    ///
    /// * `dy`: `(T·B, H)`, `∂L/∂h_t` from above for every step (may be a column slice).
    /// * `dh_n`, `dc_n`: `(B, H)`, gradient reaching the final state, or `None` for zero.
    /// * `x`: the forward input again (for `∂L/∂W_ih`).
    /// * `dx`: `(T·B, I)`, receives `+= ∂L/∂x` when given (ignored for tokens).
    ///
    /// Parameter gradients are accumulated into `self.grads`. Returns `∂L/∂h0` and, for LSTM,
    /// `∂L/∂c0`, each `(B, H)`.
    pub fn backward(
        &mut self,
        dy: ArrayView2<'_, F>,
        dh_n: Option<ArrayView2<'_, F>>,
        dc_n: Option<ArrayView2<'_, F>>,
        x: SeqInput<'_, F>,
        dx: Option<ArrayViewMut2<'_, F>>,
    ) -> (Array2<F>, Option<Array2<F>>) {
        let (t, b) = (self.ws.t, self.ws.b);
        self.ws.consumed = true;
        let (h, gh) = (self.params.hidden(), self.params.weight_hh.nrows());
        let whh = self.params.weight_hh.as_slice().expect("contiguous");
        if b > 1 {
            // W_hhᵀ is repacked by the next forward and not needed while going back: its
            // buffer takes W_hh.
            let mut buf = std::mem::take(&mut self.ws.w_fwd);
            F::pack_b(gh, h, whh, (h, 1), &mut buf);
            self.ws.w_bwd = buf;
        } else {
            // W_hh's rows copied padded and aligned, as the forward lays out W_hhᵀ.
            let ld = crate::kernels::vector_ld(h);
            let off = crate::kernels::aligned(&mut self.ws.w_bwd, gh * ld);
            for (d, r) in self.ws.w_bwd[off..].chunks_mut(ld).zip(whh.chunks_exact(h)) {
                d[..h].copy_from_slice(r);
            }
            self.ws.bwd_at = (off, ld);
        }
        set_or_zero(&mut self.ws.dh, dh_n);
        set_or_zero(&mut self.ws.dc, dc_n);
        let dy_flat = dy.as_slice();
        crate::kernels::wide(
            #[inline(always)]
            || {
                for step in 0..t {
                    let ti = if self.reverse { step } else { t - 1 - step };
                    match dy_flat {
                        // One direction: dy is whole rows, so step ti's block is one slice.
                        Some(d) => {
                            let dh = self.ws.dh.as_slice_mut().expect("contiguous");
                            dh.iter_mut().zip(&d[ti * b * h..(ti + 1) * b * h]).for_each(|(x, &y)| *x += y);
                        }
                        None => add_rows(&mut self.ws.dh, dy.slice(s![ti * b..(ti + 1) * b, ..])),
                    }
                    self.backward_step(ti, b);
                }
                self.weight_grads(x, dx);
            },
        );
        let dc0 = (self.kind == CellKind::Lstm).then(|| self.ws.dc.clone());
        (self.ws.dh.clone(), dc0)
    }

    /// Turns `dh` (gradient at `h_t`) into the pre-activation gradients of step `ti` and
    /// `dh ← ∂L/∂h_{t-1}` (and `dc ← ∂L/∂c_{t-1}`).
    #[inline(always)]
    fn backward_step(&mut self, ti: usize, b: usize) {
        let (out, prev) = self.blocks(ti);
        let h = self.hidden();
        let ws = &mut self.ws;
        let rows = |blk: usize| blk * b..(blk + 1) * b;
        let dh = ws.dh.as_slice_mut().expect("contiguous");
        // The gate rows of step ti become their pre-activation gradients, in place.
        let gates = rows_mut(&mut ws.gates, rows(ti));
        match self.kind {
            CellKind::Rnn => {
                rnn::backward_step(dh, rows_of(&ws.hbuf, rows(out)), gates);
            }
            CellKind::Lstm => {
                let cprev = rows_of(&ws.cbuf, rows(prev));
                let tc = rows_of(&ws.aux, rows(ti));
                lstm::backward_step(dh, ws.dc.as_slice_mut().expect("contiguous"), gates, cprev, tc, h);
            }
            CellKind::Gru => {
                let hn = rows_of(&ws.aux, rows(ti));
                let hprev = rows_of(&ws.hbuf, rows(prev));
                let dgh = rows_mut(&mut ws.dgh, rows(ti));
                gru::backward_step(dh, gates, hn, hprev, dgh, h);
            }
        }
        // dh_prev = dG_h · W_hh (+ the GRU's direct path z ⊙ dh already left in dh).
        let (dg, acc) = match self.kind {
            CellKind::Gru => (rows_of(&ws.dgh, rows(ti)), true),
            _ => (rows_of(&ws.gates, rows(ti)), false),
        };
        let gh = self.kind.gates() * h;
        let dh = ws.dh.as_slice_mut().expect("contiguous");
        if b == 1 {
            // dh (1, H) = dg (1, G·H) · W_hh (G·H, H), from the aligned copy.
            let (off, ld) = ws.bwd_at;
            F::vecmat(h, gh, dg, &ws.w_bwd[off..], ld, dh, acc, ti % 2 == 1);
        } else {
            F::gemm_packed(b, h, gh, dg, gh, &ws.w_bwd, dh, h, acc);
        }
    }

    /// After the time loop: every weight gradient as one GEMM over all `T·B` rows. With a
    /// [`crate::par::Helper`] installed, the rows of `dW_hh` are cut in two blocks, the helper
    /// taking one and the caller the other and everything else.
    #[inline(always)]
    fn weight_grads(&mut self, x: SeqInput<'_, F>, dx: Option<ArrayViewMut2<'_, F>>) {
        let (t, b) = (self.ws.t, self.ws.b);
        let (h, gh, rows) = (self.hidden(), self.kind.gates() * self.hidden(), t * b);
        let i = self.params.input();
        let mut acc = std::mem::take(&mut self.ws.tok_acc);
        let ws = &self.ws;
        let g = &mut self.grads;
        let w_ih = &self.params.weight_ih;
        let gru = self.kind == CellKind::Gru;
        let dx_wanted = dx.is_some();
        // After the loop `gates` holds the input-side pre-activation gradients (dGi).
        let dgh = if gru { ws.dgh.view() } else { ws.gates.view() };
        let hprev = if self.reverse { ws.hbuf.slice(s![b.., ..]) } else { ws.hbuf.slice(s![..rows, ..]) };
        let (dghs, dgis) = (dgh.to_slice().expect("contiguous"), ws.gates.as_slice().expect("contiguous"));
        let hps = hprev.to_slice().expect("contiguous");
        // Rows r0.. of dW_hh (G·H, H) += dGhᵀ (G·H, T·B) · Hprev (T·B, H), into `c`.
        let dwhh = |r0: usize, c: &mut [F]| {
            let m = c.len() / h.max(1);
            F::gemm(m, h, rows, &dghs[r0..], 1, gh, hps, h, c, h, true);
        };
        let (wih, bias_ih, bias_hh) = (&mut g.weight_ih, &mut g.bias_ih, &mut g.bias_hh);
        let rest = || {
            // The input-side work; with many token rows it also returns dGi's column sums,
            // taken from the per-token table (the same rows grouped by token: I rows, not T·B).
            let table_sums = match x {
                SeqInput::Dense(x) => {
                    // dW_ih (G·H, I) += dGiᵀ (G·H, T·B) · X (T·B, I)
                    let x = x.as_standard_layout();
                    let wih = wih.as_slice_mut().expect("contiguous");
                    F::gemm(gh, i, rows, dgis, 1, gh, x.as_slice().expect("standard"), i, wih, i, true);
                    if let Some(mut dx) = dx {
                        // dX (T·B, I) += dGi (T·B, G·H) · W_ih (G·H, I)
                        let w = w_ih.as_slice().expect("contiguous");
                        match dx.as_slice_mut() {
                            Some(d) => F::gemm(rows, i, gh, dgis, gh, 1, w, i, d, i, true),
                            None => general_mat_mul(F::one(), &ws.gates, w_ih, F::one(), &mut dx),
                        }
                    }
                    None
                }
                SeqInput::Tokens(tok) if rows >= 2 * i => {
                    // dW_ih[:, k] += every dGi row whose token is k. Column k is strided, so the
                    // rows are summed per token into a contiguous (I, G·H) scratch first (vector
                    // adds), which is then added in transposed once.
                    acc.clear();
                    acc.resize(i * gh, F::zero());
                    for (row, &k) in dgis.chunks_exact(gh).zip(tok) {
                        acc[k * gh..(k + 1) * gh].iter_mut().zip(row).for_each(|(a, &v)| *a += v);
                    }
                    let wih = wih.as_slice_mut().expect("contiguous");
                    for (k, a) in acc.chunks_exact(gh).enumerate() {
                        for (r, &v) in a.iter().enumerate() {
                            wih[r * i + k] += v;
                        }
                    }
                    Some(column_sums(&acc, gh))
                }
                SeqInput::Tokens(tok) => {
                    // Few rows (one sequence): add each row into its strided column directly.
                    let mut wt = wih.view_mut().reversed_axes();
                    for (row, &k) in ws.gates.rows().into_iter().zip(tok) {
                        let mut col = wt.row_mut(k);
                        col += &row;
                    }
                    None
                }
            };
            // db = the column sums of dG: dGh for b_hh, dGi for b_ih (the same matrix unless
            // the cell is a GRU).
            let sum_ih = table_sums.unwrap_or_else(|| column_sums(dgis, gh));
            let sum_hh = if gru { column_sums(dghs, gh) } else { sum_ih.clone() };
            bias_hh.iter_mut().zip(&sum_hh).for_each(|(b, &v)| *b += v);
            bias_ih.iter_mut().zip(&sum_ih).for_each(|(b, &v)| *b += v);
        };
        let whh = g.weight_hh.as_slice_mut().expect("contiguous");
        if gh * h * rows >= PAR_MIN_MACS && crate::par::available() {
            // Balance the work in multiply-adds: the caller's share of dW_hh plus the rest
            // (dW_ih and dX as GEMMs; a token scatter counted as 20 per entry, measured).
            let other = match x {
                SeqInput::Dense(_) => gh * i * rows * if dx_wanted { 2 } else { 1 },
                SeqInput::Tokens(_) => 20 * gh * rows,
            };
            let mine = (gh * h * rows).saturating_sub(other) / 2;
            let r0 = (mine / (h * rows).max(1) / 6 * 6).min(gh);
            let (c0, c1) = whh.split_at_mut(r0 * h);
            crate::par::join(
                || {
                    dwhh(0, c0);
                    rest();
                },
                || dwhh(r0, c1),
            );
        } else {
            dwhh(0, whh);
            rest();
        }
        self.ws.tok_acc = acc;
    }
}

/// With a helper installed, `dW_hh` is split across two threads from this many multiply-adds
/// (min-char-rnn's is 250,000; a hand-off costs about as much as 10,000).
const PAR_MIN_MACS: usize = 100_000;

/// Block `read` as a slice and block `write` (a different one) as a mutable slice, each `len`
/// values of the contiguous buffer `buf`.
fn read_write_blocks<F>(buf: &mut Array2<F>, read: usize, write: usize, len: usize) -> (&[F], &mut [F]) {
    let all = buf.as_slice_mut().expect("contiguous");
    if read < write {
        let (lo, hi) = all.split_at_mut(write * len);
        (&lo[read * len..(read + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = all.split_at_mut(read * len);
        (&hi[..len], &mut lo[write * len..(write + 1) * len])
    }
}

/// Rows `r` of a standard-layout matrix, as one slice (cheaper than an ndarray slice, in the
/// time loop).
#[inline(always)]
fn rows_of<F>(a: &Array2<F>, r: std::ops::Range<usize>) -> &[F] {
    let w = a.ncols();
    &a.as_slice().expect("contiguous")[r.start * w..r.end * w]
}

/// [`rows_of`], mutable.
#[inline(always)]
fn rows_mut<F>(a: &mut Array2<F>, r: std::ops::Range<usize>) -> &mut [F] {
    let w = a.ncols();
    &mut a.as_slice_mut().expect("contiguous")[r.start * w..r.end * w]
}

/// The sums of the columns of a row-major matrix `width` wide, row after row (contiguous
/// vector adds).
#[inline(always)]
fn column_sums<F: Float>(m: &[F], width: usize) -> Vec<F> {
    let mut acc = vec![F::zero(); width];
    for row in m.chunks_exact(width) {
        acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    acc
}

/// `dst += src`, row by row over contiguous slices where `src` has them (a column slice of a
/// wider matrix does, row by row), so the loop vectorises.
#[inline(always)]
fn add_rows<F: Float>(dst: &mut Array2<F>, src: ArrayView2<'_, F>) {
    for (mut d, s) in dst.rows_mut().into_iter().zip(src.rows()) {
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => d.iter_mut().zip(s).for_each(|(x, &y)| *x += y),
            _ => d += &s,
        }
    }
}

fn set_or_zero<F: Float>(dst: &mut Array2<F>, src: Option<ArrayView2<'_, F>>) {
    match src {
        Some(s) => dst.assign(&s),
        None => dst.fill(F::zero()),
    }
}
