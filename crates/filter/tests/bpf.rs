//! The interpreter and the checker on hand-written programs, and robustness
//! properties of the compiler and the interpreter.

use proptest::prelude::*;
use wirewatch_filter::{compile, validate, CompileOptions, Insn, Program};

// Opcodes, spelled out as in <linux/filter.h>.
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_IND: u16 = 0x40;
const LD_IMM: u16 = 0x00;
const LD_LEN: u16 = 0x80;
const LD_MEM: u16 = 0x60;
const LDX_IMM: u16 = 0x01;
const LDX_MSH: u16 = 0xb1;
const ST: u16 = 0x02;
const ALU_DIV_X: u16 = 0x3c;
const ALU_DIV_K: u16 = 0x34;
const ALU_MOD_X: u16 = 0x9c;
const ALU_ADD_K: u16 = 0x04;
const ALU_LSH_K: u16 = 0x64;
const ALU_NEG: u16 = 0x84;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const RET_A: u16 = 0x16;
const TAX: u16 = 0x07;

fn s(code: u16, k: u32) -> Insn {
    Insn::stmt(code, k)
}

fn j(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn::jump(code, k, jt, jf)
}

fn run(insns: Vec<Insn>, data: &[u8]) -> u32 {
    Program::new(insns)
        .expect("valid")
        .run(data, data.len() as u32)
}

#[test]
fn insn_layout_matches_sock_filter() {
    assert_eq!(std::mem::size_of::<Insn>(), 8);
    assert_eq!(std::mem::align_of::<Insn>(), 4);
}

#[test]
fn loads_are_big_endian_and_bounded() {
    let data = [0x12, 0x34, 0x56, 0x78, 0x9a];
    assert_eq!(run(vec![s(LD_W_ABS, 0), s(RET_A, 0)], &data), 0x1234_5678);
    assert_eq!(run(vec![s(LD_H_ABS, 3), s(RET_A, 0)], &data), 0x789a);
    assert_eq!(run(vec![s(LD_B_ABS, 4), s(RET_A, 0)], &data), 0x9a);
    // Out of bounds: reject, whatever comes next.
    assert_eq!(run(vec![s(LD_W_ABS, 2), s(RET_K, 7)], &data), 0);
    assert_eq!(run(vec![s(LD_H_ABS, 4), s(RET_K, 7)], &data), 0);
    assert_eq!(run(vec![s(LD_B_ABS, u32::MAX), s(RET_K, 7)], &data), 0);
    // Indexed loads: X + k, no wrap-around.
    assert_eq!(
        run(vec![s(LDX_IMM, 1), s(LD_W_IND, 0), s(RET_A, 0)], &data),
        0x3456_789a
    );
    assert_eq!(
        run(
            vec![s(LDX_IMM, u32::MAX), s(LD_W_IND, 2), s(RET_K, 7)],
            &data
        ),
        0
    );
    // MSH: 4 * (low nibble).
    assert_eq!(
        run(vec![s(LDX_MSH, 0), s(0x87, 0), s(RET_A, 0)], &[0x45]),
        20
    );
    assert_eq!(run(vec![s(LDX_MSH, 1), s(RET_K, 1)], &[0x45]), 0);
    // Wire length, not captured length.
    let p = Program::new(vec![s(LD_LEN, 0), s(RET_A, 0)]).unwrap();
    assert_eq!(p.run(&data, 1500), 1500);
}

#[test]
fn arithmetic_and_division_by_zero() {
    assert_eq!(
        run(
            vec![s(LD_IMM, 7), s(LDX_IMM, 0), s(ALU_DIV_X, 0), s(RET_K, 1)],
            &[]
        ),
        0
    );
    assert_eq!(
        run(
            vec![s(LD_IMM, 7), s(LDX_IMM, 0), s(ALU_MOD_X, 0), s(RET_K, 1)],
            &[]
        ),
        0
    );
    assert_eq!(
        run(
            vec![s(LD_IMM, 7), s(LDX_IMM, 2), s(ALU_DIV_X, 0), s(RET_A, 0)],
            &[]
        ),
        3
    );
    assert_eq!(
        run(vec![s(LD_IMM, u32::MAX), s(ALU_ADD_K, 2), s(RET_A, 0)], &[]),
        1
    );
    assert_eq!(
        run(vec![s(LD_IMM, 1), s(ALU_LSH_K, 31), s(RET_A, 0)], &[]),
        1 << 31
    );
    assert_eq!(
        run(vec![s(LD_IMM, 1), s(ALU_NEG, 0), s(RET_A, 0)], &[]),
        u32::MAX
    );
    // Scratch memory.
    assert_eq!(
        run(
            vec![
                s(LD_IMM, 9),
                s(ST, 3),
                s(LD_IMM, 0),
                s(LD_MEM, 3),
                s(RET_A, 0)
            ],
            &[]
        ),
        9
    );
    assert_eq!(run(vec![s(LD_IMM, 9), s(TAX, 0), s(RET_A, 0)], &[]), 9);
}

#[test]
fn jumps() {
    let prog = |v: u8| {
        run(
            vec![
                s(LD_B_ABS, 0),
                j(JEQ_K, 1, 0, 1),
                s(RET_K, 10),
                s(JA, 1),
                s(RET_K, 20),
                j(JGT_K, 0x85, 0, 1),
                s(RET_K, 30),
                j(JSET_K, 0x80, 0, 1),
                s(RET_K, 40),
                s(RET_K, 50),
            ],
            &[v],
        )
    };
    assert_eq!(prog(1), 10);
    assert_eq!(prog(0x86), 30);
    assert_eq!(prog(0x81), 40);
    assert_eq!(prog(3), 50);
}

