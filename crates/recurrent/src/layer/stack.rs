//! A stack of `L` recurrent layers in one or two directions, PyTorch's `nn.RNN` / `nn.LSTM` /
//! `nn.GRU`: layer `l+1` reads layer `l`'s output sequence (both directions concatenated on the
//! feature axis, `[forward | reverse]`), dropout between layers in training only, states indexed
//! `layer·D + direction`.

use super::seq::{SeqInput, SeqLayer};
use super::Parameters;
use crate::cell::{CellKind, CellParams};
use crate::error::{fmt_shape, Error, Result};
use crate::rng::NumpyRng;
use crate::Float;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, Axis};

/// Sizes and options of a [`Recurrent`] stack. Required sizes in [`RecurrentConfig::new`],
/// options by `with_*`, then [`RecurrentConfig::init`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// The recurrence.
    pub kind: CellKind,
    /// `I`, features per step of the input.
    pub input_size: usize,
    /// `H`.
    pub hidden_size: usize,
    /// `L`.
    pub num_layers: usize,
    /// Two directions (`D = 2`) when set.
    pub bidirectional: bool,
    /// Dropout probability on the input of layers `1..L` in training.
    pub dropout: f64,
    /// Inputs and outputs are `(B, T, ·)` instead of `(T, B, ·)`.
    pub batch_first: bool,
    /// Variational dropout (Gal & Ghahramani, 2016; AWD-LSTM): one mask per sequence and
    /// feature, the same at every time step of a forward, instead of one per time step
    /// (PyTorch's `nn.LSTM`). Only drawn masks follow it; masks a caller gives are used as given.
    pub variational: bool,
}

impl RecurrentConfig {
    /// One layer, one direction, no dropout, time-major.
    pub fn new(kind: CellKind, input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            kind,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            batch_first: false,
            variational: false,
        }
    }
    /// Sets `L`.
    pub fn with_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    /// Sets bidirectional.
    pub fn with_bidirectional(mut self, b: bool) -> Self {
        self.bidirectional = b;
        self
    }
    /// Sets the dropout probability between layers.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// Draws one dropout mask per sequence, shared by every time step (see
    /// [`RecurrentConfig::variational`]).
    pub fn with_variational(mut self, v: bool) -> Self {
        self.variational = v;
        self
    }
    /// Sets batch-first layout.
    pub fn with_batch_first(mut self, b: bool) -> Self {
        self.batch_first = b;
        self
    }
    /// `D`: 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        1 + self.bidirectional as usize
    }

    /// Rejects sizes of zero and dropout outside `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.input_size == 0 {
            return bad("input size is 0: give at least 1 feature per step");
        }
        if self.hidden_size == 0 {
            return bad("hidden size is 0: give a hidden size of at least 1");
        }
        if self.num_layers == 0 {
            return bad("number of layers is 0: give at least 1 layer");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(&format!("dropout {} is outside [0, 1): give a probability such as 0.2", self.dropout));
        }
        Ok(())
    }

    /// A stack with PyTorch's default initialisation: every weight and bias from
    /// U(−1/√H, 1/√H), drawn layer by layer, direction by direction, in the order
    /// `weight_ih, weight_hh, bias_ih, bias_hh`.
    pub fn init<F: Float>(&self, rng: &mut NumpyRng) -> Result<Recurrent<F>> {
        let k = 1.0 / (self.hidden_size as f64).sqrt();
        self.init_with(|kind, i, h| CellParams::uniform(kind, i, h, k, rng))
    }

    /// A stack whose cell parameters come from `make(kind, input, hidden)`, layer by layer,
    /// direction by direction.
    pub fn init_with<F: Float>(
        &self,
        mut make: impl FnMut(CellKind, usize, usize) -> CellParams<F>,
    ) -> Result<Recurrent<F>> {
        self.validate()?;
        let d = self.directions();
        let mut layers = Vec::with_capacity(self.num_layers * d);
        for l in 0..self.num_layers {
            let input = if l == 0 { self.input_size } else { d * self.hidden_size };
            for dir in 0..d {
                layers.push(SeqLayer::new(self.kind, make(self.kind, input, self.hidden_size), dir == 1));
            }
        }
        Ok(Recurrent { config: self.clone(), layers, ws: StackWorkspace::default() })
    }
}

