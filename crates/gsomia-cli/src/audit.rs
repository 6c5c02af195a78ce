//! `gsomia audit …`: the audit log checked and proven offline. The database is opened
//! read-only, so these commands can run beside `gsomia serve` and never change what they
//! examine.
//!
//! Exit codes: 0 the log (or proof) holds, 1 it does not (the message names the first entry or
//! checkpoint that fails), 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use gsomia_log::{ConsistencyProof, InclusionProof, LogVerifier, SignedCheckpoint, leaf_hash};
use gsomia_store::verify::{LogFile, Tampered};
use serde_json::{Value, json};

/// `gsomia audit …`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the whole audit log (numbering, hash chain, Merkle tree, every signed
    /// checkpoint) and name the first entry that does not hold.
    ///
    /// Example:
    ///   gsomia audit verify --data kor
    #[command(verbatim_doc_comment)]
    Verify {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Print a proof, as JSON, for checking by hand or with `check-proof`: that an entry is in
    /// the log (`--entry N`), or that the log grew from one checkpoint to another
    /// (`--old SIZE`); against the latest checkpoint, or the one of `--size`.
    ///
    /// Example:
    ///   gsomia audit prove --data kor --entry 12 > proof.json
    #[command(verbatim_doc_comment)]
    Prove {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The entry's number (from 1).
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "old",
            required_unless_present = "old"
        )]
        entry: Option<u64>,
        /// The size of an earlier checkpoint (`gsomia audit checkpoints` lists them).
        #[arg(long, value_name = "SIZE")]
        old: Option<u64>,
        /// The size of the checkpoint to prove against (the latest if absent).
        #[arg(long, value_name = "SIZE")]
        size: Option<u64>,
    },
    /// Check a proof printed by `prove` against the log's key: its verifier key (from `gsomia
    /// audit key` on that node) or the signing key as the node's descriptor carries it
    /// (`keys.signing`). Needs nothing but the file and the key.
    ///
    /// Example:
    ///   gsomia audit check-proof --key 'gsomia/KOR+1a2b3c4d+AU…' proof.json
    #[command(verbatim_doc_comment)]
    CheckProof {
        /// The log's verifier key, `name+id+base64` (C2SP signed-note), or the node's Ed25519
        /// signing key in base64, as its descriptor carries it.
        #[arg(long, value_name = "KEY")]
        key: String,
        /// The proof file.
        #[arg(value_name = "FILE")]
        proof: PathBuf,
    },
    /// List the checkpoints this node issued: size and root, oldest first (the sizes `prove
    /// --old` and `--size` take).
    Checkpoints {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Print this node's log verifier key, for partners and for `check-proof`.
    Key {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

/// Runs an audit command.
pub fn audit(command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify { data } => verify(&data),
        AuditCommand::Prove {
            data,
            entry,
            old,
            size,
        } => prove(&data, entry, old, size),
        AuditCommand::CheckProof { key, proof } => check_proof(&key, &proof),
        AuditCommand::Checkpoints { data } => {
            let log = open_log(&data)?;
            let verifier = verifier(&data)?;
            for (size, note) in log.checkpoints().map_err(|e| anyhow!("{e}"))? {
                let root = SignedCheckpoint::open(&note, &verifier)
                    .map(|c| gsomia_log::proof::encode_hash(&c.root))
                    .unwrap_or_else(|e| format!("does not verify: {e}"));
                println!("{size}\t{root}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Key { data } => {
            println!("{}", verifier(&data)?.vkey());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The node's own log verifier, from its data directory.
fn verifier(data: &Path) -> Result<LogVerifier> {
    let (config, keys) = gsomia_node::data::load(data)
        .with_context(|| format!("{}: not a gsomia data directory", data.display()))?;
    Ok(LogVerifier::new(
        &gsomia_node::transparency::origin(config.party),
        keys.signing.verifying_key(),
    ))
}

/// Where a node's log is: its SQLite file (read-only, as `LogFile`), or its PostgreSQL
/// database (through the store).
pub enum Log {
    /// The SQLite file, read-only.
    File(LogFile),
    /// A database, through its store.
    Database(std::sync::Arc<dyn gsomia_store::Store>),
}

fn log_of(data: &Path) -> Result<Log> {
    let (config, _) = gsomia_node::data::load(data)
        .with_context(|| format!("{}: not a gsomia data directory", data.display()))?;
    match gsomia_node::data::database_url(&config) {
        Some(_) => Ok(Log::Database(
            gsomia_node::data::open_store(data, &config).map_err(|e| anyhow!("{e}"))?,
        )),
        None => open_log(data).map(Log::File),
    }
}

fn open_log(data: &Path) -> Result<LogFile> {
    if let Ok((config, _)) = gsomia_node::data::load(data)
        && gsomia_node::data::database_url(&config).is_some()
    {
        anyhow::bail!(
            "{}: this node keeps its log in PostgreSQL; this command reads the SQLite file \
             (only `audit verify` reads PostgreSQL yet)",
            data.display()
        );
    }
    LogFile::open(&gsomia_node::data::db_path(data)).map_err(|e| anyhow!("{e}"))
}

/// The verifiers of every key the node's log was signed with: the current key, then those its
/// rotations replaced (K1), from the keys kept in `keys/previous`.
fn verifiers(data: &Path) -> Result<Vec<LogVerifier>> {
    let (config, keys) = gsomia_node::data::load(data)
        .with_context(|| format!("{}: not a gsomia data directory", data.display()))?;
    let origin = gsomia_node::transparency::origin(config.party);
    let previous =
        gsomia_node::data::load_previous(data, keys.master).map_err(|e| anyhow!("{e}"))?;
    Ok(std::iter::once(&keys)
        .chain(previous.iter().rev())
        .map(|k| LogVerifier::new(&origin, k.signing.verifying_key()))
        .collect())
}

pub fn verify(data: &Path) -> Result<ExitCode> {
    verify_log(data, log_of(data)?)
}

/// [`verify`] of `log`, with the keys of the node in `data`.
pub fn verify_log(data: &Path, log: Log) -> Result<ExitCode> {
    let verifiers = verifiers(data)?;
    let verifier = &verifiers[0];
    let open = |note: &str| {
        let mut first = None;
        for v in &verifiers {
            match SignedCheckpoint::open(note, v) {
                Ok(c) => return Ok((c.size, c.root)),
                Err(e) => {
                    first.get_or_insert(e.to_string());
                }
            }
        }
        Err(first.unwrap_or_default())
    };
    let started = Instant::now();
    // Drawn only on a terminal (indicatif hides itself otherwise).
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "verifying [{bar:40}] {pos}/{len} entries ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let result = match log {
        Log::File(log) => log.verify(open, progress),
        Log::Database(store) => {
            let r = gsomia_store::verify::verify_store(&*store, open, progress);
            store.close();
            r
        }
    };
    bar.finish_and_clear();
    let origin = verifier.origin().to_owned();
    match result {
        Ok(v) => {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "audit log {origin}: {} entries verified (numbering, hash chain, Merkle tree), \
                 {} signed checkpoints match",
                v.entries, v.checkpoints
            );
            println!("root: {}", gsomia_log::proof::encode_hash(&v.root));
            eprintln!(
                "in {seconds:.2} s ({:.0} entries/s)",
                v.entries as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(Tampered::Database(e)) => bail!("{e}"),
        Err(e) => {
            println!("audit log {origin}: NOT VERIFIED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn checkpoint_of(log: &LogFile, size: Option<u64>) -> Result<(u64, String)> {
    let all = log.checkpoints().map_err(|e| anyhow!("{e}"))?;
    match size {
        None => all
            .into_iter()
            .last()
            .context("the node has issued no checkpoint yet (it does while `gsomia serve` runs)"),
        Some(s) => all
            .into_iter()
            .find(|(n, _)| *n == s)
            .with_context(|| format!("--size {s}: the node issued no checkpoint of that size")),
    }
}

fn prove(data: &Path, entry: Option<u64>, old: Option<u64>, size: Option<u64>) -> Result<ExitCode> {
    let log = open_log(data)?;
    let (size, note) = checkpoint_of(&log, size)?;
    let bundle = match (entry, old) {
        (Some(seq), _) => {
            if seq == 0 || seq > size {
                bail!("--entry {seq}: the checkpoint covers entries 1 to {size}");
            }
            let body = log
                .entry(seq)
                .map_err(|e| anyhow!("{e}"))?
                .with_context(|| format!("--entry {seq}: no such entry"))?;
            let proof = InclusionProof::make(seq - 1, size, &log)?;
            json!({ "checkpoint": note, "entry": { "seq": seq, "body": body }, "proof": proof })
        }
        (None, Some(old)) => {
            let (old, old_note) = checkpoint_of(&log, Some(old)).context("--old")?;
            if old > size {
                bail!("--old {old}: larger than the checkpoint proven against ({size})");
            }
            let proof = ConsistencyProof::make(old, size, &log)?;
            json!({ "old_checkpoint": old_note, "checkpoint": note, "proof": proof })
        }
        (None, None) => bail!("give --entry N or --old SIZE"),
    };
    println!("{}", serde_json::to_string_pretty(&bundle)?);
    Ok(ExitCode::SUCCESS)
}

/// The verifier for `--key`: a C2SP verifier key, or a descriptor's base64 Ed25519 signing key,
/// which signs under the log name the checkpoint gives (`gsomia/<party>`).
fn key_of(key: &str, bundle: &Value) -> Result<LogVerifier> {
    // A descriptor's key is 32 bytes of base64 (which may itself contain `+`); anything else
    // is read as a verifier key.
    let Ok(key) = gsomia_crypto::keys::verifying_key(key.trim()) else {
        return LogVerifier::from_vkey(key).map_err(|e| {
            anyhow!(
                "--key: neither a base64 Ed25519 key nor a verifier key (`name+id+base64`): {e}"
            )
        });
    };
    let origin = bundle["checkpoint"]
        .as_str()
        .and_then(|n| n.lines().next())
        .filter(|o| o.starts_with("gsomia/"))
        .context("the proof's checkpoint names no gsomia log")?;
    Ok(LogVerifier::new(origin, key))
}

fn check_proof(key: &str, file: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let bundle: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    let verifier = key_of(key, &bundle)?;
    let field = |name: &str| -> Result<&str> {
        bundle[name]
            .as_str()
            .with_context(|| format!("{}: `{name}` must be a string", file.display()))
    };
    let not_verified = |why: String| {
        println!("NOT VERIFIED: {why}");
        Ok(ExitCode::from(1))
    };
    let checkpoint = match SignedCheckpoint::open(field("checkpoint")?, &verifier) {
        Ok(c) => c,
        Err(e) => return not_verified(format!("checkpoint: {e}")),
    };
    if bundle.get("entry").is_some() {
        let proof: InclusionProof = serde_json::from_value(bundle["proof"].clone())
            .with_context(|| format!("{}: `proof`", file.display()))?;
        let seq = bundle["entry"]["seq"]
            .as_u64()
            .with_context(|| format!("{}: `entry.seq` must be a number", file.display()))?;
        let body = bundle["entry"]["body"]
            .as_str()
            .with_context(|| format!("{}: `entry.body` must be a string", file.display()))?;
        if proof.size != checkpoint.size || proof.index + 1 != seq {
            return not_verified(format!(
                "the proof is for position {} of {}, the entry is {seq} and the checkpoint {}",
                proof.index + 1,
                proof.size,
                checkpoint.size
            ));
        }
        if proof
            .verify(&checkpoint.root, &leaf_hash(body.as_bytes()))
            .is_err()
        {
            return not_verified(format!(
                "entry {seq} as given is not in {}'s log of {} entries",
                checkpoint.origin, checkpoint.size
            ));
        }
        println!(
            "verified: entry {seq} is in {}'s log of {} entries (checkpoint signed by {})",
            checkpoint.origin,
            checkpoint.size,
            verifier.vkey()
        );
    } else {
        let old = match SignedCheckpoint::open(field("old_checkpoint")?, &verifier) {
            Ok(c) => c,
            Err(e) => return not_verified(format!("old_checkpoint: {e}")),
        };
        let proof: ConsistencyProof = serde_json::from_value(bundle["proof"].clone())
            .with_context(|| format!("{}: `proof`", file.display()))?;
        if (proof.old, proof.new) != (old.size, checkpoint.size)
            || proof.verify(&old.root, &checkpoint.root).is_err()
        {
            return not_verified(format!(
                "{}'s log of {} entries does not extend its log of {} entries",
                checkpoint.origin, checkpoint.size, old.size
            ));
        }
        println!(
            "verified: {}'s log of {} entries extends its log of {} entries",
            checkpoint.origin, checkpoint.size, old.size
        );
    }
    Ok(ExitCode::SUCCESS)
}
