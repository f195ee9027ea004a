//! The ranks of an MPI job (`train --distributed` under `mpirun`, built with `--features
//! mpi`), as the library's [`Team`]: the library runs the data-parallel step, this module only
//! implements its sums over MPI.

#[cfg(not(feature = "mpi"))]
use anyhow::bail;
use anyhow::Result;
use recurrent::train::team::Team;

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

#[cfg(feature = "mpi")]
mod mpi_comm {
    use anyhow::{bail, Result};
    use mpi::collective::SystemOperation;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use recurrent::train::team::{Comm, Team};
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
