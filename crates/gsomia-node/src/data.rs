//! A node's data directory:
//!
//! ```text
//! DIR/gsomia.toml        the configuration (commented)
//! DIR/keys/signing.key   Ed25519 seed        (0600)
//! DIR/keys/encryption.key X25519 secret      (0600)
//! DIR/keys/master.key    wraps item keys     (0600)
//! DIR/keys/tls.key       the TLS private key (0600, PEM)
//! DIR/tls.crt            the TLS certificate (self-signed by `init`; PEM; public)
//! DIR/gsomia.db          SQLite (WAL)
//! ```
//!
//! Keys are 32 random bytes each, written base64 in files created with mode 0600 before any
//! byte is written, so no other user ever sees them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gsomia_core::{PartyCode, Scheme};
use gsomia_crypto::NodeKeys;
use std::sync::Arc;

use gsomia_store::{AuditDraft, Batch, PartyRecord, SqliteStore, Store, Write};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// The configuration file, `gsomia.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's party.
    pub party: PartyCode,
    /// The address to listen on.
    pub listen: String,
    /// The URL partners reach this node at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The largest request body accepted, in bytes (413 above it).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How often `gsomia serve` signs a checkpoint of its audit log while it grows, and has
    /// partners witness it, in milliseconds.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_ms: u64,
    /// Topics offered as TAXII collections before any item on them exists (those of the
    /// agreements' scopes are offered too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxii_topics: Vec<String>,
    /// The TLS certificate chain (PEM, leaf first), relative to the data directory: the one
    /// `init` made, or one from the ministry's PKI.
    #[serde(default = "default_tls_cert")]
    pub tls_cert: String,
    /// The TLS certificate's private key (PEM), relative to the data directory.
    #[serde(default = "default_tls_key")]
    pub tls_key: String,
    /// Serve plain HTTP instead of HTTPS: refused unless `listen` is a loopback address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_http: bool,
    /// A console session unused this long (seconds) ends.
    #[serde(default = "default_console_idle")]
    pub console_idle_secs: u64,
    /// The store: absent for the embedded SQLite file `gsomia.db`; `postgres://…` for a
    /// PostgreSQL database (`GSOMIA_DATABASE_URL` overrides it, so that a password need not
    /// be in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// On PostgreSQL, how long (milliseconds) a process's lease on delivery or checkpoints
    /// lasts unrenewed: how soon another process takes over when its holder dies without
    /// stopping (a stopped one lets go at once).
    #[serde(default = "default_lease")]
    pub lease_ms: u64,
}

fn default_lease() -> u64 {
    15_000
}

fn default_console_idle() -> u64 {
    15 * 60
}

impl Config {
    /// Where `init` puts the TLS certificate it makes.
    pub const DEFAULT_TLS_CERT: &str = "tls.crt";
    /// Where `init` puts its key.
    pub const DEFAULT_TLS_KEY: &str = "keys/tls.key";
}

fn default_tls_cert() -> String {
    Config::DEFAULT_TLS_CERT.into()
}

fn default_tls_key() -> String {
    Config::DEFAULT_TLS_KEY.into()
}

fn default_max_body() -> usize {
    1 << 20
}

fn default_checkpoint_interval() -> u64 {
    2000
}

/// What `gsomia init` is given.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The party.
    pub party: PartyCode,
    /// Its scheme.
    pub scheme: Scheme,
    /// Its name; the scheme's name if absent.
    pub name: Option<String>,
    /// The listen address.
    pub listen: String,
    /// The federation endpoint.
    pub endpoint: Option<String>,
    /// A PostgreSQL database instead of the embedded SQLite file.
    pub database_url: Option<String>,
}

/// Paths inside a data directory.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("gsomia.toml")
}

/// The database file.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("gsomia.db")
}

/// The PostgreSQL database a node's configuration names (`GSOMIA_DATABASE_URL` first), if any.
pub fn database_url(config: &Config) -> Option<String> {
    std::env::var("GSOMIA_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| config.database_url.clone())
}

/// The node's store: its PostgreSQL database if the configuration names one, else the SQLite
/// file in `dir`.
pub fn open_store(dir: &Path, config: &Config) -> Result<Arc<dyn Store>, NodeError> {
    match database_url(config) {
        Some(url) if gsomia_store::is_postgres_url(&url) => Ok(Arc::new(
            gsomia_store::PostgresStore::open(&url).map_err(NodeError::Store)?,
        )),
        Some(other) => Err(NodeError::Input(format!(
            "database_url: `{}` is not a postgres:// URL (leave it out for the embedded SQLite file)",
            other.split('@').next_back().unwrap_or_default()
        ))),
        None => Ok(Arc::new(
            SqliteStore::open(db_path(dir)).map_err(NodeError::Store)?,
        )),
    }
}

fn key_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("keys").join(format!("{name}.key"))
}

