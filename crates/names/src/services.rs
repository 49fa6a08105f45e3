//! Service names for well-known ports, built in.
//!
//! iftop shows port names from the host's `/etc/services`, whose contents vary
//! between distributions and are missing in minimal containers. This table
//! holds the commonly seen entries of IANA's Service Name and Transport
//! Protocol Port Number Registry, under IANA's names, so the same capture shows
//! the same names everywhere.

/// IP protocol number of TCP.
pub const TCP: u8 = 6;
/// IP protocol number of UDP.
pub const UDP: u8 = 17;

/// The entry is registered for TCP.
const T: u8 = 1;
/// The entry is registered for UDP.
const U: u8 = 2;
/// The entry is registered for both TCP and UDP.
const B: u8 = T | U;

/// `(port, protocols, name)`, sorted by port then protocols; a port appears
/// twice only where TCP and UDP have different names.
static SERVICES: &[(u16, u8, &str)] = &[
    (1, B, "tcpmux"),
    (7, B, "echo"),
    (9, B, "discard"),
    (11, B, "systat"),
    (13, B, "daytime"),
    (17, B, "qotd"),
    (19, B, "chargen"),
    (20, B, "ftp-data"),
    (21, B, "ftp"),
    (22, B, "ssh"),
    (23, B, "telnet"),
    (25, B, "smtp"),
    (37, B, "time"),
    (42, B, "nameserver"),
    (43, B, "nicname"),
    (49, B, "tacacs"),
    (53, B, "domain"),
    (67, B, "bootps"),
    (68, B, "bootpc"),
    (69, B, "tftp"),
    (70, B, "gopher"),
    (79, B, "finger"),
    (80, B, "http"),
    (88, B, "kerberos"),
    (101, B, "hostname"),
    (102, B, "iso-tsap"),
    (104, B, "acr-nema"),
    (107, B, "rtelnet"),
    (109, B, "pop2"),
    (110, B, "pop3"),
    (111, B, "sunrpc"),
    (113, B, "auth"),
    (115, B, "sftp"),
    (117, B, "uucp-path"),
    (119, B, "nntp"),
    (123, B, "ntp"),
    (135, B, "epmap"),
    (137, B, "netbios-ns"),
    (138, B, "netbios-dgm"),
    (139, B, "netbios-ssn"),
    (143, B, "imap"),
    (161, B, "snmp"),
    (162, B, "snmptrap"),
    (163, B, "cmip-man"),
    (164, B, "cmip-agent"),
    (174, B, "mailq"),
    (177, B, "xdmcp"),
    (179, B, "bgp"),
    (194, B, "irc"),
    (199, B, "smux"),
    (209, B, "qmtp"),
    (213, B, "ipx"),
    (220, B, "imap3"),
    (264, B, "bgmp"),
    (311, B, "asip-webadmin"),
    (319, B, "ptp-event"),
    (320, B, "ptp-general"),
    (369, B, "rpc2portmap"),
    (370, B, "codaauth2"),
    (371, B, "clearcase"),
    (389, B, "ldap"),
    (401, B, "ups"),
    (406, B, "imsp"),
    (427, B, "svrloc"),
    (434, B, "mobileip-agent"),
    (443, B, "https"),
    (444, B, "snpp"),
    (445, B, "microsoft-ds"),
    (464, B, "kpasswd"),
    (465, T, "submissions"),
    (497, B, "retrospect"),
    (500, B, "isakmp"),
    (502, B, "mbap"),
    (504, B, "citadel"),
    (512, T, "exec"),
    (512, U, "biff"),
    (513, T, "login"),
    (513, U, "who"),
    (514, T, "shell"),
    (514, U, "syslog"),
    (515, B, "printer"),
    (517, B, "talk"),
    (518, B, "ntalk"),
    (520, T, "efs"),
    (520, U, "router"),
    (521, B, "ripng"),
    (524, B, "ncp"),
    (525, B, "timed"),
    (530, B, "courier"),
    (531, B, "conference"),
    (532, B, "netnews"),
    (540, B, "uucp"),
    (543, B, "klogin"),
    (544, B, "kshell"),
    (546, B, "dhcpv6-client"),
    (547, B, "dhcpv6-server"),
    (548, B, "afpovertcp"),
    (550, B, "new-rwho"),
    (554, B, "rtsp"),
    (556, B, "remotefs"),
    (563, B, "nntps"),
    (587, B, "submission"),
    (591, B, "http-alt"),
    (593, B, "http-rpc-epmap"),
    (601, B, "syslog-conn"),
    (623, B, "asf-rmcp"),
    (631, B, "ipp"),
    (636, B, "ldaps"),
    (639, B, "msdp"),
    (646, B, "ldp"),
    (647, B, "dhcp-failover"),
    (655, B, "tinc"),
    (660, B, "mac-srvr-admin"),
    (674, B, "acap"),
    (694, B, "ha-cluster"),
    (698, B, "olsr"),
    (700, B, "epp"),
    (706, B, "silc"),
    (749, B, "kerberos-adm"),
    (802, B, "mbap-s"),
    (830, B, "netconf-ssh"),
    (847, B, "dhcp-failover2"),
    (848, B, "gdoi"),
    (853, B, "domain-s"),
    (860, B, "iscsi"),
    (873, B, "rsync"),
    (989, B, "ftps-data"),
    (990, B, "ftps"),
    (992, B, "telnets"),
    (993, B, "imaps"),
    (995, B, "pop3s"),
    (1080, B, "socks"),
    (1099, B, "rmiregistry"),
    (1194, B, "openvpn"),
    (1241, B, "nessus"),
    (1352, B, "lotusnote"),
    (1414, B, "ibm-mqseries"),
    (1433, B, "ms-sql-s"),
    (1434, B, "ms-sql-m"),
    (1512, B, "wins"),
    (1524, B, "ingreslock"),
    (1701, B, "l2tp"),
    (1719, B, "h323gatestat"),
    (1720, B, "h323hostcall"),
    (1723, B, "pptp"),
    (1755, B, "ms-streaming"),
    (1812, B, "radius"),
    (1813, B, "radius-acct"),
    (1863, B, "msnp"),
    (1883, B, "mqtt"),
    (1900, B, "ssdp"),
    (1985, B, "hsrp"),
    (2000, B, "cisco-sccp"),
    (2049, B, "nfs"),
    (2083, B, "radsec"),
    (2123, B, "gtp-control"),
    (2152, B, "gtp-user"),
    (2375, B, "docker"),
    (2376, B, "docker-s"),
    (2379, B, "etcd-client"),
    (2380, B, "etcd-server"),
    (2404, B, "iec-104"),
    (2427, B, "mgcp-gateway"),
    (2727, B, "mgcp-callagent"),
    (2947, B, "gpsd"),
    (3050, B, "gds-db"),
    (3260, B, "iscsi-target"),
    (3268, B, "msft-gc"),
    (3269, B, "msft-gc-ssl"),
    (3306, B, "mysql"),
    (3389, B, "ms-wbt-server"),
    (3478, B, "stun"),
    (3493, B, "nut"),
    (3544, B, "teredo"),
    (3632, B, "distcc"),
    (3689, B, "daap"),
    (3690, B, "svn"),
    (3702, B, "ws-discovery"),
    (3799, B, "radius-dynauth"),
    (4190, B, "sieve"),
    (4369, B, "epmd"),
    (4444, B, "krb524"),
    (4500, B, "ipsec-nat-t"),
    (4739, B, "ipfix"),
    (4740, B, "ipfixs"),
    (4789, U, "vxlan"),
    (4840, B, "opcua-tcp"),
    (5000, B, "commplex-main"),
    (5001, B, "commplex-link"),
    (5004, B, "avt-profile-1"),
    (5005, B, "avt-profile-2"),
    (5060, B, "sip"),
    (5061, B, "sips"),
    (5222, B, "xmpp-client"),
    (5269, B, "xmpp-server"),
    (5349, B, "stuns"),
    (5353, B, "mdns"),
    (5355, B, "llmnr"),
    (5432, B, "postgresql"),
    (5631, B, "pcanywheredata"),
    (5632, B, "pcanywherestat"),
    (5671, B, "amqps"),
    (5672, B, "amqp"),
    (5683, B, "coap"),
    (5684, B, "coaps"),
    (5900, B, "rfb"),
    (5985, B, "wsman"),
    (5986, B, "wsmans"),
    (6000, B, "x11"),
    (6081, U, "geneve"),
    (6379, T, "redis"),
    (6443, B, "sun-sr-https"),
    (6514, B, "syslog-tls"),
    (6653, B, "openflow"),
    (6667, B, "ircu"),
    (6697, T, "ircs-u"),
    (7000, B, "afs3-fileserver"),
    (7001, B, "afs3-callback"),
    (8000, B, "irdmi"),
    (8008, B, "http-alt"),
    (8080, B, "http-alt"),
    (8081, B, "sunproxyadmin"),
    (8443, B, "pcsync-https"),
    (8883, B, "secure-mqtt"),
    (9000, B, "cslistener"),
    (9090, B, "websm"),
    (9418, B, "git"),
    (10000, B, "ndmp"),
    (11211, B, "memcache"),
    (11371, B, "hkp"),
    (20000, B, "dnp"),
    (27017, T, "mongodb"),
];

