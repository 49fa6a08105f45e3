//! pcap-filter expressions (the language of tcpdump and libpcap) compiled to
//! classic BPF in pure Rust, with an interpreter.
//!
//! ```
//! use wirewatch_filter::{compile, CompileOptions};
//!
//! let opts = CompileOptions { link_type: 1, snaplen: 262144, linux_vlan_extensions: false };
//! let prog = compile("tcp port 80 or udp port 53", &opts).unwrap();
//! assert!(prog.insns().len() > 2);
//! assert!(!prog.matches(&[0u8; 60], 60));
//! ```
//!
//! The generated code follows libpcap's semantics test by test (see
//! `docs/FILTERS.md`), so a program accepts the same packets as tcpdump,
//! including truncated ones: a load beyond the captured bytes rejects the
//! packet. Every program passes the Linux classic-BPF checker's rules and can
//! be attached to a socket with `SO_ATTACH_FILTER`.
#![forbid(unsafe_code)]

mod bpf;
mod emit;
mod gen;
mod ir;
mod lex;
mod opt;
mod parse;

pub use bpf::{
    validate, Insn, InvalidProgram, Meta, MAX_INSNS, MEMWORDS, SKF_AD_OFF, SKF_AD_VLAN_TAG,
    SKF_AD_VLAN_TAG_PRESENT,
};

/// Default accept length when the snap length is 0: libpcap's maximum.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// A compiled classic BPF program; always valid by [`validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Wraps hand-written instructions after checking them with [`validate`].
    pub fn new(insns: Vec<Insn>) -> Result<Program, InvalidProgram> {
        validate(&insns)?;
        Ok(Program { insns })
    }

    /// The instructions, ready for `SO_ATTACH_FILTER` (`struct sock_filter` layout).
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Runs the program over one frame: `data` is the captured bytes,
    /// `wire_len` the original length (what `len` sees). Returns the accept
    /// length, 0 for reject, like the kernel. Loads outside `data`, division
    /// by zero and Linux ancillary loads reject.
    pub fn run(&self, data: &[u8], wire_len: u32) -> u32 {
        bpf::run(&self.insns, data, wire_len, None)
    }

    /// Like [`Program::run`], with the metadata a Linux socket offers to
    /// ancillary loads (the VLAN tag the kernel took out of the frame).
    pub fn run_with_meta(&self, data: &[u8], wire_len: u32, vlan_tci: Option<u16>) -> u32 {
        bpf::run(&self.insns, data, wire_len, Some(&Meta { vlan_tci }))
    }

    /// Whether the program accepts the frame (accept length above 0).
    pub fn matches(&self, data: &[u8], wire_len: u32) -> bool {
        self.run(data, wire_len) != 0
    }

    /// A program accepting every packet whole (`ret #262144`).
    pub fn accept_all() -> Program {
        Program {
            insns: vec![Insn::stmt(bpf::RET | bpf::K, DEFAULT_SNAPLEN)],
        }
    }

    /// A listing in the style of `tcpdump -d`, one instruction per line.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for (pc, i) in self.insns.iter().enumerate() {
            s.push_str(&bpf::image(i, pc));
            s.push('\n');
        }
        s
    }
}

/// How to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Link type of the packets (`LINKTYPE_*`): 1 Ethernet, 113 Linux SLL,
    /// 276 Linux SLL2, 12/14/101 raw IP, 228 raw IPv4, 229 raw IPv6,
    /// 0 BSD loopback, 108 OpenBSD loopback.
    pub link_type: u32,
    /// Accept length returned for matching packets (0 means 262144).
    pub snaplen: u32,
    /// Live Linux socket: the kernel strips the outer VLAN tag, so the first
    /// `vlan` tests the packet's metadata instead of the frame and does not
    /// move the offsets.
    pub linux_vlan_extensions: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            link_type: 1,
            snaplen: DEFAULT_SNAPLEN,
            linux_vlan_extensions: false,
        }
    }
}

/// Why an expression does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based character column in the expression where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            column,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Compiles a pcap-filter expression for one link type. An empty or blank
/// expression accepts everything. An expression that can never accept a
/// packet fails with "expression rejects all packets", as in libpcap.
pub fn compile(expr: &str, opts: &CompileOptions) -> Result<Program, FilterError> {
    let Some(link) = gen::Link::from_link_type(opts.link_type) else {
        return Err(FilterError::new(
            1,
            format!(
                "link type {} is not supported by the filter compiler",
                opts.link_type
            ),
        ));
    };
    let toks = lex::lex(expr)?;
    let ctx = gen::Ctx::new(link, opts.link_type, opts.linux_vlan_extensions);
    let mut parser = parse::Parser::new(toks, ctx);
    let tree = parser.program()?.simplify();
    let (mut graph, root) = opt::Graph::from_tree(&tree);
    let root = graph.optimize(root);
    if !graph.accepts(root) {
        return Err(FilterError::new(1, "expression rejects all packets"));
    }
    let snap = if opts.snaplen == 0 {
        DEFAULT_SNAPLEN
    } else {
        opts.snaplen
    };
    let insns = emit::emit(&graph, root, snap).map_err(|m| FilterError::new(1, m))?;
    validate(&insns).map_err(|e| FilterError::new(1, format!("internal error: {e}")))?;
    Ok(Program { insns })
}