/// 32 bytes from the operating system's generator.
pub fn random32() -> Result<[u8; 32], NodeError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| NodeError::Io(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Creates a node in `dir`; refuses to touch an existing one. Returns its descriptor.
pub fn init(dir: &Path, opts: InitOptions, now: &str) -> Result<PartyRecord, NodeError> {
    if opts.scheme.party() != opts.party {
        return Err(NodeError::Input(format!(
            "the scheme is {}'s, not {}'s",
            opts.scheme.party(),
            opts.party
        )));
    }
    if config_path(dir).exists() || db_path(dir).exists() || dir.join("keys").exists() {
        return Err(NodeError::Input(format!(
            "{} already holds a node: refusing to overwrite it",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir.join("keys")).map_err(|e| io(dir, e))?;
    let seeds = [random32()?, random32()?, random32()?];
    for (name, seed) in ["signing", "encryption", "master"].iter().zip(&seeds) {
        write_secret(&key_path(dir, name), &STANDARD.encode(seed))?;
    }
    let keys = NodeKeys::from_seeds(seeds[0], seeds[1], seeds[2]);
    let (cert, tls_key) = crate::tls::self_signed(
        &format!("gsomia {}", opts.party),
        tls_names(&opts.listen, opts.endpoint.as_deref()),
    )
    .map_err(NodeError::Io)?;
    write_secret(&dir.join(default_tls_key()), &tls_key)?;
    std::fs::write(dir.join(default_tls_cert()), &cert).map_err(|e| io(dir, e))?;
    let config = Config {
        party: opts.party,
        listen: opts.listen,
        endpoint: opts.endpoint.clone(),
        max_body_bytes: default_max_body(),
        checkpoint_interval_ms: default_checkpoint_interval(),
        taxii_topics: vec![],
        tls_cert: default_tls_cert(),
        tls_key: default_tls_key(),
        insecure_http: false,
        console_idle_secs: default_console_idle(),
        database_url: opts.database_url.clone(),
        lease_ms: default_lease(),
    };
    let identity = identity(dir, &config)?;
    let toml = toml::to_string(&config).map_err(|e| NodeError::Io(e.to_string()))?;
    let text = format!(
        "# gsomia node configuration.\n\
         # party: this node's party code. listen: the address the API listens on.\n\
         # endpoint: the URL partners reach this node at. max_body_bytes: larger requests get 413.\n\
         # checkpoint_interval_ms: how often the audit log is checkpointed and witnessed.\n\
         # tls_cert, tls_key: the HTTPS certificate (PEM, leaf first) and its key; `init` made a\n\
         # self-signed one; a ministry's PKI certificate may replace it (partners pin its key).\n\
         # insecure_http = true serves plain HTTP, and only on a loopback address.\n\
         # console_idle_secs: a console session unused this long ends.\n\
         # database_url: postgres://… for PostgreSQL (GSOMIA_DATABASE_URL overrides it); absent\n\
         # for the embedded SQLite file gsomia.db. lease_ms: on PostgreSQL, how soon another\n\
         # process takes delivery and checkpoints over from one that died.\n\
         {toml}"
    );
    std::fs::write(config_path(dir), text).map_err(|e| io(dir, e))?;
    let descriptor = PartyRecord {
        code: opts.party,
        name: opts.name.unwrap_or_else(|| opts.scheme.name().to_owned()),
        scheme: opts.scheme.file().clone(),
        keys: keys.public(),
        endpoint: opts.endpoint,
        tls_pin: Some(identity.info.pin.to_string()),
        previous_keys: vec![],
    };
    // The database holds labels, wrapped keys and the audit log: created 0600 before SQLite
    // opens it (its -wal and -shm files take the database file's mode).
    if database_url(&config).is_none() {
        write_secret(&db_path(dir), "")?;
    }
    let store = open_store(dir, &config)?;
    if store.meta("party").map_err(NodeError::Store)?.is_some() {
        return Err(NodeError::Input(
            "the database already holds a node: refusing to overwrite it".into(),
        ));
    }
    store
        .write(Batch {
            writes: vec![
                Write::SetMeta {
                    key: "party".into(),
                    value: opts.party.to_string(),
                },
                Write::PutParty(descriptor.clone()),
            ],
            audit: vec![AuditDraft {
                at: now.to_owned(),
                actor: "admin".into(),
                action: "node.init".into(),
                subject: opts.party.to_string(),
                decision: gsomia_store::Verdict::Record,
                rule: None,
                detail: serde_json::json!({ "signing_key": descriptor.keys.signing }),
            }],
        })
        .map_err(NodeError::Store)?;
    Ok(descriptor)
}

fn write_secret(path: &Path, text: &str) -> Result<(), NodeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(|e| io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> NodeError {
    NodeError::Io(format!("{}: {e}", path.display()))
}

/// The names a self-signed certificate is made for: this machine's, and the hosts of `listen`
/// and `endpoint`. (Partners trust the key, not the name; names matter to `curl --cacert`.)
pub fn tls_names(listen: &str, endpoint: Option<&str>) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let listen_host = listen
        .parse::<std::net::SocketAddr>()
        .ok()
        .filter(|a| !a.ip().is_unspecified())
        .map(|a| a.ip().to_string());
    let endpoint_host = endpoint
        .and_then(|e| e.parse::<hyper::Uri>().ok())
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()));
    for host in [listen_host, endpoint_host].into_iter().flatten() {
        if !names.contains(&host) {
            names.push(host);
        }
    }
    names
}

/// The node's TLS certificate and key, as the configuration names them.
pub fn identity(dir: &Path, config: &Config) -> Result<crate::tls::Identity, NodeError> {
    crate::tls::Identity::load(&dir.join(&config.tls_cert), &dir.join(&config.tls_key))
        .map_err(NodeError::Input)
}

/// Reads a key file: 32 bytes in base64.
fn read_key(path: &Path) -> Result<[u8; 32], NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| NodeError::Input(format!("{}: not a 32-byte key in base64", path.display())))
}