/// The well-known name of `port` for IP protocol `protocol` ([`TCP`] or
/// [`UDP`]); None for other protocols and unlisted ports.
pub fn service_name(protocol: u8, port: u16) -> Option<&'static str> {
    let want = match protocol {
        TCP => T,
        UDP => U,
        _ => return None,
    };
    let first = SERVICES.partition_point(|&(p, _, _)| p < port);
    SERVICES[first..]
        .iter()
        .take_while(|&&(p, _, _)| p == port)
        .find(|&&(_, protocols, _)| protocols & want != 0)
        .map(|&(_, _, name)| name)
}

/// Every entry as `(port, tcp, udp, name)`, in port order: for listing and
/// for tests in other crates.
pub fn all() -> impl Iterator<Item = (u16, bool, bool, &'static str)> {
    SERVICES
        .iter()
        .map(|&(port, protocols, name)| (port, protocols & T != 0, protocols & U != 0, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_entries() {
        for (port, name) in [
            (20, "ftp-data"),
            (21, "ftp"),
            (22, "ssh"),
            (23, "telnet"),
            (25, "smtp"),
            (53, "domain"),
            (80, "http"),
            (110, "pop3"),
            (143, "imap"),
            (389, "ldap"),
            (443, "https"),
            (445, "microsoft-ds"),
            (587, "submission"),
            (993, "imaps"),
            (995, "pop3s"),
            (3306, "mysql"),
            (3389, "ms-wbt-server"),
            (5432, "postgresql"),
            (8080, "http-alt"),
        ] {
            assert_eq!(service_name(TCP, port), Some(name), "tcp/{port}");
        }
        for (port, name) in [
            (53, "domain"),
            (67, "bootps"),
            (68, "bootpc"),
            (123, "ntp"),
            (161, "snmp"),
            (443, "https"),
            (500, "isakmp"),
            (4789, "vxlan"),
            (5353, "mdns"),
        ] {
            assert_eq!(service_name(UDP, port), Some(name), "udp/{port}");
        }
        assert_eq!(service_name(TCP, 6379), Some("redis"));
        assert_eq!(service_name(TCP, 465), Some("submissions"));
    }

    #[test]
    fn protocols_differ_where_iana_says_so() {
        assert_eq!(service_name(TCP, 514), Some("shell"));
        assert_eq!(service_name(UDP, 514), Some("syslog"));
        assert_eq!(service_name(TCP, 512), Some("exec"));
        assert_eq!(service_name(UDP, 512), Some("biff"));
        assert_eq!(service_name(TCP, 520), Some("efs"));
        assert_eq!(service_name(UDP, 520), Some("router"));
        assert_eq!(service_name(TCP, 4789), None);
        assert_eq!(service_name(UDP, 6379), None);
    }

    #[test]
    fn unknown_ports_and_protocols() {
        assert_eq!(service_name(TCP, 0), None);
        assert_eq!(service_name(TCP, 65535), None);
        assert_eq!(service_name(UDP, 54321), None);
        assert_eq!(service_name(1, 80), None); // ICMP has no ports
        assert_eq!(service_name(132, 80), None); // SCTP is not listed
    }

    #[test]
    fn table_is_sorted_without_duplicates() {
        for pair in SERVICES.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!((a.0, a.1) < (b.0, b.1), "{a:?} then {b:?}");
            if a.0 == b.0 {
                assert_eq!(a.1 & b.1, 0, "port {} listed twice for a protocol", a.0);
            }
        }
        assert!(SERVICES.len() >= 150, "{} entries", SERVICES.len());
    }

    #[test]
    fn names_follow_iana_syntax() {
        // RFC 6335: 1-15 characters of letters, digits and hyphens, at least
        // one letter, no hyphen at either end.
        for &(port, protocols, name) in SERVICES {
            assert!(protocols == T || protocols == U || protocols == B);
            assert!((1..=15).contains(&name.len()), "{port} {name}");
            assert!(
                name.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
                "{port} {name}"
            );
            assert!(name.bytes().any(|c| c.is_ascii_lowercase()), "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
    }

    #[test]
    fn every_entry_is_found() {
        for (port, tcp, udp, name) in all() {
            if tcp {
                assert_eq!(service_name(TCP, port), Some(name));
            }
            if udp {
                assert_eq!(service_name(UDP, port), Some(name));
            }
        }
    }
}
