//! A second thread for work too fine for spawning: `join` runs two closures at once on the
//! calling thread and a persistent helper.
//!
//! One sequence (min-char-rnn: batch 1, 25 steps) gives batch sharding nothing to split, and its
//! whole training step takes about 60 µs, so spawning a thread (tens of µs) or waking a sleeping
//! one through the kernel costs more than the work it would take over. The helper instead keeps
//! polling for a job for a short while after each one ([`SPIN`]) and only then sleeps, so a
//! hand-off inside a training step costs about 0.2 µs (measured round trip of an empty
//! `join` on the 2-core development VM).
//!
//! Nothing uses the helper unless it is installed on the calling thread with
//! [`Helper::install`]; without one, or while it is busy with another job (nested or
//! concurrent calls), `join` simply runs both closures in turn on the caller. The results are
//! the same either way: every caller splits work whose parts write disjoint outputs, so only
//! the timing changes.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the helper keeps polling for the next job before it sleeps. Long enough to span
/// the gaps inside one min-char-rnn training step (the longest, the forward recurrence, is
/// about 10 µs); short enough that a helper no longer used stops taking a core almost at once.
pub const SPIN: Duration = Duration::from_micros(50);

const IDLE: u8 = 0;
const CLAIMED: u8 = 1;
const JOB: u8 = 2;
const DONE: u8 = 3;
const EXIT: u8 = 4;

/// A job for the helper: a type- and lifetime-erased `FnMut` living on the caller's stack.
type Job = *mut (dyn FnMut() + Send);

struct Shared {
    state: AtomicU8,
    sleeping: AtomicBool,
    /// Written by the caller between claiming the helper and publishing `JOB`; read by the
    /// helper after it sees `JOB`.
    job: UnsafeCell<Option<Job>>,
    /// The payload of a panic in the helper's job, handed back to the caller.
    panic: UnsafeCell<Option<Box<dyn Any + Send>>>,
    /// Jobs the helper has run.
    jobs: AtomicU64,
}

// SAFETY: `job` and `panic` are only touched by the side that owns the state machine at that
// moment (the caller from CLAIMED to JOB and after DONE; the helper from JOB to DONE), and each
// hand-over is a release store seen by an acquire load.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// A persistent second thread for `join`. Dropping it stops the thread.
pub struct Helper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helper").field("state", &self.shared.state.load(Relaxed)).finish()
    }
}

thread_local! {
    static CURRENT: Cell<*const Helper> = const { Cell::new(std::ptr::null()) };
}

impl Default for Helper {
    fn default() -> Self {
        Self::new()
    }
}

impl Helper {
    /// Starts the helper thread (it sleeps until the first job).
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            sleeping: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            panic: UnsafeCell::new(None),
            jobs: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("recurrent-helper".into())
            .spawn(move || helper_loop(&sh))
            .expect("cannot start the helper thread");
        Helper { shared, thread: Some(thread) }
    }

    /// Runs `f` with this helper available to `join` on the calling thread.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(*const Helper);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(self)));
        f()
    }

    /// How many jobs the helper thread has run (work that `join` ran in turn instead is not
    /// counted).
    pub fn jobs(&self) -> u64 {
        self.shared.jobs.load(Acquire)
    }

    /// Takes the helper for one job, unless another job has it.
    fn claim(&self) -> bool {
        self.shared.state.compare_exchange(IDLE, CLAIMED, Acquire, Relaxed).is_ok()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Wait out a job in flight (only possible if the helper was shared across threads).
        while self.shared.state.compare_exchange(IDLE, EXIT, AcqRel, Relaxed).is_err() {
            std::hint::spin_loop();
        }
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn helper_loop(sh: &Shared) {
    loop {
        let mut since = Instant::now();
        let mut polls = 0u32;
        loop {
            match sh.state.load(Acquire) {
                JOB => break,
                EXIT => return,
                _ => {}
            }
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(64) || since.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            // Sleep. Either the caller sees `sleeping` and unparks, or we see its JOB here.
            sh.sleeping.store(true, SeqCst);
            if !matches!(sh.state.load(SeqCst), JOB | EXIT) {
                std::thread::park();
            }
            sh.sleeping.store(false, SeqCst);
            since = Instant::now();
        }
        // SAFETY: the caller wrote the job before its release store of JOB, which we acquired;
        // the closure stays alive until the caller has seen DONE.
        let job = unsafe { (*sh.job.get()).take() }.expect("a job");
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)() }));
        if let Err(payload) = run {
            // SAFETY: the caller reads this only after it has seen DONE.
            unsafe { *sh.panic.get() = Some(payload) };
        }
        sh.jobs.fetch_add(1, Relaxed);
        sh.state.store(DONE, Release);
    }
}

