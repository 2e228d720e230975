//! TLS for `wss://` (the `rustls` feature): the operating system's roots
//! unless the application gives its own configuration.

use std::io;
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::Error;

/// A client configuration trusting the operating system's roots, loaded
/// once per process.
pub(crate) fn system_roots_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no usable root certificate in the system store ({} errors)",
                    found.errors.len()
                ));
            }
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|message| Error::Io(io::Error::other(message)))
}
