//! The intermediate form: a boolean tree over comparisons of packet values.
//!
//! Evaluation is left to right with short circuit, and every load of a
//! comparison that is evaluated must be inside the captured bytes, or the
//! whole packet is rejected; that is the semantics of the BPF code libpcap
//! generates, which this tree mirrors test by test.

/// ALU operations of arithmetic expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

impl AluOp {
    pub(crate) fn code(self) -> u16 {
        use crate::bpf;
        match self {
            AluOp::Add => bpf::ADD,
            AluOp::Sub => bpf::SUB,
            AluOp::Mul => bpf::MUL,
            AluOp::Div => bpf::DIV,
            AluOp::Mod => bpf::MOD,
            AluOp::And => bpf::AND,
            AluOp::Or => bpf::OR,
            AluOp::Xor => bpf::XOR,
            AluOp::Lsh => bpf::LSH,
            AluOp::Rsh => bpf::RSH,
        }
    }

    /// Folds two constants; `None` where the machine would reject the packet.
    pub(crate) fn fold(self, a: u32, b: u32) -> Option<u32> {
        Some(match self {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b)?,
            AluOp::Mod => a.checked_rem(b)?,
            AluOp::And => a & b,
            AluOp::Or => a | b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a.checked_shl(b).unwrap_or(0),
            AluOp::Rsh => a.checked_shr(b).unwrap_or(0),
        })
    }
}

/// A 32-bit value computed from the packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Val {
    /// A constant.
    K(u32),
    /// The original length of the packet on the wire.
    Len,
    /// A big-endian load of `size` (1, 2 or 4) bytes at `off`, plus the
    /// value of `index` when there is one.
    Load {
        size: u8,
        off: u32,
        index: Option<Box<Val>>,
    },
    /// Four times the low nibble of the byte at `off`: the IPv4 header
    /// length when `off` is the start of an IPv4 header.
    IpHdrLen(u32),
    Alu(AluOp, Box<Val>, Box<Val>),
    Neg(Box<Val>),
}

impl Val {
    pub(crate) fn load(size: u8, off: u32) -> Val {
        Val::Load {
            size,
            off,
            index: None,
        }
    }

    /// Whether computing the value may change the X register.
    pub(crate) fn uses_x(&self) -> bool {
        match self {
            Val::K(_) | Val::Len => false,
            Val::Load { index, .. } => index.is_some(),
            Val::IpHdrLen(_) => true,
            Val::Alu(_, a, b) => a.uses_x() || b.uses_x() || !matches!(**b, Val::K(_)),
            Val::Neg(a) => a.uses_x(),
        }
    }

    /// Constant folding (never folds a division by zero, which rejects at run time).
    pub(crate) fn fold(self) -> Val {
        match self {
            Val::Alu(op, a, b) => {
                let a = a.fold();
                let b = b.fold();
                if let (Val::K(x), Val::K(y)) = (&a, &b) {
                    if let Some(v) = op.fold(*x, *y) {
                        return Val::K(v);
                    }
                }
                // libpcap's optimiser turns `and #0` and `mul #0` into `ld #0`,
                // dropping the load before them.
                if matches!(op, AluOp::And | AluOp::Mul) && b == Val::K(0) {
                    return Val::K(0);
                }
                Val::Alu(op, Box::new(a), Box::new(b))
            }
            Val::Neg(a) => match a.fold() {
                Val::K(x) => Val::K(x.wrapping_neg()),
                other => Val::Neg(Box::new(other)),
            },
            Val::Load { size, off, index } => Val::Load {
                size,
                off,
                index: index.map(|i| Box::new(i.fold())),
            },
            other => other,
        }
    }
}

/// Comparison operators of BPF conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
    /// `lhs & rhs != 0`.
    Set,
}

impl Cmp {
    fn eval(self, a: u32, b: u32) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Set => a & b != 0,
        }
    }
}

/// One test: `lhs op rhs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Atom {
    pub lhs: Val,
    pub op: Cmp,
    pub rhs: Val,
}

/// A boolean filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    True,
    False,
    Atom(Box<Atom>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

impl Node {
    pub(crate) fn atom(lhs: Val, op: Cmp, rhs: Val) -> Node {
        Node::Atom(Box::new(Atom { lhs, op, rhs }))
    }

    /// `load(size, off) == v`.
    pub(crate) fn cmp_eq(size: u8, off: u32, v: u32) -> Node {
        Node::atom(Val::load(size, off), Cmp::Eq, Val::K(v))
    }

    /// `(load(size, off) & mask) == v`, without the mask when it is all ones
    /// for the size.
    pub(crate) fn mcmp_eq(size: u8, off: u32, v: u32, mask: u32) -> Node {
        let full = match size {
            1 => 0xff,
            2 => 0xffff,
            _ => 0xffff_ffff,
        };
        let lhs = if mask & full == full {
            Val::load(size, off)
        } else {
            Val::Alu(
                AluOp::And,
                Box::new(Val::load(size, off)),
                Box::new(Val::K(mask)),
            )
        };
        Node::atom(lhs, Cmp::Eq, Val::K(v))
    }

    pub(crate) fn and(a: Node, b: Node) -> Node {
        Node::And(Box::new(a), Box::new(b))
    }

    pub(crate) fn or(a: Node, b: Node) -> Node {
        Node::Or(Box::new(a), Box::new(b))
    }

    #[allow(clippy::should_implement_trait)]
    pub(crate) fn not(a: Node) -> Node {
        Node::Not(Box::new(a))
    }

    /// Folds constants. `x and false` is false and `x or true` is true even
    /// though `x` could have rejected the packet by a failed load: libpcap's
    /// optimiser removes such dead tests too.
    pub(crate) fn simplify(self) -> Node {
        match self {
            Node::Atom(a) => {
                let Atom { lhs, op, rhs } = *a;
                let lhs = lhs.fold();
                let rhs = rhs.fold();
                if let (Val::K(x), Val::K(y)) = (&lhs, &rhs) {
                    return if op.eval(*x, *y) {
                        Node::True
                    } else {
                        Node::False
                    };
                }
                Node::atom(lhs, op, rhs)
            }
            Node::And(a, b) => match (a.simplify(), b.simplify()) {
                (Node::False, _) | (_, Node::False) => Node::False,
                (Node::True, x) | (x, Node::True) => x,
                (x, y) => Node::and(x, y),
            },
            Node::Or(a, b) => match (a.simplify(), b.simplify()) {
                (Node::True, _) | (_, Node::True) => Node::True,
                (Node::False, x) | (x, Node::False) => x,
                (x, y) => Node::or(x, y),
            },
            Node::Not(a) => match a.simplify() {
                Node::True => Node::False,
                Node::False => Node::True,
                Node::Not(x) => *x,
                x => Node::not(x),
            },
            other => other,
        }
    }
}
