//! The library's run (`train::session::Session`): the same steps whether interrupted or not,
//! an interrupt during the final validation saved as an interrupt (not reported done), and a
//! run folder only where asked.

use recurrent::train::config::{Preset, RunConfig};
use recurrent::train::session::{Control, Observer, Options, Out, Outcome, Session, Silent, StepReport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn text() -> Vec<u8> {
    recurrent::train::text::TINY_SHAKESPEARE[..20_000].to_vec()
}

fn small(steps: usize) -> RunConfig {
    let mut c = RunConfig::preset(Preset::Default, "tiny.txt".into());
    (c.hidden, c.layers, c.seq_len, c.batch, c.threads) = (12, 1, 16, 4, 1);
    (c.steps, c.eval_every, c.eval_windows, c.sample_every) = (Some(steps), 5, 3, 0);
    c
}

/// Sets the interrupt flag when the validation of step `at` starts.
struct StopInValidation {
    flag: Arc<AtomicBool>,
    at: usize,
    seen: usize,
}

impl Observer for StopInValidation {
    fn step(&mut self, r: &StepReport) -> Control {
        self.seen = r.step;
        Control::Continue
    }
    fn validating(&mut self, done: usize, _of: usize) {
        if self.seen + 1 == self.at && done == 1 {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

// An interrupt during the last step's validation: the step is saved and the run says it was
// interrupted (the CLI exits 130), with no validation loss recorded for that step; resumed, the
// run is at its last step.
#[test]
fn an_interrupt_in_the_final_validation_is_an_interrupt() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    let flag = Arc::new(AtomicBool::new(false));
    let opts =
        Options { out: Out::Dir(dir.clone()), text: Some(text()), interrupt: Some(flag.clone()), ..Options::default() };
    let mut s = Session::new(small(10), opts).unwrap();
    let mut obs = StopInValidation { flag, at: 10, seen: 0 };
    assert_eq!(s.run(&mut obs).unwrap(), Outcome::Interrupted { saved: true });
    assert_eq!(s.progress().step, 10);
    assert!(s.metrics().iter().all(|m| m.step != 10), "no metrics line claims a validation at step 10");
    drop(s); // the folder's lock
    let cfg = Session::saved_config(&dir).unwrap();
    let opts = Options { text: Some(text()), ..Options::default() };
    let mut again = Session::resume(&dir, cfg, opts).unwrap();
    assert_eq!(again.progress().step, 10);
    assert_eq!(again.run(&mut Silent).unwrap(), Outcome::AlreadyDone);
}

/// Stops after `at` steps.
struct StopAt(usize);

impl Observer for StopAt {
    fn step(&mut self, r: &StepReport) -> Control {
        if r.step == self.0 {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

// A run stopped by its observer and resumed takes the steps an uninterrupted one takes: the same
// weights, bit for bit. In memory, nothing is written.
#[test]
fn stopped_and_resumed_is_uninterrupted() {
    let d = tempfile::tempdir().unwrap();
    let weights = |s: &Session| {
        let mut m = s.model().clone();
        let mut w = Vec::new();
        recurrent::Parameters::visit_values(&mut m, &mut |p, _| w.extend(p.iter().map(|v| v.to_bits())));
        w
    };
    let mut whole = Session::new(small(12), Options { text: Some(text()), ..Options::in_memory() }).unwrap();
    assert_eq!(whole.run(&mut Silent).unwrap(), Outcome::Done);
    assert!(whole.folder().is_none());
    let dir = d.path().join("run");
    let opts = Options { out: Out::Dir(dir.clone()), text: Some(text()), ..Options::default() };
    let mut first = Session::new(small(12), opts).unwrap();
    assert_eq!(first.run(&mut StopAt(7)).unwrap(), Outcome::Interrupted { saved: true });
    drop(first);
    let cfg = Session::saved_config(&dir).unwrap();
    let mut rest = Session::resume(&dir, cfg, Options { text: Some(text()), ..Options::default() }).unwrap();
    assert_eq!(rest.run(&mut Silent).unwrap(), Outcome::Done);
    assert!(weights(&rest) == weights(&whole), "resumed weights differ from the uninterrupted run's");
}
