//! Merchant-supplied store URLs (WooCommerce, Magento): the only URLs channel-sync calls that a
//! user typed, so the only way a user could make it call into the 3PL's own network (SSRF).
//!
//! The rule: `https` only, and every address the host resolves to must be public (not
//! loopback, private, link-local, carrier-grade NAT, multicast, unspecified or documentation
//! ranges, including IPv4 mapped into IPv6). It is checked twice: when the URL is accepted
//! ([`UrlPolicy::check`], for a clear 422), and on every connection the store client opens
//! ([`GuardedResolver`]), so a host that later re-points its DNS at `127.0.0.1` still gets
//! nothing. Redirects are never followed by store clients (see [`store_client`]).
//!
//! The one exception is [`UrlPolicy::allow_private`], off by default, set only by the
//! documented `CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1` switch (tests and the local runner use
//! stores on loopback over plain http). Nothing else bypasses the rule.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable of the one test switch.
pub const ALLOW_PRIVATE_STORES_ENV: &str = "CHANNEL_SYNC_ALLOW_PRIVATE_STORES";

/// Longest store URL accepted.
pub const MAX_STORE_URL: usize = 2048;

/// Which store URLs may be called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allow `http` and private/loopback addresses. Tests and local demos only.
    pub allow_private: bool,
}

/// Why a store URL was refused. Every variant is a clear sentence for a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the store URL is not a valid URL: {0}")]
    Invalid(String),
    #[error("the store URL must start with https://")]
    NotHttps,
    #[error("the store URL must not contain a user name, password, query or fragment")]
    Extra,
    #[error("the store URL's host {0} points at a private, loopback or link-local address")]
    Private(String),
    #[error("the store URL's host {0} does not resolve")]
    Unresolvable(String),
}

/// A checked store base URL, without a trailing slash (`https://shop.example.com/store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    base: String,
}

impl StoreUrl {
    /// The base, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `base` + `path` (`path` starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The store's identity for a connection: host (and port, and path when the store lives
    /// below the root), lowercased, without scheme: `shop.example.com/store`.
    pub fn identity(&self) -> String {
        let without_scheme = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest);
        without_scheme.to_ascii_lowercase()
    }

    /// Re-reads a URL stored by [`UrlPolicy::check`] (from a connection's credentials): only the
    /// syntax is checked again; addresses are checked on every connection by the client.
    pub fn stored(raw: &str) -> Result<Self, UrlError> {
        Ok(Self {
            base: syntax(raw, true)?.0,
        })
    }
}

/// Parses and normalizes; returns the base and the host.
fn syntax(raw: &str, allow_http: bool) -> Result<(String, url::Host<String>), UrlError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_STORE_URL {
        return Err(UrlError::Invalid(format!(
            "expected 1 to {MAX_STORE_URL} characters"
        )));
    }
    let url = Url::parse(raw).map_err(|e| UrlError::Invalid(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(UrlError::NotHttps),
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(UrlError::Extra);
    }
    let host = url
        .host()
        .ok_or_else(|| UrlError::Invalid("no host".into()))?
        .to_owned();
    let mut base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    base.push_str(url.path().trim_end_matches('/'));
    Ok((base, host))
}

impl UrlPolicy {
    /// Reads the test switch (`CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1`); anything else is off.
    pub fn from_env() -> Self {
        let allow_private = std::env::var(ALLOW_PRIVATE_STORES_ENV).is_ok_and(|v| v == "1");
        if allow_private {
            tracing::warn!(
                "{ALLOW_PRIVATE_STORES_ENV}=1: store URLs may be http and private addresses (tests only)"
            );
        }
        Self { allow_private }
    }

    /// Checks a user-supplied store URL, resolving its host now.
    pub async fn check(&self, raw: &str) -> Result<StoreUrl, UrlError> {
        let (base, host) = syntax(raw, self.allow_private)?;
        if !self.allow_private {
            match host {
                url::Host::Ipv4(ip) => refuse_private(IpAddr::V4(ip), &ip.to_string())?,
                url::Host::Ipv6(ip) => refuse_private(IpAddr::V6(ip), &ip.to_string())?,
                url::Host::Domain(name) => {
                    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 443))
                        .await
                        .map_err(|_| UrlError::Unresolvable(name.clone()))?
                        .collect();
                    if addrs.is_empty() {
                        return Err(UrlError::Unresolvable(name));
                    }
                    for addr in addrs {
                        refuse_private(addr.ip(), &name)?;
                    }
                }
            }
        }
        Ok(StoreUrl { base })
    }
}

fn refuse_private(ip: IpAddr, host: &str) -> Result<(), UrlError> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(UrlError::Private(host.to_owned()))
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // carrier-grade NAT 100.64.0.0/10
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments 192.0.0.0/24, benchmarking 198.18.0.0/15
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        // reserved 240.0.0.0/4
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // unique local fc00::/7
        || (first & 0xfe00) == 0xfc00
        // link-local fe80::/10
        || (first & 0xffc0) == 0xfe80
        // site-local fec0::/10 (deprecated, still routed inside some networks)
        || (first & 0xffc0) == 0xfec0
        // documentation 2001:db8::/32
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // Teredo 2001::/32 and 6to4 2002::/16 tunnel to an IPv4 address the guard cannot
        // judge here: refused whole
        || (first == 0x2001 && ip.segments()[1] == 0)
        || first == 0x2002
        // IPv4-compatible and NAT64 prefixes carry an IPv4 address: judge that one
        || (ip.segments()[..6] == [0, 0, 0, 0, 0, 0])
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && {
            let s = ip.segments();
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            !is_public_v4(v4)
        }))
}

