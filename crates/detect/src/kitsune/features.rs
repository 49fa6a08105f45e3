//! Kitsune's 100 features per packet, from damped statistics of the
//! packet's source host, its channel and its socket, with bounded state.
//!
//! | features | what | per window |
//! |---|---|---|
//! | 0–14 | source host: packet sizes | w, mean, std |
//! | 15–29 | channel (src IP → dst IP): inter-arrival times | w, mean, std |
//! | 30–64 | channel: sizes in this direction vs. the other | w, mean, std, magnitude, radius, cov, pcc |
//! | 65–99 | socket (src IP:port ↔ dst IP:port, protocol): sizes, both directions | as above |
//!
//! The reference keys hosts by MAC and IP; we key them by source IP only,
//! because link layers vary (raw IP, tunnels, loopback, Wi-Fi monitor
//! captures) and a MAC is often absent or the router's. Sizes are IP
//! lengths, not frame lengths, for the same reason.
//!
//! Unlike the reference, state is forgotten: an entry idle for longer than
//! `max_idle_nanos` goes at the next [`FeatureExtractor::expire`], and each
//! table holds at most `max_entries` entries (when full, the least
//! recently seen half goes). The reference never forgets, which makes its
//! cost grow without bound on scans and DNS traffic.

use std::net::IpAddr;

use super::incstat::{decay_factors, Clocked1, Multi1, Rel2, LAMBDAS, NL};
use crate::bounded::Sweeps;
use crate::obs::Obs;
use crate::Map;

/// Number of features per packet.
pub const N_FEATURES: usize = 100;

/// Start of each block in the feature vector.
const HOST: usize = 0;
const JIT: usize = 15;
const CHAN: usize = 30;
const SOCK: usize = 65;

/// An address as one integer (IPv4 as its IPv4-mapped IPv6 form).
#[inline]
fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => 0xffff_0000_0000u128 | u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Channel state: both directions between two hosts.
#[derive(Clone, Copy, Debug)]
struct Channel {
    /// Sizes of both directions and their relation.
    size: Rel2,
    /// Inter-arrival times per direction (decayed on `size`'s clock).
    jit: [Multi1; 2],
    /// Time of each direction's last packet (`i64::MIN` = none yet).
    seen: [i64; 2],
}

/// Socket state: both directions between two (address, port) ends.
#[derive(Clone, Copy, Debug)]
struct Socket {
    size: Rel2,
}

/// One table with expiry and a size cap.
#[derive(Debug)]
struct Table<K, V> {
    map: Map<K, V>,
    /// Entries dropped to make room.
    evicted: u64,
    sweeps: Sweeps,
}

impl<K: std::hash::Hash + Eq + Copy, V> Table<K, V> {
    fn new() -> Self {
        Table {
            map: Map::default(),
            evicted: 0,
            sweeps: Sweeps::new(),
        }
    }

    /// The entry for `k`, made by `make` when absent; when the table is
    /// full, the least recently seen half is dropped first.
    #[inline]
    fn get_or_make(
        &mut self,
        k: K,
        cap: usize,
        last: impl Fn(&V) -> i64,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        if self.map.len() >= cap && !self.map.contains_key(&k) {
            self.shed(cap, &last);
        }
        self.map.entry(k).or_insert_with(make)
    }

    /// Drops the least recently seen half (at least down below `cap`).
    fn shed(&mut self, cap: usize, last: &impl Fn(&V) -> i64) {
        let mut times: Vec<i64> = self.map.values().map(last).collect();
        if times.is_empty() {
            return;
        }
        let mid = times.len() / 2;
        let (_, cut, _) = times.select_nth_unstable(mid);
        let cut = *cut;
        let before = self.map.len();
        self.map.retain(|_, v| last(v) > cut);
        if self.map.len() >= cap {
            // Every entry was seen at the same instant: start over.
            self.map.clear();
        }
        self.evicted += (before - self.map.len()) as u64;
    }

    /// Drops entries idle for more than `idle`, sweeping only when one
    /// may be due (at most every eighth of `idle`: an entry may outlive
    /// its time by that much).
    fn expire(&mut self, now: i64, idle: i64, last: impl Fn(&V) -> i64) {
        // Kept while `now - last <= idle`: due a nanosecond past that.
        self.sweeps.sweep(&mut self.map, now, idle / 8, |v| {
            last(v).saturating_add(idle).saturating_add(1)
        });
    }
}

