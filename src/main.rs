//! The `vocscope` binary: parse arguments, call the library, map errors to exit codes.

/// mimalloc instead of the system allocator: a run allocates and frees
/// many small strings and vectors per record on several threads (issue 8).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// A closed pipe (`vocscope search x | head`) is not a failure. The io error
/// may sit inside a serde_json or csv error, whose `source()` does not lead to
/// it, so those are asked for their io error kind directly.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            Some(e.kind())
        } else if let Some(e) = cause.downcast_ref::<serde_json::Error>() {
            e.io_error_kind()
        } else if let Some(e) = cause.downcast_ref::<csv::Error>() {
            match e.kind() {
                csv::ErrorKind::Io(io) => Some(io.kind()),
                _ => None,
            }
        } else {
            None
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::is_broken_pipe;
    use std::io::{Error, ErrorKind, Write};

    /// A writer whose reader has gone away.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(Error::from(ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn broken_pipe_is_found_inside_json_csv_and_io_errors() {
        let json = serde_json::to_writer(Closed, &vec![1, 2, 3]).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(json).context("stdout")));
        // A record larger than the writer's buffer reaches the closed pipe.
        let csv = csv::Writer::from_writer(Closed)
            .write_record(["a".repeat(100_000)])
            .unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(csv).context("stdout")));
        let io = writeln!(Closed, "x").unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(io).context("stdout")));
        let other = Error::from(ErrorKind::PermissionDenied);
        assert!(!is_broken_pipe(&anyhow::Error::new(other)));
        let bad_json = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(!is_broken_pipe(&anyhow::Error::new(bad_json)));
    }
}
