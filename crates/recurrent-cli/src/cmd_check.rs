//! `recurrent gradcheck` and `recurrent grads`: the learner's tools.

use crate::args::Cell;
use anyhow::{bail, Context, Result};
use clap::Args;
use recurrent::gradcheck::{check, SeqProblem, TOLERANCE};
use recurrent::interop::{grads_for_case, read_npz, write_npz};
use recurrent::{CellKind, RecurrentConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `recurrent gradcheck`.
#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// The cell.
    #[arg(long, value_enum, default_value = "lstm")]
    cell: Cell,
    /// Number of stacked layers L.
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Two directions, concatenated on the feature axis.
    #[arg(long)]
    bidirectional: bool,
    /// Hidden size H.
    #[arg(long, default_value_t = 4)]
    hidden: usize,
    /// Input size I.
    #[arg(long, default_value_t = 3)]
    input: usize,
    /// Sequence length T.
    #[arg(long, default_value_t = 7)]
    seq_len: usize,
    /// Batch size B.
    #[arg(long, default_value_t = 3)]
    batch: usize,
    /// Classes of the linear head and softmax cross-entropy; 0 checks the bare stack with
    /// the loss Σ y⊙dy for a random dy.
    #[arg(long, default_value_t = 5)]
    classes: usize,
    /// Seed of the weights, inputs and targets.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Finite-difference step.
    #[arg(long, default_value_t = 1e-5)]
    eps: f64,
}

pub fn gradcheck(a: GradcheckArgs) -> Result<ExitCode> {
    let kind = CellKind::from(a.cell);
    if a.seq_len == 0 || a.batch == 0 {
        bail!("--seq-len and --batch must be at least 1");
    }
    if !(a.eps > 0.0 && a.eps < 0.1) {
        bail!("--eps {} is not a small positive step: use e.g. 1e-5", a.eps);
    }
    let cfg = RecurrentConfig::new(kind, a.input, a.hidden).with_layers(a.layers).with_bidirectional(a.bidirectional);
    let vocab = (a.classes > 0).then_some(a.classes);
    let mut p = SeqProblem::random(&cfg, a.seq_len, a.batch, vocab, a.seed)?;
    let n: usize = {
        use recurrent::gradcheck::Checkable;
        let mut n = 0;
        p.visit_inputs(&mut |_, _, v| n += v.len());
        n
    };
    crate::outln(&format!(
        "gradient check: {kind}, {} layer(s), {}, I={} H={} T={} B={}, {}; {n} values, ε = {:e}, f64",
        a.layers,
        if a.bidirectional { "bidirectional" } else { "one direction" },
        a.input,
        a.hidden,
        a.seq_len,
        a.batch,
        match vocab {
            Some(v) => format!("linear head + mean cross-entropy over {v} classes"),
            None => "loss Σ y⊙dy".into(),
        },
        a.eps
    ));
    let report = check(&mut p, a.eps, TOLERANCE);
    crate::outln(report.table().trim_end_matches('\n'));
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Flags of `recurrent grads`.
#[derive(Args, Debug)]
pub struct GradsArgs {
    /// The case: an .npz with PyTorch-named weights, x (T, B, I), optional h0/c0, dy, dh_n, dc_n
    /// (torch layout); or the course's names (course layout).
    case: PathBuf,
    /// The cell.
    #[arg(long, value_enum)]
    cell: Cell,
    /// Where to write the outputs and the gradients dNAME.
    #[arg(long)]
    out: PathBuf,
    /// torch: PyTorch names and (T, B, I); course: the numpy course's names and (n_x, m, T_x),
    /// with a0 and da (optional c0, dc), writing dx, da0, dWax, dWaa, dba (or the LSTM set) —
    /// or dy, the gradient of the output's logits, with Wya and by, adding dWya and dby; or
    /// one step under the cell functions' names (xt, a_prev, c_prev, da_next, dc_next).
    #[arg(long, value_enum, default_value = "torch")]
    layout: Layout,
    /// x is (B, T, I) and dy (B, T, D·H), as nn.RNN/LSTM/GRU(batch_first=True) take them
    /// (torch layout).
    #[arg(long)]
    batch_first: bool,
}

/// `grads --layout`: whose names and axes a case uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// PyTorch's names, x (T, B, I).
    #[value(alias = "pytorch")]
    Torch,
    /// The numpy course's names, x (n_x, m, T_x).
    Course,
}

pub fn grads(a: GradsArgs) -> Result<()> {
    let kind = CellKind::from(a.cell);
    let case = read_npz(&a.case)?;
    let course = a.layout == Layout::Course;
    let course_names = ["Wax", "Waa", "Wf", "a0", "xt"].iter().any(|k| case.contains_key(*k));
    if !course && course_names && !case.contains_key("weight_ih_l0") {
        bail!(
            "{} holds the course's names ({}): add --layout course",
            a.case.display(),
            case.keys().take(6).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if course && a.batch_first {
        bail!("--batch-first is for the torch layout: the course's x is always (n_x, m, T_x)");
    }
    let out = if course {
        recurrent::course::grads_for_case(kind, &case)
    } else {
        grads_for_case(kind, &case, a.batch_first)
    }
    .with_context(|| format!("case {}", a.case.display()))?;
    // The output layer takes part only through dy: say so when it is given without it.
    let out_w = ["Wya", "Wy"].into_iter().find(|k| case.contains_key(*k));
    if let (true, Some(w), false) = (course, out_w, case.contains_key("dy") || case.contains_key("dyt")) {
        errln!(
            "note: {w} and by are not used by a backward from da; give dy (the gradient of the loss with respect to {w}·a + by, ŷ − y for the softmax cross-entropy) instead of da to get d{w} and dby too"
        );
    }
    // The course's lstm_backward takes T from da: say so when da is shorter than x.
    if let (true, Some(x), Some(da)) = (course, case.get("x"), case.get("da")) {
        let (tx, td) = (x.shape().last().copied(), da.shape().last().copied());
        if let (Some(tx), Some(td)) = (tx, td) {
            if td < tx && x.ndim() == 3 {
                errln!(
                    "note: da has {td} steps and x {tx}: gradients are for the first {td} steps, as the course's backward takes T_x from da; dx is {}",
                    recurrent::error::fmt_shape(out["dx"].shape())
                );
            }
        }
    }
    write_npz(&a.out, &out)?;
    crate::outln(&format!(
        "wrote {} arrays to {}: {}",
        out.len(),
        a.out.display(),
        out.keys().cloned().collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}
