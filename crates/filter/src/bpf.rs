//! Classic BPF: instruction encoding, the checker, the interpreter and the listing.

use std::fmt::Write as _;

/// Instruction classes.
pub(crate) const LD: u16 = 0x00;
pub(crate) const LDX: u16 = 0x01;
pub(crate) const ST: u16 = 0x02;
pub(crate) const STX: u16 = 0x03;
pub(crate) const ALU: u16 = 0x04;
pub(crate) const JMP: u16 = 0x05;
pub(crate) const RET: u16 = 0x06;
pub(crate) const MISC: u16 = 0x07;

/// Load sizes.
pub(crate) const W: u16 = 0x00;
pub(crate) const H: u16 = 0x08;
pub(crate) const B: u16 = 0x10;

/// Load modes.
pub(crate) const IMM: u16 = 0x00;
pub(crate) const ABS: u16 = 0x20;
pub(crate) const IND: u16 = 0x40;
pub(crate) const MEM: u16 = 0x60;
pub(crate) const LEN: u16 = 0x80;
pub(crate) const MSH: u16 = 0xa0;

/// ALU operations.
pub(crate) const ADD: u16 = 0x00;
pub(crate) const SUB: u16 = 0x10;
pub(crate) const MUL: u16 = 0x20;
pub(crate) const DIV: u16 = 0x30;
pub(crate) const OR: u16 = 0x40;
pub(crate) const AND: u16 = 0x50;
pub(crate) const LSH: u16 = 0x60;
pub(crate) const RSH: u16 = 0x70;
pub(crate) const NEG: u16 = 0x80;
pub(crate) const MOD: u16 = 0x90;
pub(crate) const XOR: u16 = 0xa0;

/// Jump conditions.
pub(crate) const JA: u16 = 0x00;
pub(crate) const JEQ: u16 = 0x10;
pub(crate) const JGT: u16 = 0x20;
pub(crate) const JGE: u16 = 0x30;
pub(crate) const JSET: u16 = 0x40;

/// Operand source: the constant `k` or the X register.
pub(crate) const K: u16 = 0x00;
pub(crate) const X: u16 = 0x08;
/// Return source: the accumulator.
pub(crate) const RET_A: u16 = 0x10;

/// Register transfers.
pub(crate) const TAX: u16 = 0x00;
pub(crate) const TXA: u16 = 0x80;

/// Number of scratch memory words.
pub const MEMWORDS: usize = 16;
/// Largest program the Linux checker accepts.
pub const MAX_INSNS: usize = 4096;
/// Base of the Linux ancillary-data load offsets (`SKF_AD_OFF`, -0x1000).
pub const SKF_AD_OFF: u32 = 0xffff_f000;
/// Ancillary offset of the VLAN TCI (`SKF_AD_VLAN_TAG`).
pub const SKF_AD_VLAN_TAG: u32 = 44;
/// Ancillary offset of the VLAN-tag-present flag (`SKF_AD_VLAN_TAG_PRESENT`).
pub const SKF_AD_VLAN_TAG_PRESENT: u32 = 48;

/// One classic BPF instruction, laid out like Linux `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Opcode: class, size, mode or operation bits.
    pub code: u16,
    /// Relative jump offset when the condition holds.
    pub jt: u8,
    /// Relative jump offset when the condition fails.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

impl Insn {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump instruction.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }
}

/// Why a program fails the checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProgram {
    /// Index of the offending instruction (the length for whole-program faults).
    pub pc: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for InvalidProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instruction {}: {}", self.pc, self.reason)
    }
}

impl std::error::Error for InvalidProgram {}