/// A resolver that drops every non-public address, so a store whose DNS changes after it was
/// connected still cannot reach the internal network. A name with only private addresses
/// fails to resolve.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Timeouts of store clients: a self-hosted shop can be slow, but a hung one must not hold a
/// consumer for its whole visibility timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client for merchant-supplied stores: rustls, no redirects (a redirect could point
/// anywhere), timeouts, and unless the test switch is on the [`GuardedResolver`] and no proxy.
pub fn store_client(policy: UrlPolicy, request_timeout: Duration) -> reqwest::Client {
    let mut builder = crate::channels::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(request_timeout)
        .user_agent(concat!("channel-sync/", env!("CARGO_PKG_VERSION")));
    if !policy.allow_private {
        // No proxy from the environment (`HTTPS_PROXY`…): a proxy resolves the host itself,
        // and the guard would never see the address.
        builder = builder.no_proxy().dns_resolver(Arc::new(GuardedResolver));
    }
    builder
        .build()
        .expect("a client on the shared TLS configuration (or reqwest's own) always builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    #[tokio::test]
    async fn only_https_public_urls_pass_the_strict_policy() {
        for (raw, expected) in [
            ("http://shop.example.com", UrlError::NotHttps),
            ("ftp://shop.example.com", UrlError::NotHttps),
            ("https://127.0.0.1", UrlError::Private("127.0.0.1".into())),
            (
                "https://10.1.2.3/shop",
                UrlError::Private("10.1.2.3".into()),
            ),
            (
                "https://169.254.169.254",
                UrlError::Private("169.254.169.254".into()),
            ),
            ("https://[::1]", UrlError::Private("::1".into())),
            (
                "https://[::ffff:192.168.0.1]",
                UrlError::Private("::ffff:192.168.0.1".into()),
            ),
            ("https://[fd00::1]", UrlError::Private("fd00::1".into())),
            ("https://localhost", UrlError::Private("localhost".into())),
            ("https://user:pw@shop.example.com", UrlError::Extra),
            ("https://shop.example.com/?x=1", UrlError::Extra),
        ] {
            assert_eq!(STRICT.check(raw).await, Err(expected), "{raw}");
        }
        assert!(matches!(
            STRICT.check("not a url").await,
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(STRICT.check("").await, Err(UrlError::Invalid(_))));
        let long = format!("https://{}.com", "a".repeat(MAX_STORE_URL));
        assert!(matches!(
            STRICT.check(&long).await,
            Err(UrlError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn public_literal_addresses_pass_and_are_normalized() {
        let url = STRICT.check(" https://93.184.215.14/Shop/ ").await.unwrap();
        assert_eq!(url.as_str(), "https://93.184.215.14/Shop");
        assert_eq!(url.identity(), "93.184.215.14/shop");
        assert_eq!(url.join("/wp-json/"), "https://93.184.215.14/Shop/wp-json/");
    }

    #[tokio::test]
    async fn the_test_switch_allows_http_on_loopback_and_nothing_else_changes() {
        let open = UrlPolicy {
            allow_private: true,
        };
        let url = open.check("http://127.0.0.1:8080/").await.unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080");
        assert_eq!(url.identity(), "127.0.0.1:8080");
        assert_eq!(open.check("ftp://x").await, Err(UrlError::NotHttps));
        assert_eq!(open.check("http://u:p@x").await, Err(UrlError::Extra));
    }

    /// Issue 15, item 14: site-local, 6to4 and Teredo addresses are not public (they tunnel
    /// to or stand for addresses the guard cannot judge).
    #[test]
    fn tunnel_and_site_local_addresses_are_not_public() {
        for private in [
            "fec0::1",
            "feff:ffff::1",
            "2002:c0a8:0101::1",
            "2002:0808:0808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:0:ffff::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        // Neighbours of those prefixes stay public.
        for public in ["2003::1", "2001:4860::8888", "2001:db9::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn address_classes() {
        for private in [
            "0.0.0.0",
            "100.64.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "::",
            "64:ff9b::a00:1",
            "::7f00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_guarded_client_cannot_reach_loopback_by_name() {
        // A server that answers on loopback: only the resolver can stop the strict client.
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let url = format!("http://localhost:{}/", server.address().port());
        let client = store_client(STRICT, Duration::from_secs(5));
        let err = client
            .get(&url)
            .send()
            .await
            .expect_err("loopback must not be reachable");
        assert!(err.is_connect() || err.is_request(), "{err}");
        let mut cause: &dyn std::error::Error = &err;
        let mut chain = cause.to_string();
        while let Some(next) = cause.source() {
            chain.push_str(&format!(": {next}"));
            cause = next;
        }
        assert!(chain.contains("no public address"), "{chain}");
        assert!(server.received_requests().await.unwrap().is_empty());
        // The test switch's client reaches the same server.
        let open = store_client(
            UrlPolicy {
                allow_private: true,
            },
            Duration::from_secs(5),
        );
        assert_eq!(open.get(&url).send().await.unwrap().status(), 200);
    }
}
