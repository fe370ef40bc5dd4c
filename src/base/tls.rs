//! TLS setup shared by every client and listener: the HTTPS listener's certificates (chosen
//! by SNI, swapped whole on reload), client-certificate verification, and the trust and
//! client certificates Axon uses toward backends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

static PROVIDER: Once = Once::new();

/// Installs rustls' `ring` crypto provider once per process (rustls is built without a
/// default provider, to avoid the aws-lc C build).
pub fn install_crypto_provider() {
    PROVIDER.call_once(|| {
        if rustls::crypto::ring::default_provider()
            .install_default()
            .is_err()
        {
            // Another component installed a provider first; either is fine.
            tracing::debug!("A rustls crypto provider was already installed");
        }
    });
}

/// The process's crypto provider (installed first when needed).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    install_crypto_provider();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A TLS server configuration from a PEM certificate chain and a PEM private key, offering
/// the `alpn` protocols (for example `h2`).
///
/// # Errors
/// When a file cannot be read or holds no usable certificate or key.
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    install_crypto_provider();
    let chain = read_certs(cert)?;
    let key = read_key(key)?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| anyhow::anyhow!("the TLS certificate and key do not work: {error}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The PEM certificates in `path` (at least one).
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub(crate) fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            anyhow::anyhow!("cannot read certificates from {}: {error}", path.display())
        })?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// The PEM private key in `path`.
fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| {
        anyhow::anyhow!("cannot read a private key from {}: {error}", path.display())
    })
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl CertFiles {
    /// Reads both files into a signing certificate, checking the key matches.
    fn load(&self) -> anyhow::Result<CertifiedKey> {
        let chain = read_certs(&self.cert)?;
        let key = read_key(&self.key)?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|error| {
            anyhow::anyhow!(
                "the certificate {} and the key {} do not work together: {error}",
                self.cert.display(),
                self.key.display()
            )
        })
    }
}

/// Whether an HTTPS listener asks clients for a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is asked for and checked against the CA bundle when sent; a
    /// client without one is served too.
    Optional(PathBuf),
    /// A client must present a certificate issued by the CA bundle.
    Required(PathBuf),
}

/// The oldest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for MinVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.2" => Ok(MinVersion::Tls12),
            "1.3" => Ok(MinVersion::Tls13),
            other => Err(format!("`{other}` is not a TLS version (1.2 or 1.3)")),
        }
    }
}

/// What an HTTPS listener serves.
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    /// The certificates, chosen by the name the client asks for (SNI); the first one is
    /// served to a client that asks for no name or for a name none of them carries.
    pub certs: Vec<CertFiles>,
    /// Client certificates.
    pub client_auth: ClientAuth,
    /// The oldest TLS version accepted.
    pub min_version: MinVersion,
}

impl ServerTls {
    /// The server configuration (no ALPN set: actix-web offers `h2` and `http/1.1` itself)
    /// and its certificates, which [`Certificates::reload`] swaps in place.
    ///
    /// # Errors
    /// When a file cannot be read, or a certificate and its key do not match.
    pub fn config(&self) -> anyhow::Result<(rustls::ServerConfig, Arc<Certificates>)> {
        let clients = match &self.client_auth {
            ClientAuth::None => None,
            ClientAuth::Optional(ca) => Some(Arc::new(ClientCas::load(ca.clone(), false)?)),
            ClientAuth::Required(ca) => Some(Arc::new(ClientCas::load(ca.clone(), true)?)),
        };
        let certs = Arc::new(Certificates::load(self.certs.clone(), clients.clone())?);
        let versions: &[&rustls::SupportedProtocolVersion] = match self.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|error| anyhow::anyhow!("TLS versions: {error}"))?;
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(clients) => builder.with_client_cert_verifier(clients),
        };
        let config = builder.with_cert_resolver(certs.clone());
        Ok((config, certs))
    }
}

/// A verifier of client certificates issued by the CA bundle `ca`.
fn verifier(
    ca: &Path,
    required: bool,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let roots = Arc::new(root_store(ca)?);
    let builder = WebPkiClientVerifier::builder_with_provider(roots, provider());
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|error| anyhow::anyhow!("client CA bundle {}: {error}", ca.display()))
}