/// The feature extractor: per-host, per-channel and per-socket damped
/// statistics.
#[derive(Debug)]
pub struct FeatureExtractor {
    hosts: Table<u128, Clocked1>,
    channels: Table<(u128, u128), Channel>,
    sockets: Table<(u128, u128, u16, u16, u8), Socket>,
    max_idle_nanos: i64,
    max_entries: usize,
}

impl FeatureExtractor {
    /// An empty extractor that forgets entries idle for `max_idle_secs`
    /// and keeps at most `max_entries` per table (hosts, channels, sockets).
    pub fn new(max_idle_secs: f64, max_entries: usize) -> FeatureExtractor {
        FeatureExtractor {
            hosts: Table::new(),
            channels: Table::new(),
            sockets: Table::new(),
            max_idle_nanos: (max_idle_secs * 1e9).min(i64::MAX as f64) as i64,
            max_entries: max_entries.max(1),
        }
    }

    /// Updates the statistics with one packet and writes its 100 features.
    pub fn update(&mut self, o: &Obs, out: &mut [f64; N_FEATURES]) {
        let t = o.ts.as_nanos();
        let size = o.ip_len as f64;
        let cap = self.max_entries;
        let src = ip_key(o.src);
        let dst = ip_key(o.dst);

        // Source host: sizes.
        let h = self
            .hosts
            .get_or_make(src, cap, |h| h.last, || Clocked1::new(t));
        h.update(t, size);
        h.m.write3(&mut out[HOST..HOST + 15]);

        // Channel: the unordered address pair, with a direction bit.
        let (ck, d) = if src <= dst {
            ((src, dst), 0)
        } else {
            ((dst, src), 1)
        };
        let c = self.channels.get_or_make(
            ck,
            cap,
            |c| c.size.last,
            || Channel {
                size: Rel2::new(t),
                jit: [Multi1::default(); 2],
                seen: [i64::MIN; 2],
            },
        );
        let f = decay_factors(t.saturating_sub(c.size.last));
        c.size.decay(&f);
        c.jit[0].decay(&f);
        c.jit[1].decay(&f);
        c.size.last = c.size.last.max(t);
        let gap = if c.seen[d] == i64::MIN {
            0.0
        } else {
            t.saturating_sub(c.seen[d]).max(0) as f64 * 1e-9
        };
        c.seen[d] = c.seen[d].max(t);
        c.jit[d].add(gap);
        c.size.add(d, size);
        c.jit[d].write3(&mut out[JIT..JIT + 15]);
        c.size.write7(d, &mut out[CHAN..CHAN + 35]);

        // Socket: the unordered (address, port) pair and protocol.
        let (sp, dp) = if o.has_ports {
            (o.src_port, o.dst_port)
        } else {
            (0, 0)
        };
        let (sk, d) = if (src, sp) <= (dst, dp) {
            ((src, dst, sp, dp, o.protocol), 0)
        } else {
            ((dst, src, dp, sp, o.protocol), 1)
        };
        let s =
            self.sockets
                .get_or_make(sk, cap, |s| s.size.last, || Socket { size: Rel2::new(t) });
        s.size.update(t, d, size);
        s.size.write7(d, &mut out[SOCK..SOCK + 35]);
    }

    /// Drops entries idle for longer than the idle bound at `now`
    /// (nanoseconds).
    pub fn expire(&mut self, now: i64) {
        let idle = self.max_idle_nanos;
        self.hosts.expire(now, idle, |h| h.last);
        self.channels.expire(now, idle, |c| c.size.last);
        self.sockets.expire(now, idle, |s| s.size.last);
    }

    /// Entries dropped so far because a table was full.
    pub fn evicted(&self) -> u64 {
        self.hosts.evicted + self.channels.evicted + self.sockets.evicted
    }

    /// Entries held: (hosts, channels, sockets).
    pub fn len(&self) -> (usize, usize, usize) {
        (
            self.hosts.map.len(),
            self.channels.map.len(),
            self.sockets.map.len(),
        )
    }

    /// No entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0, 0)
    }
}

/// Formats a λ the way names show it: 5, 3, 1, 0.1, 0.01.
pub fn lambda_label(l: f64) -> String {
    format!("{l}")
}

/// The names of the 100 features, e.g. `host.size.mean@λ1`,
/// `channel.jitter.std@λ0.1`, `socket.size.pcc@λ5`.
pub fn feature_names() -> Vec<String> {
    let mut v = Vec::with_capacity(N_FEATURES);
    let one = ["w", "mean", "std"];
    let two = ["w", "mean", "std", "magnitude", "radius", "cov", "pcc"];
    for (prefix, stats) in [
        ("host.size", &one[..]),
        ("channel.jitter", &one[..]),
        ("channel.size", &two[..]),
        ("socket.size", &two[..]),
    ] {
        for l in LAMBDAS {
            for s in stats {
                v.push(format!("{prefix}.{s}@λ{}", lambda_label(l)));
            }
        }
    }
    debug_assert_eq!(v.len(), N_FEATURES);
    debug_assert_eq!(NL * 20, N_FEATURES);
    v
}

