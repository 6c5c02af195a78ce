//! A node's backup, taken while it serves, and its restore into a new data directory.
//!
//! The backup holds the configuration, every key and the TLS certificate, and a consistent copy
//! of the database (`VACUUM INTO`: every transaction committed when it began). It is sealed
//! with `gsomia_crypto::backup` to a passphrase or a recipient's key:
//!
//! ```text
//! gsomia-backup/1\n
//! {header: what the file key is sealed to}\n
//! chunks: [flag: 0 more, 1 last][u32 BE length][ChaCha20-Poly1305 STREAM chunk]…
//! ```
//!
//! The sealed plaintext is an archive of files: `[u16 BE name length][name][u64 BE size]
//! [bytes]`… ending with a zero name length. A restore writes into `NEWDIR.restoring` and
//! renames it only once everything opened and verified, so a truncated file, a wrong
//! passphrase or another recipient's backup leaves nothing behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gsomia_crypto::backup::{BackupError, BackupRandom, CHUNK, Opener, Sealer, Secret};

use crate::data::{self, random32};
use crate::error::NodeError;

/// The first line of every backup.
const MAGIC: &[u8] = b"gsomia-backup/1\n";

/// The largest file name in an archive.
const MAX_NAME: usize = 256;

/// What a backup is sealed to.
pub enum SealTo<'a> {
    /// A passphrase (Argon2id).
    Passphrase(&'a [u8]),
    /// A recipient's X25519 public key (HPKE).
    Recipient([u8; 32]),
}

/// What went into a backup, or came out of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The files, by name within the data directory, and their sizes.
    pub files: Vec<(String, u64)>,
}

fn io(path: &Path, e: std::io::Error) -> NodeError {
    NodeError::Io(format!("{}: {e}", path.display()))
}

fn sealing(e: BackupError) -> NodeError {
    NodeError::Input(e.to_string())
}

/// A file created with mode 0600 (it holds keys, or a database): refuses to overwrite.
fn create_private(path: &Path) -> Result<std::fs::File, NodeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| io(path, e))
}

/// The files of the node in `dir` a backup holds, by name within it, small ones first. A TLS
/// certificate or key configured outside the folder (a ministry's PKI) is the PKI's to keep.
fn files(dir: &Path) -> Result<Vec<String>, NodeError> {
    let (config, _) = data::load(dir)?;
    let mut names: Vec<String> = [
        "gsomia.toml",
        "keys/signing.key",
        "keys/encryption.key",
        "keys/master.key",
    ]
    .map(String::from)
    .to_vec();
    for path in [&config.tls_cert, &config.tls_key] {
        if Path::new(path).is_relative() && dir.join(path).exists() {
            names.push(path.clone());
        }
    }
    Ok(names)
}

/// Seals into a file: whole chunks as they fill, the last on [`SealedFile::finish`].
struct SealedFile {
    file: std::fs::File,
    sealer: Option<Sealer>,
    buffer: Vec<u8>,
}

impl SealedFile {
    fn frame(&mut self, last: bool, sealed: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(sealed.len()).map_err(std::io::Error::other)?;
        self.file.write_all(&[u8::from(last)])?;
        self.file.write_all(&len.to_be_bytes())?;
        self.file.write_all(sealed)
    }