/// Runs `a` on the calling thread and `b` on the installed [`Helper`] at the same time, and
/// returns both results; both in turn on the caller when no helper is installed or it is busy.
/// A panic in either is resumed on the caller after both have finished.
pub fn join<RA, RB: Send>(a: impl FnOnce() -> RA, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    let helper = CURRENT.with(|c| c.get());
    // SAFETY: a non-null pointer was set by `install`, whose borrow outlives this call.
    let helper = match unsafe { helper.as_ref() } {
        Some(h) if h.claim() => h,
        _ => {
            let ra = a();
            return (ra, b());
        }
    };
    let sh = &*helper.shared;
    let mut b = Some(b);
    let mut rb = None;
    // The helper runs the caller's backend and kernel set (a test may force them on this thread).
    let choice = crate::backend::forced_now();
    let mut call = || rb = Some(crate::backend::forced(choice, || (b.take().expect("run once"))()));
    let job: *mut (dyn FnMut() + Send + '_) = &mut call;
    /// Waits for the helper, collects its panic if any, and frees it for the next job.
    struct Finish<'a>(&'a Shared, &'a mut Option<Box<dyn Any + Send>>);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            let mut polls = 0u32;
            while self.0.state.load(Acquire) != DONE {
                // Past a few tens of µs the helper is probably not running (more threads than
                // free cores): give up the core rather than spin through its time slice.
                polls = polls.saturating_add(1);
                if polls < 1 << 14 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            // SAFETY: the helper is done (DONE acquired) and waits for the next JOB.
            *self.1 = unsafe { (*self.0.panic.get()).take() };
            self.0.state.store(IDLE, Release);
        }
    }
    let mut panic = None;
    // SAFETY: the lifetime is erased to hand the closure to the helper thread. `Finish`, armed
    // before the job is published (nothing between the two can panic), waits — even while
    // unwinding from a panic in `a` or in the wake-up — until the helper is done with it, so
    // the closure outlives every use the helper makes of it.
    unsafe { *sh.job.get() = Some(std::mem::transmute::<*mut (dyn FnMut() + Send + '_), Job>(job)) };
    let finish = Finish(sh, &mut panic);
    sh.state.store(JOB, SeqCst);
    if sh.sleeping.load(SeqCst) {
        if let Some(t) = helper.thread.as_ref() {
            t.thread().unpark();
        }
    }
    let ra = a();
    drop(finish);
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    (ra, rb.expect("the helper ran the job"))
}

/// Below this many multiply-adds a product is not worth cutting in two for the helper (a
/// hand-off costs about as much as 10,000).
pub const SPLIT_MIN_MACS: usize = 1 << 22;

/// A product over `rows` rows of `macs_per_row` multiply-adds each, writing `row_len` values
/// of `out` per row: `f(rows r0..r1, their part of out)`, cut into two halves run at once on the
/// caller and the installed helper when it is large enough and the helper is free, else in one
/// call. Every output row is computed alone, so the result is the same either way.
pub fn rows_in_two<T: Send>(
    rows: usize,
    macs_per_row: usize,
    out: &mut [T],
    row_len: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    if rows >= 12 && rows * macs_per_row >= SPLIT_MIN_MACS && available() {
        let r0 = rows / 2;
        let (c0, c1) = out.split_at_mut(r0 * row_len);
        join(|| f(0..r0, c0), || f(r0..rows, c1));
    } else {
        f(0..rows, out)
    }
}

/// With a helper installed, `dW_hh` is split across two threads from this many multiply-adds
/// (min-char-rnn's is 250,000; a hand-off costs about as much as 10,000).
const PAR_MIN_MACS: usize = 100_000;

/// How a layer's weight gradients share two threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GradSplit {
    /// Each product cut in two by rows in turn ([`rows_in_two`]): both threads share every one.
    EachInTwo,
    /// `dW_hh`'s rows from this one on go to the helper; the caller takes the rows before and
    /// every other product.
    At(usize),
    /// Everything on the caller.
    One,
}

/// The split of a layer's weight gradients: `dW_hh` has `gh` rows of `macs_per_row`
/// multiply-adds; `other` counts the multiply-adds of the rest (`dW_ih`, `dX`, the biases).
/// Large products over a dense input (a whole batch on two threads) are each cut in two;
/// smaller ones balance the caller's share of `dW_hh` plus the rest against the helper's part
/// of `dW_hh`, cut at a whole row block.
pub(crate) fn weight_grad_split(gh: usize, macs_per_row: usize, other: usize, dense: bool) -> GradSplit {
    let total = gh * macs_per_row;
    if !available() {
        return GradSplit::One;
    }
    if dense && total >= SPLIT_MIN_MACS {
        return GradSplit::EachInTwo;
    }
    if total >= PAR_MIN_MACS {
        let mine = total.saturating_sub(other) / 2;
        let block = crate::linalg::ROW_BLOCK;
        return GradSplit::At((mine / macs_per_row.max(1) / block * block).min(gh));
    }
    GradSplit::One
}

/// Runs `f` with a new [`Helper`] installed when `threads ≥ 2` (more are not used: the
/// machines this is tuned for have two cores), else just runs it.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    if threads >= 2 {
        Helper::new().install(f)
    } else {
        f()
    }
}

