//! Two jobs on PyTorch's own OpenMP team, when the process has one.
//!
//! PyTorch's CPU wheels run their operations on GNU OpenMP (libgomp), whose idle workers keep
//! spinning for a while after each operation. A thread of recurrent's own started beside them
//! competes for the core a spinning worker holds: measured on the 2-vCPU Intel Xeon of the
//! README, lstm-small's whole training step inside PyTorch ran at 0.64× torch.nn's with a
//! helper thread of recurrent's, the same helper with `OMP_WAIT_POLICY=PASSIVE` 1.3× faster.
//! So when libgomp is loaded, the two shards of a step are handed to it as one parallel region
//! of two threads: its waiting worker takes the second shard at once and nothing else runs
//! beside it. Without libgomp (recurrent used without torch) [`both`] is not called.

use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

type Parallel = unsafe extern "C" fn(extern "C" fn(*mut c_void), *mut c_void, u32, u32);
type ThreadNum = unsafe extern "C" fn() -> i32;

/// libgomp's `GOMP_parallel` and `omp_get_thread_num`, when the process has loaded libgomp.
fn symbols() -> Option<(Parallel, ThreadNum)> {
    static SYMBOLS: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    let found = SYMBOLS.get_or_init(|| {
        let find = |name: &CStr| {
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks a symbol up.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p as usize)
        };
        Some((find(c"GOMP_parallel")?, find(c"omp_get_thread_num")?))
    });
    // SAFETY: the addresses are libgomp's functions of these C signatures (its stable ABI, the
    // one GCC's `#pragma omp parallel` compiles to).
    found.map(|(p, t)| unsafe {
        (std::mem::transmute::<usize, Parallel>(p), std::mem::transmute::<usize, ThreadNum>(t))
    })
}

/// Whether libgomp is loaded (PyTorch imported), so that [`both`] uses its team.
pub fn available() -> bool {
    symbols().is_some()
}

/// The two jobs and their results; thread 0 of the team touches only `a`/`ra`, thread 1 only
/// `b`/`rb`, each through raw pointers to its own fields.
struct Job<FA, FB, RA, RB> {
    a: Option<FA>,
    b: Option<FB>,
    ra: Option<std::thread::Result<RA>>,
    rb: Option<std::thread::Result<RB>>,
    thread_num: ThreadNum,
}

extern "C" fn run<FA: FnOnce() -> RA, FB: FnOnce() -> RB, RA, RB>(data: *mut c_void) {
    let job = data.cast::<Job<FA, FB, RA, RB>>();
    // SAFETY: `data` is the `Job` that `both` keeps alive on its stack until GOMP_parallel has
    // returned, that is until every thread of the team has left this function; thread 0 and
    // thread 1 write disjoint fields, through raw pointers (no reference to the whole Job is
    // formed here), and other threads of a larger team touch nothing. `thread_num` is only read.
    unsafe {
        match ((*job).thread_num)() {
            0 => {
                if let Some(a) = (*std::ptr::addr_of_mut!((*job).a)).take() {
                    *std::ptr::addr_of_mut!((*job).ra) = Some(catch_unwind(AssertUnwindSafe(a)));
                }
            }
            1 => {
                if let Some(b) = (*std::ptr::addr_of_mut!((*job).b)).take() {
                    *std::ptr::addr_of_mut!((*job).rb) = Some(catch_unwind(AssertUnwindSafe(b)));
                }
            }
            _ => {}
        }
    }
}

/// Runs `a` and `b` at once on a libgomp team of two threads (`a` on the caller, thread 0);
/// a job the team did not take (a team of one, inside another parallel region) runs on the
/// caller afterwards. A panic in either is resumed here once both have finished.
///
/// # Panics
/// When libgomp is not loaded (check [`available`] first), or as `a` or `b` do.
pub fn both<RA: Send, RB: Send, FA: FnOnce() -> RA + Send, FB: FnOnce() -> RB + Send>(a: FA, b: FB) -> (RA, RB) {
    let (parallel, thread_num) = symbols().expect("libgomp is loaded: call available() first");
    let mut job = Job { a: Some(a), b: Some(b), ra: None, rb: None, thread_num };
    let fun: extern "C" fn(*mut c_void) = run::<FA, FB, RA, RB>;
    // SAFETY: `job` outlives the call (GOMP_parallel returns after the team has finished);
    // `run` reads it as the type it was made with; it never unwinds (the jobs' panics are
    // caught).
    unsafe { parallel(fun, std::ptr::addr_of_mut!(job).cast(), 2, 0) };
    let ra = match job.ra.take() {
        Some(r) => r,
        None => catch_unwind(AssertUnwindSafe(job.a.take().expect("not run, so still here"))),
    };
    let rb = match job.rb.take() {
        Some(r) => r,
        None => catch_unwind(AssertUnwindSafe(job.b.take().expect("not run, so still here"))),
    };
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(p), _) | (_, Err(p)) => resume_unwind(p),
    }
}
