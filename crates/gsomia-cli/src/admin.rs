//! The node commands: `init`, `serve`, and administration on a data directory from the shell
//! (`user`, `party`, `agreement import`). Each administrative change is audited as `admin`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use gsomia_core::{AgreementFile, LevelId, PartyCode, Role, Scheme, Tag, User, UserKind};
use gsomia_node::node::system_clock;
use gsomia_node::{InitOptions, Node};
use gsomia_store::PartyRecord;

/// Arguments of `gsomia init`.
#[derive(Args)]
pub struct InitArgs {
    /// The data directory to create.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// This node's party.
    #[arg(long, value_name = "CODE")]
    party: PartyCode,
    /// The party's classification scheme (JSON, as in examples/model-case/schemes/).
    #[arg(long, value_name = "FILE")]
    scheme: PathBuf,
    /// The party's name (the scheme's if absent).
    #[arg(long)]
    name: Option<String>,
    /// The address the API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
    listen: String,
    /// The URL partners reach this node at.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// A PostgreSQL database (`postgres://user@host/db`) instead of the embedded SQLite file;
    /// kept in gsomia.toml as `database_url` (a password is better given in
    /// `GSOMIA_DATABASE_URL` when the node runs).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

/// `gsomia user …`
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user and print their bearer token, once; only its hash is stored.
    ///
    /// Example:
    ///   gsomia user add --data kor --id kim --roles analyst --clearance II \
    ///     --duties missile-warning,dprk-missile
    #[command(verbatim_doc_comment)]
    Add(UserAddArgs),
    /// List the users (never their tokens).
    List {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Disable a user: their token stops working at once.
    Disable {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The user's id.
        #[arg(long)]
        id: String,
    },
    /// Set a user's console passphrase (at least 12 characters), read from the file given or
    /// from $GSOMIA_PASSPHRASE (never the command line); only its Argon2id hash is stored.
    ///
    /// Example: GSOMIA_PASSPHRASE=… gsomia user passwd --data kor --id kim
    Passwd {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The user's id.
        #[arg(long)]
        id: String,
        /// A file whose first line is the passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Enable a disabled user again: their token works again.
    Enable {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The user's id.
        #[arg(long)]
        id: String,
    },
    /// Issue a user a new token and print it, once; the old one stops working at once.
    ///
    /// Example: gsomia user token --data kor --id kim --expires 2027-06-30
    Token {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The user's id.
        #[arg(long)]
        id: String,
        /// The last day the token works (none: until it is reissued or the user disabled).
        #[arg(long, value_name = "DATE")]
        expires: Option<gsomia_core::Date>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Official,
    Contractor,
}

/// Arguments of `gsomia user add`.
#[derive(Args)]
pub struct UserAddArgs {
    /// The data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The user's id.
    #[arg(long)]
    id: String,
    /// Roles: analyst, security_officer, authority, admin.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    /// Clearance: a level of this node's scheme.
    #[arg(long, value_name = "LEVEL")]
    clearance: LevelId,
    /// Duties: the purposes and topics of the user's official work.
    #[arg(long, value_delimiter = ',', required = true)]
    duties: Vec<Tag>,
    /// Official or contractor.
    #[arg(long, value_enum, default_value = "official")]
    kind: Kind,
    /// A contractor's facility (C1), registered at the node (`POST /api/v1/facilities`).
    #[arg(long, value_name = "ID")]
    facility: Option<String>,
    /// The user's name.
    #[arg(long, default_value = "")]
    name: String,
    /// The last day the token works (none: until it is reissued or the user disabled).
    #[arg(long, value_name = "DATE")]
    expires: Option<gsomia_core::Date>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("`{s}` is not a role (analyst, security_officer, authority, admin)"))
}

/// `gsomia party …`
#[derive(Subcommand)]
pub enum PartyCommand {
    /// Print this node's descriptor (code, name, scheme, public keys, endpoint) as JSON.
    ///
    /// Example: gsomia party export --data kor > kor.json
    Export {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Import another party's descriptor, as its node exported it. A known party's keys are
    /// not replaced unless --force is given, after its officer read you the new fingerprint
    /// (`party export` prints it on stderr).
    ///
    /// Example: gsomia party import --data kor jpn.json
    Import {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The descriptor file.
        file: PathBuf,
        /// Replace a known party's keys (check the fingerprint with its officer first).
        #[arg(long)]
        force: bool,
    },
}

fn open(data: &Path) -> Result<Arc<Node>> {
    Node::open(data, system_clock()).map_err(|e| anyhow!("{}: {e}", data.display()))
}

fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn init(args: InitArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.scheme)
        .with_context(|| format!("{}: can not read", args.scheme.display()))?;
    let scheme = Scheme::from_json(&text).map_err(|e| anyhow!("{}: {e}", args.scheme.display()))?;
    let opts = InitOptions {
        party: args.party,
        scheme,
        name: args.name,
        listen: args.listen,
        endpoint: args.endpoint,
        database_url: args.database,
    };
    let descriptor =
        gsomia_node::init(&args.data, opts, &now_text()).map_err(|e| anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&descriptor)?);
    Ok(ExitCode::SUCCESS)
}

/// How `gsomia serve` writes its log.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object a line.
    Json,
}

