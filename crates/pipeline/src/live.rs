//! Live capture as a [`Source`]: AF_PACKET rings on one or more
//! interfaces, kernel or in-process filters, the `-w` pcapng copy,
//! interfaces going down, coming back or disappearing, the privilege drop.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use wirewatch_capture::PcapngWriter;
use wirewatch_flow::IpNet;
use wirewatch_live::{
    default_interface, list_interfaces, poll, privs, signal, BpfInsn, Interface, LiveError,
    PacketSocket, PollFd, RingConfig, SocketConfig,
};
use wirewatch_wire::{Clock, Frame, Timestamp};

use crate::filter::FrameFilter;
use crate::procs::Owners;
use crate::source::{CaptureStats, IfaceCapture, Source as FrameSource};

/// Live-capture settings.
#[derive(Clone, Debug)]
pub struct LiveSettings {
    /// Interfaces named with `-i` (empty: choose the default; `any`: all up).
    pub interfaces: Vec<String>,
    /// Promiscuous mode (`-p`).
    pub promiscuous: bool,
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Ring geometry per interface.
    pub ring: RingConfig,
    /// Stop after this long (`-s`).
    pub duration_nanos: Option<i64>,
    /// Write captured frames here as pcapng (`-w`).
    pub write: Option<PathBuf>,
    /// Account to switch to after opening the sockets.
    pub user: String,
    /// Filter expression (`-f`).
    pub filter: Option<String>,
    /// Local networks were given with -F/-G (else the interfaces' addresses are used).
    pub local_nets_given: bool,
}

/// Capabilities kept after the privilege drop when processes are looked up:
/// reading other users' /proc/PID/fd needs CAP_SYS_PTRACE (and
/// CAP_DAC_READ_SEARCH for the directories).
pub const PROCESS_CAPS: u64 = (1 << privs::CAP_SYS_PTRACE) | (1 << privs::CAP_DAC_READ_SEARCH);

/// Starts the process scan when `enabled`: its thread inherits the
/// capabilities the privilege drop kept ([`PROCESS_CAPS`]); then this thread,
/// which goes on to parse packets, gives them up (capabilities are per thread).
pub fn start_owner_scan(enabled: bool) -> anyhow::Result<Owners> {
    if !enabled {
        return Ok(Owners::default());
    }
    let owners = Owners::scanning(std::time::Duration::from_secs(1))
        .map_err(|e| anyhow!("starting the process scan: {e}"))?;
    privs::drop_thread_capabilities().map_err(|e| anyhow!("dropping capabilities: {e}"))?;
    Ok(owners)
}

/// Picks the interfaces to open, saying on stderr which and why when the
/// user named none.
fn choose(
    ls: &LiveSettings,
    all: &[Interface],
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Interface>> {
    let names = || {
        all.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ls.interfaces.is_empty() {
        let Some(d) = default_interface(all) else {
            bail!(
                "no interface is up to capture on; name one with -i (interfaces: {})",
                names()
            );
        };
        notes.push(format!("capturing on {} ({})", d.name(), d.reason()));
        return Ok(all.iter().filter(|i| i.name == d.name()).cloned().collect());
    }
    let mut out: Vec<Interface> = Vec::new();
    for n in &ls.interfaces {
        if n == "any" {
            for i in all.iter().filter(|i| i.up) {
                if !out.iter().any(|o| o.name == i.name) {
                    out.push(i.clone());
                }
            }
            continue;
        }
        match all.iter().find(|i| &i.name == n) {
            Some(i) => {
                if !out.iter().any(|o| o.name == i.name) {
                    out.push(i.clone());
                }
            }
            None => bail!("no interface named '{n}'; available: {}", names()),
        }
    }
    if out.is_empty() {
        bail!("-i any: no interface is up (interfaces: {})", names());
    }
    if ls.interfaces.iter().any(|n| n == "any") {
        let v: Vec<&str> = out.iter().map(|i| i.name.as_str()).collect();
        notes.push(format!("capturing on {}", v.join(", ")));
    }
    Ok(out)
}

/// The interfaces' own addresses as host networks: the default "local"
/// side for direction, like iftop.
fn own_addresses(ifaces: &[Interface]) -> Vec<IpNet> {
    let mut v = Vec::new();
    for i in ifaces {
        for (a, _) in &i.addrs {
            let len = if a.is_ipv4() { 32 } else { 128 };
            if let Some(n) = IpNet::new(*a, len) {
                v.push(n);
            }
        }
    }
    v
}

fn setcap_hint(e: &LiveError) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "wirewatch".into());
    format!(
        "{e}; run it as root, or give the binary the capability once: sudo setcap cap_net_raw=eip {exe}"
    )
}

