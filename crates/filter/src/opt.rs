//! The test graph and the branch optimisations of libpcap's optimiser that
//! change which packets a program accepts, so that this compiler agrees with
//! tcpdump even on truncated packets:
//!
//! - jump threading: on an edge, a test decided by facts that hold on every
//!   path to that edge is skipped (same test with the same operands, or an
//!   equality with another constant already known true);
//! - a test whose two branches go to the same place is skipped (its loads
//!   disappear with it);
//! - "or/and pullup": in a chain of tests sharing the true (or false)
//!   target, a later test of the same value is moved up before the tests of
//!   other values, so its load happens earlier.
//!
//! The same analysis decides "expression rejects all packets": the accepting
//! return is no longer reachable.

use std::collections::HashMap;

use crate::ir::{Atom, Cmp, Node, Val};

/// Target meaning "accept".
pub(crate) const ACCEPT: usize = usize::MAX;
/// Target meaning "reject".
pub(crate) const REJECT: usize = usize::MAX - 1;

/// One test: an atom with its true and false successors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Test {
    pub atom: usize,
    pub jt: usize,
    pub jf: usize,
}

/// A directed acyclic graph of tests.
#[derive(Default)]
pub(crate) struct Graph {
    pub tests: Vec<Test>,
    /// Distinct atoms, indexed by `Test::atom`.
    pub atoms: Vec<Atom>,
    index: HashMap<Atom, usize>,
    vals: HashMap<Val, usize>,
    /// Per atom: id of the value left in A, operator, constant operand.
    info: Vec<(usize, Cmp, Option<u32>)>,
}

/// Largest graph (in reachable tests) the pullups run on. Each pullup
/// recomputes the predecessors, so a pass is quadratic; above this size
/// (expressions of some 85 ports or more) the pullups are skipped. They only
/// move loads earlier, so the program still accepts the same complete
/// packets; only truncated packets can then be judged differently from
/// libpcap.
const PULLUP_LIMIT: usize = 1024;

type Facts = Vec<(usize, bool)>;
type Edge = (usize, bool);

fn is_test(t: usize) -> bool {
    t < REJECT
}

impl Graph {
    /// Builds the jumping-code graph of a tree; returns it and the entry.
    pub(crate) fn from_tree(n: &Node) -> (Graph, usize) {
        let mut g = Graph::default();
        let root = g.build(n, ACCEPT, REJECT);
        (g, root)
    }

    fn build(&mut self, n: &Node, t: usize, f: usize) -> usize {
        match n {
            Node::True => t,
            Node::False => f,
            Node::Not(a) => self.build(a, f, t),
            Node::And(a, b) => {
                let eb = self.build(b, t, f);
                self.build(a, eb, f)
            }
            Node::Or(a, b) => {
                let eb = self.build(b, t, f);
                self.build(a, t, eb)
            }
            Node::Atom(a) => {
                let atom = match self.index.get(&**a) {
                    Some(&i) => i,
                    None => {
                        let i = self.atoms.len();
                        let next = self.vals.len();
                        let lhs = *self.vals.entry(a.lhs.clone()).or_insert(next);
                        let k = match a.rhs {
                            Val::K(k) => Some(k),
                            _ => None,
                        };
                        self.info.push((lhs, a.op, k));
                        self.atoms.push((**a).clone());
                        self.index.insert((**a).clone(), i);
                        i
                    }
                };
                self.tests.push(Test { atom, jt: t, jf: f });
                self.tests.len() - 1
            }
        }
    }

    /// Value left in A by a test (tests against X get a value of their own).
    fn a_value(&self, id: usize) -> usize {
        let (lhs, _, k) = self.info[self.tests[id].atom];
        if k.is_some() {
            lhs
        } else {
            usize::MAX - self.tests[id].atom
        }
    }

    fn target(&self, e: Edge) -> usize {
        if e.1 {
            self.tests[e.0].jt
        } else {
            self.tests[e.0].jf
        }
    }