/// A recurrent state: `h (L·D, B, H)` and, for LSTM, `c (L·D, B, H)`.
#[derive(Clone, Debug, PartialEq)]
pub struct State<F> {
    /// Hidden states, row `layer·D + direction`.
    pub h: Array3<F>,
    /// Cell states (LSTM only).
    pub c: Option<Array3<F>>,
}

impl<F: Float> State<F> {
    /// The zero state for batch `b`.
    pub fn zeros(cfg: &RecurrentConfig, b: usize) -> Self {
        let shape = (cfg.num_layers * cfg.directions(), b, cfg.hidden_size);
        State { h: Array3::zeros(shape), c: cfg.kind.has_cell_state().then(|| Array3::zeros(shape)) }
    }
}

/// The input of a stack.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a, F> {
    /// `(T, B, I)`, or `(B, T, I)` when batch-first.
    Dense(ArrayView3<'a, F>),
    /// `(T, B)` token indices below `I` (one-hot input), or `(B, T)` when batch-first.
    Tokens(ArrayView2<'a, usize>),
}

/// Where a training forward's dropout masks come from.
enum Dropout<'r, 'm, F> {
    /// No dropout (evaluation).
    Off,
    /// Drawn from the library's generator.
    Draw(&'r mut NumpyRng),
    /// Given by the caller, one per gap between layers.
    Given(&'r [ArrayView2<'m, F>]),
}

#[derive(Clone, Debug, Default)]
struct StackWorkspace<F> {
    t: usize,
    b: usize,
    /// `(T·B, I)` layer-0 input, time-major (dense input).
    x0: Array2<F>,
    /// `(T·B,)` layer-0 tokens, time-major.
    tok: Vec<usize>,
    /// `L` × `(T·B, D·H)`: layer `l`'s output, both directions concatenated.
    feats: Vec<Array2<F>>,
    /// `L` × `(T·B, D·H)`: layer `l+1`'s input after dropout (empty when no dropout ran).
    dropped: Vec<Array2<F>>,
    /// `L` × `(T·B, D·H)`: the dropout masks, already scaled by `1/(1−p)`.
    masks: Vec<Array2<F>>,
    /// Whether the last forward applied dropout.
    dropout_ran: bool,
}

/// A multi-layer, optionally bidirectional recurrent network with hand-written BPTT.
#[derive(Clone, Debug)]
pub struct Recurrent<F> {
    /// Its sizes and options.
    pub config: RecurrentConfig,
    /// The layers, index `layer·D + direction`.
    pub layers: Vec<SeqLayer<F>>,
    ws: StackWorkspace<F>,
}

impl<F: Float> Recurrent<F> {
    /// `D·H`, the feature size of the output.
    pub fn output_size(&self) -> usize {
        self.config.directions() * self.config.hidden_size
    }

    /// Checks an input against the configuration and returns `(T, B)`.
    pub fn check_input(&self, x: &Input<'_, F>) -> Result<(usize, usize)> {
        let c = &self.config;
        let layout = if c.batch_first { "(B, T, I)" } else { "(T, B, I)" };
        let (d0, d1) = match x {
            Input::Dense(x) => {
                let sh = x.shape();
                if sh[2] != c.input_size {
                    return Err(Error::shape(
                        "x",
                        sh,
                        format!("the layer expects input size {} in {layout}", c.input_size),
                    ));
                }
                (sh[0], sh[1])
            }
            Input::Tokens(tk) => {
                if let Some(&bad) = tk.iter().find(|&&k| k >= c.input_size) {
                    return Err(Error::Config(format!(
                        "token {bad} is outside the vocabulary of {} symbols",
                        c.input_size
                    )));
                }
                (tk.shape()[0], tk.shape()[1])
            }
        };
        let (t, b) = if c.batch_first { (d1, d0) } else { (d0, d1) };
        if t == 0 || b == 0 {
            return Err(Error::Config(format!(
                "x has {t} steps and batch {b}: give at least one step and one sequence"
            )));
        }
        Ok((t, b))
    }

    /// Checks a state (initial state or its upstream gradient) for batch `b`.
    pub fn check_state(&self, what: &str, s: &State<F>, b: usize) -> Result<()> {
        let c = &self.config;
        let want = [c.num_layers * c.directions(), b, c.hidden_size];
        let why = "(L·D, B, H) =";
        crate::error::expect_shape(&format!("{what} h"), s.h.shape(), &want, why)?;
        match (&s.c, c.kind.has_cell_state()) {
            (Some(cs), true) => crate::error::expect_shape(&format!("{what} c"), cs.shape(), &want, why),
            (None, true) => {
                Err(Error::Missing(format!("{what} c: an LSTM state has h and c, each {}", fmt_shape(&want))))
            }
            (Some(_), false) => {
                Err(Error::Config(format!("{what} has a cell state c, but a {} has none: drop it", c.kind)))
            }
            (None, false) => Ok(()),
        }
    }

    /// Runs the stack. `h0 = None` means zeros. `dropout_rng` is the training switch: with
    /// `Some(rng)` and `dropout > 0`, masks are drawn from `rng` (`keep = u ≥ p`) in the order
    /// layer, time, batch, feature; with `None` no dropout is applied (evaluation).
    ///
    /// Returns the output `(T, B, D·H)` (or `(B, T, D·H)`) and the final state `(L·D, B, H)`.
    pub fn forward(
        &mut self,
        x: Input<'_, F>,
        h0: Option<&State<F>>,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(Array3<F>, State<F>)> {
        let (t, b) = self.forward_rows(x, h0, dropout_rng)?;
        let y = self.output_rows().to_owned().into_shape_with_order((t, b, self.output_size())).expect("rows are T·B");
        let y = if self.config.batch_first { y.permuted_axes([1, 0, 2]).as_standard_layout().to_owned() } else { y };
        Ok((y, self.final_state()))
    }

    /// [`Recurrent::forward`] without building the output array: read it with
    /// [`Recurrent::output_rows`]. Returns `(T, B)`.
    pub fn forward_rows(
        &mut self,
        x: Input<'_, F>,
        h0: Option<&State<F>>,
        dropout_rng: Option<&mut NumpyRng>,
    ) -> Result<(usize, usize)> {
        let tb = self.check_input(&x)?;
        self.run(x, tb, h0, dropout_rng.map_or(Dropout::Off, Dropout::Draw))
    }

    /// [`Recurrent::forward_rows`] in training with dropout masks the caller drew (another
    /// generator's, such as PyTorch's): `masks[l]` multiplies layer `l`'s output before layer
    /// `l + 1` reads it, `L − 1` arrays of `(T·B, D·H)` in time-major rows, already scaled
    /// (`0` or `1/(1−p)` for PyTorch's semantics). The stack needs `dropout > 0` in its
    /// configuration; the masks' values are used as given.
    ///
    /// # Errors
    /// As [`Recurrent::forward`], and when the count or a shape of `masks` is off.
    pub fn forward_rows_masked(
        &mut self,
        x: Input<'_, F>,
        h0: Option<&State<F>>,
        masks: &[ArrayView2<'_, F>],
    ) -> Result<(usize, usize)> {
        let (t, b) = self.check_input(&x)?;
        let nl = self.config.num_layers;
        if self.config.dropout <= 0.0 {
            return Err(Error::Config("dropout masks were given to a stack configured without dropout".into()));
        }
        if masks.len() != nl - 1 {
            return Err(Error::Config(format!(
                "{} dropout masks were given: a stack of {nl} layers has {} (one between each two layers)",
                masks.len(),
                nl - 1
            )));
        }
        for (l, m) in masks.iter().enumerate() {
            crate::error::expect_shape(
                &format!("dropout mask {l}"),
                m.shape(),
                &[t * b, self.output_size()],
                "(T·B, D·H) =",
            )?;
        }
        self.run(x, (t, b), h0, Dropout::Given(masks))
    }

    /// The forward of an input already checked to be `(T, B)` = `(t, b)`.
    fn run(
        &mut self,
        x: Input<'_, F>,
        (t, b): (usize, usize),
        h0: Option<&State<F>>,
        mut dropout: Dropout<'_, '_, F>,
    ) -> Result<(usize, usize)> {
        if let Some(h0) = h0 {
            self.check_state("h0", h0, b)?;
        }
        self.load_input(x, t, b);
        self.ws.dropout_ran = false;
        let (nl, d, h) = (self.config.num_layers, self.config.directions(), self.config.hidden_size);
        let p = self.config.dropout;
        let drop = p > 0.0 && !matches!(dropout, Dropout::Off) && nl > 1;
        self.ws.dropout_ran = drop;
        let zeros = Array2::zeros(if h0.is_some() { (0, 0) } else { (b, h) });
        for l in 0..nl {
            for dir in 0..d {
                let idx = l * d + dir;
                let (before, rest) = self.layers.split_at_mut(idx);
                let input = layer_input(&self.ws, before, l, d, drop);
                let h0v = h0.map(|s| s.h.index_axis(Axis(0), idx));
                let c0v = h0.and_then(|s| s.c.as_ref()).map(|c| c.index_axis(Axis(0), idx));
                rest[0].forward(input, t, b, h0v.unwrap_or(zeros.view()), c0v);
                if d == 2 {
                    self.ws.feats[l].slice_mut(s![.., dir * h..(dir + 1) * h]).assign(&rest[0].output());
                }
            }
            if drop && l + 1 < nl {
                let ws = &mut self.ws;
                let out = if d == 2 { ws.feats[l].view() } else { self.layers[l].output() };
                match &mut dropout {
                    Dropout::Draw(rng) => draw_mask(&mut ws.masks[l], b, p, self.config.variational, rng),
                    Dropout::Given(m) => ws.masks[l].assign(&m[l]),
                    Dropout::Off => unreachable!("drop is false without masks"),
                }
                ndarray::Zip::from(&mut ws.dropped[l]).and(&out).and(&ws.masks[l]).for_each(|o, &f, &m| *o = f * m);
            }
        }
        Ok((t, b))
    }

    fn load_input(&mut self, x: Input<'_, F>, t: usize, b: usize) {
        let (nl, dh) = (self.config.num_layers, self.output_size());
        let ws = &mut self.ws;
        if ws.t != t || ws.b != b || ws.masks.len() != if self.config.dropout > 0.0 { nl } else { 0 } {
            ws.t = t;
            ws.b = b;
            // One direction reads each layer's output where it lies; two are concatenated here.
            let nf = if self.config.bidirectional { nl } else { 0 };
            ws.feats = (0..nf).map(|_| Array2::zeros((t * b, dh))).collect();
            let extra = if self.config.dropout > 0.0 { nl } else { 0 };
            ws.dropped = (0..extra).map(|_| Array2::zeros((t * b, dh))).collect();
            ws.masks = (0..extra).map(|_| Array2::zeros((t * b, dh))).collect();
        }
        let bf = self.config.batch_first;
        match x {
            Input::Dense(x) => {
                let x = if bf { x.permuted_axes([1, 0, 2]) } else { x };
                ws.x0 = x
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order((t * b, self.config.input_size))
                    .expect("T·B rows");
                ws.tok.clear();
            }
            Input::Tokens(tk) => {
                ws.tok.clear();
                if bf {
                    ws.tok.extend(tk.t().iter().copied());
                } else {
                    ws.tok.extend(tk.iter().copied());
                }
                ws.x0 = Array2::zeros((0, 0));
            }
        }
    }

    /// `(T·B, D·H)`: the last layer's output of the last forward, time-major rows.
    pub fn output_rows(&self) -> ArrayView2<'_, F> {
        match self.ws.feats.last() {
            Some(f) => f.view(),
            None => self.layers.last().expect("at least one layer").output(),
        }
    }

    /// The final state of the last forward.
    pub fn final_state(&self) -> State<F> {
        let (b, h, lstm) = (self.ws.b, self.config.hidden_size, self.config.kind.has_cell_state());
        let n = self.layers.len();
        let mut st = State { h: Array3::zeros((n, b, h)), c: lstm.then(|| Array3::zeros((n, b, h))) };
        for (i, layer) in self.layers.iter().enumerate() {
            let (hn, cn) = layer.final_state();
            st.h.index_axis_mut(Axis(0), i).assign(&hn);
            if let (Some(c), Some(cn)) = (st.c.as_mut(), cn) {
                c.index_axis_mut(Axis(0), i).assign(&cn);
            }
        }
        st
    }

    /// Backpropagation through time and through the layers, for the last forward.
    ///
    /// * `dy`: `(T, B, D·H)` (or `(B, T, D·H)`), the gradient reaching the output.
    /// * `dstate`: the gradient reaching the final state, `None` for zero.
    ///
    /// Accumulates every parameter gradient; returns `∂L/∂x` (`(T, B, I)`, or batch-first;
    /// `None` for token input) and `∂L/∂h0` (and `∂L/∂c0`).
    pub fn backward(
        &mut self,
        dy: ArrayView3<'_, F>,
        dstate: Option<&State<F>>,
    ) -> Result<(Option<Array3<F>>, State<F>)> {
        let (t, b, dh) = (self.ws.t, self.ws.b, self.output_size());
        let want = if self.config.batch_first { [b, t, dh] } else { [t, b, dh] };
        crate::error::expect_shape("dy", dy.shape(), &want, "the output of the last forward")?;
        let dy = if self.config.batch_first { dy.permuted_axes([1, 0, 2]) } else { dy };
        let dy = dy.as_standard_layout().into_owned().into_shape_with_order((t * b, dh)).expect("T·B rows");
        let (dx, ds) = self.backward_rows(dy.view(), dstate)?;
        let dx = dx.map(|dx| {
            let dx = dx.into_shape_with_order((t, b, self.config.input_size)).expect("T·B rows");
            if self.config.batch_first {
                dx.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
            } else {
                dx
            }
        });
        Ok((dx, ds))
    }

    /// [`Recurrent::backward`] on time-major rows: `dy (T·B, D·H)`; returns `dx (T·B, I)`.
    pub fn backward_rows(
        &mut self,
        dy: ArrayView2<'_, F>,
        dstate: Option<&State<F>>,
    ) -> Result<(Option<Array2<F>>, State<F>)> {
        let (t, b) = (self.ws.t, self.ws.b);
        if !self.layers.iter().all(|l| l.ready_for_backward()) {
            return Err(Error::Config(
                "backward needs a forward first: each forward's activations serve one backward".into(),
            ));
        }
        if let Some(ds) = dstate {
            self.check_state("dh_n", ds, b)?;
        }
        crate::error::expect_shape(
            "dy",
            dy.shape(),
            &[t * b, self.output_size()],
            "the output rows of the last forward",
        )?;
        let (nl, d, h) = (self.config.num_layers, self.config.directions(), self.config.hidden_size);
        let drop = self.ws.dropout_ran;
        let mut dstate0 = State::zeros(&self.config, b);
        let mut dcur: ndarray::CowArray<'_, F, ndarray::Ix2> = dy.into();
        let mut dx0 = None;
        for l in (0..nl).rev() {
            let dense0 = l == 0 && self.ws.tok.is_empty();
            let in_size = if l == 0 { self.config.input_size } else { d * h };
            let mut dx = if l > 0 || dense0 { Array2::zeros((t * b, in_size)) } else { Array2::zeros((0, 0)) };
            for dir in 0..d {
                let idx = l * d + dir;
                let dhn = dstate.map(|s| s.h.index_axis(Axis(0), idx));
                let dcn = dstate.and_then(|s| s.c.as_ref()).map(|c| c.index_axis(Axis(0), idx));
                let (before, rest) = self.layers.split_at_mut(idx);
                let input = layer_input(&self.ws, before, l, d, drop);
                let dxv = (dx.nrows() > 0).then(|| dx.view_mut());
                let (dh0, dc0) = rest[0].backward(dcur.slice(s![.., dir * h..(dir + 1) * h]), dhn, dcn, input, dxv);
                dstate0.h.index_axis_mut(Axis(0), idx).assign(&dh0);
                if let (Some(c), Some(dc0)) = (dstate0.c.as_mut(), dc0) {
                    c.index_axis_mut(Axis(0), idx).assign(&dc0);
                }
            }
            if l > 0 {
                if drop {
                    dx *= &self.ws.masks[l - 1];
                }
                dcur = dx.into();
            } else if dense0 {
                dx0 = Some(dx);
            }
        }
        Ok((dx0, dstate0))
    }
}

/// Fills a dropout mask `(T·B, n)` (time-major rows of `b` streams) from `rng`: `1/(1−p)` where
/// `u ≥ p`, else 0. Per time step (PyTorch's), one draw per entry in the order time, batch,
/// feature; per sequence (`variational`), one draw per stream and feature, in the order batch,
/// feature, repeated at every time step.
pub(crate) fn draw_mask<F: Float>(mask: &mut Array2<F>, b: usize, p: f64, variational: bool, rng: &mut NumpyRng) {
    let keep = F::c(1.0 / (1.0 - p));
    let mut draw = |v: &mut F| *v = if rng.random_sample() >= p { keep } else { F::zero() };
    if !variational {
        mask.iter_mut().for_each(draw);
        return;
    }
    if b == 0 || mask.is_empty() {
        return;
    }
    let rows = b.min(mask.nrows());
    let (mut first, mut rest) = mask.view_mut().split_at(Axis(0), rows);
    first.iter_mut().for_each(&mut draw);
    for mut rows in rest.axis_chunks_iter_mut(Axis(0), b) {
        rows.assign(&first.slice(s![..rows.nrows(), ..]));
    }
}

/// Layer `l`'s input for the last forward: the loaded input for layer 0, else the previous
/// layer's output (after dropout when it ran): read from that layer itself with one direction
/// (`before` holds the layers before the current one), from the concatenation with two.
fn layer_input<'a, F: Float>(
    ws: &'a StackWorkspace<F>,
    before: &'a [SeqLayer<F>],
    l: usize,
    d: usize,
    drop: bool,
) -> SeqInput<'a, F> {
    if l == 0 {
        if ws.tok.is_empty() {
            SeqInput::Dense(ws.x0.view())
        } else {
            SeqInput::Tokens(&ws.tok)
        }
    } else if drop {
        SeqInput::Dense(ws.dropped[l - 1].view())
    } else if d == 1 {
        SeqInput::Dense(before[l - 1].output())
    } else {
        SeqInput::Dense(ws.feats[l - 1].view())
    }
}

