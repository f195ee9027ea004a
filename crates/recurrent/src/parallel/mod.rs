//! Threads: a persistent helper thread for work too fine to spawn for ([`Helper`]; the crate
//! hands it parts of a step with `join`) and data parallelism over the batch ([`Shards`]). Every
//! split writes disjoint outputs in the one-thread order, so results do not depend on the
//! threads.

mod helper;
mod shards;

pub(crate) use helper::{available, rows_in_two, weight_grad_split, GradSplit};
pub use helper::{join, with_threads, Helper};

/// Below this many multiply-adds in one step's recurrent product (`B·G·H·H`), a training step
/// runs on one thread whatever the threads asked: a shard or a half product of that size gains
/// less than the hand-off costs (measured: min-char-rnn, 10⁴, ran 25 % slower on two threads of
/// the Intel Xeon of the README; lstm-small, 2·10⁶, nearly twice as fast).
pub const SHARE_MIN_MACS: usize = 1 << 17;
pub use shards::{columns, part_seed, part_seeds, share, Parallelism, Shards};
