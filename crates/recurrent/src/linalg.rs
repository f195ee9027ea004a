//! Matrix views for the products of [`crate::Float`]: a slice with its shape and strides, so a
//! product names its operands (`A`, `B`, `C`) instead of passing eleven numbers.
//!
//! `A (m, k) · B (k, n) → C (m, n)`: the shapes are the views', and a transposed operand is a
//! view with its strides swapped ([`MatRef::t`]), never a copy.

/// A read-only `rows × cols` matrix: entry `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, F> {
    /// The elements.
    pub data: &'a [F],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Elements from one row to the next.
    pub rs: usize,
    /// Elements from one column to the next.
    pub cs: usize,
}

impl<'a, F> MatRef<'a, F> {
    /// Row-major, rows `cols` apart.
    pub fn new(data: &'a [F], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, rs: cols, cs: 1 }
    }

    /// Row-major, rows `ld ≥ cols` apart.
    pub fn with_ld(data: &'a [F], rows: usize, cols: usize, ld: usize) -> Self {
        MatRef { data, rows, cols, rs: ld, cs: 1 }
    }

    /// The transpose, as a view of the same elements.
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Rows `r0..r0 + n` of the view.
    pub fn row_range(self, r0: usize, n: usize) -> Self {
        let data = if n == 0 { &self.data[..0] } else { &self.data[r0 * self.rs..] };
        MatRef { data, rows: n, ..self }
    }

    /// Whether the rows are contiguous (unit column stride).
    pub fn row_major(&self) -> bool {
        self.cs == 1
    }
}

/// A mutable row-major `rows × cols` matrix, rows `ld` apart: the output of a product.
#[derive(Debug)]
pub struct MatMut<'a, F> {
    /// The elements.
    pub data: &'a mut [F],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Elements from one row to the next.
    pub ld: usize,
}

impl<'a, F> MatMut<'a, F> {
    /// Row-major, rows `cols` apart.
    pub fn new(data: &'a mut [F], rows: usize, cols: usize) -> Self {
        MatMut { data, rows, cols, ld: cols }
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
