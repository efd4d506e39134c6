//! The client's address, for the per-address limits and the audit log: the direct peer, unless
//! the peer is a proxy the operator trusts (`TRUSTED_PROXIES`); then the `X-Forwarded-For`
//! chain is read from the right, skipping trusted proxies, and the first address that is not
//! one is the client. Entries a client wrote itself sit further left and are never reached
//! while a trusted proxy appended the real one, so rotating `X-Forwarded-For` cannot escape a
//! limit.

use std::net::IpAddr;

use ipnet::IpNet;

/// The trusted proxies: addresses or networks (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated addresses or networks; the entries that do not parse, as an error.
    pub fn parse(raw: &str) -> Result<Self, Vec<String>> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            {
                Ok(net) => nets.push(net),
                Err(_) => bad.push(entry.to_owned()),
            }
        }
        if bad.is_empty() {
            Ok(Self(nets))
        } else {
            Err(bad)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of the listed proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values (each a
    /// comma-separated list, in the order received).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is no address: the proxy to its right is as far as the chain is known.
            let Some(address) = parse_hop(hop) else {
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// An `X-Forwarded-For` entry: an address, with a port or in brackets as some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(raw: &str) -> TrustedProxies {
        TrustedProxies::parse(raw).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("198.51.100.7"), &["203.0.113.1"]),
            ip("198.51.100.7")
        );
        // A peer that is not trusted: its header is not read.
        let lb = proxies("10.0.0.0/8");
        assert_eq!(
            lb.client(ip("198.51.100.7"), &["203.0.113.1"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_first_untrusted_hop_from_the_right_is_the_client() {
        let lb = proxies("10.0.0.0/8, 127.0.0.1");
        let peer = ip("10.0.0.5");
        assert_eq!(lb.client(peer, &["203.0.113.9"]), ip("203.0.113.9"));
        // What the client wrote itself sits to the left of what the proxy appended.
        for forged in ["1.2.3.4", "5.6.7.8, 9.9.9.9", "10.1.1.1"] {
            assert_eq!(
                lb.client(peer, &[&format!("{forged}, 203.0.113.9")]),
                ip("203.0.113.9"),
                "{forged}"
            );
        }
        // Two proxies of ours in a row, and two header lines.
        assert_eq!(
            lb.client(peer, &["198.51.100.2, 10.0.0.9", "127.0.0.1"]),
            ip("198.51.100.2")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(lb.client(peer, &["10.0.0.7, 10.0.0.8"]), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(lb.client(peer, &[]), peer);
    }

    #[test]
    fn hops_are_read_in_the_forms_proxies_write_and_garbage_stops_the_walk() {
        let lb = proxies("10.0.0.0/8");
        let peer = ip("10.0.0.5");
        assert_eq!(lb.client(peer, &["203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(lb.client(peer, &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(lb.client(peer, &["2001:db8::1"]), ip("2001:db8::1"));
        assert_eq!(lb.client(peer, &["::ffff:203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(lb.client(peer, &["unknown"]), peer);
        assert_eq!(
            lb.client(peer, &["203.0.113.9, garbage, 10.0.0.6"]),
            ip("10.0.0.6")
        );
        assert_eq!(lb.client(peer, &["203.0.113.9, "]), peer);
        // A v4-mapped peer is the v4 address.
        assert_eq!(
            lb.client(ip("::ffff:10.0.0.5"), &["203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_setting_is_a_list_of_addresses_and_networks() {
        assert!(proxies("").is_empty());
        assert_eq!(
            proxies(" 10.0.0.0/8 ,::1, 192.168.1.1"),
            TrustedProxies(vec![
                "10.0.0.0/8".parse().unwrap(),
                "::1/128".parse().unwrap(),
                "192.168.1.1/32".parse().unwrap(),
            ])
        );
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8, lb.internal, 10.0.0.0/33"),
            Err(vec!["lb.internal".to_owned(), "10.0.0.0/33".to_owned()])
        );
    }
}