    fn set_target(&mut self, e: Edge, to: usize) {
        if e.1 {
            self.tests[e.0].jt = to;
        } else {
            self.tests[e.0].jf = to;
        }
    }

    /// Reachable tests in topological order, the entry first.
    pub(crate) fn topo(&self, root: usize) -> Vec<usize> {
        let mut order = Vec::new();
        if !is_test(root) {
            return order;
        }
        let mut seen = vec![false; self.tests.len()];
        // Iterative DFS post-order.
        let mut stack = vec![(root, false)];
        while let Some((id, done)) = stack.pop() {
            if done {
                order.push(id);
                continue;
            }
            if seen[id] {
                continue;
            }
            seen[id] = true;
            stack.push((id, true));
            let t = self.tests[id];
            for succ in [t.jt, t.jf] {
                if is_test(succ) && !seen[succ] {
                    stack.push((succ, false));
                }
            }
        }
        order.reverse();
        order
    }

    fn preds(&self, order: &[usize]) -> Vec<Vec<Edge>> {
        let mut p = vec![Vec::new(); self.tests.len()];
        for &id in order {
            let t = self.tests[id];
            if is_test(t.jt) {
                p[t.jt].push((id, true));
            }
            if is_test(t.jf) {
                p[t.jf].push((id, false));
            }
        }
        p
    }

    fn implied(&self, atom: usize, facts: &Facts) -> Option<bool> {
        for &(fid, outcome) in facts {
            if fid == atom {
                return Some(outcome);
            }
        }
        let (lhs, op, k) = self.info[atom];
        if op == Cmp::Eq && k.is_some() {
            for &(fid, outcome) in facts {
                let (flhs, fop, fk) = self.info[fid];
                if outcome && fop == Cmp::Eq && flhs == lhs && fk.is_some() && fk != k {
                    return Some(false);
                }
            }
        }
        None
    }

    fn with(facts: &Facts, fact: (usize, bool)) -> Facts {
        let mut v = facts.clone();
        if !v.contains(&fact) {
            v.push(fact);
        }
        v
    }

    /// One round of jump threading; true if an edge moved.
    fn thread_pass(&mut self, root: usize) -> bool {
        let order = self.topo(root);
        let n = self.tests.len();
        let mut facts: Vec<Option<Facts>> = vec![None; n];
        if let Some(&r) = order.first() {
            facts[r] = Some(Vec::new());
        }
        for &id in &order {
            let Some(f) = facts[id].clone() else { continue };
            let t = self.tests[id];
            for (outcome, succ) in [(true, t.jt), (false, t.jf)] {
                if is_test(succ) {
                    let ef = Self::with(&f, (t.atom, outcome));
                    facts[succ] = Some(match facts[succ].take() {
                        None => ef,
                        Some(prev) => prev.into_iter().filter(|x| ef.contains(x)).collect(),
                    });
                }
            }
        }
        let mut changed = false;
        for &id in &order {
            let Some(f) = facts[id].clone() else { continue };
            for outcome in [true, false] {
                let ef = Self::with(&f, (self.tests[id].atom, outcome));
                let first = self.target((id, outcome));
                let mut succ = first;
                while is_test(succ) {
                    let s = self.tests[succ];
                    if s.jt == s.jf {
                        succ = s.jt;
                        continue;
                    }
                    match self.implied(s.atom, &ef) {
                        Some(true) => succ = s.jt,
                        Some(false) => succ = s.jf,
                        None => break,
                    }
                }
                if succ != first {
                    self.set_target((id, outcome), succ);
                    changed = true;
                }
            }
        }
        changed
    }

