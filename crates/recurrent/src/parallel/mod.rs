//! Threads: a persistent helper thread for work too fine to spawn for ([`Helper`]; the crate
//! hands it parts of a step with `join`) and data parallelism over the batch ([`Shards`]). Every
//! split writes disjoint outputs in the one-thread order, so results do not depend on the
//! threads.

mod helper;
mod shards;

pub(crate) use helper::{available, rows_in_two, weight_grad_split, GradSplit};
pub use helper::{join, with_threads, Helper};
pub use shards::{columns, part_seed, part_seeds, share, Parallelism, Shards};
