//! `gsomia`: the command-line face of a gsomia node.
//!
//! Exit codes (as ripgrep's): 0 allowed or printed, 1 denied, 2 bad input, with a message on
//! stderr that names the file, the place in it and what is wrong.

mod offline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// gsomia turns security-of-information agreements (GSOMIAs) into running software.
#[derive(Parser)]
#[command(name = "gsomia", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ask about an agreement's lifecycle: its state on a day, what a notice would do, its timeline.
    #[command(subcommand)]
    Agreement(offline::AgreementCommand),
    /// Ask whether an item may be released to a party, or read by a person.
    #[command(subcommand)]
    Check(offline::CheckCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agreement(c) => offline::agreement(c),
        Command::Check(c) => offline::check(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