    /// One round of or/and pullups; true if the graph changed. Skipped on
    /// graphs of more than [`PULLUP_LIMIT`] tests.
    fn pullup_pass(&mut self, root: usize) -> bool {
        let order = self.topo(root);
        if order.is_empty() || order.len() > PULLUP_LIMIT {
            return false;
        }
        let n = self.tests.len();
        let words = n.div_ceil(64);
        let mut preds = self.preds(&order);
        // Dominators.
        let mut dom: Vec<Vec<u64>> = vec![Vec::new(); n];
        for &id in &order {
            let mut d: Option<Vec<u64>> = None;
            for &(p, _) in &preds[id] {
                if dom[p].is_empty() {
                    continue;
                }
                d = Some(match d {
                    None => dom[p].clone(),
                    Some(mut cur) => {
                        for (c, x) in cur.iter_mut().zip(&dom[p]) {
                            *c &= *x;
                        }
                        cur
                    }
                });
            }
            let mut d = d.unwrap_or_else(|| vec![0; words]);
            d[id / 64] |= 1 << (id % 64);
            dom[id] = d;
        }
        // Levels: distance to the returns.
        let mut level = vec![0usize; n];
        for &id in order.iter().rev() {
            let t = self.tests[id];
            let l = |s: usize| if is_test(s) { level[s] } else { 0 };
            level[id] = 1 + l(t.jt).max(l(t.jf));
        }
        let mut by_level = order.clone();
        by_level.sort_by_key(|&id| level[id]);
        let mut changed = false;
        for &b in &by_level {
            for or in [true, false] {
                if self.pullup(b, or, &preds, &dom) {
                    changed = true;
                    let order = self.topo(root);
                    preds = self.preds(&order);
                }
            }
        }
        changed
    }

    /// libpcap's `or_pullup` (`or` = true: chains along false edges sharing
    /// the true target) and `and_pullup` (the mirror image).
    fn pullup(&mut self, b: usize, or: bool, preds: &[Vec<Edge>], dom: &[Vec<u64>]) -> bool {
        let dominated = |x: usize| dom[x].get(b / 64).is_some_and(|w| w & (1 << (b % 64)) != 0);
        let Some(&first) = preds[b].first() else {
            return false;
        };
        let val = self.a_value(first.0);
        if preds[b].iter().any(|&(p, _)| self.a_value(p) != val) {
            return false;
        }
        let shared = |g: &Graph, x: usize| if or { g.tests[x].jt } else { g.tests[x].jf };
        let b_shared = shared(self, b);
        let mut diff: Edge = first;
        let mut at_top = true;
        loop {
            let d = self.target(diff);
            if !is_test(d) || shared(self, d) != b_shared || !dominated(d) {
                return false;
            }
            if self.a_value(d) != val {
                break;
            }
            diff = (d, !or);
            at_top = false;
        }
        let d = self.target(diff);
        let mut same: Edge = (d, !or);
        loop {
            let s = self.target(same);
            if !is_test(s) || shared(self, s) != b_shared || !dominated(s) {
                return false;
            }
            if self.a_value(s) == val {
                break;
            }
            same = (s, !or);
        }
        let pull = self.target(same);
        let after = self.target((pull, !or));
        self.set_target(same, after);
        self.set_target((pull, !or), d);
        if at_top {
            for &e in &preds[b] {
                self.set_target(e, pull);
            }
        } else {
            self.set_target(diff, pull);
        }
        true
    }

    /// Runs the branch optimisations to a fixed point; returns the new entry.
    pub(crate) fn optimize(&mut self, mut root: usize) -> usize {
        for _ in 0..500 {
            while is_test(root)
                && self.tests[root].jt == self.tests[root].jf
                && !is_test(self.tests[root].jt)
            {
                root = self.tests[root].jt;
            }
            let mut changed = false;
            while self.thread_pass(root) {
                changed = true;
            }
            if self.pullup_pass(root) {
                changed = true;
            }
            if !changed {
                break;
            }
        }
        while is_test(root)
            && self.tests[root].jt == self.tests[root].jf
            && !is_test(self.tests[root].jt)
        {
            root = self.tests[root].jt;
        }
        root
    }

    /// Whether the accepting return is reachable from `root`.
    pub(crate) fn accepts(&self, root: usize) -> bool {
        if !is_test(root) {
            return root == ACCEPT;
        }
        self.topo(root)
            .iter()
            .any(|&id| self.tests[id].jt == ACCEPT || self.tests[id].jf == ACCEPT)
    }
}
