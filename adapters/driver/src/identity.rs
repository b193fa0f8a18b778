//! The client's IP as brokers see it in its client id and message ids: detected from the
//! host's interfaces when the configuration leaves it empty.

use std::net::{IpAddr, Ipv4Addr};

/// The address a client reports: the first non-loopback site-local IPv4 address (10/8,
/// 172.16/12, 192.168/16), else the first other non-loopback address (IPv4 before IPv6),
/// else `127.0.0.1`. `addrs` are the host's interface addresses in interface order.
pub fn choose_client_ip(addrs: impl IntoIterator<Item = IpAddr>) -> IpAddr {
    let usable: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|a| !a.is_loopback() && !a.is_unspecified() && !is_link_local(a))
        .collect();
    let site_local = usable
        .iter()
        .find(|a| matches!(a, IpAddr::V4(v4) if v4.is_private()));
    let v4 = usable.iter().find(|a| a.is_ipv4());
    site_local
        .or(v4)
        .or(usable.first())
        .copied()
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// This host's client IP ([`choose_client_ip`] over its interfaces; `127.0.0.1` when they
/// cannot be listed).
pub fn detect_client_ip() -> IpAddr {
    let addrs = if_addrs::get_if_addrs().unwrap_or_default();
    choose_client_ip(addrs.iter().map(if_addrs::Interface::ip))
}

fn is_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn site_local_ipv4_first_then_other_addresses_then_loopback() {
        let pick = |list: &[&str]| choose_client_ip(ips(list)).to_string();
        assert_eq!(
            pick(&["127.0.0.1", "203.0.113.7", "10.1.2.3", "192.168.0.9"]),
            "10.1.2.3"
        );
        assert_eq!(pick(&["::1", "172.20.0.5"]), "172.20.0.5");
        // 172.32/16 is not site-local: another non-loopback address.
        assert_eq!(pick(&["127.0.0.1", "172.32.0.1"]), "172.32.0.1");
        assert_eq!(pick(&["fd00::2", "192.0.2.2"]), "192.0.2.2", "IPv4 first");
        assert_eq!(pick(&["::1", "fe80::1", "2001:db8::5"]), "2001:db8::5");
        assert_eq!(pick(&["169.254.3.4", "127.0.0.1"]), "127.0.0.1");
        assert_eq!(pick(&[]), "127.0.0.1");
    }

    #[test]
    fn detection_gives_an_address_of_this_host() {
        let ip = detect_client_ip();
        let listed: Vec<IpAddr> = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .iter()
            .map(if_addrs::Interface::ip)
            .collect();
        assert!(
            ip.is_loopback() || listed.contains(&ip),
            "{ip} not in {listed:?}"
        );
    }
}