fn is_known_opcode(code: u16) -> bool {
    matches!(
        code,
        // ld
        0x00 | 0x20 | 0x28 | 0x30 | 0x40 | 0x48 | 0x50 | 0x60 | 0x80
        // ldx
        | 0x01 | 0x61 | 0x81 | 0xb1
        // st, stx
        | 0x02 | 0x03
        // alu k / x
        | 0x04 | 0x14 | 0x24 | 0x34 | 0x44 | 0x54 | 0x64 | 0x74 | 0x94 | 0xa4
        | 0x0c | 0x1c | 0x2c | 0x3c | 0x4c | 0x5c | 0x6c | 0x7c | 0x9c | 0xac
        | 0x84
        // jmp
        | 0x05 | 0x15 | 0x25 | 0x35 | 0x45 | 0x1d | 0x2d | 0x3d | 0x4d
        // ret k / a
        | 0x06 | 0x16
        // tax, txa
        | 0x07 | 0x87
    )
}

/// Checks a program with the rules of the Linux classic-BPF checker
/// (`bpf_check_classic`): 1 to 4096 instructions, known opcodes only, no
/// division or modulus by a constant zero, constant shifts below 32, scratch
/// memory indexes below 16, every jump forward and inside the program, the
/// last instruction a return, and no scratch word read before it is written
/// on every path.
pub fn validate(insns: &[Insn]) -> Result<(), InvalidProgram> {
    let n = insns.len();
    let bad = |pc: usize, reason: String| Err(InvalidProgram { pc, reason });
    if n == 0 {
        return bad(0, "empty program".into());
    }
    if n > MAX_INSNS {
        return bad(n, format!("{n} instructions, more than {MAX_INSNS}"));
    }
    for (pc, i) in insns.iter().enumerate() {
        if !is_known_opcode(i.code) {
            return bad(pc, format!("unknown opcode {:#06x}", i.code));
        }
        let class = i.code & 0x07;
        match class {
            ALU => {
                let op = i.code & 0xf0;
                let src = i.code & 0x08;
                if src == K && (op == DIV || op == MOD) && i.k == 0 {
                    return bad(pc, "division by constant zero".into());
                }
                if src == K && (op == LSH || op == RSH) && i.k >= 32 {
                    return bad(pc, format!("shift by {}", i.k));
                }
            }
            LD | LDX if i.code & 0xe0 == MEM && i.k as usize >= MEMWORDS => {
                return bad(pc, format!("scratch index {}", i.k));
            }
            ST | STX if i.k as usize >= MEMWORDS => {
                return bad(pc, format!("scratch index {}", i.k));
            }
            JMP => {
                let rest = (n - pc - 1) as u64;
                if i.code & 0xf0 == JA {
                    if i.k as u64 >= rest {
                        return bad(pc, format!("jump offset {} leaves the program", i.k));
                    }
                } else if i.jt as u64 >= rest || i.jf as u64 >= rest {
                    return bad(
                        pc,
                        format!("jump offsets {}/{} leave the program", i.jt, i.jf),
                    );
                }
            }
            _ => {}
        }
    }
    let last = insns[n - 1].code;
    if last != RET | K && last != RET | RET_A {
        return bad(n - 1, "the last instruction is not a return".into());
    }
    check_memory(insns)
}

/// Every scratch-memory load must follow a store to that word on all paths.
fn check_memory(insns: &[Insn]) -> Result<(), InvalidProgram> {
    // Words certainly written on entry to each instruction (meet = AND);
    // `None` = not reached yet.
    let mut known: Vec<Option<u16>> = vec![None; insns.len()];
    known[0] = Some(0);
    for pc in 0..insns.len() {
        let Some(mut set) = known[pc] else { continue };
        let i = insns[pc];
        let class = i.code & 0x07;
        if (class == LD || class == LDX) && i.code & 0xe0 == MEM && set & (1 << i.k) == 0 {
            return Err(InvalidProgram {
                pc,
                reason: format!("scratch word {} read before it is written", i.k),
            });
        }
        if class == ST || class == STX {
            set |= 1 << i.k;
        }
        let mut flow = |to: usize| {
            if let Some(slot) = known.get_mut(to) {
                *slot = Some(slot.map_or(set, |s| s & set));
            }
        };
        match class {
            RET => {}
            JMP if i.code & 0xf0 == JA => flow(pc + 1 + i.k as usize),
            JMP => {
                flow(pc + 1 + i.jt as usize);
                flow(pc + 1 + i.jf as usize);
            }
            _ => flow(pc + 1),
        }
    }
    Ok(())
}

