//! The client's IP address behind reverse proxies, resolved so that a client cannot spoof it.
//!
//! The only address nobody can forge is the TCP peer's. Headers such as `X-Forwarded-For`
//! are appended to by every proxy on the way, *and* can be sent pre-filled by the client. So:
//!
//! 1. If the peer is not one of your [`TrustedProxies`], it *is* the client: headers are
//!    ignored, whatever they say.
//! 2. Otherwise walk the configured header from the **right** (the entry your own proxy
//!    appended) towards the left, skipping addresses inside the trusted networks. The first
//!    address that is not trusted is the client: everything left of it was written by that
//!    client or by proxies you do not control.
//! 3. A malformed entry (not an address, `unknown`, an obfuscated RFC 7239 identifier, a
//!    header that is not UTF-8) stops the walk: the last address that was vouched for by a
//!    trusted hop is returned, never a value an untrusted party wrote.
//!
//! Taking the *leftmost* entry, as some middleware does, hands the choice of IP to the
//! client; this module never does that.
//!
//! Which header to read is configuration, never a guess ([`ForwardedHeader`]): a proxy that
//! appends to `X-Forwarded-For` passes a client-written `Forwarded` header through untouched,
//! so reading "whichever is present" would be spoofable.
//!
//! The walk reads plain header values ([`Headers`]), so any framework on any `http` version
//! can use it:
//!
//! ```
//! use std::net::IpAddr;
//! use audit_http::client_ip::{ClientIpResolver, TrustedProxies};
//!
//! let resolver = ClientIpResolver::new(TrustedProxies::parse(["10.0.0.0/8"]).unwrap());
//! // The client claims to be 1.1.1.1; our proxy 10.0.0.5 appended the real peer 203.0.113.7.
//! let headers = [("X-Forwarded-For", "1.1.1.1, 203.0.113.7")];
//! let peer: IpAddr = "10.0.0.5".parse().unwrap();
//! assert_eq!(resolver.resolve(peer, &headers[..]), "203.0.113.7".parse::<IpAddr>().unwrap());
//!
//! // The same headers from an untrusted peer are ignored.
//! let direct: IpAddr = "198.51.100.1".parse().unwrap();
//! assert_eq!(resolver.resolve(direct, &headers[..]), direct);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

use crate::headers::Headers;

/// The most header entries examined per request; a longer chain stops the walk there.
pub const MAX_HOPS: usize = 32;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const FORWARDED: &str = "forwarded";

/// A trusted-proxy network that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted proxy network {input:?}: expected an IP address or a CIDR network")]
pub struct InvalidNetwork {
    /// The text that failed to parse.
    pub input: String,
}

/// The networks whose addresses are your own reverse proxies and load balancers.
///
/// Empty by default: then every peer is the client and forwarding headers are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No trusted proxies: the peer address is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts these networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().map(|net| net.trunc()).collect(),
        }
    }

    /// Parses networks (`10.0.0.0/8`, `2001:db8::/32`) or single addresses (`127.0.0.1`).
    pub fn parse<I, S>(items: I) -> Result<Self, InvalidNetwork>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for item in items {
            let text = item.as_ref().trim();
            let net = IpNet::from_str(text)
                .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
                .map_err(|_| InvalidNetwork {
                    input: text.chars().take(64).collect(),
                })?;
            nets.push(net);
        }
        Ok(Self::new(nets))
    }

    /// The loopback networks (`127.0.0.0/8`, `::1/128`): a proxy on the same host.
    pub fn loopback() -> Self {
        Self::parse(["127.0.0.0/8", "::1/128"]).unwrap_or_default()
    }

    /// Whether `ip` lies in a trusted network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether no network is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// Which forwarding header your trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// Resolves the client IP from the peer address and the request headers; see the
/// [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIpResolver {
    trusted: TrustedProxies,
    header: ForwardedHeader,
}

impl ClientIpResolver {
    /// Trusts `trusted` and reads `X-Forwarded-For`.
    pub fn new(trusted: TrustedProxies) -> Self {
        Self {
            trusted,
            header: ForwardedHeader::XForwardedFor,
        }
    }