impl<F: Float> Parameters<F> for Recurrent<F> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [F], &mut [F])) {
        let d = self.config.directions();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let names = CellParams::<F>::names(i / d, i % d == 1);
            let shapes = layer.params.shapes();
            let ps = layer.params.tensors_mut();
            let gs = layer.grads.tensors_mut();
            for (((n, s), p), g) in names.iter().zip(&shapes).zip(ps).zip(gs) {
                f(n, s, p, g);
            }
        }
    }

    fn visit_values(&mut self, f: &mut dyn FnMut(&mut [F], &mut [F])) {
        for layer in self.layers.iter_mut() {
            for (p, g) in layer.params.tensors_mut().into_iter().zip(layer.grads.tensors_mut()) {
                f(p, g);
            }
        }
    }
}

#[cfg(test)]
mod dropout_tests {
    use super::*;

    // One draw per sequence and feature, in the order batch, feature, repeated at every time
    // step; kept entries are 1/(1−p) = 2.5 for p = 0.6; the draws are the generator's first
    // B·n (the same generator, drawn directly, gives them).
    #[test]
    fn per_sequence_masks_repeat_over_time() {
        let (t, b, n, p) = (4, 3, 5, 0.6);
        let mut mask = Array2::<f64>::zeros((t * b, n));
        draw_mask(&mut mask, b, p, true, &mut NumpyRng::new(7));
        let mut rng = NumpyRng::new(7);
        let first: Vec<f64> = (0..b * n).map(|_| if rng.random_sample() >= p { 2.5 } else { 0.0 }).collect();
        for ti in 0..t {
            let rows: Vec<f64> = mask.slice(s![ti * b..(ti + 1) * b, ..]).iter().copied().collect();
            assert_eq!(rows, first, "time step {ti}");
        }
        assert!(first.contains(&0.0) && first.contains(&2.5), "{first:?}");
        // Empty shapes draw nothing and do not panic.
        draw_mask(&mut Array2::<f32>::zeros((0, 4)), 0, p, true, &mut rng);
        draw_mask(&mut Array2::<f32>::zeros((6, 0)), 3, p, true, &mut rng);
    }
}
