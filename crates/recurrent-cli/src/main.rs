//! The `recurrent` command: a thin layer over the library that parses flags, validates them into
//! library configurations, runs, and prints. Errors are one line on stderr and exit status 2;
//! a gradient check that fails exits with 1.

mod cmd_check;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gradcheck(a) => cmd_check::gradcheck(a),
        Command::Grads(a) => cmd_check::grads(a).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