struct Ring {
    sock: Option<PacketSocket>,
    name: String,
    index: u32,
    link_type: u32,
    pcapng_id: u32,
    kind: wirewatch_live::LinkKind,
    /// Counters as of the last read (kept when the socket is gone).
    stats: wirewatch_live::KernelStats,
    state: &'static str,
    /// The filter run here instead of in the kernel (cooked sockets: the
    /// kernel runs the program on the network-layer packet, not on the
    /// Linux SLL header the program is compiled for).
    soft_filter: Option<FrameFilter>,
}

impl Ring {
    /// Hands every frame the kernel has released to `sink` as interface
    /// `k` (and to the `-w` file), through the in-process filter when there
    /// is one.
    fn drain<W: Write>(
        &mut self,
        k: u16,
        writer: &mut Option<PcapngWriter<W>>,
        write_error: &mut Option<io::Error>,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
    ) {
        let id = self.pcapng_id;
        let Some(sock) = &mut self.sock else { return };
        let mut filter = self.soft_filter.as_mut();
        sock.drain(|p| {
            // The in-process filter was compiled for this link type when the
            // socket was opened, so it cannot fail here.
            if let Some(f) = filter.as_deref_mut() {
                if f.matches(p.link_type, p.data, p.wire_len) != Ok(true) {
                    return;
                }
            }
            sink(&p, k);
            if let Some(w) = writer {
                if write_error.is_none() {
                    if let Err(e) = w.packet(id, p.ts, p.data, p.wire_len) {
                        *write_error = Some(e);
                    }
                }
            }
        });
    }

    /// The interface no longer exists: keep its last counters, close the
    /// socket; returns the warning.
    fn mark_gone(&mut self) -> String {
        let msg = format!(
            "{}: interface disappeared; its counts so far are kept",
            self.name
        );
        self.refresh();
        self.sock = None;
        self.state = "gone";
        msg
    }

    fn refresh(&mut self) {
        if let Some(s) = &mut self.sock {
            if let Ok(st) = s.stats() {
                self.stats = st;
            }
        }
    }
}

fn capture_stats(sources: &mut [Ring]) -> CaptureStats {
    CaptureStats {
        interfaces: sources
            .iter_mut()
            .map(|s| {
                s.refresh();
                IfaceCapture {
                    name: s.name.clone(),
                    link_type: s.link_type,
                    received: s.stats.received,
                    dropped: s.stats.dropped,
                    state: s.state,
                }
            })
            .collect(),
    }
}

fn still_exists(name: &str, index: u32) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        == Some(index)
}

fn is_up(name: &str) -> bool {
    list_interfaces()
        .ok()
        .and_then(|l| l.into_iter().find(|i| i.name == name))
        .is_some_and(|i| i.up)
}

/// Where the filter runs for a socket of this kind: in the kernel, except on
/// cooked (SOCK_DGRAM) sockets, where the kernel would run it on the
/// network-layer packet while it is compiled for the Linux SLL header the
/// ring reader puts in front; those frames are filtered here instead.
fn filter_plan(
    kind: wirewatch_live::LinkKind,
    expr: &str,
    snaplen: u32,
) -> anyhow::Result<(Option<Vec<BpfInsn>>, Option<FrameFilter>)> {
    let lt = kind.link_type();
    if kind == wirewatch_live::LinkKind::Cooked {
        let f = FrameFilter::new(expr, lt).map_err(|e| anyhow!(e))?;
        return Ok((None, Some(f)));
    }
    Ok((crate::filter::kernel_program(expr, lt, snaplen)?, None))
}

