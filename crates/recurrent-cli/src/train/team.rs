//! The processes a run is spread over: one (`Team::solo`), or the ranks of an MPI job
//! (`train --distributed` under `mpirun`, built with `--features mpi`). Rank 0 leads: it alone
//! writes the run folder and prints; every rank holds the whole model and takes the same steps.

use anyhow::{bail, Result};
use recurrent::train::AllSum;

/// What the training loop needs from the processes besides the sums of `AllSum`.
pub trait Comm: AllSum<f32> {
    /// Element-wise sum of `v` over every process, in place.
    fn sum_u64(&mut self, v: &mut [u64]);
    /// Seconds spent in the sums so far (waiting for the other ranks included).
    fn seconds(&self) -> f64;
}

/// This process's place in the run.
pub struct Team {
    /// 0 for the lead.
    pub rank: usize,
    /// The number of processes.
    pub size: usize,
    /// `None` for a single process.
    pub comm: Option<Box<dyn Comm>>,
}

impl Team {
    /// A run of one process.
    pub fn solo() -> Team {
        Team { rank: 0, size: 1, comm: None }
    }

    /// The ranks of the MPI job this process belongs to.
    #[cfg(feature = "mpi")]
    pub fn mpi() -> Result<Team> {
        mpi_comm::join()
    }

    /// Without the `mpi` feature there is no MPI to join.
    #[cfg(not(feature = "mpi"))]
    pub fn mpi() -> Result<Team> {
        bail!("this recurrent was built without MPI: build it with `cargo build --release -p recurrent-cli --features mpi` (Debian: apt-get install libopenmpi-dev openmpi-bin libclang-dev pkg-config), then run it under mpirun")
    }

    /// Whether this process writes files and prints.
    pub fn leads(&self) -> bool {
        self.rank == 0
    }

    /// This process's columns `b0..b1` of a batch of `b` streams (as the batch shards cut it).
    pub fn cols(&self, b: usize) -> (usize, usize) {
        (self.rank * b / self.size, (self.rank + 1) * b / self.size)
    }

    /// Whether every process says yes.
    pub fn all_agree(&mut self, yes: bool) -> bool {
        match &mut self.comm {
            None => yes,
            Some(c) => {
                let mut v = [u64::from(!yes)];
                c.sum_u64(&mut v);
                v[0] == 0
            }
        }
    }

    /// Sums `v` over the processes (nothing to do alone).
    pub fn sum_f64(&mut self, v: &mut [f64]) {
        if let Some(c) = &mut self.comm {
            c.sum_f64(v);
        }
    }

    /// Sums `v` over the processes (nothing to do alone).
    pub fn sum_f32(&mut self, v: &mut [f32]) {
        if let Some(c) = &mut self.comm {
            c.sum_f32(v);
        }
    }

    /// Fails on every rank when the weights' digests differ between ranks.
    pub fn check_same_weights(&mut self, digest: u64, step: usize) -> Result<()> {
        let (rank, size) = (self.rank, self.size);
        let Some(c) = &mut self.comm else {
            return Ok(());
        };
        let mut all = vec![0u64; size];
        all[rank] = digest;
        c.sum_u64(&mut all);
        if let Some(r) = all.iter().position(|&d| d != all[0]) {
            bail!("the weights drifted apart between ranks at step {step}: rank {r}'s digest {:016x} is not rank 0's {:016x}; the ranks must run the same binary on the same kind of CPU (set RECURRENT_ISA to one kernel set everywhere) — resume from the last checkpoint", all[r], all[0]);
        }
        Ok(())
    }
}

/// FNV-1a over the bits of every weight: equal weights give equal digests.
pub fn digest(weights: impl Iterator<Item = f32>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for w in weights {
        for b in w.to_bits().to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
    }
    h
}

#[cfg(feature = "mpi")]
mod mpi_comm {
    use super::{Comm, Team};
    use anyhow::{bail, Result};
    use mpi::collective::SystemOperation;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use recurrent::train::AllSum;

    /// `MPI_COMM_WORLD`, and the universe that finalises MPI when dropped (at exit).
    struct World {
        _universe: mpi::environment::Universe,
        world: SimpleCommunicator,
        seconds: f64,
    }

    impl World {
        fn sum<T: Copy + Default + mpi::datatype::Equivalence>(&mut self, v: &mut [T]) {
            let t0 = std::time::Instant::now();
            let send = v.to_vec();
            self.world.all_reduce_into(&send[..], v, SystemOperation::sum());
            self.seconds += t0.elapsed().as_secs_f64();
        }
    }

    impl AllSum<f32> for World {
        fn sum_f32(&mut self, v: &mut [f32]) {
            self.sum(v);
        }
        fn sum_f64(&mut self, v: &mut [f64]) {
            self.sum(v);
        }
    }

    impl Comm for World {
        fn sum_u64(&mut self, v: &mut [u64]) {
            self.sum(v);
        }
        fn seconds(&self) -> f64 {
            self.seconds
        }
    }

    pub fn join() -> Result<Team> {
        let Some(universe) = mpi::initialize() else {
            bail!("MPI is already initialised in this process");
        };
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Team { rank, size, comm: Some(Box::new(World { _universe: universe, world, seconds: 0.0 })) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the other rank: its digest arrives through the u64 sum.
    struct Other(u64);

    impl AllSum<f32> for Other {
        fn sum_f32(&mut self, _: &mut [f32]) {}
        fn sum_f64(&mut self, _: &mut [f64]) {}
    }

    impl Comm for Other {
        fn sum_u64(&mut self, v: &mut [u64]) {
            v[1] += self.0;
        }
        fn seconds(&self) -> f64 {
            0.0
        }
    }

    #[test]
    fn drifting_weights_are_named() {
        let d = digest([1.0f32, -2.5].into_iter());
        assert_ne!(d, digest([1.0f32, -2.5000002].into_iter()));
        let mut same = Team { rank: 0, size: 2, comm: Some(Box::new(Other(d))) };
        assert!(same.check_same_weights(d, 10).is_ok());
        let mut other = Team { rank: 0, size: 2, comm: Some(Box::new(Other(d ^ 1))) };
        let e = other.check_same_weights(d, 10).unwrap_err().to_string();
        assert!(e.starts_with("the weights drifted apart between ranks at step 10: rank 1's digest"), "{e}");
    }
}