/// A readable description of a set of features, by block and window:
/// `channel jitter (λ 1, 0.1), socket sizes (λ 5)`.
pub fn describe(names: &[&str]) -> String {
    let mut parts: Vec<(String, Vec<String>)> = Vec::new();
    for n in names {
        let (head, lambda) = n.split_once("@λ").unwrap_or((n, ""));
        let block = match head.rsplit_once('.') {
            Some((b, _)) => b,
            None => head,
        };
        let words = match block {
            "host.size" => "host sizes".to_string(),
            "channel.jitter" => "channel jitter".to_string(),
            "channel.size" => "channel sizes".to_string(),
            "socket.size" => "socket sizes".to_string(),
            other => other.replace('.', " "),
        };
        match parts.iter_mut().find(|(w, _)| *w == words) {
            Some((_, ls)) => {
                if !lambda.is_empty() && !ls.iter().any(|l| l == lambda) {
                    ls.push(lambda.to_string());
                }
            }
            None => parts.push((
                words,
                if lambda.is_empty() {
                    Vec::new()
                } else {
                    vec![lambda.to_string()]
                },
            )),
        }
    }
    parts
        .into_iter()
        .map(|(w, ls)| {
            if ls.is_empty() {
                w
            } else {
                format!("{w} (λ {})", ls.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_wire::Timestamp;

    fn obs(t: i64, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, len: u32) -> Obs<'static> {
        Obs {
            ts: Timestamp::from_nanos(t),
            iface: 0,
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            protocol: 17,
            src_port: sp,
            dst_port: dp,
            has_ports: true,
            ip_len: len,
            tcp_flags: 0,
            later_fragment: false,
            l4: &[],
        }
    }

    #[test]
    fn names_are_unique_and_described() {
        let n = feature_names();
        assert_eq!(n.len(), N_FEATURES);
        assert_eq!(n[0], "host.size.w@λ5");
        assert_eq!(n[29], "channel.jitter.std@λ0.01");
        assert_eq!(n[65 + 6], "socket.size.pcc@λ5");
        let mut s = n.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), N_FEATURES);
        assert_eq!(
            describe(&[
                "channel.jitter.std@λ1",
                "channel.jitter.mean@λ0.1",
                "socket.size.w@λ5"
            ]),
            "channel jitter (λ 1, 0.1), socket sizes (λ 5)"
        );
    }

    #[test]
    fn reply_lands_in_the_same_channel_and_socket() {
        let mut fx = FeatureExtractor::new(100.0, 1000);
        let mut f = [0.0; N_FEATURES];
        fx.update(&obs(0, [10, 0, 0, 1], [10, 0, 0, 2], 5000, 53, 60), &mut f);
        fx.update(
            &obs(1000, [10, 0, 0, 2], [10, 0, 0, 1], 53, 5000, 200),
            &mut f,
        );
        assert_eq!(fx.len(), (2, 1, 1));
        // The reply's socket magnitude sees both directions.
        let mag = f[SOCK + 3];
        assert!(
            (mag - (60.0f64 * 60.0 + 200.0 * 200.0).sqrt()).abs() < 1e-3,
            "{mag}"
        );
        // Its own direction's weight is 1.
        assert!((f[SOCK] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn jitter_is_the_gap_in_seconds() {
        let mut fx = FeatureExtractor::new(100.0, 1000);
        let mut f = [0.0; N_FEATURES];
        for k in 0..4 {
            fx.update(
                &obs(k * 500_000_000, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 60),
                &mut f,
            );
        }
        // Gaps 0, 0.5, 0.5, 0.5; in the slowest window nearly unweighted.
        let mean = f[JIT + 4 * 3 + 1];
        assert!((mean - 1.5 / 4.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn idle_entries_expire() {
        let mut fx = FeatureExtractor::new(10.0, 1000);
        let mut f = [0.0; N_FEATURES];
        fx.update(&obs(0, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 60), &mut f);
        fx.expire(5_000_000_000);
        assert_eq!(fx.len(), (1, 1, 1));
        fx.expire(11_000_000_000);
        assert!(fx.is_empty());
    }
}