/// Open packet sockets feeding one flow table: the live packet source of
/// both the report loop ([`run`]) and the terminal UI.
pub struct LiveCapture {
    sources: Vec<Ring>,
    writer: Option<PcapngWriter<BufWriter<File>>>,
    write_error: Option<io::Error>,
    write_path: Option<PathBuf>,
    /// The wall clock (live ticks).
    clock: Arc<dyn Clock>,
    /// [`LiveCapture::stop`] was called.
    stopping: bool,
    /// The rings were drained after the stop.
    drained: bool,
    snaplen: u32,
    retire_ms: u32,
    next_counters: Timestamp,
    fds: Vec<PollFd>,
    /// The latest fault worth a line in the summary.
    pub warning: Option<String>,
    chosen: Vec<Interface>,
    /// Interface events not yet shown (`warning: …`, `… is up again`): the
    /// report loop prints them on stderr, the screen on its status line.
    events: Vec<String>,
}

/// What [`LiveCapture::finish`] hands back for the final report.
pub struct Finished {
    /// Kernel counters per interface.
    pub capture: CaptureStats,
    /// "live capture on a, b".
    pub input: String,
    /// Link types of the interfaces.
    pub link_types: Vec<u32>,
    /// Writing the `-w` file failed.
    pub file_error: Option<String>,
}

impl LiveCapture {
    /// Chooses the interfaces, compiles the filter per link type, opens every
    /// socket and the `-w` file. Privileges are still held afterwards: call
    /// [`LiveCapture::drop_privileges`].
    pub fn open(ls: &LiveSettings, clock: Arc<dyn Clock>) -> anyhow::Result<LiveCapture> {
        let all = list_interfaces().context("listing interfaces")?;
        let mut events = Vec::new();
        let chosen = choose(ls, &all, &mut events)?;
        let cfg = SocketConfig {
            ring: ls.ring,
            promiscuous: ls.promiscuous,
            snaplen: ls.snaplen,
        };
        let mut sources: Vec<Ring> = Vec::new();
        for i in &chosen {
            let hatype = std::fs::read_to_string(format!("/sys/class/net/{}/type", i.name))
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
                .unwrap_or(1);
            let kind = wirewatch_live::LinkKind::for_hatype(hatype);
            let (prog, soft_filter) = match ls.filter.as_deref() {
                Some(expr) => filter_plan(kind, expr, ls.snaplen)?,
                None => (None, None),
            };
            let sock = PacketSocket::open(i, &cfg, prog.as_deref()).map_err(|e| match e {
                LiveError::Permission { .. } => anyhow!(setcap_hint(&e)),
                other => anyhow!(other),
            })?;
            sources.push(Ring {
                link_type: sock.link().link_type(),
                kind,
                sock: Some(sock),
                name: i.name.clone(),
                index: i.index,
                pcapng_id: 0,
                stats: Default::default(),
                state: "capturing",
                soft_filter,
            });
        }
        // The output file is opened with the privileges the user started with.
        let writer = match &ls.write {
            Some(p) => {
                let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
                let mut w = PcapngWriter::new(BufWriter::with_capacity(1 << 20, f))
                    .with_context(|| format!("writing {}", p.display()))?;
                for src in &mut sources {
                    src.pcapng_id = w
                        .interface_named(src.link_type as u16, ls.snaplen, 9, &src.name)
                        .with_context(|| format!("writing {}", p.display()))?;
                }
                Some(w)
            }
            None => None,
        };
        Ok(LiveCapture {
            sources,
            writer,
            write_error: None,
            write_path: ls.write.clone(),
            clock,
            stopping: false,
            drained: false,
            snaplen: ls.snaplen,
            retire_ms: ls.ring.retire_ms,
            next_counters: Timestamp::ZERO,
            fds: Vec::new(),
            warning: None,
            chosen,
            events,
        })
    }

