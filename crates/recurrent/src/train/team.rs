//! The processes a run is spread over: one ([`Team::solo`]), or the ranks of a data-parallel
//! job (MPI under `mpirun`: the command line implements [`Comm`] over it). Rank 0 leads: it
//! alone writes the run folder and reports; every rank holds the whole model and takes the
//! same steps.

use crate::error::{Error, Result};
use crate::train::AllSum;

/// What a run needs from its processes besides the sums of [`AllSum`].
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

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Team {{ rank: {}, size: {} }}", self.rank, self.size)
    }
}

impl Default for Team {
    fn default() -> Self {
        Team::solo()
    }
}

impl Team {
    /// A run of one process.
    pub fn solo() -> Team {
        Team { rank: 0, size: 1, comm: None }
    }

    /// Whether this process writes files and reports.
    pub fn leads(&self) -> bool {
        self.rank == 0
    }

    /// Whether the run is spread over processes.
    pub fn distributed(&self) -> bool {
        self.comm.is_some()
    }

    /// This process's columns of a batch of `b` streams (see [`crate::parallel::share`]).
    pub fn cols(&self, b: usize) -> (usize, usize) {
        crate::parallel::share(self.rank, self.size, b)
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

    /// Seconds spent in the sums (0 alone).
    pub fn seconds(&self) -> f64 {
        self.comm.as_ref().map_or(0.0, |c| c.seconds())
    }

    /// Fails on every rank when the weights' digests differ between ranks.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first rank that differs.
    pub fn check_same_weights(&mut self, digest: u64, step: usize) -> Result<()> {
        let (rank, size) = (self.rank, self.size);
        let Some(c) = &mut self.comm else {
            return Ok(());
        };
        let mut all = vec![0u64; size];
        all[rank] = digest;
        c.sum_u64(&mut all);
        if let Some(r) = all.iter().position(|&d| d != all[0]) {
            return Err(Error::Config(format!("the weights drifted apart between ranks at step {step}: rank {r}'s digest {:016x} is not rank 0's {:016x}; the ranks must run the same binary on the same kind of CPU (set RECURRENT_ISA to one kernel set everywhere) — resume from the last checkpoint", all[r], all[0])));
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
