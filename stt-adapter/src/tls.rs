//! TLS configuration for `wss://`: rustls on the ring provider, runtime-free. Owns the
//! certificate a listener presents ([`WssIdentity`]), the roots a client trusts
//! ([`WssTrust`]), and the mapping of rustls failures onto the typed [`TlsError`].
//! No sockets are opened and no handshake runs here: a runtime that supports `wss://`
//! (stt-tokio, through tokio-rustls) takes [`WssIdentity::server_config`] /
//! [`WssTrust::client_config`] and wraps its TCP streams itself.
//!
//! TLS only protects the WebSocket framing; STT's own handshake still authenticates
//! both nodes inside it, so a certificate is about reaching a listener through proxies
//! and browsers, not about who the peer node is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::TlsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore, ServerConfig};

/// Errors of loading certificates, keys or trust roots.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause (missing file, no PEM section of the wanted kind, bad base64).
        source: rustls::pki_types::pem::Error,
    },
    /// No certificate was given (an empty chain or root list).
    #[error("no certificate given")]
    NoCertificate,
    /// rustls refused the certificate, key or root (a key not matching the
    /// certificate, an unparsable root).
    #[error("rejected by rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The platform's root store yielded no certificate.
    #[error("no platform root certificates: {0}")]
    NoPlatformRoots(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let pem = |source| TlsConfigError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(pem(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The certificate chain and private key a `wss://` listener presents.
#[derive(Clone)]
pub struct WssIdentity {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for WssIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WssIdentity").finish_non_exhaustive()
    }
}

impl WssIdentity {
    /// From PEM files: the certificate chain (leaf first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        let chain = read_certs(cert_chain.as_ref())?;
        let key =
            PrivateKeyDer::from_pem_file(key.as_ref()).map_err(|source| TlsConfigError::Pem {
                path: key.as_ref().to_path_buf(),
                source,
            })?;
        Self::from_der(chain, key)
    }

    /// From DER: the certificate chain (leaf first) and its private key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsConfigError> {
        if chain.is_empty() {
            return Err(TlsConfigError::NoCertificate);
        }
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls server configuration a runtime accepts `wss://` connections with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// The root certificates a `wss://` client verifies servers against.
#[derive(Clone)]
pub struct WssTrust {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for WssTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WssTrust").finish_non_exhaustive()
    }
}

impl WssTrust {
    /// Trusts the certificates in a PEM file (a private CA, or a self-signed server
    /// certificate itself).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        Self::from_der(read_certs(path.as_ref())?)
    }

    /// Trusts these DER certificates.
    pub fn from_der(
        roots: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, TlsConfigError> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store.add(root)?;
        }
        Self::from_store(store)
    }

    /// Trusts the operating system's root store (as `curl` would), read once now.
    /// Unparsable platform certificates are skipped; none at all is an error.
    pub fn platform() -> Result<Self, TlsConfigError> {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            let why = found
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "the store is empty".into());
            return Err(TlsConfigError::NoPlatformRoots(why));
        }
        Self::from_store(store)
    }

    fn from_store(store: RootCertStore) -> Result<Self, TlsConfigError> {
        if store.is_empty() {
            return Err(TlsConfigError::NoCertificate);
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls client configuration a runtime dials `wss://` servers with.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

/// The name a `wss://` server's certificate is verified for: `host` is a DNS name or
/// an IP address, without brackets.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::InvalidServerName(host.to_string()))
}

/// Maps a failed handshake (async rustls wrappers carry the rustls error inside the
/// `io::Error`) onto [`TlsError`].
pub fn classify(e: &std::io::Error) -> TlsError {
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return TlsError::Handshake(e.to_string());
    };
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::BadEncoding => TlsError::UntrustedCertificate(err.to_string()),
            _ => TlsError::InvalidCertificate(err.to_string()),
        },
        other => TlsError::Handshake(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;

    fn self_signed() -> (rcgen::Certificate, rcgen::KeyPair) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (ck.cert, ck.signing_key)
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stt-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn pem_files_load_and_bad_ones_are_typed_errors() {
        let d = dir("pem");
        let (cert, key) = self_signed();
        let (cert_pem, key_pem) = (d.join("cert.pem"), d.join("key.pem"));
        std::fs::write(&cert_pem, cert.pem()).unwrap();
        std::fs::write(&key_pem, key.serialize_pem()).unwrap();
        WssIdentity::from_pem_files(&cert_pem, &key_pem).unwrap();
        WssTrust::from_pem_file(&cert_pem).unwrap();

        let missing = d.join("missing.pem");
        match WssIdentity::from_pem_files(&missing, &key_pem) {
            Err(TlsConfigError::Pem { path, .. }) => assert_eq!(path, missing),
            other => panic!("{other:?}"),
        }
        // A key file given as the certificate chain, and the reverse.
        assert!(matches!(
            WssTrust::from_pem_file(&key_pem),
            Err(TlsConfigError::Pem {
                source: rustls::pki_types::pem::Error::NoItemsFound,
                ..
            })
        ));
        assert!(matches!(
            WssIdentity::from_pem_files(&cert_pem, &cert_pem),
            Err(TlsConfigError::Pem { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        let key = PrivatePkcs8KeyDer::from(other_key.serialize_der());
        assert!(matches!(
            WssIdentity::from_der(vec![cert.der().clone()], key.into()),
            Err(TlsConfigError::Rustls(_))
        ));
        let (_, key) = self_signed();
        let key = PrivatePkcs8KeyDer::from(key.serialize_der());
        assert!(matches!(
            WssIdentity::from_der(Vec::new(), key.into()),
            Err(TlsConfigError::NoCertificate)
        ));
        assert!(matches!(
            WssTrust::from_der(Vec::new()),
            Err(TlsConfigError::NoCertificate)
        ));
        // Not a certificate at all.
        assert!(matches!(
            WssTrust::from_der([CertificateDer::from(vec![1u8, 2, 3])]),
            Err(TlsConfigError::Rustls(_))
        ));
    }
}