    /// Installs the SIGINT/SIGTERM flag and switches to `--user`, keeping
    /// only the capabilities in `keep` (a mask of CAP_* bits; process
    /// attribution needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to read other
    /// users' /proc/PID/fd). Returns what the process now runs as.
    pub fn drop_privileges(&self, user: &str, keep: u64) -> anyhow::Result<String> {
        signal::install().context("installing the SIGINT/SIGTERM handler")?;
        let account = privs::lookup(user).map_err(|e| anyhow!("--user {user}: {e}"))?;
        let dropped =
            privs::drop_to(&account, keep).map_err(|e| anyhow!("dropping privileges: {e}"))?;
        Ok(dropped.to_string())
    }

    /// The interfaces' own addresses: the default local networks.
    pub fn own_addresses(&self) -> Vec<IpNet> {
        own_addresses(&self.chosen)
    }

    /// Interface events since the last call (down, gone, up again).
    pub fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
    }

    /// Every interface is gone.
    pub fn all_gone(&self) -> bool {
        self.sources.iter().all(|s| s.sock.is_none())
    }

    /// Replaces the filter on every socket (`None`: accept everything):
    /// compiled per link type first, so a bad expression changes nothing.
    pub fn set_filter(&mut self, expr: Option<&str>) -> anyhow::Result<()> {
        let mut plans = Vec::with_capacity(self.sources.len());
        for src in &self.sources {
            plans.push(match expr {
                Some(e) => filter_plan(src.kind, e, self.snaplen)?,
                None => (None, None),
            });
        }
        for (src, (prog, soft)) in self.sources.iter_mut().zip(plans) {
            if let Some(sock) = &src.sock {
                let accept = [BpfInsn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: self.snaplen,
                }];
                sock.set_filter(prog.as_deref().unwrap_or(&accept))
                    .with_context(|| format!("{}: attaching the filter", src.name))?;
            }
            src.soft_filter = soft;
        }
        Ok(())
    }

    /// Interface names, by the index flows carry ([`wirewatch_flow::Flow::iface`]).
    pub fn interface_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name.clone()).collect()
    }

    /// Kernel counters of every interface (read now).
    pub fn capture_stats(&mut self) -> CaptureStats {
        capture_stats(&mut self.sources)
    }

    /// The last pull takes the frames still in the rings: the kernel
    /// releases a partly filled block only after the retire timeout.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Closes the `-w` file and returns what the final report needs.
    pub fn finish(&mut self) -> Finished {
        let capture = capture_stats(&mut self.sources);
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        let input = format!("live capture on {}", names.join(", "));
        let mut link_types: Vec<u32> = self.sources.iter().map(|s| s.link_type).collect();
        link_types.dedup();
        let file_error = match (
            self.writer.take(),
            &self.write_path,
            self.write_error.take(),
        ) {
            (_, Some(p), Some(e)) => Some(format!("writing {}: {e}", p.display())),
            (Some(w), Some(p), None) => w
                .finish()
                .and_then(|mut b| b.flush())
                .err()
                .map(|e| format!("writing {}: {e}", p.display())),
            _ => None,
        };
        Finished {
            capture,
            input,
            link_types,
            file_error,
        }
    }

    /// Frames still in the rings after [`LiveCapture::stop`].
    fn drain_all(&mut self, sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool) {
        if self.all_gone() {
            return;
        }
        // Twice the timeout plus a margin: the kernel's timer is not exact.
        std::thread::sleep(std::time::Duration::from_millis(
            2 * u64::from(self.retire_ms) + 20,
        ));
        for (k, src) in self.sources.iter_mut().enumerate() {
            src.drain(k as u16, &mut self.writer, &mut self.write_error, sink);
        }
    }
}