/// The check of client certificates against a CA bundle that each reload reads again.
#[derive(Debug)]
struct ClientCas {
    ca: PathBuf,
    required: bool,
    current: ArcSwap<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
}

impl ClientCas {
    fn load(ca: PathBuf, required: bool) -> anyhow::Result<ClientCas> {
        let current = ArcSwap::from_pointee(verifier(&ca, required)?);
        Ok(ClientCas {
            ca,
            required,
            current,
        })
    }

    /// The verifier of the bundle as it is now in its file.
    fn read(&self) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        verifier(&self.ca, self.required)
    }
}

impl rustls::server::danger::ClientCertVerifier for ClientCas {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    /// No CA names are sent: the bundle may change under a handshake, and a client
    /// presents its certificate without them.
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.current
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.current.load().supported_verify_schemes()
    }
}

/// A root store of the PEM certificates in `ca`.
fn root_store(ca: &Path) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(read_certs(ca)?);
    if added == 0 {
        anyhow::bail!("{} holds no usable CA certificate", ca.display());
    }
    Ok(roots)
}

/// One loaded certificate and the DNS names it is valid for.
#[derive(Debug)]
struct Named {
    key: Arc<CertifiedKey>,
    names: Vec<String>,
}

/// The certificates of an HTTPS listener: the whole set is read again by
/// [`Certificates::reload`] and swapped at once, so a handshake sees either the old set or
/// the new one, and connections already open are not touched.
#[derive(Debug)]
pub struct Certificates {
    files: Vec<CertFiles>,
    current: ArcSwap<Vec<Named>>,
    /// The client CA bundle, read again with the certificates.
    clients: Option<Arc<ClientCas>>,
}

impl Certificates {
    fn load(
        files: Vec<CertFiles>,
        clients: Option<Arc<ClientCas>>,
    ) -> anyhow::Result<Certificates> {
        let set = read_set(&files)?;
        Ok(Certificates {
            files,
            current: ArcSwap::from_pointee(set),
            clients,
        })
    }

    /// Reads every certificate and key, and the client CA bundle, again; on any error
    /// nothing changes.
    ///
    /// # Errors
    /// When a file cannot be read, or a certificate and its key do not match.
    pub fn reload(&self) -> anyhow::Result<()> {
        Certificates::reload_all(&[self])
    }

