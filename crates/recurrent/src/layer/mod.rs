//! Layers: one direction over time ([`seq`]), stacks of layers in one or two directions
//! ([`stack`]), and the linear output head ([`linear`]).

pub mod linear;
pub mod seq;
pub mod stack;

/// Anything holding parameters and their gradients, visited in one fixed order. Optimizers,
/// clipping, checkpoints and the gradient checker are flat loops over this.
pub trait Parameters<F> {
    /// Calls `f(name, shape, values, gradients)` for every tensor, always in the same order.
    fn visit(&mut self, f: &mut dyn FnMut(&str, &[usize], &mut [F], &mut [F]));

    /// Calls `f(values, gradients)` for every tensor, in [`Parameters::visit`]'s order, without
    /// making names or shapes: the per-step loops (optimizers, clipping, zeroing) use this.
    fn visit_values(&mut self, f: &mut dyn FnMut(&mut [F], &mut [F])) {
        self.visit(&mut |_, _, p, g| f(p, g));
    }

    /// Sets every gradient to zero.
    fn zero_grad(&mut self)
    where
        F: crate::Float,
    {
        self.visit_values(&mut |_, g| g.fill(F::zero()));
    }

    /// Told by an optimizer that has just left every gradient at zero (see
    /// [`crate::optim::Optimizer::zeroing_grads`]), so a following [`Parameters::zero_grad`]
    /// may skip its pass. The default ignores it.
    fn grads_now_zero(&mut self) {}

    /// The number of scalar parameters.
    fn num_params(&mut self) -> usize {
        let mut n = 0;
        self.visit_values(&mut |p, _| n += p.len());
        n
    }
}
