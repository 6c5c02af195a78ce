//! TLS (H7): the node's certificate, the server's configuration, and the client's pinned
//! verifier. TLS 1.3 only, with rustls on ring.
//!
//! A node is trusted by the SHA-256 of its certificate's public key (SPKI), carried in its
//! descriptor as `tls_pin` (`sha256//BASE64`, the form `curl --pinnedpubkey` takes): no
//! certificate authority is needed, and a ministry's own PKI certificate pins the same way. The
//! client refuses, before any request is sent, a server whose key is not the pinned one or
//! whose certificate is out of its validity period.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

/// The SHA-256 of a certificate's public key (its DER SubjectPublicKeyInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256//{}", STANDARD.encode(self.0))
    }
}

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> Result<Pin, String> {
        s.strip_prefix("sha256//")
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Pin)
            .ok_or_else(|| {
                format!("`{s}` is not a TLS key pin: expected `sha256//` and 32 bytes in base64")
            })
    }
}

/// What a certificate tells the verifier: its key's pin and when it is valid (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct CertInfo {
    /// Its public key's pin.
    pub pin: Pin,
    /// Valid from.
    pub not_before: u64,
    /// Valid until.
    pub not_after: u64,
}

impl CertInfo {
    /// Reads a DER certificate.
    pub fn of(der: &[u8]) -> Result<CertInfo, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("the certificate's public key: {e}"))?;
        Ok(CertInfo {
            pin: Pin(Sha256::digest(&spki).into()),
            not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        })
    }

    /// Why the certificate is not valid at `now` (Unix seconds), if it is not.
    pub fn invalid_at(&self, now: u64) -> Option<String> {
        if now < self.not_before {
            Some(format!(
                "the certificate is not valid before {}",
                rfc3339(self.not_before)
            ))
        } else if now > self.not_after {
            Some(format!(
                "the certificate expired on {}",
                rfc3339(self.not_after)
            ))
        } else {
            None
        }
    }
}

fn rfc3339(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The first certificate in PEM text.
pub fn first_certificate(pem: &[u8]) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem).map_err(|e| format!("not a PEM certificate: {e}"))
}

/// The node's certificate chain and private key, and its key's pin.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The leaf certificate.
    pub info: CertInfo,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("info", &self.info)
            .finish()
    }
}

impl Identity {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key; refuses a chain that
    /// is malformed, a leaf that is out of its validity period, or a key that is not the leaf's.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.display()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| format!("{}: holds no certificate", cert.display()))?;
        let info = CertInfo::of(leaf).map_err(|e| format!("{}: {e}", cert.display()))?;
        if let Some(why) = info.invalid_at(now_unix()) {
            return Err(format!("{}: {why}", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
        let identity = Identity { chain, key, info };
        identity.server_config().map(|_| identity)
    }

    /// The server's configuration: TLS 1.3, HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| format!("the TLS certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A new self-signed certificate for `names` (DNS names or IP addresses), valid for ten
/// years from yesterday: its PEM and its key's PEM.
pub fn self_signed(common_name: &str, names: Vec<String>) -> Result<(String, String), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    // Its own issuer, as `openssl req -x509` makes one: OpenSSL-based clients (curl
    // --cacert, Python's `verify=`) take it as the trust anchor of a chain of one.
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3652);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that trusts only a server whose certificate key is `pin` (none:
/// no server at all), TLS 1.3. (The HTTP client sets ALPN.)
pub fn client_config(pin: Option<Pin>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Trusts the certificate whose key is the pinned one, while it is valid.
#[derive(Debug)]
struct Pinned {
    pin: Option<Pin>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refuse = |why: String| {
            let why = format!("{}: {why} (H7)", server_name.to_str());
            tracing::warn!("TLS refused: {why}");
            Err(rustls::Error::General(why))
        };
        let info = match CertInfo::of(end_entity) {
            Ok(info) => info,
            Err(e) => return refuse(e),
        };
        match self.pin {
            None => {
                return refuse(format!(
                    "no key is pinned for it (it presented {})",
                    info.pin
                ));
            }
            Some(pin) if pin != info.pin => {
                return refuse(format!(
                    "its certificate key is {}, the descriptor pins {pin}",
                    info.pin
                ));
            }
            Some(_) => {}
        }
        if let Some(why) = info.invalid_at(now.as_secs()) {
            return refuse(why);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("only TLS 1.3 is offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
