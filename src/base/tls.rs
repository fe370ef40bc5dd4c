//! TLS setup shared by every client and listener.

use std::path::Path;
use std::sync::{Arc, Once};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            anyhow::anyhow!("cannot read certificates from {}: {error}", cert.display())
        })?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
        anyhow::anyhow!("cannot read a private key from {}: {error}", key.display())
    })?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| anyhow::anyhow!("the TLS certificate and key do not work: {error}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