    /// Reads every set in `sets` again, then swaps them all; on any error none changes
    /// (the traffic and management listeners reload together).
    ///
    /// # Errors
    /// As [`Certificates::reload`], for the first set that fails.
    pub fn reload_all(sets: &[&Certificates]) -> anyhow::Result<()> {
        let read = sets
            .iter()
            .map(|set| {
                let verifier = set.clients.as_ref().map(|c| c.read()).transpose()?;
                Ok((read_set(&set.files)?, verifier))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (set, (named, verifier)) in sets.iter().zip(read) {
            set.current.store(Arc::new(named));
            if let (Some(clients), Some(verifier)) = (&set.clients, verifier) {
                clients.current.store(Arc::new(verifier));
            }
        }
        Ok(())
    }

    /// The certificate for `sni`: the first whose names match it, else the first one.
    fn choose(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let set = self.current.load();
        let matching = sni.and_then(|sni| {
            set.iter()
                .find(|c| c.names.iter().any(|n| name_matches(n, sni)))
        });
        matching.or_else(|| set.first()).map(|c| c.key.clone())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
    }
}

fn read_set(files: &[CertFiles]) -> anyhow::Result<Vec<Named>> {
    if files.is_empty() {
        anyhow::bail!("no TLS certificate is configured");
    }
    files
        .iter()
        .map(|f| {
            let key = f.load()?;
            let names = dns_names(key.cert.first().map(AsRef::as_ref).unwrap_or_default());
            Ok(Named {
                key: Arc::new(key),
                names,
            })
        })
        .collect()
}

/// The DNS names of a certificate's subject alternative names, lowercased.
fn dns_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// True when the certificate name `pattern` (maybe `*.example.com`) covers `host`; a
/// wildcard stands for exactly one label.
fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// The subject of a DER certificate, its attributes in the certificate's order
/// (`C=.., O=.., CN=..`); `None` when it cannot be parsed.
pub(crate) fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

/// How Axon trusts TLS backends and authenticates to them, for every HTTP and gRPC leaf
/// (a gRPC leaf's own `caCertificate` replaces the trust, not the client certificate).
/// The default is the public roots and no client certificate (what awc and the gRPC
/// leaves use without any `--backend-*` option).
#[derive(Debug, Default)]
pub struct BackendTls {
    /// CA certificates trusted besides the public (web PKI) roots, or instead of them.
    ca: Vec<CertificateDer<'static>>,
    /// Trust `ca` only, not the public roots.
    ca_only: bool,
    /// The certificate chain and key presented to a backend that asks for one (mTLS).
    client: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

impl BackendTls {
    /// Reads the CA bundle `ca` (trusted besides the public roots, or alone when
    /// `ca_only`) and the client certificate `client`.
    ///
    /// # Errors
    /// When a file cannot be read, or the certificate and its key do not match.
    pub fn load(
        ca: Option<&Path>,
        ca_only: bool,
        client: Option<&CertFiles>,
    ) -> anyhow::Result<BackendTls> {
        let ca = match ca {
            Some(path) => read_certs(path)?,
            None if ca_only => anyhow::bail!("trusting only a CA bundle needs the bundle"),
            None => Vec::new(),
        };
        let client = match client {
            Some(files) => {
                let key = files.load()?;
                let der = read_key(&files.key)?;
                Some((key.cert, Arc::new(der)))
            }
            None => None,
        };
        Ok(BackendTls {
            ca,
            ca_only,
            client,
        })
    }

    /// True for the public roots with no client certificate.
    pub(crate) fn is_public(&self) -> bool {
        self.ca.is_empty() && self.client.is_none()
    }

    /// A client configuration offering `alpn`, trusting `own` when given (a leaf's own CA
    /// bundle), else this trust; with `any_host`, a certificate is not checked against the
    /// backend's host name (its chain still is).
    pub(crate) fn client_config(
        &self,
        own: Option<&[CertificateDer<'static>]>,
        any_host: bool,
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let (extra, public) = match own {
            Some(own) => (own, false),
            None => (self.ca.as_slice(), !self.ca_only),
        };
        if public {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let (_, ignored) = roots.add_parsable_certificates(extra.iter().cloned());
        if ignored > 0 {
            tracing::warn!(ignored, "Some CA certificates are not usable trust anchors");
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| rustls::ClientConfig::builder());
        let builder = match any_host {
            false => builder.with_root_certificates(roots),
            true => match AnyHost::new(roots) {
                Ok(verifier) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier)),
                Err(error) => {
                    tracing::warn!(%error, "No usable CA certificate: every backend certificate is refused");
                    builder.with_root_certificates(rustls::RootCertStore::empty())
                }
            },
        };
        let with_client = self.client.as_ref().and_then(|(chain, key)| {
            builder
                .clone()
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(
                    |error| tracing::warn!(%error, "The backend client certificate is not usable"),
                )
                .ok()
        });
        let mut config = with_client.unwrap_or_else(|| builder.with_no_client_auth());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// The web PKI check of a backend's certificate without its host name check
/// (`hostnameVerifier="AllowAll"`): the chain must still lead to a trusted root.
#[derive(Debug)]
struct AnyHost(Arc<rustls::client::WebPkiServerVerifier>);

impl AnyHost {
    fn new(roots: rustls::RootCertStore) -> Result<AnyHost, rustls::client::VerifierBuilderError> {
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map(AnyHost)
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyHost {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        // The chain is checked first; a name mismatch is reported only for a good chain.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn a_wildcard_covers_one_label_and_names_ignore_case() {
        assert!(name_matches("a.example.com", "A.Example.com"));
        assert!(name_matches("*.example.com", "x.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "y.x.example.com"));
        assert!(!name_matches("a.example.com", "b.example.com"));
    }
}
