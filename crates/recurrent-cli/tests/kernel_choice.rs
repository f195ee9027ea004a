//! Choosing the kernel set from the environment: `recurrent bench` says which set it ran,
//! `RECURRENT_ISA` forces one (one clear line and exit 2 when the name is unknown or the CPU
//! lacks the set), and `RECURRENT_PORTABLE` still forces the portable set. A set this CPU lacks
//! is reported as skipped in the output.

use recurrent::backend::Isa;
use std::process::{Command, Output};

fn bench(env: &[(&str, &str)]) -> Output {
    bench_config("min-char-rnn", env)
}

fn bench_config(config: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recurrent"));
    c.args(["bench", "--config", config, "--steps", "2", "--json"]).env_remove("RECURRENT_ISA");
    c.env_remove("RECURRENT_PORTABLE").env_remove("RECURRENT_GEMM");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs")
}

/// The `kernels` field of the JSON line `bench` printed.
fn kernels(o: &Output) -> String {
    let line = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["kernels"].as_str().unwrap_or_default().to_string()
}

#[test]
fn bench_reports_and_obeys_the_kernel_set() {
    let o = bench(&[]);
    assert!(o.status.success());
    assert_eq!(kernels(&o), Isa::best().name(), "by default the widest set this CPU runs");
    let o = bench(&[("RECURRENT_PORTABLE", "1")]);
    assert_eq!(kernels(&o), "portable");
    for isa in Isa::ALL {
        let o = bench(&[("RECURRENT_ISA", isa.name())]);
        if isa.supported() {
            assert!(o.status.success(), "{isa}: {}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(kernels(&o), isa.name());
        } else {
            println!("RECURRENT_ISA={isa}: this CPU lacks the set; checking the refusal instead");
            let e = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2));
            assert!(e.lines().count() == 1 && e.contains("cannot run it") && !e.contains("panicked"), "{e}");
        }
    }
    let o = bench(&[("RECURRENT_ISA", "sse9")]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(e.trim(), "error: RECURRENT_ISA='sse9' is not a kernel set: use portable, avx2 or avx512");
}

// RECURRENT_GEMM sets the GEMMs' blocking (reported in bench's JSON as it was read); a
// malformed value is one line and exit 2, naming the pair and the keys allowed. The bits of the
// loss do not change with it: lstm-small's two steps (B 32, so the tall tile's blocks where it
// is the default) give the same loss under the other tile, depth parts, smaller blocks and (with
// AVX-512) the 12 × 32 packed path of the blocked products (the
// kernels' own test checks every product).
#[test]
fn bench_reports_and_obeys_the_gemm_knobs() {
    let field = |o: &Output, k: &str| {
        let line = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        v[k].clone()
    };
    let d = bench_config("lstm-small", &[]);
    assert_eq!(field(&d, "gemm"), recurrent::backend::GemmTuning::for_this_cpu().describe().as_str());
    for knobs in
        ["tile=6x64,kb=32,kc=64,nc=128,nr=64,pa=1,mr=6,pf=0", "tile=12x32,kb=16,kc=16,nc=64,nr=16,pa=0,mr=12,pf=1"]
    {
        let o = bench_config("lstm-small", &[("RECURRENT_GEMM", knobs)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(field(&o, "gemm"), knobs);
        assert_eq!(field(&o, "loss"), field(&d, "loss"), "{knobs} changed the loss");
    }
    let o = bench(&[("RECURRENT_GEMM", "tile=4x4")]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        e.lines().count() == 1 && e.contains("RECURRENT_GEMM='tile=4x4': no tile '4x4'") && e.contains("kc=N"),
        "{e}"
    );
}

// `bench --config shapes --json`: a header naming the kernels, the GEMM tuning and a positive
// peak, then for each standard configuration its whole step and every product it runs, each
// with a positive rate and a share of the peak (a product timed alone may beat the FMA loop's
// own rate a little, never by half), and the fastest of two rounds beside their median. lstm-large's six products are all there, with their shapes
// for one thread (B 64, T 64, H 512, four gates).
#[test]
fn bench_shapes_lists_every_product() {
    let o = Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["bench", "--config", "shapes", "--json", "--seconds", "0.01", "--threads", "1", "--rounds", "2"])
        .env_remove("RECURRENT_GEMM")
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines[0]["gemm"], recurrent::backend::GemmTuning::for_this_cpu().describe().as_str());
    // The portable set has no FMA peak to share (0), so its shares are not numbers.
    if lines[0]["kernels"] != "portable" {
        assert!(lines[0]["peak_gflops"].as_f64().unwrap() > 0.0);
        for l in &lines[1..] {
            let share = l["share"].as_f64().unwrap_or(f64::NAN);
            assert!(share > 0.0 && share < 1.5, "{l}");
        }
    }
    // Each rate is the fastest of the two rounds, so it is at least their median.
    assert_eq!(lines[0]["rounds"], 2);
    for l in &lines[1..] {
        let (best, typical) = if l["product"] == "whole step" {
            (l["gflops_per_thread"].as_f64().unwrap(), l["gflops_per_thread_median"].as_f64().unwrap())
        } else {
            (l["gflops"].as_f64().unwrap(), l["gflops_median"].as_f64().unwrap())
        };
        assert!(typical > 0.0 && best >= typical, "{l}");
    }
    let large: Vec<(String, u64, u64, u64)> = lines
        .iter()
        .filter(|l| l["config"] == "lstm-large" && l["product"] != "whole step")
        .map(|l| {
            let n = |k: &str| l[k].as_u64().unwrap();
            (l["product"].as_str().unwrap().to_string(), n("m"), n("k"), n("n"))
        })
        .collect();
    let want = [
        ("recurrent forward h·W_hhᵀ", 64, 512, 2048),
        ("recurrent backward dG·W_hh", 64, 2048, 512),
        ("dW_hh = dGᵀ·H", 2048, 4096, 512),
        ("input projection X·W_ihᵀ (I 512)", 4096, 512, 2048),
        ("dW_ih = dGᵀ·X (I 512)", 2048, 4096, 512),
        ("dX = dG·W_ih (I 512)", 4096, 2048, 512),
    ];
    assert_eq!(large, want.map(|(p, m, k, n)| (p.to_string(), m, k, n)).to_vec());
}
