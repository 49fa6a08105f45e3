//! Admission to the per-source detectors (scans, sweeps, password
//! guessing, beaconing): a source's first packet is held back and shown
//! to them only when a second one comes, so a source seen once — every
//! packet of a spoofed flood — costs one lookup in a small table instead
//! of a new entry, and an eviction, in each of their tables.
//!
//! Nothing is lost for a source that comes back: its held packet is
//! replayed first, with its own time (and the first answer to it, a
//! SYN-ACK or echo reply, kept with it), then the new one. A source seen once
//! cannot reach any of their thresholds (each needs several ports, hosts,
//! attempts or starts), so admission is off when one is set to 1.

use std::net::IpAddr;

use wirewatch_wire::{proto, Timestamp};

use crate::{Bounded, Obs};

/// Bytes of the transport header kept with a held packet (what the
/// per-source detectors read of it: the ICMP type).
const L4_KEPT: usize = 1;

/// A held packet: an [`Obs`] with the start of its transport header
/// copied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    ts: Timestamp,
    iface: u16,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    has_ports: bool,
    ip_len: u32,
    tcp_flags: u8,
    later_fragment: bool,
    l4: [u8; L4_KEPT],
    l4_len: u8,
}

impl Held {
    fn new(o: &Obs) -> Held {
        let n = o.l4.len().min(L4_KEPT);
        let mut l4 = [0; L4_KEPT];
        l4[..n].copy_from_slice(&o.l4[..n]);
        Held {
            ts: o.ts,
            iface: o.iface,
            src: o.src,
            dst: o.dst,
            protocol: o.protocol,
            src_port: o.src_port,
            dst_port: o.dst_port,
            has_ports: o.has_ports,
            ip_len: o.ip_len,
            tcp_flags: o.tcp_flags,
            later_fragment: o.later_fragment,
            l4,
            l4_len: n as u8,
        }
    }

    /// The held packet again.
    pub(crate) fn obs(&self) -> Obs<'_> {
        Obs {
            ts: self.ts,
            iface: self.iface,
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            src_port: self.src_port,
            dst_port: self.dst_port,
            has_ports: self.has_ports,
            ip_len: self.ip_len,
            tcp_flags: self.tcp_flags,
            later_fragment: self.later_fragment,
            l4: &self.l4[..usize::from(self.l4_len)],
        }
    }
}

/// The answer to a held packet: what differs from the packet it answers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    ts: Timestamp,
    ip_len: u32,
    tcp_flags: u8,
    l4: [u8; L4_KEPT],
    l4_len: u8,
}

impl Answer {
    /// `o` when it answers `h` (from its destination, and for TCP from
    /// the port it probed); an answer to anything else finds no state of
    /// the held source's in any detector, so it is not kept.
    fn to(h: &Held, o: &Obs) -> Option<Answer> {
        let matches = o.src == h.dst
            && o.protocol == h.protocol
            && (o.protocol != proto::TCP || (o.src_port, o.dst_port) == (h.dst_port, h.src_port));
        matches.then(|| {
            let a = Held::new(o);
            Answer {
                ts: a.ts,
                ip_len: a.ip_len,
                tcp_flags: a.tcp_flags,
                l4: a.l4,
                l4_len: a.l4_len,
            }
        })
    }

    /// The answer again, as a packet from the held packet's destination.
    pub(crate) fn packet(&self, h: &Held) -> Held {
        Held {
            ts: self.ts,
            src: h.dst,
            dst: h.src,
            src_port: h.dst_port,
            dst_port: h.src_port,
            ip_len: self.ip_len,
            tcp_flags: self.tcp_flags,
            l4: self.l4,
            l4_len: self.l4_len,
            ..*h
        }
    }
}

/// One source at the door.
struct Door {
    /// Its first packet, until a second one admits it.
    held: Option<Held>,
    /// The first answer to it (a SYN-ACK or echo reply to the source).
    answer: Option<Answer>,
    /// Its last packet.
    last: Timestamp,
}

impl Door {
    /// What is kept when the table is full: admitted sources, then the
    /// most recent.
    fn worth(&self) -> (bool, Timestamp) {
        (self.held.is_none(), self.last)
    }
}

/// What the per-source detectors do with a packet.
#[derive(Debug)]
pub(crate) enum Pass {
    /// Not their business: every one of them scores it 0.
    Ignore,
    /// Its source was seen once only (so far): held back.
    Skip,
    /// Look at it.
    Go,
    /// Look at the source's held first packet and the answer to it, if
    /// one came, then at this one.
    Replay(Held, Option<Answer>),
}

/// What a packet is to the per-source detectors.
enum Role {
    /// A packet its source may be followed for: TCP without ACK or RST
    /// (connection attempts and probes), UDP, ICMP echo requests.
    Sighting,
    /// An answer to a followed source's probe (SYN-ACK, echo reply): of
    /// interest only when its destination is admitted.
    Answer,
    /// None of theirs (TCP data and acknowledgements, other ICMP).
    Other,
}

fn role(o: &Obs) -> Role {
    match o.protocol {
        proto::TCP if o.tcp_flags & 0x12 == 0x12 => Role::Answer,
        proto::TCP if o.tcp_flags & 0x14 == 0 => Role::Sighting,
        proto::UDP | proto::SCTP => Role::Sighting,
        proto::ICMP | proto::ICMPV6 => match o.icmp_type() {
            Some(8 | 128) => Role::Sighting,
            Some(0 | 129) => Role::Answer,
            _ => Role::Other,
        },
        _ => Role::Other,
    }
}