/// Whether `join` on this thread would use a helper now (one is installed and idle).
pub fn available() -> bool {
    let helper = CURRENT.with(|c| c.get());
    // SAFETY: as in `join`.
    unsafe { helper.as_ref() }.is_some_and(|h| h.shared.state.load(Relaxed) == IDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test's expected values are the plain sequential results, computed in the test.

    #[test]
    fn join_runs_both_sides_with_and_without_a_helper() {
        let work = |k: u64| (0..10_000u64).map(|i| i * i % (k + 7)).sum::<u64>();
        let want = (work(1), work(2));
        assert_eq!(join(|| work(1), || work(2)), want, "no helper installed");
        let h = Helper::new();
        h.install(|| {
            for _ in 0..1000 {
                assert_eq!(join(|| work(1), || work(2)), want);
            }
            assert_eq!(h.jobs(), 1000, "every join went to the helper");
            // A join inside a join finds the helper busy and runs in turn.
            let (x, y) = join(|| join(|| work(1), || work(2)), || work(3));
            assert_eq!((x, y), (want, work(3)));
            assert_eq!(h.jobs(), 1001, "only the outer join went to the helper");
        });
        // Disjoint halves of one buffer, written from both threads.
        let mut v = vec![0u64; 1000];
        h.install(|| {
            let (lo, hi) = v.split_at_mut(500);
            join(|| lo.iter_mut().for_each(|x| *x += 1), || hi.iter_mut().for_each(|x| *x += 2));
        });
        assert!(v[..500].iter().all(|&x| x == 1) && v[500..].iter().all(|&x| x == 2));
        // After the helper has gone to sleep, a job wakes it.
        std::thread::sleep(SPIN * 4);
        assert_eq!(h.install(|| join(|| 1, || 2)), (1, 2));
    }

    #[test]
    fn a_panic_on_the_helper_reaches_the_caller_and_the_helper_recovers() {
        let h = Helper::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            h.install(|| join(|| 1, || -> i32 { panic!("job failed") }))
        }));
        assert!(r.is_err());
        assert_eq!(h.install(|| join(|| 3, || 4)), (3, 4));
        // A panic on the caller's side waits for the helper's job and frees the helper too.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            h.install(|| join(|| -> i32 { panic!("caller failed") }, || 2))
        }));
        assert!(r.is_err());
        assert_eq!(h.install(|| join(|| 5, || 6)), (5, 6));
        assert!(h.install(available));
        assert!(!available(), "not installed outside install");
    }
}