pub fn serve(data: &Path, format: LogFormat) -> Result<ExitCode> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
    }
    // One `gsomia serve` per data folder: a second is refused. The shell's administration
    // (`user add`, `party import`, …) may run beside it: the store takes one writer at a time
    // and each goes on from the stored head of the audit log.
    let lock = lock_folder(
        data,
        "another `gsomia serve` is running on this data folder",
    )?;
    let node = open(data)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&node.config.listen)
            .await
            .with_context(|| format!("can not listen on {}", node.config.listen))?;
        let addr = listener.local_addr()?;
        match node.tls() {
            Some(tls) => tracing::info!(party = %node.party(), %addr, tls_pin = %tls.info.pin, "gsomia node listening (HTTPS)"),
            None => tracing::warn!(party = %node.party(), %addr, "gsomia node listening on plain HTTP (insecure_http, loopback only)"),
        }
        gsomia_node::serve(node, listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    drop(lock);
    Ok(ExitCode::SUCCESS)
}

/// Takes the data folder's lock (`gsomia.lock`), held by `gsomia serve` while it runs; `busy`
/// says why it is refused when someone holds it.
pub fn lock_folder(data: &Path, busy: &str) -> Result<std::fs::File> {
    let lock_path = data.join("gsomia.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("{}: can not open the lock file", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("{}: {busy}; stop it first", data.display())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("{}: can not lock", lock_path.display()))
        }
    }
}

