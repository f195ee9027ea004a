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
    assert!(bits(&rest) == bits(&whole), "resumed weights differ from the uninterrupted run's");
}

/// Every weight's bits.
fn bits(s: &Session) -> Vec<u32> {
    let mut m = s.model().clone();
    let mut w = Vec::new();
    recurrent::Parameters::visit_values(&mut m, &mut |p, _| w.extend(p.iter().map(|v| v.to_bits())));
    w
}

// The shakespeare preset (issue 27) as it is, a few steps of it (a warm-up of 2 steps so the
// cosine runs too): it starts, its learning rate follows the schedule the configuration gives
// (metrics.jsonl), its dropout before the head and its weight decay act, and a run stopped at
// step 3 and resumed ends with the uninterrupted run's weights, bit for bit.
#[test]
fn the_shakespeare_preset_starts_and_resumes_bit_for_bit() {
    let d = tempfile::tempdir().unwrap();
    let cfg = || {
        let mut c = RunConfig::preset(Preset::Shakespeare, "tiny.txt".into());
        (c.steps, c.warmup, c.log_every) = (Some(6), 2, 1);
        c
    };
    let dir = d.path().join("whole");
    let mut whole =
        Session::new(cfg(), Options { out: Out::Dir(dir.clone()), text: Some(text()), ..Options::default() }).unwrap();
    assert_eq!(whole.run(&mut Silent).unwrap(), Outcome::Done);
    let c = whole.config().clone();
    assert_eq!((c.hidden, c.layers, c.seq_len, c.batch), (512, 2, 128, 32));
    for m in whole.metrics() {
        assert_eq!(Some(m.lr), c.scheduled_lr(m.step, 6), "step {}", m.step);
    }
    assert_eq!(whole.metrics()[0].lr, 1e-3, "half of 2e-3 at the first of two warm-up steps");
    assert!((whole.metrics()[5].lr - 1e-4).abs() < 1e-15, "the cosine ends at lr_min");
    // Without the dropout before the head, or without weight decay, the weights differ.
    for change in [|c: &mut RunConfig| c.dropout_head = 0.0, |c: &mut RunConfig| c.weight_decay = 0.0] {
        let mut other = cfg();
        other.steps = Some(2);
        let mut two = cfg();
        two.steps = Some(2);
        change(&mut other);
        let mut a = Session::new(two, Options { text: Some(text()), ..Options::in_memory() }).unwrap();
        let mut b = Session::new(other, Options { text: Some(text()), ..Options::in_memory() }).unwrap();
        a.run(&mut Silent).unwrap();
        b.run(&mut Silent).unwrap();
        assert!(bits(&a) != bits(&b), "a setting of the preset changed nothing");
    }
    let part = d.path().join("part");
    let opts = Options { out: Out::Dir(part.clone()), text: Some(text()), ..Options::default() };
    let mut first = Session::new(cfg(), opts).unwrap();
    assert_eq!(first.run(&mut StopAt(3)).unwrap(), Outcome::Interrupted { saved: true });
    drop(first);
    let saved = Session::saved_config(&part).unwrap();
    let mut rest = Session::resume(&part, saved, Options { text: Some(text()), ..Options::default() }).unwrap();
    assert_eq!(rest.run(&mut Silent).unwrap(), Outcome::Done);
    assert!(bits(&rest) == bits(&whole), "the resumed preset run's weights differ from the uninterrupted run's");
}

// Early stopping: with a learning rate too high for the model to keep improving, a run with
// --patience 2 stops after two validations in a row without a new best, saves that step, and
// keeps its best; resumed, it stops at once.
#[test]
fn patience_stops_a_run_that_no_longer_improves() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    let mut c = small(300);
    (c.eval_every, c.patience, c.lr, c.log_every) = (2, 2, 0.05, 2);
    let mut s =
        Session::new(c, Options { out: Out::Dir(dir.clone()), text: Some(text()), ..Options::default() }).unwrap();
    let out = s.run(&mut Silent).unwrap();
    let Outcome::EarlyStopped { step, best } = out else { panic!("{out:?}") };
    assert!(step < 300, "{step}");
    let vals: Vec<f64> = s.metrics().iter().filter_map(|m| m.val_loss).collect();
    let n = vals.len();
    let before = vals[..n - 2].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(vals[n - 2] >= before && vals[n - 1] >= before, "{vals:?}");
    assert_eq!(best, Some(before));
    assert_eq!(s.progress().step, step);
    drop(s);
    let saved = Session::saved_config(&dir).unwrap();
    let mut again = Session::resume(&dir, saved, Options { text: Some(text()), ..Options::default() }).unwrap();
    assert_eq!(again.progress().step, step, "the stopping step was saved");
    assert_eq!(again.run(&mut Silent).unwrap(), Outcome::EarlyStopped { step, best });
}
