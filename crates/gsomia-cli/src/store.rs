//! `gsomia store copy`: a node's SQLite file copied into an empty PostgreSQL database, then its
//! audit log verified there (every checkpoint partners witnessed must still match).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;

/// `gsomia store …`
#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy a stopped node's SQLite database into an empty PostgreSQL database (numbers,
    /// audit log and Merkle tree as they are), verify the log there, and say how to switch.
    ///
    /// Example:
    ///   gsomia store copy --from kor --to postgres://gsomia@db.mod.example/gsomia_kor
    #[command(verbatim_doc_comment)]
    Copy {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The PostgreSQL database (created, empty).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub fn store(c: StoreCommand) -> Result<ExitCode> {
    match c {
        StoreCommand::Copy { from, to } => copy(&from, &to),
    }
}

fn copy(data: &Path, to: &str) -> Result<ExitCode> {
    if !gsomia_store::is_postgres_url(to) {
        anyhow::bail!("--to: `{to}` is not a postgres:// URL");
    }
    let (config, _) = gsomia_node::data::load(data).map_err(|e| anyhow!("{e}"))?;
    if gsomia_node::data::database_url(&config).is_some() {
        anyhow::bail!(
            "{}: this node is already on PostgreSQL (database_url or GSOMIA_DATABASE_URL)",
            data.display()
        );
    }
    let _lock = crate::admin::lock_folder(data, "the node is running (`gsomia serve`)")?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "copying [{bar:40}] {pos}/{len} rows ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let copied = gsomia_store::copy::sqlite_to_postgres(
        &gsomia_node::data::db_path(data),
        to,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    println!(
        "copied {} rows in {:.1} s: {}",
        copied.rows,
        started.elapsed().as_secs_f64(),
        copied
            .tables
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let store = gsomia_store::PostgresStore::open(to).map_err(|e| anyhow!("{e}"))?;
    let verified = crate::audit::verify_log(
        data,
        crate::audit::Log::Database(std::sync::Arc::new(store)),
    )?;
    if verified != ExitCode::SUCCESS {
        return Ok(verified);
    }
    println!(
        "to run the node on it: add `database_url = \"{}\"` to {} \
         (or set GSOMIA_DATABASE_URL), then `gsomia serve --data {}`; keep {} until you are sure",
        gsomia_store::postgres::redact(to),
        gsomia_node::data::config_path(data).display(),
        data.display(),
        gsomia_node::data::db_path(data).display()
    );
    Ok(ExitCode::SUCCESS)
}
