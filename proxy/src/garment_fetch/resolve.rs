//! Name resolution behind a trait, and the pin table that makes the connection use the
//! addresses that were checked.
//!
//! Checking addresses is only half of SSRF protection: if the HTTP client resolved the name
//! again, a DNS answer with a short TTL could hand it a different (internal) address after the
//! check ("DNS rebinding"). So the fetcher resolves through a [`HostResolver`], checks every
//! address, and pins the checked set; reqwest's resolver is [`PinnedDns`], which answers only
//! from the pins and never resolves anything itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// Resolves a host name to all its A and AAAA addresses.
#[async_trait]
pub trait HostResolver: Send + Sync + 'static {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo` through tokio), which returns both address families.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, port))
            .await?
            .map(|addr| addr.ip())
            .collect())
    }
}

/// A fixed name → addresses table, so tests exercise the real checks without any DNS.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    table: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> Self {
        Self {
            table: entries
                .into_iter()
                .map(|(name, ips)| (name.to_ascii_lowercase(), ips))
                .collect(),
        }
    }
}

#[async_trait]
impl HostResolver for StaticResolver {
    async fn lookup(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        self.table
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "name not in the static table")
            })
    }
}

/// Checked addresses per host. Hosts are limited to those of the configured prefixes, so the
/// table stays as small as the prefix list.
#[derive(Debug, Default, Clone)]
pub struct PinnedDns {
    pins: Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>,
}

impl PinnedDns {
    pub fn pin(&self, host: &str, addrs: Vec<SocketAddr>) {
        self.pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_ascii_lowercase(), addrs);
    }

    fn pinned(&self, host: &str) -> Option<Vec<SocketAddr>> {
        self.pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host.to_ascii_lowercase())
            .cloned()
    }
}

impl reqwest::dns::Resolve for PinnedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let answer = self.pinned(name.as_str()).filter(|addrs| !addrs.is_empty());
        Box::pin(async move {
            let addrs = answer.ok_or("host was not checked before connecting")?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_resolver_answers_from_its_table_only() {
        let resolver =
            StaticResolver::new([("CDN.example", vec!["93.184.216.34".parse().unwrap()])]);
        assert_eq!(
            resolver.lookup("cdn.example", 443).await.unwrap(),
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
        assert!(resolver.lookup("other.example", 443).await.is_err());
    }

    #[tokio::test]
    async fn pinned_dns_refuses_unpinned_hosts() {
        use reqwest::dns::Resolve;
        let dns = PinnedDns::default();
        let name = |n: &str| n.parse::<reqwest::dns::Name>().unwrap();
        assert!(dns.resolve(name("cdn.example")).await.is_err());
        let addr: SocketAddr = "93.184.216.34:443".parse().unwrap();
        dns.pin("cdn.example", vec![addr]);
        let got: Vec<_> = dns.resolve(name("CDN.example")).await.unwrap().collect();
        assert_eq!(got, vec![addr]);
    }
}
