//! `gsomia`: the command-line face of a gsomia node.
//!
//! Exit codes (as ripgrep's): 0 allowed or printed, 1 denied, 2 bad input, with a message on
//! stderr that names the file, the place in it and what is wrong.

mod admin;
mod audit;
mod backup;
mod demo;
mod offline;
mod store;

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
    /// Check the audit log offline, and prove or check what is in it.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Play the Japan–ROK GSOMIA (2016–2023) and the trilateral arrangement with three real
    /// nodes on 127.0.0.1: as it happened, and without the 2019 suspension.
    ///
    /// Example: gsomia demo
    Demo {
        /// Leave the first branch's three nodes running and print how to reach them.
        #[arg(long)]
        keep: bool,
    },
    /// Create a node: configuration, keys (mode 0600) and database, in a new data directory.
    ///
    /// Example:
    ///   gsomia init --data kor --party KOR --scheme examples/model-case/schemes/KOR.json
    #[command(verbatim_doc_comment)]
    Init(admin::InitArgs),
    /// Run a node's HTTP API until SIGINT or SIGTERM.
    ///
    /// Example: gsomia serve --data kor
    Serve {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: std::path::PathBuf,
        /// `text` for people, `json` (one object a line) for log shippers. Every line about a
        /// request carries its id, as its answer (`x-request-id`) and audit entry do.
        #[arg(long, value_enum, default_value = "text")]
        log_format: admin::LogFormat,
    },
    /// Show how the node stands with each partner, as JSON: messages queued and the oldest,
    /// deliveries and the last, checkpoints exchanged. (The last delivery failure is known to
    /// the running server: `GET /api/v1/status`.)
    ///
    /// Example: gsomia status --data kor
    Status {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: std::path::PathBuf,
    },
    /// Back a node up while it serves: configuration, keys, TLS certificate and a consistent
    /// copy of its database, sealed to a passphrase (Argon2id) or to a recipient's key (HPKE).
    ///
    /// Example:
    ///   GSOMIA_BACKUP_PASSPHRASE=… gsomia backup --data kor --to kor-2019-07-25.gsomia-backup
    #[command(verbatim_doc_comment)]
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory, then verify its audit log.
    ///
    /// Example:
    ///   GSOMIA_BACKUP_PASSPHRASE=… gsomia restore --from kor-2019-07-25.gsomia-backup --data kor2
    #[command(verbatim_doc_comment)]
    Restore(backup::RestoreArgs),
    /// Make a key pair to seal backups to: the secret goes to FILE (keep it offline), the
    /// public key is printed, for `gsomia backup --recipient`.
    ///
    /// Example: gsomia backup-key --out backup-identity.key
    BackupKey {
        /// Where to write the secret key (mode 0600; must not exist).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Rotate a node's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Move a node's state between stores.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Manage a node's users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Export this node's descriptor, or import a partner's.
    #[command(subcommand)]
    Party(admin::PartyCommand),
    /// Make a register on a day (G1): cleared people, or holdings from partners; signed.
    #[command(subcommand)]
    Register(admin::RegisterCommand),
}

/// `gsomia keys …`
#[derive(Subcommand)]
enum KeysCommand {
    /// Make new signing, encryption and TLS keys (the node stopped). The new descriptor,
    /// signed by the old key, is queued for every partner and delivered at the next start
    /// before anything else; partners keep the old keys to verify what they signed before
    /// (docs/RULES.md, K1). Prints the new descriptor.
    ///
    /// Example: gsomia keys rotate --data kor
    Rotate {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: std::path::PathBuf,
    },
}

/// The allocator: the node allocates and frees small buffers at a high rate (JSON, canonical
/// JSON, envelopes, SQLite rows); glibc's malloc took a fifth of the busy time of a federation
/// catch-up (BENCHMARKS.md, issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agreement(c) => offline::agreement(c),
        Command::Check(c) => offline::check(c),
        Command::Audit(c) => audit::audit(c),
        Command::Demo { keep } => demo::demo(keep),
        Command::Init(a) => admin::init(a),
        Command::Serve { data, log_format } => admin::serve(&data, log_format),
        Command::Status { data } => admin::status(&data),
        Command::Backup(a) => backup::backup(a),
        Command::Restore(a) => backup::restore(a),
        Command::BackupKey { out } => backup::key(&out),
        Command::Keys(KeysCommand::Rotate { data }) => admin::rotate(&data),
        Command::Store(c) => store::store(c),
        Command::User(c) => admin::user(c),
        Command::Party(c) => admin::party(c),
        Command::Register(c) => admin::register(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
