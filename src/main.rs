//! The `vocscope` binary: parse arguments, call the library, map errors to exit codes.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Args, Command};
use commands::Failure;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Run(a) => commands::run(a),
        Command::Analyze(a) => commands::analyze(a),
        Command::Search(a) => commands::search(a),
        Command::Report(a) => commands::report(a),
        Command::Themes(a) => commands::themes(a),
        Command::Serve(a) => commands::serve(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Interrupted) => ExitCode::from(130),
        Err(Failure::Failed(err)) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// A closed pipe (`vocscope search x | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