    /// Reads `header` instead of `X-Forwarded-For`.
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// The header read.
    pub fn forwarded_header(&self) -> ForwardedHeader {
        self.header
    }

    /// The trusted networks.
    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The client's address. Never fails: at worst it is the nearest trusted hop's view.
    pub fn resolve(&self, peer: IpAddr, headers: &(impl Headers + ?Sized)) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusted.contains(client) {
            return client;
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => FORWARDED,
        };
        // Header lines in reverse order, each line's entries from the right.
        let lines: Vec<&[u8]> = headers.values(name).collect();
        let mut hops = 0;
        for value in lines.into_iter().rev() {
            let Ok(line) = std::str::from_utf8(value) else {
                return client;
            };
            for entry in split_entries(line).rev() {
                hops += 1;
                if hops > MAX_HOPS {
                    return client;
                }
                let parsed = match self.header {
                    ForwardedHeader::XForwardedFor => parse_node(entry),
                    ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_node),
                };
                let Some(hop) = parsed else {
                    return client;
                };
                client = hop.to_canonical();
                if !self.trusted.contains(client) {
                    return client;
                }
            }
        }
        client
    }
}

/// Splits a header line on commas that are not inside a quoted string.
fn split_entries(line: &str) -> impl DoubleEndedIterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(line[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(line[start..].trim());
    parts.into_iter()
}

/// The value of the `for` parameter of one RFC 7239 element, unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                // Two `for` parameters in one element: ambiguous, so malformed.
                return None;
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => value,
            };
            found = Some(value);
        }
    }
    found
}

