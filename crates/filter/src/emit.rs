//! Code generation: the boolean tree becomes jumping code, with A and X
//! register contents tracked so repeated loads are skipped, then labels are
//! laid out, inserting `ja` trampolines where a conditional jump would need
//! an offset above 255.

use crate::bpf::{self, Insn};
use crate::ir::{AluOp, Atom, Cmp, Val};
use crate::opt::{Graph, ACCEPT, REJECT};

type Label = usize;

#[derive(Clone, Debug, PartialEq)]
struct Regs {
    a: Option<Val>,
    x: Option<Val>,
}

#[derive(Clone, Debug)]
enum Item {
    Stmt(Insn),
    Jcc {
        code: u16,
        k: u32,
        t: Label,
        f: Label,
    },
    Ja(Label),
}

struct Emitter {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
    incoming: Vec<Vec<Regs>>,
    /// Register contents at the current point; `None` when unreachable.
    state: Option<Regs>,
    scratch: u32,
}

fn size_code(size: u8) -> u16 {
    match size {
        1 => bpf::B,
        2 => bpf::H,
        _ => bpf::W,
    }
}

fn jcc_code(op: Cmp) -> u16 {
    match op {
        Cmp::Eq => bpf::JEQ,
        Cmp::Gt => bpf::JGT,
        Cmp::Ge => bpf::JGE,
        Cmp::Set => bpf::JSET,
    }
}

fn meet(a: Option<Regs>, b: &Regs) -> Option<Regs> {
    Some(match a {
        None => b.clone(),
        Some(a) => Regs {
            a: if a.a == b.a { a.a } else { None },
            x: if a.x == b.x { a.x } else { None },
        },
    })
}

impl Emitter {
    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        self.incoming.push(Vec::new());
        self.labels.len() - 1
    }

    fn bind(&mut self, l: Label) {
        self.labels[l] = Some(self.items.len());
        let mut st = self.state.take();
        for r in std::mem::take(&mut self.incoming[l]) {
            st = meet(st, &r);
        }
        // A label nobody reaches still starts code; assume nothing there.
        self.state = Some(st.unwrap_or(Regs { a: None, x: None }));
    }

    fn regs(&mut self) -> &mut Regs {
        self.state.get_or_insert(Regs { a: None, x: None })
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt(Insn::stmt(code, k)));
    }

    fn jump_to(&mut self, l: Label) {
        let r = self.regs().clone();
        self.incoming[l].push(r);
    }

    fn jcc(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.jump_to(t);
        self.jump_to(f);
        self.items.push(Item::Jcc { code, k, t, f });
        self.state = None;
    }

    fn ja(&mut self, l: Label) {
        self.jump_to(l);
        self.items.push(Item::Ja(l));
        self.state = None;
    }

    fn alloc(&mut self) -> Result<u32, String> {
        if self.scratch as usize >= bpf::MEMWORDS {
            return Err("expression too complex: it needs more than 16 scratch registers".into());
        }
        self.scratch += 1;
        Ok(self.scratch - 1)
    }

    /// Loads `x` into X (IpHdrLen directly; other values through A).
    fn val_to_x(&mut self, x: &Val) -> Result<(), String> {
        if self.regs().x.as_ref() == Some(x) {
            return Ok(());
        }
        match x {
            Val::IpHdrLen(o) => self.stmt(bpf::LDX | bpf::B | bpf::MSH, *o),
            Val::K(k) => self.stmt(bpf::LDX | bpf::W | bpf::IMM, *k),
            Val::Len => self.stmt(bpf::LDX | bpf::W | bpf::LEN, 0),
            other => {
                self.val_to_a(other)?;
                self.stmt(bpf::MISC | bpf::TAX, 0);
            }
        }
        self.regs().x = Some(x.clone());
        Ok(())
    }

    /// Computes `rhs` into X and `lhs` into A.
    fn pair(&mut self, lhs: &Val, rhs: &Val) -> Result<(), String> {
        if !lhs.uses_x() {
            self.val_to_x(rhs)?;
            self.val_to_a(lhs)?;
        } else {
            self.val_to_a(rhs)?;
            let slot = self.alloc()?;
            self.stmt(bpf::ST, slot);
            self.val_to_a(lhs)?;
            self.stmt(bpf::LDX | bpf::W | bpf::MEM, slot);
            self.scratch -= 1;
            self.regs().x = Some(rhs.clone());
        }
        Ok(())
    }

    fn val_to_a(&mut self, v: &Val) -> Result<(), String> {
        if self.regs().a.as_ref() == Some(v) {
            return Ok(());
        }
        match v {
            Val::K(k) => self.stmt(bpf::LD | bpf::W | bpf::IMM, *k),
            Val::Len => self.stmt(bpf::LD | bpf::W | bpf::LEN, 0),
            Val::Load { size, off, index } => match index {
                None => self.stmt(bpf::LD | size_code(*size) | bpf::ABS, *off),
                Some(ix) => {
                    self.val_to_x(ix)?;
                    self.stmt(bpf::LD | size_code(*size) | bpf::IND, *off);
                }
            },
            Val::IpHdrLen(_) => {
                self.val_to_x(v)?;
                self.stmt(bpf::MISC | bpf::TXA, 0);
            }
            Val::Neg(a) => {
                self.val_to_a(a)?;
                self.stmt(bpf::ALU | bpf::NEG, 0);
            }
            Val::Alu(op, l, r) => {
                let k_ok = match (op, &**r) {
                    (AluOp::Div | AluOp::Mod, Val::K(0)) => false,
                    (AluOp::Lsh | AluOp::Rsh, Val::K(k)) => *k < 32,
                    (_, Val::K(_)) => true,
                    _ => false,
                };
                if k_ok {
                    let Val::K(k) = **r else {
                        unreachable!("checked above")
                    };
                    self.val_to_a(l)?;
                    self.stmt(bpf::ALU | op.code() | bpf::K, k);
                } else {
                    self.pair(l, r)?;
                    self.stmt(bpf::ALU | op.code() | bpf::X, 0);
                }
            }
        }
        self.regs().a = Some(v.clone());
        Ok(())
    }

    fn atom(&mut self, a: &Atom, t: Label, f: Label) -> Result<(), String> {
        let (lhs, rhs) = match (&a.lhs, &a.rhs) {
            (Val::K(_), r) if a.op == Cmp::Eq && !matches!(r, Val::K(_)) => (r, &a.lhs),
            (l, r) => (l, r),
        };
        let code = bpf::JMP | jcc_code(a.op);
        if let Val::K(k) = rhs {
            self.val_to_a(lhs)?;
            self.jcc(code | bpf::K, *k, t, f);
        } else {
            self.pair(lhs, rhs)?;
            self.jcc(code | bpf::X, 0, t, f);
        }
        Ok(())
    }
}