    fn finish(mut self) -> std::io::Result<std::fs::File> {
        let sealer = self
            .sealer
            .take()
            .ok_or_else(|| std::io::Error::other("sealed twice"))?;
        let last = sealer
            .last(&std::mem::take(&mut self.buffer))
            .map_err(std::io::Error::other)?;
        self.frame(true, &last)?;
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for SealedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = room.min(bytes.len());
        self.buffer.extend_from_slice(&bytes[..n]);
        if self.buffer.len() == CHUNK {
            let sealer = self
                .sealer
                .as_mut()
                .ok_or_else(|| std::io::Error::other("sealed already"))?;
            let sealed = sealer.chunk(&self.buffer).map_err(std::io::Error::other)?;
            self.buffer.clear();
            self.frame(false, &sealed)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn entry_header(out: &mut impl Write, name: &str, size: u64) -> std::io::Result<()> {
    let len = u16::try_from(name.len()).map_err(std::io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&size.to_be_bytes())
}

/// Backs up the node in `dir` (running or not) to `to`, sealed to `seal`. `progress` is told
/// the bytes written of the total, as it goes.
pub fn backup(
    dir: &Path,
    to: &Path,
    seal: SealTo<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, NodeError> {
    if to.exists() {
        return Err(NodeError::Input(format!(
            "{} exists: a backup is never written over",
            to.display()
        )));
    }
    let (config, _) = data::load(dir)?;
    if data::database_url(&config).is_some() {
        return Err(NodeError::Input(
            "this node keeps its state in PostgreSQL: back the database up with PostgreSQL's own \
             tools (pg_basebackup, or pg_dump while the node is stopped), and the data folder \
             (keys, certificate, gsomia.toml) with `gsomia backup` once it supports them alone"
                .into(),
        ));
    }
    let names = files(dir)?;
    // The database first, so the copy is as close as can be to the moment asked for.
    let snapshot = dir.join(format!(".backup-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&snapshot);
    let db_size =
        gsomia_store::snapshot(&data::db_path(dir), &snapshot).map_err(NodeError::Store)?;
    let result = write_backup(dir, to, seal, &names, &snapshot, db_size, progress);
    let _ = std::fs::remove_file(&snapshot);
    result
}

fn write_backup(
    dir: &Path,
    to: &Path,
    seal: SealTo<'_>,
    names: &[String],
    snapshot: &Path,
    db_size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, NodeError> {
    let random = BackupRandom {
        file_key: random32()?,
        stream: random32()?[..7].try_into().unwrap_or_default(),
        salt: random32()?[..16].try_into().unwrap_or_default(),
        wrap_nonce: random32()?[..12].try_into().unwrap_or_default(),
    };
    let (header, sealer) = match seal {
        SealTo::Passphrase(p) => Sealer::to_passphrase(p, &random),
        SealTo::Recipient(public) => {
            Sealer::to_recipient(&public, &random, &mut crate::federation::OsRng)
        }
    }
    .map_err(sealing)?;
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let _ = std::fs::remove_file(&partial);
    let mut file = create_private(&partial)?;
    let written = (|| -> std::io::Result<Summary> {
        file.write_all(MAGIC)?;
        file.write_all(&gsomia_crypto::backup::header_line(&header))?;
        file.write_all(b"\n")?;
        let mut out = SealedFile {
            file,
            sealer: Some(sealer),
            buffer: Vec::with_capacity(CHUNK),
        };
        let mut summary = Summary { files: vec![] };
        let small: Vec<(String, Vec<u8>)> = names
            .iter()
            .map(|n| Ok((n.clone(), std::fs::read(dir.join(n))?)))
            .collect::<std::io::Result<_>>()?;
        let total = small.iter().map(|(_, b)| b.len() as u64).sum::<u64>() + db_size;
        let mut done = 0;
        for (name, bytes) in &small {
            entry_header(&mut out, name, bytes.len() as u64)?;
            out.write_all(bytes)?;
            done += bytes.len() as u64;
            summary.files.push((name.clone(), bytes.len() as u64));
        }
        entry_header(&mut out, "gsomia.db", db_size)?;
        let mut db = std::fs::File::open(snapshot)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut copied = 0;
        loop {
            let n = db.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            copied += n as u64;
            progress(done + copied, total);
        }
        if copied != db_size {
            return Err(std::io::Error::other(
                "the database copy changed while read",
            ));
        }
        summary.files.push(("gsomia.db".into(), db_size));
        out.write_all(&0u16.to_be_bytes())?;
        out.finish()?;
        Ok(summary)
    })();
    match written {
        Ok(summary) => {
            std::fs::rename(&partial, to).map_err(|e| io(to, e))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(io(to, e))
        }
    }
}

/// Reads what a sealed file holds, chunk by chunk.
struct OpenedFile<R: Read> {
    file: R,
    opener: Option<Opener>,
    plain: Vec<u8>,
    at: usize,
    read: u64,
}

impl<R: Read> Read for OpenedFile<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.plain.len() {
            let Some(mut opener) = self.opener.take() else {
                return Ok(0);
            };
            let mut frame = [0u8; 5];
            if let Err(e) = self.file.read_exact(&mut frame) {
                return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    std::io::Error::other(format!(
                        "the backup is truncated after {} bytes: its last part is missing",
                        self.read
                    ))
                } else {
                    e
                });
            }
            let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
            if len > CHUNK + 16 {
                return Err(std::io::Error::other(format!(
                    "a chunk of {len} bytes: this is not a gsomia backup, or it was altered"
                )));
            }
            let mut sealed = vec![0u8; len];
            self.file.read_exact(&mut sealed).map_err(|_| {
                std::io::Error::other(format!(
                    "the backup is truncated after {} bytes: a chunk is cut",
                    self.read
                ))
            })?;
            self.read += 5 + len as u64;
            self.plain = match frame[0] {
                0 => {
                    let plain = opener.chunk(&sealed).map_err(std::io::Error::other)?;
                    self.opener = Some(opener);
                    plain
                }
                1 => opener.last(&sealed).map_err(std::io::Error::other)?,
                _ => {
                    return Err(std::io::Error::other(
                        "a chunk's flag is neither 0 nor 1: the backup was altered",
                    ));
                }
            };
            self.at = 0;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Restores the backup `from`, opened with `secret`, into the new directory `dir`. Nothing is
/// left in `dir` unless every file opened.
pub fn restore(
    from: &Path,
    dir: &Path,
    secret: Secret<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, NodeError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .next()
            .is_some()
    {
        return Err(NodeError::Input(format!(
            "{} is not empty: a restore goes into a new folder",
            dir.display()
        )));
    }
    let file = std::fs::File::open(from).map_err(|e| io(from, e))?;
    let total = file.metadata().map_err(|e| io(from, e))?.len();
    let mut reader = std::io::BufReader::new(file);
    let mut magic = vec![0u8; MAGIC.len()];
    if reader.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Err(NodeError::Input(format!(
            "{}: not a gsomia backup (it does not begin with `gsomia-backup/1`)",
            from.display()
        )));
    }
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(|e| io(from, e))?;
    if line.pop() != Some(b'\n') {
        return Err(NodeError::Input(format!(
            "{}: the backup is truncated in its header",
            from.display()
        )));
    }
    let opener = Opener::new(&line, secret).map_err(sealing)?;
    let mut plain = OpenedFile {
        file: reader,
        opener: Some(opener),
        plain: vec![],
        at: 0,
        read: 0,
    };
    let staging = PathBuf::from(format!("{}.restoring", dir.display()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = unpack(&mut plain, &staging, total, progress);
    match result {
        Ok(summary) => {
            if dir.exists() {
                std::fs::remove_dir(dir).map_err(|e| io(dir, e))?;
            }
            std::fs::rename(&staging, dir).map_err(|e| io(dir, e))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn unpack<R: Read>(
    plain: &mut OpenedFile<R>,
    staging: &Path,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, NodeError> {
    let failed = |e: std::io::Error| NodeError::Input(e.to_string());
    std::fs::create_dir_all(staging.join("keys")).map_err(|e| io(staging, e))?;
    let mut summary = Summary { files: vec![] };
    loop {
        let mut len = [0u8; 2];
        plain.read_exact(&mut len).map_err(failed)?;
        let len = u16::from_be_bytes(len) as usize;
        if len == 0 {
            break;
        }
        if len > MAX_NAME {
            return Err(NodeError::Input(
                "a file name in the backup is too long".into(),
            ));
        }
        let mut name = vec![0u8; len];
        plain.read_exact(&mut name).map_err(failed)?;
        let name = String::from_utf8(name)
            .map_err(|_| NodeError::Input("a file name in the backup is not UTF-8".into()))?;
        // Only plain relative names inside the new folder.
        if name.starts_with('/')
            || name
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(NodeError::Input(format!(
                "the backup names `{name}`, which is not inside a data folder"
            )));
        }
        let mut size = [0u8; 8];
        plain.read_exact(&mut size).map_err(failed)?;
        let size = u64::from_be_bytes(size);
        let path = staging.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let mut out = create_private(&path)?;
        let copied = std::io::copy(&mut (&mut *plain).take(size), &mut out).map_err(failed)?;
        if copied != size {
            return Err(NodeError::Input(format!(
                "the backup is truncated inside `{name}`"
            )));
        }
        out.sync_all().map_err(|e| io(&path, e))?;
        progress(plain.read, total);
        summary.files.push((name, size));
    }
    for needed in ["gsomia.toml", "keys/signing.key", "gsomia.db"] {
        if !summary.files.iter().any(|(n, _)| n == needed) {
            return Err(NodeError::Input(format!("the backup holds no `{needed}`")));
        }
    }
    // Nothing may follow the end of the archive.
    let mut rest = [0u8; 1];
    if plain.read(&mut rest).map_err(failed)? != 0 {
        return Err(NodeError::Input(
            "the backup goes on after its last file: it was altered".into(),
        ));
    }
    Ok(summary)
}
