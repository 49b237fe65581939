use super::*;
use crate::channels::ebay::{EbayClient, EbayConfig};
use crate::channels::etsy::{EtsyClient, EtsyConfig};
use crate::channels::shopify::ShopifyClient;
use crate::channels::store_url::{store_client, UrlPolicy, REQUEST_TIMEOUT};
use crate::channels::tiktok::TikTokClient;
use crate::channels::veeqo::limiter::Limiter;
use crate::channels::veeqo::VeeqoClient;
use crate::ports::Secret;
use rustls::pki_types::PrivateKeyDer;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

/// However many channel clients are built, through every channel's constructor and the
/// guarded store client, the TLS configuration (and the root store in it) is built once.
#[test]
fn the_root_store_is_loaded_once_however_many_clients_are_built() {
    for _ in 0..3 {
        let _ = TikTokClient::new(
            "https://api.example.com",
            "https://auth.example.com",
            "fake-app-key",
            Secret::new("fake-app-secret"),
        );
        VeeqoClient::new(None, Arc::new(Limiter::default())).unwrap();
        EbayClient::new(EbayConfig::for_tests("https://api.example.com")).unwrap();
        EtsyClient::new(Arc::new(EtsyConfig {
            keystring: "fake-keystring".into(),
            shared_secret: Secret::new("fake-shared-secret"),
            webhook_secrets: vec![],
            api_base: "https://api.example.com".into(),
            authorize_url: "https://auth.example.com".into(),
        }))
        .unwrap();
        ShopifyClient::new(None).unwrap();
        let _ = store_client(
            UrlPolicy {
                allow_private: false,
            },
            REQUEST_TIMEOUT,
        );
        let _ = store_client(
            UrlPolicy {
                allow_private: true,
            },
            REQUEST_TIMEOUT,
        );
        client_builder().build().unwrap();
    }
    assert!(client_config().is_ok());
    assert_eq!(BUILDS.load(Ordering::Relaxed), 1);
}

/// No channel code builds a reqwest client of its own (which would load the roots again):
/// outside test code, `reqwest::Client::builder()` appears only in this module.
#[test]
fn every_channel_client_starts_from_the_shared_builder() {
    fn visit(dir: &Path, offenders: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                // Test-only modules.
                if name != "contract" && name != "tls" {
                    visit(&path, offenders);
                }
                continue;
            }
            if !name.ends_with(".rs")
                || matches!(name.as_str(), "tests.rs" | "testkit.rs" | "tls.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for banned in [
                "reqwest::Client::builder()",
                "reqwest::Client::new()",
                "ClientBuilder::new()",
            ] {
                if code.contains(banned) {
                    offenders.push(format!("{}: {banned}", path.display()));
                }
            }
        }
    }
    let channels = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/channels");
    let mut offenders = Vec::new();
    visit(&channels, &mut offenders);
    assert!(
        offenders.is_empty(),
        "clients built without the shared TLS configuration: {offenders:?}"
    );
}

// A self-signed certificate for `untrusted.channel-sync.test`, generated for each run: no
// root the client trusts signed it.
const HOST: &str = "untrusted.channel-sync.test";

/// A TLS server on loopback presenting a freshly generated self-signed certificate for
/// [`HOST`] to one connection; returns how its handshake ended.
fn untrusted_server() -> (SocketAddr, std::thread::JoinHandle<String>) {
    let generated = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
    let cert = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        // Only a guard against a hung test, never asserted on.
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut socket) {
                return e.to_string();
            }
        }
        let _ = socket.read(&mut [0u8; 512]);
        "handshake completed".to_owned()
    });
    (addr, server)
}

/// The shared configuration verifies certificates: a client built from it refuses a server
/// whose certificate no trusted root signed (nothing like `danger_accept_invalid_certs`).
#[tokio::test]
async fn an_https_server_with_an_untrusted_certificate_is_refused() {
    let (addr, server) = untrusted_server();
    let client = client_builder()
        .resolve(HOST, addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let error = client
        .get(format!("https://{HOST}:{}/", addr.port()))
        .send()
        .await
        .expect_err("an untrusted certificate must be refused");
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        chain.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(error.is_connect(), "{chain}");
    assert!(
        chain.contains("invalid peer certificate: UnknownIssuer"),
        "{chain}"
    );
    // The client itself refused: it told the server why.
    let server_side = server.join().unwrap();
    assert!(
        ["BadCertificate", "UnknownCA", "CertificateUnknown"]
            .iter()
            .any(|alert| server_side == format!("received fatal alert: {alert}")),
        "{server_side}"
    );
}