/// Reads the configuration and keys of the node in `dir`.
pub fn load(dir: &Path) -> Result<(Config, NodeKeys), NodeError> {
    let path = config_path(dir);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let config: Config =
        toml::from_str(&text).map_err(|e| NodeError::Input(format!("{}: {e}", path.display())))?;
    let read = |name: &str| read_key(&key_path(dir, name));
    let keys = NodeKeys::from_seeds(read("signing")?, read("encryption")?, read("master")?);
    Ok((config, keys))
}

/// Where a rotation keeps the keys it replaced: `keys/previous/N-signing.key` and
/// `N-encryption.key`, N from 1, oldest first (0600, like every key).
fn previous_path(dir: &Path, n: usize, name: &str) -> PathBuf {
    dir.join("keys")
        .join("previous")
        .join(format!("{n}-{name}.key"))
}

/// The signing and encryption keys rotations replaced, oldest first (with the master key,
/// which rotations keep): to open what partners sealed to an old key before they learned of
/// the new one, and to sign the envelopes queued before a rotation.
pub fn load_previous(dir: &Path, master: [u8; 32]) -> Result<Vec<NodeKeys>, NodeError> {
    let mut previous = vec![];
    for n in 1.. {
        let signing = previous_path(dir, n, "signing");
        if !signing.exists() {
            break;
        }
        previous.push(NodeKeys::from_seeds(
            read_key(&signing)?,
            read_key(&previous_path(dir, n, "encryption"))?,
            master,
        ));
    }
    Ok(previous)
}

/// The key files a rotation writes before it commits: `keys/NAME.key.new`, and the TLS
/// certificate and key beside theirs.
fn pending(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.new", path.display()))
}

/// The files a rotation replaces, relative to the data directory.
const ROTATED: [&str; 4] = [
    "keys/signing.key",
    "keys/encryption.key",
    "tls.crt",
    "keys/tls.key",
];

/// Keeps the current signing and encryption keys as previous ones and writes the new keys (and,
/// when given, a new TLS certificate and key) beside the current files as `*.new`. Nothing is
/// in force until [`finish_rotation`] renames them, after the store committed the rotation.
pub fn stage_rotation(
    dir: &Path,
    signing: [u8; 32],
    encryption: [u8; 32],
    tls: Option<(String, String)>,
) -> Result<(), NodeError> {
    let n = (1..)
        .find(|n| !previous_path(dir, *n, "signing").exists())
        .unwrap_or(1);
    std::fs::create_dir_all(dir.join("keys").join("previous")).map_err(|e| io(dir, e))?;
    for name in ["signing", "encryption"] {
        let text = std::fs::read_to_string(key_path(dir, name)).map_err(|e| io(dir, e))?;
        write_secret(&previous_path(dir, n, name), &text)?;
    }
    let mut staged = vec![
        ("keys/signing.key", STANDARD.encode(signing)),
        ("keys/encryption.key", STANDARD.encode(encryption)),
    ];
    if let Some((cert, key)) = tls {
        staged.push(("tls.crt", cert));
        staged.push(("keys/tls.key", key));
    }
    for (name, text) in staged {
        let path = pending(&dir.join(name));
        let _ = std::fs::remove_file(&path);
        write_secret(&path, &text)?;
    }
    Ok(())
}

/// The signing key a rotation staged and has not put in place, if any.
pub fn staged_signing(dir: &Path) -> Result<Option<[u8; 32]>, NodeError> {
    let path = pending(&key_path(dir, "signing"));
    if path.exists() {
        read_key(&path).map(Some)
    } else {
        Ok(None)
    }
}

/// Puts staged rotated keys in place: each `*.new` renamed over the file it replaces.
pub fn finish_rotation(dir: &Path) -> Result<(), NodeError> {
    for name in ROTATED {
        let path = dir.join(name);
        let new = pending(&path);
        if new.exists() {
            std::fs::rename(&new, &path).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

/// Drops staged keys of a rotation that did not commit.
pub fn abandon_rotation(dir: &Path) {
    for name in ROTATED {
        let _ = std::fs::remove_file(pending(&dir.join(name)));
    }
}