/// Generates a program from the test graph, returning `accept` for matching
/// packets and 0 otherwise; tests are laid out in topological order.
pub(crate) fn emit(g: &Graph, root: usize, accept: u32) -> Result<Vec<Insn>, String> {
    if root == ACCEPT {
        return Ok(vec![Insn::stmt(bpf::RET | bpf::K, accept)]);
    }
    let mut e = Emitter {
        items: Vec::new(),
        labels: Vec::new(),
        incoming: Vec::new(),
        state: Some(Regs { a: None, x: None }),
        scratch: 0,
    };
    let t = e.new_label();
    let f = e.new_label();
    if root == REJECT {
        e.ja(f);
    }
    let order = g.topo(root);
    let mut label = vec![usize::MAX; g.tests.len()];
    for &id in &order {
        label[id] = e.new_label();
    }
    let target = |x: usize| match x {
        ACCEPT => t,
        REJECT => f,
        id => label[id],
    };
    for &id in &order {
        e.bind(label[id]);
        let test = g.tests[id];
        e.atom(&g.atoms[test.atom], target(test.jt), target(test.jf))?;
    }
    e.bind(t);
    e.stmt(bpf::RET | bpf::K, accept);
    e.state = None;
    e.bind(f);
    e.stmt(bpf::RET | bpf::K, 0);
    layout(&e.items, &e.labels)
}

/// Resolves labels, adding a `ja` after a conditional jump for each target
/// that is more than 255 instructions away.
fn layout(items: &[Item], labels: &[Option<usize>]) -> Result<Vec<Insn>, String> {
    let mut tramp = vec![(false, false); items.len()];
    let label_item =
        |l: Label| labels[l].ok_or_else(|| "internal error: unbound label".to_string());
    loop {
        let mut pos = Vec::with_capacity(items.len() + 1);
        let mut p = 0usize;
        for (i, _) in items.iter().enumerate() {
            pos.push(p);
            p += 1 + tramp[i].0 as usize + tramp[i].1 as usize;
        }
        pos.push(p);
        let mut changed = false;
        for (i, it) in items.iter().enumerate() {
            if let Item::Jcc { t, f, .. } = it {
                let base = pos[i] + 1;
                let dt = pos[label_item(*t)?] - base;
                let df = pos[label_item(*f)?] - base;
                if dt > 255 && !tramp[i].0 {
                    tramp[i].0 = true;
                    changed = true;
                }
                if df > 255 && !tramp[i].1 {
                    tramp[i].1 = true;
                    changed = true;
                }
            }
        }
        if changed {
            continue;
        }
        if p > bpf::MAX_INSNS {
            return Err(format!(
                "the filter needs {p} BPF instructions, more than the limit of {}",
                bpf::MAX_INSNS
            ));
        }
        let mut out = Vec::with_capacity(p);
        for (i, it) in items.iter().enumerate() {
            match *it {
                Item::Stmt(s) => out.push(s),
                Item::Ja(l) => {
                    let target = pos[label_item(l)?];
                    out.push(Insn::stmt(bpf::JMP | bpf::JA, (target - pos[i] - 1) as u32));
                }
                Item::Jcc { code, k, t, f } => {
                    let (ht, hf) = tramp[i];
                    let base = pos[i] + 1;
                    let n = ht as usize + hf as usize;
                    let tt = pos[label_item(t)?];
                    let ff = pos[label_item(f)?];
                    let jt = if ht { 0 } else { tt - base };
                    let jf = if hf { ht as usize } else { ff - base };
                    let (Ok(jt), Ok(jf)) = (u8::try_from(jt), u8::try_from(jf)) else {
                        return Err("internal error: jump offset out of range".into());
                    };
                    out.push(Insn::jump(code, k, jt, jf));
                    if ht {
                        let from = base + 1;
                        out.push(Insn::stmt(bpf::JMP | bpf::JA, (tt - from) as u32));
                    }
                    if hf {
                        let from = base + n;
                        out.push(Insn::stmt(bpf::JMP | bpf::JA, (ff - from) as u32));
                    }
                }
            }
        }
        return Ok(out);
    }
}
