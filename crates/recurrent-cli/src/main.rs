//! The `recurrent` command: a thin layer over the library that parses flags, validates them into
//! library configurations, runs, and prints; `main` only dispatches.
//!
//! Exit status: 0 done; 1 a gradient check that fails; 2 an error (one line on stderr, or clap's
//! usage message); 3 a training run that diverged (stopped, its last good checkpoint kept); 130
//! a training run interrupted by Ctrl-C or SIGTERM (a checkpoint saved, resume with --resume).

/// `eprintln!` that never panics: a closed or hung-up stderr (`2>&1 | head`, a terminal gone)
/// drops the line, and whatever was running goes on.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod args;
mod cmd_bench;
mod cmd_check;
mod cmd_interop;
mod cmd_model;
mod cmd_report;
mod text;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Recurrent neural networks from first principles: train, sample, evaluate and check.
#[derive(Parser, Debug)]
#[command(name = "recurrent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check every gradient of a random model against centred finite differences in f64.
    Gradcheck(cmd_check::GradcheckArgs),
    /// Outputs and exact gradients for a case saved from numpy (np.savez), to compare with yours.
    Grads(cmd_check::GradsArgs),
    /// Train a character-level language model (default: on the bundled tiny-shakespeare).
    Train(Box<train::config::TrainArgs>),
    /// Generate text from a checkpoint.
    Sample(cmd_model::SampleArgs),
    /// Loss of a checkpoint on a text, in nats and bits per character.
    Eval(cmd_model::EvalArgs),
    /// Training speed of the standard configurations on this machine.
    Bench(cmd_bench::BenchArgs),
    /// Convert a PyTorch state_dict (nn.RNN/LSTM/GRU, optional nn.Embedding, nn.Linear) into a checkpoint.
    Import(cmd_interop::ImportArgs),
    /// What a checkpoint holds: configuration, vocabulary, tensors, step, validation loss.
    Inspect(cmd_interop::InspectArgs),
    /// One HTML page of what a trained network does: curves, neurons, gates, gradient flow, samples.
    Report(cmd_report::ReportArgs),
}

/// The command, with each `train` flag's help ending in what the presets set it to (the flags
/// have no fixed default: a preset chooses), read from the library's presets.
fn command() -> clap::Command {
    use clap::CommandFactory;
    use recurrent::train::config::{Preset, RunConfig};
    let names = [Preset::Default, Preset::CharRnn, Preset::MinCharRnn, Preset::Shakespeare];
    let presets = names.map(|p| serde_json::to_value(RunConfig::preset(p, "TEXT".into())).expect("serialisable"));
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        v => v.to_string(),
    };
    Cli::command().mut_subcommand("train", |train| {
        let ids: Vec<String> = train.get_arguments().map(|a| a.get_id().to_string()).collect();
        ids.iter().fold(train, |cmd, id| {
            let values: Vec<String> =
                presets.iter().map(|p| p.get(id.as_str()).map(show).unwrap_or_default()).collect();
            if values[0].is_empty() || ["text", "threads", "preset"].contains(&id.as_str()) {
                return cmd;
            }
            let note = if values.iter().all(|v| v == &values[0]) {
                format!("[every preset: {}]", values[0])
            } else {
                let each: Vec<String> = names
                    .iter()
                    .zip(&values)
                    .map(|(p, v)| format!("{}: {v}", show(&serde_json::to_value(p).expect("a name"))))
                    .collect();
                format!("[{}]", each.join("; "))
            };
            cmd.mut_arg(id.as_str(), |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(format!("{help} {note}"))
            })
        })
    })
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    let cli = match command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            errln!(
                "error: give a command: train, sample, eval, report, inspect, import, gradcheck, grads or bench; run with --help for usage"
            );
            return ExitCode::from(2);
        }
        // clap's own message, with its layout and colours (and --help, --version).
        Err(e) => e.exit(),
    };
    // A kernel set forced with RECURRENT_ISA that this CPU lacks is an error, not a crash.
    // So is a malformed RECURRENT_GEMM (the GEMMs' blocking knobs).
    if let Err(e) = recurrent::backend::Isa::from_env().and_then(|_| recurrent::backend::GemmTuning::from_env()) {
        errln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Gradcheck(a) => cmd_check::gradcheck(a),
        Command::Grads(a) => cmd_check::grads(a).map(|()| ExitCode::SUCCESS),
        Command::Train(a) => train::train(*a),
        Command::Sample(a) => cmd_model::sample(a).map(|()| ExitCode::SUCCESS),
        Command::Eval(a) => cmd_model::eval(a).map(|()| ExitCode::SUCCESS),
        Command::Bench(a) => cmd_bench::bench(a).map(|()| ExitCode::SUCCESS),
        Command::Import(a) => cmd_interop::import(a).map(|()| ExitCode::SUCCESS),
        Command::Inspect(a) => cmd_interop::inspect(a).map(|()| ExitCode::SUCCESS),
        Command::Report(a) => cmd_report::report(a).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // The chain of causes in one line; a cause the message already quotes (the
            // system's error inside a library message) is not repeated.
            let mut line = String::new();
            for c in e.chain().map(|c| c.to_string()) {
                if line.is_empty() {
                    line = c;
                } else if !line.contains(&c) {
                    line = format!("{line}: {c}");
                }
            }
            errln!("error: {line}");
            ExitCode::from(2)
        }
    }
}

/// The checkpoint a path names (a run folder gives its best, else its last), saying on stderr
/// which one a folder gave.
pub fn checkpoint_of(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let (p, note) = recurrent::checkpoint::resolve(path)?;
    if let Some(n) = note {
        errln!("{n}");
    }
    Ok(p)
}

/// Prints a line on stdout; a reader that has gone (`recurrent … | head`) is not an error: the
/// line is dropped, quietly.
pub fn outln(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n"));
}