/// `gsomia keys rotate`: new signing, encryption and TLS keys; the notice, signed by the old
/// key, queued for every partner (K1). The node must be stopped: it takes effect at its next
/// start.
pub fn rotate(data: &Path) -> Result<ExitCode> {
    let lock = lock_folder(
        data,
        "`gsomia serve` is running on this data folder: keys are rotated with the node stopped",
    )?;
    let rotated = gsomia_node::rotation::rotate(data, system_clock())
        .map_err(|e| anyhow!("{}: {e}", data.display()))?;
    drop(lock);
    let d = &rotated.descriptor;
    println!("{}", serde_json::to_string_pretty(d)?);
    eprintln!(
        "{}'s keys rotated: fingerprint {} (was {})",
        d.code,
        d.keys.fingerprint(),
        rotated.old
    );
    match (&d.tls_pin, rotated.new_certificate) {
        (Some(pin), true) => eprintln!("new TLS certificate; partners will pin: {pin}"),
        (Some(pin), false) => eprintln!("the TLS certificate is the PKI's, unchanged: {pin}"),
        (None, _) => {}
    }
    if rotated.partners.is_empty() {
        eprintln!("no partner to notify");
    } else {
        eprintln!(
            "the rotation notice, signed by the old key, is queued for: {} (delivered at the \
             next `gsomia serve`, before anything else)",
            rotated.partners.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub fn user(command: UserCommand) -> Result<ExitCode> {
    match command {
        UserCommand::Add(a) => {
            let node = open(&a.data)?;
            let user = User {
                id: a.id,
                name: a.name,
                party: node.party(),
                roles: a.roles,
                clearance: a.clearance,
                duties: a.duties,
                kind: match a.kind {
                    Kind::Official => UserKind::Official,
                    Kind::Contractor => UserKind::Contractor,
                },
                facility: a.facility,
                visit: None,
            };
            let token = node
                .add_user_until(user, a.expires)
                .map_err(|e| anyhow!("{e}"))?;
            node.close();
            println!("{token}");
        }
        UserCommand::List { data } => {
            let node = open(&data)?;
            for u in node.store().users()? {
                let roles: Vec<String> = u
                    .user
                    .roles
                    .iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                println!(
                    "{}\t{}\t{}\t{}{}{}",
                    u.user.id,
                    u.user.clearance,
                    roles.join(","),
                    if u.user.kind == UserKind::Contractor {
                        "contractor"
                    } else {
                        "official"
                    },
                    if u.disabled { "\tdisabled" } else { "" },
                    u.expires
                        .map(|d| format!("\ttoken until {d}"))
                        .unwrap_or_default()
                );
            }
        }
        UserCommand::Disable { data, id } => {
            let node = open(&data)?;
            node.disable_user(&id).map_err(|e| anyhow!("{e}"))?;
            node.close();
        }
        UserCommand::Passwd {
            data,
            id,
            passphrase_file,
        } => {
            let passphrase = match passphrase_file {
                Some(f) => std::fs::read_to_string(&f)
                    .with_context(|| format!("{}: can not read", f.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                None => std::env::var("GSOMIA_PASSPHRASE").map_err(|_| {
                    anyhow!("no passphrase: give --passphrase-file FILE or set GSOMIA_PASSPHRASE")
                })?,
            };
            let node = open(&data)?;
            node.set_passphrase(&id, &passphrase)
                .map_err(|e| anyhow!("{e}"))?;
            node.close();
            eprintln!("{id}'s console passphrase is set");
        }
        UserCommand::Enable { data, id } => {
            let node = open(&data)?;
            node.enable_user(&id).map_err(|e| anyhow!("{e}"))?;
            node.close();
        }
        UserCommand::Token { data, id, expires } => {
            let node = open(&data)?;
            let token = node
                .reissue_token(&id, expires)
                .map_err(|e| anyhow!("{e}"))?;
            node.close();
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn party(command: PartyCommand) -> Result<ExitCode> {
    match command {
        PartyCommand::Export { data } => {
            let node = open(&data)?;
            let d = node.descriptor().map_err(|e| anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&d)?);
            eprintln!(
                "{}'s fingerprint, to read to the partner's officer: {}",
                d.code,
                d.keys.fingerprint()
            );
            if let Some(pin) = &d.tls_pin {
                eprintln!("its TLS key, which partners pin: {pin}");
            }
        }
        PartyCommand::Import { data, file, force } => {
            let node = open(&data)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: can not read", file.display()))?;
            let record: PartyRecord =
                serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let imported = match force {
                true => node.replace_party_keys(record),
                false => node.import_party(record),
            };
            imported.map_err(|e| anyhow!("{}: {e}", file.display()))?;
            node.close();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gsomia status`: the node's standing with each partner.
pub fn status(data: &Path) -> Result<ExitCode> {
    let node = open(data)?;
    let report =
        gsomia_node::service::status::report(&node).map_err(|e| anyhow!("{}", e.message))?;
    node.close();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

pub fn import_agreement(data: &Path, file: &Path) -> Result<ExitCode> {
    let node = open(data)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: can not read", file.display()))?;
    let parsed: AgreementFile =
        gsomia_core::input::parse(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    node.import_agreement(parsed)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    node.close();
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `gsomia register people|holdings`.
#[derive(Args)]
pub struct RegisterArgs {
    /// The data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The day the register stands at, at its end (`YYYY-MM-DD`); today if absent.
    #[arg(long, value_name = "DATE")]
    at: Option<gsomia_core::Date>,
    /// `json`: the signed document; `csv`: the table, its signature on stderr.
    #[arg(long, value_enum, default_value = "json")]
    format: RegisterFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RegisterFormat {
    Json,
    Csv,
}

/// `gsomia register people|holdings …`
#[derive(Subcommand)]
pub enum RegisterCommand {
    /// The register of the node's cleared and authorised people on a day (G1), signed.
    ///
    /// Example: gsomia register people --data kor --at 2019-07-25 --format csv
    People(RegisterArgs),
    /// The inventory of the items the node holds from each partner on a day (G1), signed:
    /// version, levels, agreement, from whom and when, copies, items derived from it.
    ///
    /// Example: gsomia register holdings --data jpn --at 2019-12-02
    Holdings(RegisterArgs),
}

pub fn register(c: RegisterCommand) -> Result<ExitCode> {
    use gsomia_node::service::registers::{self, Register};
    let (which, a) = match c {
        RegisterCommand::People(a) => (Register::People, a),
        RegisterCommand::Holdings(a) => (Register::Holdings, a),
    };
    let node = open(&a.data)?;
    let at = a.at.unwrap_or_else(|| node.today());
    let doc = registers::make(&node, which, at).map_err(|e| anyhow!("{}", e.message));
    let out = doc.map(|doc| match a.format {
        RegisterFormat::Json => (
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
            None,
        ),
        RegisterFormat::Csv => {
            let (text, signature) = registers::csv(&node, &doc);
            (text, Some(signature))
        }
    });
    node.close();
    let (text, signature) = out?;
    print!("{text}");
    if let Some(s) = signature {
        eprintln!(
            "signature (Ed25519, {}'s key, over the CSV text): {s}",
            node.party()
        );
    }
    Ok(ExitCode::SUCCESS)
}