/// Sources seen, their first packet held until they come back.
pub(crate) struct Admission {
    doors: Bounded<IpAddr, Door>,
    /// How long a held packet waits for its source to come back, and an
    /// admitted source stays admitted without traffic.
    hold_nanos: i64,
}

impl Admission {
    /// A door for at most `cap` sources, holding first packets for
    /// `hold_secs`.
    pub(crate) fn new(cap: usize, hold_secs: f64) -> Admission {
        Admission {
            doors: Bounded::new(cap),
            hold_nanos: (hold_secs * 1e9) as i64,
        }
    }

    /// What the per-source detectors do with `o`.
    pub(crate) fn pass(&mut self, o: &Obs) -> Pass {
        match role(o) {
            Role::Other => Pass::Ignore,
            Role::Answer => match self.doors.get_mut(&o.dst) {
                Some(d) if d.held.is_none() => Pass::Go,
                Some(d) => {
                    if let (None, Some(h)) = (&d.answer, &d.held) {
                        d.answer = Answer::to(h, o);
                    }
                    Pass::Skip
                }
                None => Pass::Skip,
            },
            Role::Sighting => self.sighting(o),
        }
    }

    fn sighting(&mut self, o: &Obs) -> Pass {
        let mut fresh = false;
        let d = self.doors.get_or_insert_with(o.src, Door::worth, || {
            fresh = true;
            Door {
                held: Some(Held::new(o)),
                answer: None,
                last: o.ts,
            }
        });
        if fresh {
            return Pass::Skip;
        }
        let idle = o.ts.nanos_since(d.last);
        d.last = d.last.max(o.ts);
        match d.held.take() {
            None if idle <= self.hold_nanos => Pass::Go,
            Some(h) if o.ts.nanos_since(h.ts) <= self.hold_nanos => {
                Pass::Replay(h, d.answer.take())
            }
            // Too long ago to matter: this packet is a first one again.
            _ => {
                d.held = Some(Held::new(o));
                d.answer = None;
                Pass::Skip
            }
        }
    }

    /// Forgets sources idle for longer than the hold time.
    pub(crate) fn expire(&mut self, now: Timestamp) {
        self.doors.expire_idle(now, self.hold_nanos, |d| d.last);
    }

    /// Sources dropped at the cap.
    pub(crate) fn evicted(&self) -> u64 {
        self.doors.evicted()
    }

    /// Sources held now.
    pub(crate) fn tracked(&self) -> usize {
        self.doors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn syn(s: i64, src: u8, dport: u16) -> Obs<'static> {
        Obs {
            ts: Timestamp::from_secs(s),
            iface: 0,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
            protocol: proto::TCP,
            src_port: 40_000,
            dst_port: dport,
            has_ports: true,
            ip_len: 40,
            tcp_flags: 0x02,
            later_fragment: false,
            l4: &[],
        }
    }

    #[test]
    fn a_source_is_held_once_then_replayed_then_let_through() {
        let mut a = Admission::new(1_000, 60.0);
        assert!(matches!(a.pass(&syn(0, 1, 22)), Pass::Skip));
        match a.pass(&syn(1, 1, 23)) {
            Pass::Replay(h, None) => {
                let o = h.obs();
                assert_eq!(
                    (o.ts, o.dst_port, o.tcp_flags),
                    (Timestamp::from_secs(0), 22, 0x02)
                );
            }
            p => panic!("{p:?}"),
        }
        assert!(matches!(a.pass(&syn(2, 1, 24)), Pass::Go));
        // Its answers go through; a stranger's do not (nothing to find).
        let mut ack = syn(2, 9, 0);
        (ack.src, ack.dst, ack.tcp_flags) = (ack.dst, syn(0, 1, 0).src, 0x12);
        assert!(matches!(a.pass(&ack), Pass::Go));
        ack.dst = syn(0, 2, 0).src;
        assert!(matches!(a.pass(&ack), Pass::Skip));
        // A held source's answer is kept and replayed after its probe;
        // one that answers something else is not.
        assert!(matches!(a.pass(&syn(3, 2, 22)), Pass::Skip));
        (ack.src_port, ack.dst_port) = (80, 40_000);
        assert!(matches!(a.pass(&ack), Pass::Skip));
        assert!(matches!(a.pass(&syn(3, 2, 22)), Pass::Replay(_, None)));
        assert!(matches!(a.pass(&syn(3, 3, 22)), Pass::Skip));
        (ack.dst, ack.src_port) = (syn(0, 3, 0).src, 22);
        assert!(matches!(a.pass(&ack), Pass::Skip));
        match a.pass(&syn(4, 3, 23)) {
            Pass::Replay(h, Some(answer)) => {
                let a = answer.packet(&h);
                assert_eq!((a.obs().dst, a.obs().src), (h.obs().src, h.obs().dst));
                assert_eq!((a.obs().tcp_flags, a.obs().src_port), (0x12, 22));
            }
            p => panic!("{p:?}"),
        }
        // TCP data is none of theirs.
        let mut data = syn(3, 1, 24);
        data.tcp_flags = 0x18;
        assert!(matches!(a.pass(&data), Pass::Ignore));
    }

    #[test]
    fn a_first_packet_too_old_is_held_again_and_idle_sources_are_forgotten() {
        let mut a = Admission::new(1_000, 60.0);
        assert!(matches!(a.pass(&syn(0, 1, 22)), Pass::Skip));
        assert!(matches!(a.pass(&syn(100, 1, 22)), Pass::Skip));
        assert!(matches!(a.pass(&syn(101, 1, 22)), Pass::Replay(_, None)));
        a.expire(Timestamp::from_secs(1_000));
        assert_eq!(a.tracked(), 0);
        assert!(matches!(a.pass(&syn(1_001, 1, 22)), Pass::Skip));
    }
}
