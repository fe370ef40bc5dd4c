//! TLS setup shared by every client and listener.

use std::sync::Once;

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