/// Packet metadata the Linux kernel offers through ancillary loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The VLAN TCI the kernel took out of the frame, if any.
    pub vlan_tci: Option<u16>,
}

fn load(data: &[u8], at: u64, size: usize) -> Option<u32> {
    let start = usize::try_from(at).ok()?;
    let bytes = data.get(start..start.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | b as u32))
}

fn ancillary(k: u32, meta: Option<&Meta>) -> Option<u32> {
    let meta = meta?;
    match k.wrapping_sub(SKF_AD_OFF) {
        SKF_AD_VLAN_TAG => Some(meta.vlan_tci.map_or(0, u32::from)),
        SKF_AD_VLAN_TAG_PRESENT => Some(meta.vlan_tci.is_some() as u32),
        _ => None,
    }
}

/// Runs `insns` over one packet like the kernel and libpcap's `bpf_filter`:
/// a load outside the captured bytes, a division by zero, or any other fault
/// rejects the packet (returns 0). Never panics, whatever the program.
pub(crate) fn run(insns: &[Insn], data: &[u8], wire_len: u32, meta: Option<&Meta>) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; MEMWORDS];
    let mut pc: usize = 0;
    loop {
        let Some(&i) = insns.get(pc) else { return 0 };
        pc += 1;
        let k = i.k;
        match i.code & 0x07 {
            LD => {
                let size = match i.code & 0x18 {
                    W => 4,
                    H => 2,
                    B => 1,
                    _ => return 0,
                };
                a = match i.code & 0xe0 {
                    IMM => k,
                    ABS if k >= SKF_AD_OFF => match ancillary(k, meta) {
                        Some(v) => v,
                        None => return 0,
                    },
                    ABS => match load(data, k as u64, size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    IND => match load(data, x as u64 + k as u64, size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    MEM => match mem.get(k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    LEN => wire_len,
                    _ => return 0,
                };
            }
            LDX => {
                x = match i.code & 0xe0 {
                    IMM => k,
                    MEM => match mem.get(k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    LEN => wire_len,
                    MSH => match load(data, k as u64, 1) {
                        Some(v) => (v & 0x0f) << 2,
                        None => return 0,
                    },
                    _ => return 0,
                };
            }
            ST => match mem.get_mut(k as usize) {
                Some(m) => *m = a,
                None => return 0,
            },
            STX => match mem.get_mut(k as usize) {
                Some(m) => *m = x,
                None => return 0,
            },
            ALU => {
                let v = if i.code & X != 0 { x } else { k };
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(v),
                    SUB => a.wrapping_sub(v),
                    MUL => a.wrapping_mul(v),
                    DIV => match a.checked_div(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    MOD => match a.checked_rem(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    OR => a | v,
                    AND => a & v,
                    XOR => a ^ v,
                    LSH => a.checked_shl(v).unwrap_or(0),
                    RSH => a.checked_shr(v).unwrap_or(0),
                    NEG => a.wrapping_neg(),
                    _ => return 0,
                };
            }
            JMP => {
                let v = if i.code & X != 0 { x } else { k };
                let off = match i.code & 0xf0 {
                    JA => k as usize,
                    JEQ => pick(a == v, i),
                    JGT => pick(a > v, i),
                    JGE => pick(a >= v, i),
                    JSET => pick(a & v != 0, i),
                    _ => return 0,
                };
                pc = match pc.checked_add(off) {
                    Some(p) => p,
                    None => return 0,
                };
            }
            RET => {
                return match i.code & 0x18 {
                    K => k,
                    RET_A => a,
                    _ => 0,
                }
            }
            MISC => match i.code & 0xf8 {
                TAX => x = a,
                TXA => a = x,
                _ => return 0,
            },
            _ => return 0,
        }
    }
}

fn pick(cond: bool, i: Insn) -> usize {
    if cond {
        i.jt as usize
    } else {
        i.jf as usize
    }
}

fn size_suffix(code: u16) -> &'static str {
    match code & 0x18 {
        H => "h",
        B => "b",
        _ => "",
    }
}

/// One line of a `tcpdump -d`-style listing.
pub(crate) fn image(i: &Insn, pc: usize) -> String {
    let class = i.code & 0x07;
    let (op, operand): (String, String) = match class {
        LD => {
            let op = format!("ld{}", size_suffix(i.code));
            let operand = match i.code & 0xe0 {
                IMM => format!("#{:#x}", i.k),
                ABS if i.k >= SKF_AD_OFF => match i.k - SKF_AD_OFF {
                    SKF_AD_VLAN_TAG => "#vlan_tci".into(),
                    SKF_AD_VLAN_TAG_PRESENT => "#vlan_avail".into(),
                    other => format!("[ancillary {other}]"),
                },
                ABS => format!("[{}]", i.k),
                IND => format!("[x + {}]", i.k),
                MEM => format!("M[{}]", i.k),
                LEN => "#pktlen".into(),
                _ => "?".into(),
            };
            (op, operand)
        }
        LDX => match i.code & 0xe0 {
            IMM => ("ldx".into(), format!("#{:#x}", i.k)),
            MEM => ("ldx".into(), format!("M[{}]", i.k)),
            LEN => ("ldx".into(), "#pktlen".into()),
            MSH => ("ldxb".into(), format!("4*([{}]&0xf)", i.k)),
            _ => ("ldx?".into(), String::new()),
        },
        ST => ("st".into(), format!("M[{}]", i.k)),
        STX => ("stx".into(), format!("M[{}]", i.k)),
        ALU => {
            let name = match i.code & 0xf0 {
                ADD => "add",
                SUB => "sub",
                MUL => "mul",
                DIV => "div",
                MOD => "mod",
                OR => "or",
                AND => "and",
                XOR => "xor",
                LSH => "lsh",
                RSH => "rsh",
                NEG => "neg",
                _ => "alu?",
            };
            let operand = if i.code & 0xf0 == NEG {
                String::new()
            } else if i.code & X != 0 {
                "x".into()
            } else {
                format!("#{:#x}", i.k)
            };
            (name.into(), operand)
        }
        JMP => {
            let name = match i.code & 0xf0 {
                JA => "ja",
                JEQ => "jeq",
                JGT => "jgt",
                JGE => "jge",
                JSET => "jset",
                _ => "j?",
            };
            if i.code & 0xf0 == JA {
                (name.into(), format!("{}", pc + 1 + i.k as usize))
            } else {
                let operand = if i.code & X != 0 {
                    "x".to_string()
                } else {
                    format!("#{:#x}", i.k)
                };
                let mut s = String::new();
                let _ = write!(
                    s,
                    "{operand:<16} jt {}\tjf {}",
                    pc + 1 + i.jt as usize,
                    pc + 1 + i.jf as usize
                );
                (name.into(), s)
            }
        }
        RET => match i.code & 0x18 {
            RET_A => ("ret".into(), "a".into()),
            _ => ("ret".into(), format!("#{}", i.k)),
        },
        MISC => match i.code & 0xf8 {
            TAX => ("tax".into(), String::new()),
            TXA => ("txa".into(), String::new()),
            _ => ("misc?".into(), String::new()),
        },
        _ => ("?".into(), String::new()),
    };
    format!("({pc:03}) {op:<8} {operand}")
        .trim_end()
        .to_string()
}
