//! The TLS listener (kubectl only sends bearer tokens over TLS).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const CERT: &str = include_str!("../fixtures/tls-cert.pem");
const KEY: &str = include_str!("../fixtures/tls-key.pem");
/// The certificate, base64 (kubeconfig `certificate-authority-data`).
pub(crate) const CA_B64: &str = include_str!("../fixtures/tls-cert.pem.b64");

pub(crate) struct TlsListener {
    inner: TcpListener,
    acceptor: TlsAcceptor,
}

pub(crate) fn listener(std: std::net::TcpListener) -> Option<TlsListener> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT.as_bytes())
        .collect::<Result<_, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).ok()?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .ok()?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(TlsListener {
        inner: TcpListener::from_std(std).ok()?,
        acceptor: TlsAcceptor::from(Arc::new(cfg)),
    })
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, a)) = self.inner.accept().await else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            if let Ok(Ok(t)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(s)).await
            {
                return (t, a);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
