//! NAT models for the rendezvous scenarios (docs/ARCHITECTURE.md, "Rendezvous, hole
//! punching and relay"): how a home router maps an inside address to a public port
//! (endpoint-independent, address-dependent, or symmetric: per destination address
//! and port) and which packets from outside it lets back in (port-restricted
//! filtering, as Linux conntrack does: only from an address and port the inside host
//! has sent to through that mapping). Deterministic: ports are handed out in order.
//! It knows nothing of STT.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// How a NAT chooses the public port for an outgoing packet (RFC 4787 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// One public port per inside address, whatever the destination ("full cone"
    /// mapping, what hole punching needs).
    EndpointIndependent,
    /// A new public port per destination IP address.
    AddressDependent,
    /// A new public port per destination address and port ("symmetric").
    Symmetric,
}

/// The part of the destination a mapping is keyed by.
type MapKey = (SocketAddr, Option<IpAddr>, Option<u16>);

/// One NAT box: a public IP and its mappings.
#[derive(Debug, Clone)]
pub struct Nat {
    /// The NAT's public address.
    pub public_ip: IpAddr,
    mapping: Mapping,
    next_port: u16,
    out: BTreeMap<MapKey, u16>,
    /// Public port → inside address and the outside endpoints it has sent to.
    inbound: BTreeMap<u16, (SocketAddr, BTreeSet<SocketAddr>)>,
}

impl Nat {
    /// A NAT with no mappings yet; public ports start at 40000.
    pub fn new(public_ip: IpAddr, mapping: Mapping) -> Self {
        Self {
            public_ip,
            mapping,
            next_port: 40_000,
            out: BTreeMap::new(),
            inbound: BTreeMap::new(),
        }
    }

    /// The mapping behaviour.
    pub fn mapping(&self) -> Mapping {
        self.mapping
    }

    /// Changes the mapping behaviour for new mappings (existing ones stay).
    pub fn set_mapping(&mut self, mapping: Mapping) {
        self.mapping = mapping;
    }

    /// A packet from inside address `src` to `dst` leaves: the public source address it
    /// carries (creating the mapping if needed), and `dst` is let back in from now on.
    pub fn outbound(&mut self, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let key = match self.mapping {
            Mapping::EndpointIndependent => (src, None, None),
            Mapping::AddressDependent => (src, Some(dst.ip()), None),
            Mapping::Symmetric => (src, Some(dst.ip()), Some(dst.port())),
        };
        let port = match self.out.get(&key) {
            Some(p) => *p,
            None => {
                let p = self.next_port;
                self.next_port = self.next_port.wrapping_add(1).max(40_000);
                self.out.insert(key, p);
                p
            }
        };
        let entry = self
            .inbound
            .entry(port)
            .or_insert_with(|| (src, BTreeSet::new()));
        entry.1.insert(dst);
        SocketAddr::new(self.public_ip, port)
    }

    /// A packet from outside `from` to public port `port`: the inside address it goes
    /// to, or `None` when no mapping lets it in.
    pub fn inbound(&self, port: u16, from: SocketAddr) -> Option<SocketAddr> {
        let (inside, allowed) = self.inbound.get(&port)?;
        allowed.contains(&from).then_some(*inside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn endpoint_independent_reuses_the_port_and_filters_by_endpoint() {
        let mut n = Nat::new("2.0.0.1".parse().unwrap(), Mapping::EndpointIndependent);
        let inside = a("192.168.1.2:5000");
        let p1 = n.outbound(inside, a("1.0.0.1:7000"));
        let p2 = n.outbound(inside, a("3.0.0.1:40000"));
        assert_eq!(p1, p2);
        assert_eq!(n.inbound(p1.port(), a("3.0.0.1:40000")), Some(inside));
        assert_eq!(
            n.inbound(p1.port(), a("3.0.0.1:40001")),
            None,
            "port-restricted"
        );
        assert_eq!(n.inbound(p1.port(), a("4.0.0.1:40000")), None);
    }

    #[test]
    fn symmetric_and_address_dependent_give_new_ports() {
        let inside = a("192.168.1.2:5000");
        let mut s = Nat::new("2.0.0.1".parse().unwrap(), Mapping::Symmetric);
        let p1 = s.outbound(inside, a("1.0.0.1:7000"));
        assert_ne!(p1, s.outbound(inside, a("1.0.0.1:7001")));
        assert_eq!(p1, s.outbound(inside, a("1.0.0.1:7000")));
        let mut d = Nat::new("2.0.0.1".parse().unwrap(), Mapping::AddressDependent);
        let q1 = d.outbound(inside, a("1.0.0.1:7000"));
        assert_eq!(q1, d.outbound(inside, a("1.0.0.1:7001")));
        assert_ne!(q1, d.outbound(inside, a("3.0.0.1:7000")));
    }
}
