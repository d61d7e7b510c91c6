//! Which IP addresses a garment fetch may connect to.
//!
//! A garment URL names a host the merchant's storefront controls only loosely (a CDN, a theme
//! asset), and DNS answers can point anywhere. Before any connection, every resolved address is
//! checked here, so a name that resolves to the metadata service, the proxy's own loopback or
//! the private network behind it is refused. The rule is an allowlist in spirit: only globally
//! routable unicast addresses pass; every special-purpose block (IANA's IPv4 and IPv6
//! special-purpose registries) is refused, and IPv6 forms that embed an IPv4 address (mapped,
//! compatible, NAT64, 6to4) are judged by the address they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address may not be connected to. The text appears in logs and problem details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenAddress {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    Multicast,
    Broadcast,
    Documentation,
    Benchmarking,
    Reserved,
    /// IPv6 outside global unicast 2000::/3, or a special block inside it (Teredo, ORCHID, ...).
    NotGlobalUnicast,
}

impl ForbiddenAddress {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified address",
            Self::Loopback => "loopback address",
            Self::Private => "private address",
            Self::LinkLocal => "link-local address",
            Self::SharedCgnat => "carrier-grade NAT address",
            Self::Multicast => "multicast address",
            Self::Broadcast => "broadcast address",
            Self::Documentation => "documentation address",
            Self::Benchmarking => "benchmarking address",
            Self::Reserved => "reserved address",
            Self::NotGlobalUnicast => "non-global IPv6 address",
        }
    }
}

/// `None` when `ip` is a public unicast address a fetch may connect to.
pub fn forbidden(ip: IpAddr) -> Option<ForbiddenAddress> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<ForbiddenAddress> {
    use ForbiddenAddress::*;
    // Ordered so the most specific reason wins (255.255.255.255 is broadcast, not "reserved").
    const TABLE: &[([u8; 4], u32, ForbiddenAddress)] = &[
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, Unspecified),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([224, 0, 0, 0], 4, Multicast),
        ([192, 0, 2, 0], 24, Documentation),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([198, 18, 0, 0], 15, Benchmarking),
        // IETF protocol assignments (incl. 192.0.0.170/171 NAT64 discovery), 6to4 relay anycast,
        // AS112, and the old class E space.
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 31, 196, 0], 24, Reserved),
        ([192, 52, 193, 0], 24, Reserved),
        ([192, 175, 48, 0], 24, Reserved),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<ForbiddenAddress> {
    use ForbiddenAddress::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        // A mapped 93.184.216.34 is as fine as the plain one; a mapped 127.0.0.1 is loopback.
        return forbidden_v4(v4);
    }
    const TABLE: &[([u16; 8], u32, ForbiddenAddress)] = &[
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Private),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Private),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, Benchmarking),
        // Teredo tunnels to arbitrary IPv4 addresses; ORCHID/ORCHIDv2 and the IETF block are not
        // reachable hosts; 64:ff9b:1::/48 is local-use NAT64 (its IPv4 side is site-specific).
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, NotGlobalUnicast),
        ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, NotGlobalUnicast),
        ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, NotGlobalUnicast),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Reserved),
        ([0x64, 0xff9b, 0x1, 0, 0, 0, 0, 0], 48, NotGlobalUnicast),
    ];
    if let Some((_, _, why)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(*why);
    }
    // Everything outside 2000::/3 (discard-only 100::/64, ::/96 leftovers, unassigned space).
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some(NotGlobalUnicast);
    }
    None
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 well-known-prefix (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        return Some(low32);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low32);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ForbiddenAddress::*;

    fn check(text: &str) -> Option<ForbiddenAddress> {
        forbidden(
            text.parse()
                .unwrap_or_else(|e| panic!("test address {text:?}: {e}")),
        )
    }

    #[test]
    fn every_special_ipv4_class_is_refused_with_its_reason() {
        for (addr, why) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("169.254.170.2", LinkLocal),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("192.0.0.170", Reserved),
            ("240.0.0.1", Reserved),
        ] {
            assert_eq!(check(addr), Some(why), "{addr}");
        }
    }

    #[test]
    fn public_addresses_next_to_the_blocks_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
        ] {
            assert_eq!(check(addr), None, "{addr}");
        }
    }

    #[test]
    fn every_special_ipv6_class_is_refused() {
        for (addr, why) in [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001::1", NotGlobalUnicast),
            ("2001:10::1", NotGlobalUnicast),
            ("64:ff9b:1::1", NotGlobalUnicast),
            ("100::1", NotGlobalUnicast),
            ("4000::1", NotGlobalUnicast),
        ] {
            assert_eq!(check(addr), Some(why), "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_a_forbidden_ipv4_are_refused() {
        for (addr, why) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.1.2.3", Private),
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("2002:c0a8:101::1", Private),
            ("::ffff:0.0.0.0", Unspecified),
        ] {
            assert_eq!(check(addr), Some(why), "{addr}");
        }
    }
}
