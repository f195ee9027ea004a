//! Threads: a persistent helper thread for work too fine to spawn for ([`join`], see
//! [`Helper`]) and data parallelism over the batch ([`Shards`]). Every split writes disjoint
//! outputs in the one-thread order, so results do not depend on the threads.

mod helper;
mod shards;

pub use helper::{available, join, with_threads, Helper, SPIN};
pub use shards::Shards;
