//! Matrix views for the products of [`crate::Float`]: a slice with its shape and strides, so a
//! product names its operands (`A`, `B`, `C`) instead of passing eleven numbers.
//!
//! `A (m, k) · B (k, n) → C (m, n)`: the shapes are the views', and a transposed operand is a
//! view with its strides swapped ([`MatRef::t`]), never a copy.

/// Rows of the products' register block: a product cut in two by rows (for two threads) is
/// cut at a multiple of this, so each part runs whole blocks of the micro-kernel.
pub const ROW_BLOCK: usize = crate::kernels::gemm::MR;

/// The elements a `rows × cols` view at strides `(rs, cs)` spans (0 when empty), `None` when
/// that overflows `usize`.
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    crate::kernels::gemm::span(rows, cols, rs, cs)
}

/// Panics unless `len` elements hold the view: the one check every view passes when it is
/// made, so a view reaching a product always lies inside its slice.
#[track_caller]
fn check(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    match span(rows, cols, rs, cs) {
        Some(need) if need <= len => {}
        Some(need) => panic!("a {rows}×{cols} view at strides ({rs}, {cs}) needs {need} elements, the slice has {len}"),
        None => panic!("a {rows}×{cols} view at strides ({rs}, {cs}) spans more elements than can be addressed"),
    }
}

/// A read-only `rows × cols` matrix: entry `(i, j)` is `data[i·rs + j·cs]`. Every constructor
/// checks (in checked arithmetic) that the slice holds the view, and the fields are private,
/// so a view always lies inside its slice.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, F> MatRef<'a, F> {
    /// Row-major, rows `cols` apart.
    ///
    /// # Panics
    /// When `data` holds fewer than `rows·cols` elements.
    #[track_caller]
    pub fn new(data: &'a [F], rows: usize, cols: usize) -> Self {
        Self::with_strides(data, rows, cols, cols, 1)
    }

    /// Row-major, rows `ld` apart.
    ///
    /// # Panics
    /// When `data` is too short for the view.
    #[track_caller]
    pub fn with_ld(data: &'a [F], rows: usize, cols: usize, ld: usize) -> Self {
        Self::with_strides(data, rows, cols, ld, 1)
    }

    /// Any strides: entry `(i, j)` at `i·rs + j·cs`.
    ///
    /// # Panics
    /// When `data` is too short for the view (or its span overflows).
    #[track_caller]
    pub fn with_strides(data: &'a [F], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        check(data.len(), rows, cols, rs, cs);
        MatRef { data, rows, cols, rs, cs }
    }

    /// The transpose, as a view of the same elements.
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Rows `r0..r0 + n` of the view.
    ///
    /// # Panics
    /// When the rows are not all in the view.
    #[track_caller]
    pub fn row_range(self, r0: usize, n: usize) -> Self {
        assert!(r0.checked_add(n).is_some_and(|e| e <= self.rows), "rows {r0}..{r0}+{n} of a view of {}", self.rows);
        let data = if n == 0 || self.cols == 0 { &self.data[..0] } else { &self.data[r0 * self.rs..] };
        MatRef { data, rows: n, ..self }
    }

    /// Whether the rows are contiguous (unit column stride).
    pub fn row_major(&self) -> bool {
        self.cs == 1
    }

    /// The elements.
    pub fn data(&self) -> &'a [F] {
        self.data
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Elements from one row to the next.
    pub fn rs(&self) -> usize {
        self.rs
    }

    /// Elements from one column to the next.
    pub fn cs(&self) -> usize {
        self.cs
    }
}

/// A mutable row-major `rows × cols` matrix, rows `ld` apart: the output of a product. As
/// [`MatRef`], checked when made, fields private.
#[derive(Debug)]
pub struct MatMut<'a, F> {
    data: &'a mut [F],
    rows: usize,
    cols: usize,
    ld: usize,
}

impl<'a, F> MatMut<'a, F> {
    /// Row-major, rows `cols` apart.
    ///
    /// # Panics
    /// When `data` holds fewer than `rows·cols` elements.
    #[track_caller]
    pub fn new(data: &'a mut [F], rows: usize, cols: usize) -> Self {
        Self::with_ld(data, rows, cols, cols)
    }

    /// Row-major, rows `ld ≥ cols` apart.
    ///
    /// # Panics
    /// When `ld < cols` (rows would overlap) or `data` is too short for the view.
    #[track_caller]
    pub fn with_ld(data: &'a mut [F], rows: usize, cols: usize, ld: usize) -> Self {
        assert!(ld >= cols || rows <= 1, "rows {ld} apart overlap in a view of {cols} columns");
        check(data.len(), rows, cols, ld, 1);
        MatMut { data, rows, cols, ld }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Elements from one row to the next.
    pub fn ld(&self) -> usize {
        self.ld
    }

    /// The elements, and the leading dimension (for the kernels and the reference).
    pub(crate) fn into_parts(self) -> (&'a mut [F], usize) {
        (self.data, self.ld)
    }
}

/// `(m, n, k)` of `C (m, n) = A (m, k) · B (k, n)`.
///
/// # Panics
/// When the shapes do not chain.
pub(crate) fn dims<F>(a: &MatRef<'_, F>, b: &MatRef<'_, F>, c: &MatMut<'_, F>) -> (usize, usize, usize) {
    assert!(
        a.cols == b.rows && c.rows == a.rows && c.cols == b.cols,
        "product shapes do not chain: ({}, {}) · ({}, {}) into ({}, {})",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    (a.rows, b.cols, a.cols)
}
