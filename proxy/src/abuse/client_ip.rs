//! Which address a request comes from, for per-client limits.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is read only when the
//! socket peer is one of our own reverse proxies (`TRYON_TRUSTED_PROXIES`). Even then the
//! left-most entries are the client's to invent: the chain is walked from the right, skipping
//! our trusted proxies, and the first address that is not one of them is the client.
//!
//! Issue 13: a request Shopify's App Proxy relayed (its signature verified) comes from one of
//! a few Shopify servers, which relay every shopper of every shop. Shopify appends the
//! address its relay received the request from (the shopper's) to `X-Forwarded-For`, so for
//! those requests the entry just left of the relay's own hop is the shopper
//! ([`relayed_shopper`]); what the shopper wrote further left is still ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address of a request that arrived from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let entries = forwarded_entries(headers);
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // Garbage from here leftwards was written by the hop we trust least: stop at the
            // last hop we could read.
            return nearest;
        };
        if !is_trusted(ip, trusted) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// The shopper's address of a request Shopify's App Proxy relayed from `peer` (the relay, or
/// one of our own proxies in front of us): the hops our trusted proxies appended are skipped,
/// the next hop is Shopify's relay, and the entry left of it is the one the relay appended.
/// `None` when that entry is missing, unreadable or one of our own proxies: the caller then
/// counts the request against the relay's address, which is stricter, never looser.
pub fn relayed_shopper(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let entries = forwarded_entries(headers);
    let mut rest = entries.as_slice();
    let mut hop = peer.to_canonical();
    while is_trusted(hop, trusted) {
        let (last, before) = rest.split_last()?;
        hop = parse_entry(last)?;
        rest = before;
    }
    // `hop` is Shopify's relay; the shopper is what it appended.
    let shopper = parse_entry(rest.last()?)?;
    (!is_trusted(shopper, trusted)).then_some(shopper)
}

/// Every `X-Forwarded-For` entry, left to right; several headers form one list, in order.
fn forwarded_entries(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect()
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// An X-Forwarded-For entry: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443` or `1.2.3.4:5678`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

/// Parses `TRYON_TRUSTED_PROXIES`: CIDRs or single addresses, comma- or space-separated.
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not a CIDR or an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<IpNet> {
        parse_trusted_proxies("10.0.0.0/8, 192.168.1.1").unwrap()
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let got = client_ip(ip("203.0.113.7"), &headers(&["1.2.3.4"]), &trusted());
        assert_eq!(got, ip("203.0.113.7"));
        let no_trust = client_ip(ip("10.0.0.1"), &headers(&["1.2.3.4"]), &[]);
        assert_eq!(
            no_trust,
            ip("10.0.0.1"),
            "without trusted proxies the header never counts"
        );
    }

    #[test]
    fn through_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
        // The client forged "6.6.6.6"; the edge proxy appended the real client 198.51.100.9,
        // an inner proxy (10.1.1.1) appended the edge proxy.
        let xff = headers(&["6.6.6.6, 198.51.100.9, 10.1.1.1"]);
        assert_eq!(
            client_ip(ip("192.168.1.1"), &xff, &trusted()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn several_headers_form_one_chain() {
        let xff = headers(&["6.6.6.6", "198.51.100.9", "10.2.2.2"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff, &trusted()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn an_all_trusted_chain_or_garbage_falls_back_to_the_nearest_readable_hop() {
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&["10.9.9.9"]), &trusted()),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&[]), &trusted()),
            ip("10.0.0.1")
        );
        let garbage = headers(&["198.51.100.9, not-an-ip, 10.3.3.3"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &garbage, &trusted()),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn entries_with_ports_and_mapped_peers_are_understood() {
        let xff = headers(&["[2001:db8::5]:443, 198.51.100.9:5555"]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &xff, &trusted()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_relayed_shopper_is_the_entry_shopify_appended() {
        // Shopify's relay (203.0.113.50) is the peer; the shopper forged 6.6.6.6 on the left.
        let relay = ip("203.0.113.50");
        let xff = headers(&["6.6.6.6, 198.51.100.9"]);
        assert_eq!(relayed_shopper(relay, &xff, &[]), Some(ip("198.51.100.9")));
        // Behind our own proxy, which appended the relay's address.
        let behind = headers(&["6.6.6.6, 198.51.100.9", "203.0.113.50"]);
        assert_eq!(
            relayed_shopper(ip("10.0.0.1"), &behind, &trusted()),
            Some(ip("198.51.100.9"))
        );
    }

    #[test]
    fn a_missing_or_malformed_relayed_shopper_is_none() {
        let relay = ip("203.0.113.50");
        assert_eq!(relayed_shopper(relay, &headers(&[]), &[]), None);
        assert_eq!(
            relayed_shopper(relay, &headers(&["1.2.3.4, junk"]), &[]),
            None
        );
        assert_eq!(relayed_shopper(relay, &headers(&[""]), &[]), None);
        // Our proxy with nothing it vouches for.
        assert_eq!(
            relayed_shopper(ip("10.0.0.1"), &headers(&[]), &trusted()),
            None
        );
        // A "shopper" inside our own network is not one.
        assert_eq!(
            relayed_shopper(relay, &headers(&["10.4.4.4"]), &trusted()),
            None
        );
    }

    #[test]
    fn bad_trusted_proxy_lists_are_rejected() {
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("proxy.internal").is_err());
        assert_eq!(parse_trusted_proxies("").unwrap(), vec![]);
    }
}