impl FrameSource for LiveCapture {
    /// Waits up to `wait_ns` for packets, hands every released frame to
    /// `sink`, and handles interfaces going down, coming back or
    /// disappearing.
    fn pull(
        &mut self,
        wait_ns: i64,
        sink: &mut dyn FnMut(&Frame<'_>, u16) -> bool,
    ) -> anyhow::Result<()> {
        if self.stopping {
            if !self.drained {
                self.drained = true;
                self.drain_all(sink);
            }
            return Ok(());
        }
        let now = self.clock.now();
        // The kernel's counters are 32-bit and reset on each read: read
        // them every second so they cannot wrap between reports.
        if now >= self.next_counters {
            self.sources.iter_mut().for_each(Ring::refresh);
            self.next_counters = now.add_nanos(1_000_000_000);
        }
        self.fds.clear();
        let live: Vec<usize> = (0..self.sources.len())
            .filter(|&k| self.sources[k].sock.is_some())
            .collect();
        for &k in &live {
            if let Some(sock) = &self.sources[k].sock {
                self.fds.push(PollFd::input(sock.fd()));
            }
        }
        poll(&mut self.fds, (wait_ns.max(0) / 1_000_000) as i32).context("poll")?;
        for (slot, &k) in live.iter().enumerate() {
            let src = &mut self.sources[k];
            let failed = self.fds[slot].failed();
            src.drain(k as u16, &mut self.writer, &mut self.write_error, sink);
            if failed {
                let err = src.sock.as_mut().and_then(|sock| sock.take_error());
                if !still_exists(&src.name, src.index) {
                    let msg = src.mark_gone();
                    self.events.push(format!("warning: {msg}"));
                    self.warning = Some(msg);
                } else if src.state != "down" {
                    let why = err.map_or("no carrier".to_string(), |e| e.to_string());
                    let msg = format!(
                        "{}: interface went down ({why}); capture goes on elsewhere",
                        src.name
                    );
                    self.events.push(format!("warning: {msg}"));
                    src.state = "down";
                    self.warning = Some(msg);
                }
            } else if src.state == "down" && !still_exists(&src.name, src.index) {
                // Deleted while down: the kernel reports nothing more.
                let msg = src.mark_gone();
                self.events.push(format!("warning: {msg}"));
                self.warning = Some(msg);
            } else if src.state == "down" && is_up(&src.name) {
                self.events
                    .push(format!("{}: interface is up again", src.name));
                src.state = "capturing";
            }
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn packet_clock(&self) -> bool {
        false
    }

    fn ended(&self) -> bool {
        self.drained || self.all_gone()
    }

    fn interface_names(&self) -> Vec<String> {
        LiveCapture::interface_names(self)
    }

    fn capture_stats(&mut self) -> Option<CaptureStats> {
        Some(LiveCapture::capture_stats(self))
    }

    fn set_filter(&mut self, expr: Option<&str>) -> Result<(), String> {
        LiveCapture::set_filter(self, expr).map_err(|e| format!("{e:#}"))
    }

    fn take_events(&mut self) -> Vec<String> {
        LiveCapture::take_events(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_live::LinkKind;
    use wirewatch_wire::build;

    fn udp_v4() -> Vec<u8> {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        build::ipv4(a, b, 17, &build::udp(1000, 53, &[0; 4]))
    }

    #[test]
    fn cooked_sockets_filter_in_process_on_the_sll_frame() {
        let (prog, soft) = filter_plan(LinkKind::Cooked, "udp port 53", 512).unwrap();
        assert!(prog.is_none(), "no kernel program on a cooked socket");
        let mut f = soft.expect("in-process filter");
        let udp = build::sll(0x0800, &udp_v4());
        assert_eq!(f.matches(113, &udp, udp.len() as u32), Ok(true));
        let arp = build::sll(0x0806, &[0; 28]);
        assert_eq!(f.matches(113, &arp, arp.len() as u32), Ok(false));
    }

    #[test]
    fn other_sockets_filter_in_the_kernel() {
        for kind in [LinkKind::Ethernet, LinkKind::RawIp] {
            let (prog, soft) = filter_plan(kind, "udp port 53", 512).unwrap();
            assert!(soft.is_none());
            let prog = prog.expect("kernel program");
            // Accepting returns the snap length, as libpcap does.
            assert!(
                prog.iter().any(|i| i.code == 0x06 && i.k == 512),
                "{kind:?}"
            );
        }
        match filter_plan(LinkKind::Ethernet, "udp prt 53", 512) {
            Err(e) => assert!(format!("{e}").contains("column 5"), "{e}"),
            Ok(_) => panic!("a bad expression compiled"),
        }
    }
}