/// Parses a node: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
/// `unknown`, obfuscated identifiers (`_hidden`) and anything else give `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(ip);
    }
    if let Ok(addr) = SocketAddr::from_str(node) {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    type HeaderMap = Vec<(&'static str, Vec<u8>)>;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test ip")
    }

    fn trusting(nets: &[&str]) -> ClientIpResolver {
        ClientIpResolver::new(TrustedProxies::parse(nets).expect("nets"))
    }

    fn lines(name: &'static str, lines: &[&str]) -> HeaderMap {
        lines
            .iter()
            .map(|line| (name, line.as_bytes().to_vec()))
            .collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        lines("x-forwarded-for", values)
    }

    fn fwd(values: &[&str]) -> HeaderMap {
        lines("Forwarded", values)
    }

    const PROXY: &str = "10.0.0.5";

    #[test]
    fn untrusted_peer_is_the_client_even_with_forwarding_headers() {
        let r = trusting(&["10.0.0.0/8"]);
        let peer = ip("198.51.100.1");
        assert_eq!(r.resolve(peer, &xff(&["1.1.1.1"])), peer);
    }

    #[test]
    fn no_trusted_proxies_means_headers_are_ignored() {
        let r = ClientIpResolver::default();
        assert_eq!(r.resolve(ip(PROXY), &xff(&["1.1.1.1"])), ip(PROXY));
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(r.resolve(ip(PROXY), &HeaderMap::new()), ip(PROXY));
    }

    #[test]
    fn trusted_peer_single_entry_gives_that_entry() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["203.0.113.7"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_leftmost_entry_is_not_taken() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["1.1.1.1, 203.0.113.7, 10.0.0.9, 10.0.0.8"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn every_hop_trusted_gives_the_leftmost_trusted_hop() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["10.1.1.1, 10.0.0.9"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("10.1.1.1"));
    }

    #[test]
    fn several_header_lines_are_one_list_in_order() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["1.1.1.1", "203.0.113.7, 10.0.0.9"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn spoofed_earlier_header_line_is_not_taken() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["6.6.6.6", "203.0.113.7"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn garbage_entry_stops_at_the_nearest_trusted_hop() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["1.1.1.1, not-an-ip"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip(PROXY));
    }

    #[test]
    fn garbage_behind_a_trusted_hop_stops_at_that_hop() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers = xff(&["1.1.1.1, garbage, 10.0.0.9"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("10.0.0.9"));
    }

    #[test]
    fn empty_entries_are_malformed() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(r.resolve(ip(PROXY), &xff(&["1.1.1.1,,"])), ip(PROXY));
        assert_eq!(r.resolve(ip(PROXY), &xff(&[""])), ip(PROXY));
    }

    #[test]
    fn non_utf8_header_is_malformed() {
        let r = trusting(&["10.0.0.0/8"]);
        let headers: HeaderMap = vec![("x-forwarded-for", b"1.1.1.1\xff".to_vec())];
        assert_eq!(r.resolve(ip(PROXY), &headers), ip(PROXY));
    }

    #[test]
    fn entries_with_ports_are_accepted() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["203.0.113.7:5555"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["[2001:db8::7]:443"])),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn bare_and_bracketed_ipv6_entries_are_accepted() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["2001:db8::7"])),
            ip("2001:db8::7")
        );
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["[2001:db8::7]"])),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn ipv4_mapped_peer_counts_as_its_ipv4_address() {
        let r = trusting(&["10.0.0.0/8"]);
        let mapped = ip("::ffff:10.0.0.5");
        assert_eq!(r.resolve(mapped, &xff(&["203.0.113.7"])), ip("203.0.113.7"));
    }

    #[test]
    fn ipv4_mapped_entry_is_reported_as_ipv4() {
        let r = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            r.resolve(ip(PROXY), &xff(&["::ffff:203.0.113.7"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_trusted_network_is_honoured() {
        let r = trusting(&["fd00::/8"]);
        let headers = xff(&["6.6.6.6, 2001:db8::7, fd00::2"]);
        assert_eq!(r.resolve(ip("fd00::1"), &headers), ip("2001:db8::7"));
    }

    #[test]
    fn overlong_chain_stops_at_the_hop_limit() {
        let r = trusting(&["10.0.0.0/8"]);
        let mut entries = vec!["6.6.6.6".to_string()];
        entries.extend((0..MAX_HOPS + 5).map(|n| format!("10.0.{}.1", n % 250)));
        let line = entries.join(", ");
        let resolved = r.resolve(ip(PROXY), &xff(&[&line]));
        assert_ne!(resolved, ip("6.6.6.6"));
        assert!(r.trusted().contains(resolved));
    }

    #[test]
    fn huge_spoofed_header_from_untrusted_peer_is_ignored() {
        let r = trusting(&["10.0.0.0/8"]);
        let line = vec!["1.1.1.1"; 5000].join(",");
        let peer = ip("198.51.100.1");
        assert_eq!(r.resolve(peer, &xff(&[&line])), peer);
    }

    #[test]
    fn forwarded_header_is_walked_from_the_right() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        let headers = fwd(&["for=1.1.1.1, for=203.0.113.7;proto=https, for=10.0.0.9;by=10.0.0.5"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_quoted_ipv6_with_port_is_accepted() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        let headers = fwd(&[r#"for="[2001:db8:cafe::17]:4711""#]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("2001:db8:cafe::17"));
    }

    #[test]
    fn forwarded_parameter_names_are_case_insensitive() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        let headers = fwd(&["proto=http;For=203.0.113.7"]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_unknown_and_obfuscated_nodes_stop_the_walk() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        assert_eq!(r.resolve(ip(PROXY), &fwd(&["for=unknown"])), ip(PROXY));
        assert_eq!(
            r.resolve(ip(PROXY), &fwd(&["for=1.1.1.1, for=_hidden"])),
            ip(PROXY)
        );
    }

    #[test]
    fn forwarded_element_without_for_is_malformed() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        assert_eq!(
            r.resolve(ip(PROXY), &fwd(&["for=1.1.1.1, proto=https"])),
            ip(PROXY)
        );
    }

    #[test]
    fn forwarded_element_with_two_for_parameters_is_malformed() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        assert_eq!(
            r.resolve(ip(PROXY), &fwd(&["for=1.1.1.1;for=203.0.113.7"])),
            ip(PROXY)
        );
    }

    #[test]
    fn forwarded_unterminated_quote_is_malformed() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        assert_eq!(
            r.resolve(ip(PROXY), &fwd(&[r#"for="203.0.113.7"#])),
            ip(PROXY)
        );
    }

    #[test]
    fn forwarded_quoted_comma_does_not_split_elements() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        let headers = fwd(&[r#"for=203.0.113.7;ext="a,b""#]);
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn reading_x_forwarded_for_ignores_a_spoofed_forwarded_header() {
        let r = trusting(&["10.0.0.0/8"]);
        let mut headers = xff(&["203.0.113.7"]);
        headers.push(("forwarded", b"for=6.6.6.6".to_vec()));
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    #[test]
    fn reading_forwarded_ignores_a_spoofed_x_forwarded_for() {
        let r = trusting(&["10.0.0.0/8"]).header(ForwardedHeader::Forwarded);
        let mut headers = fwd(&["for=203.0.113.7"]);
        headers.push(("X-Forwarded-For", b"6.6.6.6".to_vec()));
        assert_eq!(r.resolve(ip(PROXY), &headers), ip("203.0.113.7"));
    }

    /// Deterministic garbage: header-ish fragments, real addresses among them, glued at random.
    fn garbage(seed: &mut u64, len: usize) -> String {
        const PIECES: &[&str] = &[
            "203.0.113.7",
            "10.0.0.9",
            "[2001:db8::1]:80",
            "fd00::2",
            "::ffff:10.0.0.1",
            "1.2.3",
            "999.1.1.1",
            "for=",
            "For=",
            "proto=http",
            "\"",
            ";",
            ",",
            ", ",
            " ",
            "unknown",
            "_hidden",
            "[",
            "]",
            ":",
            "=",
            "\\",
            "x",
        ];
        (0..len)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                PIECES[(*seed >> 33) as usize % PIECES.len()]
            })
            .collect()
    }

    #[test]
    fn garbage_headers_never_panic_and_never_invent_an_address() {
        let trusted = trusting(&["10.0.0.0/8", "fd00::/8"]);
        let mut seed = 7;
        let mut walked = 0;
        for round in 0..5000 {
            let line = garbage(&mut seed, round % 24);
            for mode in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
                let r = trusted.clone().header(mode);
                let headers: HeaderMap = vec![
                    ("x-forwarded-for", line.as_bytes().to_vec()),
                    ("forwarded", line.as_bytes().to_vec()),
                ];
                let untrusted = ip("198.51.100.1");
                assert_eq!(r.resolve(untrusted, &headers), untrusted, "{line:?}");
                let got = r.resolve(ip(PROXY), &headers);
                // Whatever comes back is the peer or an address written in the header.
                let written: Vec<IpAddr> = line
                    .split([',', ';', '=', '"', ' '])
                    .filter_map(parse_node)
                    .map(|a| a.to_canonical())
                    .collect();
                assert!(
                    got == ip(PROXY) || written.contains(&got),
                    "{line:?} gave {got}"
                );
                walked += usize::from(got != ip(PROXY));
            }
        }
        assert!(walked > 0, "the garbage never contained a usable address");
    }

    #[test]
    fn trusted_proxies_parse_single_addresses_and_networks() {
        let t = TrustedProxies::parse(["127.0.0.1", "10.0.0.0/8", " ::1 "]).expect("parse");
        assert!(t.contains(ip("127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("10.200.0.1")));
        assert!(t.contains(ip("::1")));
    }

    #[test]
    fn trusted_proxies_reject_garbage() {
        let err = TrustedProxies::parse(["10.0.0.0/8", "nope"]).expect_err("garbage");
        assert_eq!(err.input, "nope");
    }

    #[test]
    fn loopback_preset_trusts_only_loopback() {
        let t = TrustedProxies::loopback();
        assert!(t.contains(ip("127.0.0.1")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("10.0.0.1")));
    }
}