#[test]
fn checker_rules() {
    let bad = |insns: Vec<Insn>| validate(&insns).unwrap_err();
    assert!(bad(vec![]).reason.contains("empty"));
    assert!(bad(vec![s(LD_IMM, 0)]).reason.contains("return"));
    assert!(bad(vec![j(JEQ_K, 0, 1, 0), s(RET_K, 0)])
        .reason
        .contains("leave"));
    assert!(bad(vec![s(JA, 1), s(RET_K, 0)]).reason.contains("leave"));
    assert!(bad(vec![s(ALU_DIV_K, 0), s(RET_K, 0)])
        .reason
        .contains("zero"));
    assert!(bad(vec![s(ALU_LSH_K, 32), s(RET_K, 0)])
        .reason
        .contains("shift"));
    assert!(bad(vec![s(LD_MEM, 16), s(RET_K, 0)])
        .reason
        .contains("scratch"));
    assert!(bad(vec![s(LD_MEM, 2), s(RET_K, 0)])
        .reason
        .contains("before"));
    assert!(bad(vec![s(0xffff, 0), s(RET_K, 0)])
        .reason
        .contains("opcode"));
    assert!(bad(vec![s(RET_K, 0); 4097]).reason.contains("4096"));
    // A store on one path only does not make a later load valid.
    let one_path = vec![
        s(LD_B_ABS, 0),
        j(JEQ_K, 1, 0, 1),
        s(ST, 0),
        s(LD_MEM, 0),
        s(RET_A, 0),
    ];
    assert!(bad(one_path).reason.contains("before"));
    validate(&[s(RET_K, 0); 4096]).unwrap();
    assert!(Program::new(vec![s(RET_A, 0)]).is_ok());
}

const WORDS: &[&str] = &[
    "host",
    "net",
    "port",
    "portrange",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "!",
    "(",
    ")",
    "tcp",
    "udp",
    "ip",
    "ip6",
    "arp",
    "icmp",
    "icmp6",
    "sctp",
    "ether",
    "proto",
    "vlan",
    "len",
    "less",
    "greater",
    "broadcast",
    "multicast",
    "mask",
    "[",
    "]",
    ":",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "1",
    "0",
    "80",
    "4095",
    "0x800",
    "10.0.0.1",
    "10.0",
    "192.168.0.0/16",
    "fe80::1",
    "::/0",
    "00:11:22:33:44:55",
    "http",
    "1-1023",
    "tcpflags",
    "tcp-syn",
    "icmptype",
    "\\tcp",
    "gateway",
    "&&",
    "||",
    "255.255.0.0",
];

fn any_link_type() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compile_never_panics_on_arbitrary_text(expr in "\\PC{0,40}", lt in any_link_type()) {
        let o = CompileOptions { link_type: lt, snaplen: 0, linux_vlan_extensions: lt == 1 };
        if let Ok(p) = compile(&expr, &o) {
            prop_assert!(validate(p.insns()).is_ok());
        }
    }

    #[test]
    fn compiled_token_soup_is_valid_and_runs(
        words in prop::collection::vec(prop::sample::select(WORDS), 1..14),
        lt in any_link_type(),
        ext in any::<bool>(),
        pkt in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let expr = words.join(" ");
        let o = CompileOptions { link_type: lt, snaplen: 1000, linux_vlan_extensions: ext };
        match compile(&expr, &o) {
            Ok(p) => {
                prop_assert!(validate(p.insns()).is_ok(), "{expr}\n{}", p.dump());
                let r = p.run(&pkt, pkt.len() as u32);
                prop_assert!(r == 0 || r == 1000);
                let _ = p.run_with_meta(&pkt, 9000, Some(5));
            }
            Err(e) => {
                prop_assert!(e.column >= 1 && e.column <= expr.chars().count() + 1, "{expr}: {e}");
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn run_never_panics_on_valid_random_programs(
        insns in prop::collection::vec((any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()), 1..30),
        pkt in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut v: Vec<Insn> = insns
            .into_iter()
            .map(|(code, jt, jf, k)| Insn::jump(code & 0xff, if k.is_multiple_of(3) { k % 70 } else { k }, jt % 8, jf % 8))
            .collect();
        v.push(s(RET_A, 0));
        if let Ok(p) = Program::new(v) {
            let _ = p.run(&pkt, pkt.len() as u32);
            let _ = p.run_with_meta(&pkt, 0, Some(1));
        }
    }

    #[test]
    fn filters_run_on_arbitrary_bytes(
        pkt in prop::collection::vec(any::<u8>(), 0..120),
        lt in any_link_type(),
    ) {
        for expr in ["tcp port 80", "vlan and udp", "icmp[icmptype] = icmp-echo", "net 10.0.0.0/8 or ip6", "len > 40 and ip[0] & 0xf > 5"] {
            if let Ok(p) = compile(expr, &CompileOptions { link_type: lt, snaplen: 0, linux_vlan_extensions: false }) {
                let _ = p.run(&pkt, pkt.len() as u32);
            }
        }
    }
}
