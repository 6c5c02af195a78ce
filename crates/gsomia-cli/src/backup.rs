//! `gsomia backup`, `gsomia restore`, `gsomia backup-key`: a node's backup taken while it
//! serves, sealed to a passphrase or to a recipient's key, and its restore into a new folder,
//! whose audit log is then verified.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use gsomia_crypto::backup::Secret;
use gsomia_node::backup::SealTo;

/// The environment variable a passphrase may come from (never the command line, which other
/// users of the machine can read).
const PASSPHRASE_ENV: &str = "GSOMIA_BACKUP_PASSPHRASE";

/// Arguments of `gsomia backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The node's data directory (it may be serving).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The backup file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
    /// A file whose first line is the passphrase (else $GSOMIA_BACKUP_PASSPHRASE).
    #[arg(long, value_name = "FILE", conflicts_with = "recipient")]
    passphrase_file: Option<PathBuf>,
    /// Seal to this X25519 public key (base64, from `gsomia backup-key`) instead.
    #[arg(long, value_name = "KEY")]
    recipient: Option<String>,
}

/// Arguments of `gsomia restore`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The new data directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// A file whose first line is the passphrase (else $GSOMIA_BACKUP_PASSPHRASE).
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    passphrase_file: Option<PathBuf>,
    /// The recipient's secret key file (from `gsomia backup-key`), for a backup sealed to it.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
}

fn passphrase(file: Option<&Path>) -> Result<Vec<u8>> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("{}: can not read", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => std::env::var(PASSPHRASE_ENV).map_err(|_| {
            anyhow!(
                "no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV} \
                 (or seal to a key: --recipient / --identity)"
            )
        })?,
    };
    if text.chars().count() < 12 {
        bail!("the passphrase is shorter than 12 characters");
    }
    Ok(text.into_bytes())
}

fn key32(text: &str, what: &str) -> Result<[u8; 32]> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| anyhow!("{what}: not a 32-byte key in base64"))
}

/// A progress bar of bytes (drawn only on a terminal), and the callback that moves it.
fn bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Moves `bar` to `done` of `total`.
fn moves(bar: &indicatif::ProgressBar) -> impl FnMut(u64, u64) + '_ {
    |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}

/// The files of a backup, one a line with its size.
fn list(summary: &gsomia_node::backup::Summary) {
    for (name, size) in &summary.files {
        println!("{size:>12}  {name}");
    }
}

pub fn backup(args: BackupArgs) -> Result<ExitCode> {
    let secret;
    let seal = match &args.recipient {
        Some(r) => SealTo::Recipient(key32(r, "--recipient")?),
        None => {
            secret = passphrase(args.passphrase_file.as_deref())?;
            SealTo::Passphrase(&secret)
        }
    };
    let bar = bar("backing up");
    let summary = gsomia_node::backup::backup(&args.data, &args.to, seal, &mut moves(&bar))
        .map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    list(&summary);
    println!("sealed to {}", args.to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let (pass, identity);
    let secret = match &args.identity {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("{}: can not read", file.display()))?;
            identity = key32(&text, &file.display().to_string())?;
            Secret::Identity(&identity)
        }
        None => {
            pass = passphrase(args.passphrase_file.as_deref())?;
            Secret::Passphrase(&pass)
        }
    };
    let bar = bar("restoring");
    let summary =
        gsomia_node::backup::restore(&args.from, &args.data, secret, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    for (name, size) in &summary.files {
        println!("{size:>12}  {name}");
    }
    println!("restored into {}", args.data.display());
    // The restored log, checked as `gsomia audit verify` does.
    crate::audit::verify(&args.data)
}

/// `gsomia backup-key --out FILE`: a recipient key pair for backups; the secret goes to FILE
/// (0600, kept offline), the public key is printed for `backup --recipient`.
pub fn key(out: &Path) -> Result<ExitCode> {
    let seed = gsomia_node::data::random32().map_err(|e| anyhow!("{e}"))?;
    let (secret, public) = gsomia_crypto::backup::recipient_keys(seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .with_context(|| format!("{}: can not create (it must not exist)", out.display()))?;
    std::io::Write::write_all(
        &mut file,
        format!("{}\n", STANDARD.encode(secret)).as_bytes(),
    )?;
    println!("{}", STANDARD.encode(public));
    Ok(ExitCode::SUCCESS)
}
