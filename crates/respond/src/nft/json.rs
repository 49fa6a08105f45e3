//! The JSON `nft -j` reads and writes, through the `nftables` crate's
//! schema types: our table's shape as commands, element commands, and the
//! parse of `nft -j list table`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use nftables::expr::{Elem, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::expr::{Prefix, SetItem};
use nftables::schema::{
    Chain, Element as NfElement, FlushObject, NfCmd, NfListObject, NfObject, Nftables, Rule, Set,
    SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{Counter, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::NftError;
use crate::{full_prefix, IpNet, Target};

/// The sets of our table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum SetKind {
    /// Blocked sources, IPv4 (addresses and prefixes).
    Block4,
    /// Blocked sources, IPv6.
    Block6,
    /// Never blocked, IPv4.
    Allow4,
    /// Never blocked, IPv6.
    Allow6,
    /// Blocked destinations, IPv4 address.
    Dst4,
    /// Blocked destinations, IPv6 address.
    Dst6,
    /// Blocked destinations, IPv4 address and TCP/UDP port.
    DstPort4,
    /// Blocked destinations, IPv6 address and TCP/UDP port.
    DstPort6,
}

/// Every set, allow sets first.
pub(super) const SETS: [SetKind; 8] = [
    SetKind::Allow4,
    SetKind::Allow6,
    SetKind::Block4,
    SetKind::Block6,
    SetKind::Dst4,
    SetKind::Dst6,
    SetKind::DstPort4,
    SetKind::DstPort6,
];

/// The sets holding blocks (all but the allow sets).
pub(super) const BLOCK_SETS: [SetKind; 6] = [
    SetKind::Block4,
    SetKind::Block6,
    SetKind::Dst4,
    SetKind::Dst6,
    SetKind::DstPort4,
    SetKind::DstPort6,
];

impl SetKind {
    /// Its name in the table.
    pub(super) fn name(self) -> &'static str {
        match self {
            SetKind::Block4 => "block_v4",
            SetKind::Block6 => "block_v6",
            SetKind::Allow4 => "allow_v4",
            SetKind::Allow6 => "allow_v6",
            SetKind::Dst4 => "dst_v4",
            SetKind::Dst6 => "dst_v6",
            SetKind::DstPort4 => "dstport_v4",
            SetKind::DstPort6 => "dstport_v6",
        }
    }

    fn v6(self) -> bool {
        matches!(
            self,
            SetKind::Block6 | SetKind::Allow6 | SetKind::Dst6 | SetKind::DstPort6
        )
    }

    fn set_type(self) -> SetTypeValue<'static> {
        let addr = if self.v6() {
            SetType::Ipv6Addr
        } else {
            SetType::Ipv4Addr
        };
        match self {
            SetKind::DstPort4 | SetKind::DstPort6 => {
                SetTypeValue::Concatenated(vec![addr, SetType::InetService].into())
            }
            _ => SetTypeValue::Single(addr),
        }
    }

    fn flags(self) -> HashSet<SetFlag> {
        match self {
            SetKind::Block4 | SetKind::Block6 => [SetFlag::Timeout, SetFlag::Interval].into(),
            SetKind::Allow4 | SetKind::Allow6 => [SetFlag::Interval].into(),
            _ => [SetFlag::Timeout].into(),
        }
    }

    /// The set a target's element goes into.
    pub(super) fn of(t: &Target) -> SetKind {
        match (t, t.is_v6()) {
            (Target::Source(_), false) => SetKind::Block4,
            (Target::Source(_), true) => SetKind::Block6,
            (Target::Destination { port: None, .. }, false) => SetKind::Dst4,
            (Target::Destination { port: None, .. }, true) => SetKind::Dst6,
            (Target::Destination { port: Some(_), .. }, false) => SetKind::DstPort4,
            (Target::Destination { port: Some(_), .. }, true) => SetKind::DstPort6,
        }
    }

    /// The set's definition in `table`.
    fn definition(self, table: &str) -> Set<'static> {
        Set {
            family: NfFamily::INet,
            table: table.to_string().into(),
            name: self.name().into(),
            set_type: self.set_type(),
            flags: Some(self.flags()),
            ..Set::default()
        }
    }

    /// Whether a listed set has this kind's type and flags.
    fn matches(self, set: &Set<'_>) -> bool {
        set.set_type == self.set_type() && set.flags.clone().unwrap_or_default() == self.flags()
    }

    fn by_name(name: &str) -> Option<SetKind> {
        SETS.into_iter().find(|k| k.name() == name)
    }
}

// ------------------------------------------------------------ elements

/// A network as an element value: the bare address for a single host,
/// else a prefix.
fn net_value(n: &IpNet) -> Expression<'static> {
    let addr = Expression::String(n.addr().to_string().into());
    if n.prefix() == full_prefix(n.addr()) {
        addr
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: n.prefix().into(),
        }))
    }
}

/// A target's element value (without timeout).
pub(super) fn value(t: &Target) -> Expression<'static> {
    match t {
        Target::Source(n) => net_value(n),
        Target::Destination { addr, port: None } => Expression::String(addr.to_string().into()),
        Target::Destination {
            addr,
            port: Some(p),
        } => Expression::Named(NamedExpression::Concat(vec![
            Expression::String(addr.to_string().into()),
            Expression::Number((*p).into()),
        ])),
    }
}

/// A target's element with a timeout in seconds.
pub(super) fn timed(t: &Target, secs: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Elem(Elem {
        val: Box::new(value(t)),
        timeout: Some(secs),
        ..Elem::default()
    }))
}

/// An element listed by `nft`: its value, and the seconds it has left
/// when it has a timeout.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Listed {
    pub(super) target: Target,
    pub(super) expires: Option<u32>,
}

fn bad(what: &str, e: &Expression<'_>) -> NftError {
    let json = serde_json::to_string(e).unwrap_or_default();
    NftError::Parse(format!("{what}: {json}"))
}

fn addr_of(e: &Expression<'_>) -> Result<IpAddr, NftError> {
    match e {
        Expression::String(s) => s.parse().map_err(|_| bad("not an address", e)),
        _ => Err(bad("not an address", e)),
    }
}

/// Reads one listed element of set `kind` back into a target.
pub(super) fn parse_elem(kind: SetKind, e: &Expression<'_>) -> Result<Listed, NftError> {
    let (val, expires) = match e {
        Expression::Named(NamedExpression::Elem(el)) => (&*el.val, el.expires),
        other => (other, None),
    };
    let target = match (kind, val) {
        (SetKind::Dst4 | SetKind::Dst6, v) => Target::Destination {
            addr: addr_of(v)?,
            port: None,
        },
        (SetKind::DstPort4 | SetKind::DstPort6, Expression::Named(NamedExpression::Concat(c))) => {
            match c.as_slice() {
                [a, Expression::Number(p)] => Target::Destination {
                    addr: addr_of(a)?,
                    port: Some(u16::try_from(*p).map_err(|_| bad("port out of range", val))?),
                },
                _ => return Err(bad("not an address . port", val)),
            }
        }
        (_, Expression::Named(NamedExpression::Prefix(p))) => {
            let a = addr_of(&p.addr)?;
            let len = u8::try_from(p.len).ok();
            Target::Source(
                len.and_then(|l| IpNet::new(a, l))
                    .ok_or_else(|| bad("bad prefix", val))?,
            )
        }
        (SetKind::Block4 | SetKind::Block6 | SetKind::Allow4 | SetKind::Allow6, v) => {
            let a = addr_of(v)?;
            Target::Source(IpNet::new(a, full_prefix(a)).ok_or_else(|| bad("bad address", v))?)
        }
        _ => return Err(bad("unexpected element", val)),
    };
    Ok(Listed { target, expires })
}

// ------------------------------------------------------------ listing

/// What `nft -j list table inet NAME` says about our table.
#[derive(Clone, Debug, Default)]
pub(super) struct Listing {
    /// Our sets with their elements; a set whose type or flags are not
    /// ours is in `misshapen` instead.
    pub(super) sets: Vec<(SetKind, Vec<Listed>)>,
    /// Sets to delete: not ours, or not of our shape.
    pub(super) misshapen: Vec<String>,
    /// Chain names.
    pub(super) chains: Vec<String>,
    /// Counter values of rules by comment: (comment, packets, bytes).
    pub(super) counters: Vec<(String, u64, u64)>,
}

impl Listing {
    /// The elements of set `kind`.
    pub(super) fn elems(&self, kind: SetKind) -> &[Listed] {
        self.sets
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&[], |(_, e)| e.as_slice())
    }

    /// All elements of the block sets.
    pub(super) fn blocks(&self) -> impl Iterator<Item = &Listed> {
        BLOCK_SETS.into_iter().flat_map(|k| self.elems(k))
    }
}

/// Parses `nft -j list table` output.
pub(super) fn parse_listing(json: &str) -> Result<Listing, NftError> {
    let doc: Nftables<'_> = serde_json::from_str(json)
        .map_err(|e| NftError::Parse(format!("nft's JSON listing: {e}")))?;
    let mut l = Listing::default();
    for obj in doc.objects.iter() {
        match obj {
            NfObject::ListObject(NfListObject::Set(s)) => add_set(&mut l, s)?,
            NfObject::ListObject(NfListObject::Chain(c)) => l.chains.push(c.name.to_string()),
            NfObject::ListObject(NfListObject::Rule(r)) => {
                if let (Some(comment), Some((p, b))) = (&r.comment, counter_of(r)) {
                    l.counters.push((comment.to_string(), p, b));
                }
            }
            _ => {}
        }
    }
    Ok(l)
}

fn add_set(l: &mut Listing, s: &Set<'_>) -> Result<(), NftError> {
    match SetKind::by_name(&s.name) {
        Some(kind) if kind.matches(s) => {
            let elems = s.elem.as_deref().unwrap_or(&[]);
            let listed = elems
                .iter()
                .map(|e| parse_elem(kind, e))
                .collect::<Result<_, _>>()?;
            l.sets.push((kind, listed));
        }
        _ => l.misshapen.push(s.name.to_string()),
    }
    Ok(())
}

fn counter_of(r: &Rule<'_>) -> Option<(u64, u64)> {
    r.expr.iter().find_map(|s| match s {
        Statement::Counter(Counter::Anonymous(Some(c))) => {
            Some((c.packets.unwrap_or(0) as u64, c.bytes.unwrap_or(0) as u64))
        }
        _ => None,
    })
}

// ------------------------------------------------------------ commands

/// A batch of commands for `nft -j -f -`.
pub(super) fn batch(cmds: Vec<NfCmd<'static>>) -> String {
    let doc = Nftables {
        objects: cmds.into_iter().map(NfObject::CmdObject).collect(),
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The `element` object for `set` in `table`.
pub(super) fn element(
    table: &str,
    set: SetKind,
    elem: Vec<Expression<'static>>,
) -> NfListObject<'static> {
    NfListObject::Element(NfElement {
        family: NfFamily::INet,
        table: table.to_string().into(),
        name: set.name().into(),
        elem: elem.into(),
    })
}

/// `flush set` of `set`.
pub(super) fn flush_set(table: &str, set: SetKind) -> NfCmd<'static> {
    NfCmd::Flush(FlushObject::Set(Box::new(set.definition(table))))
}

/// `delete table inet TABLE`.
pub(super) fn delete_table(table: &str) -> NfCmd<'static> {
    NfCmd::Delete(NfListObject::Table(Table {
        family: NfFamily::INet,
        name: table.to_string().into(),
        handle: None,
    }))
}

/// What a drop rule counts, in its comment.
pub(super) const SOURCE_DROP: &str = "wirewatch: source drop";
/// See [`SOURCE_DROP`].
pub(super) const DESTINATION_DROP: &str = "wirewatch: destination drop";

/// The commands that bring table `table` to our shape, given what is there
/// now: chains replaced, misshapen sets replaced, our sets kept with their
/// elements, the allow sets reloaded with `allow`.
pub(super) fn setup(
    table: &str,
    forward: bool,
    allow: &[IpNet],
    now: &Listing,
) -> Vec<NfCmd<'static>> {
    let mut cmds = vec![NfCmd::Add(NfListObject::Table(Table {
        family: NfFamily::INet,
        name: table.to_string().into(),
        handle: None,
    }))];
    for name in &now.chains {
        let c = chain(table, name, None);
        cmds.push(NfCmd::Flush(FlushObject::Chain(c.clone())));
        cmds.push(NfCmd::Delete(NfListObject::Chain(c)));
    }
    for name in &now.misshapen {
        cmds.push(NfCmd::Delete(NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: table.to_string().into(),
            name: name.clone().into(),
            ..Set::default()
        }))));
    }
    for kind in SETS {
        cmds.push(NfCmd::Add(NfListObject::Set(Box::new(
            kind.definition(table),
        ))));
    }
    cmds.extend(allow_commands(table, allow));
    let mut hooks = vec![("input", NfHook::Input), ("output", NfHook::Output)];
    if forward {
        hooks.push(("forward", NfHook::Forward));
    }
    for (name, hook) in hooks {
        cmds.push(NfCmd::Add(NfListObject::Chain(chain(
            table,
            name,
            Some(hook),
        ))));
        for r in rules(table, name, hook) {
            cmds.push(NfCmd::Add(NfListObject::Rule(r)));
        }
    }
    cmds
}

fn allow_commands(table: &str, allow: &[IpNet]) -> Vec<NfCmd<'static>> {
    let mut cmds = Vec::new();
    for kind in [SetKind::Allow4, SetKind::Allow6] {
        cmds.push(flush_set(table, kind));
        let elems: Vec<_> = allow
            .iter()
            .filter(|n| n.addr().is_ipv6() == kind.v6())
            .map(net_value)
            .collect();
        if !elems.is_empty() {
            cmds.push(NfCmd::Add(element(table, kind, elems)));
        }
    }
    cmds
}

fn chain(table: &str, name: &str, hook: Option<NfHook>) -> Chain<'static> {
    Chain {
        family: NfFamily::INet,
        table: table.to_string().into(),
        name: name.to_string().into(),
        _type: hook.map(|_| NfChainType::Filter),
        hook,
        prio: hook.map(|_| -10),
        policy: hook.map(|_| NfChainPolicy::Accept),
        ..Chain::default()
    }
}

/// `ip saddr`, `ip6 daddr`…
fn field(v6: bool, field: &'static str) -> Expression<'static> {
    let protocol = if v6 { "ip6" } else { "ip" };
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn in_set(left: Expression<'static>, set: SetKind) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right: Expression::String(format!("@{}", set.name()).into()),
        op: Operator::EQ,
    })
}

/// `meta l4proto { tcp, udp }`: what `th dport` needs.
fn tcp_or_udp() -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Meta(Meta {
            key: MetaKey::L4proto,
        })),
        right: Expression::Named(NamedExpression::Set(vec![
            SetItem::Element(Expression::String("tcp".into())),
            SetItem::Element(Expression::String("udp".into())),
        ])),
        op: Operator::EQ,
    })
}

fn addr_port(v6: bool) -> Expression<'static> {
    let dport = Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "th".into(),
            field: "dport".into(),
        },
    )));
    Expression::Named(NamedExpression::Concat(vec![field(v6, "daddr"), dport]))
}

fn rule(
    table: &str,
    chain: &str,
    mut expr: Vec<Statement<'static>>,
    comment: Option<&str>,
) -> Rule<'static> {
    if comment.is_some() {
        expr.push(Statement::Counter(Counter::Anonymous(None)));
        expr.push(Statement::Drop(None));
    } else {
        expr.push(Statement::Accept(None));
    }
    Rule {
        family: NfFamily::INet,
        table: table.to_string().into(),
        chain: chain.to_string().into(),
        expr: expr.into(),
        comment: comment.map(|c| Cow::Owned(c.to_string())),
        ..Rule::default()
    }
}

/// The rules of chain `name`: allow-list accepts first, then the counted
/// drops; input matches sources, output destinations, forward both.
fn rules(table: &str, name: &str, hook: NfHook) -> Vec<Rule<'static>> {
    let sources = !matches!(hook, NfHook::Output);
    let destinations = !matches!(hook, NfHook::Input);
    let mut out = Vec::new();
    for v6 in [false, true] {
        let allow = if v6 { SetKind::Allow6 } else { SetKind::Allow4 };
        if sources {
            out.push(rule(
                table,
                name,
                vec![in_set(field(v6, "saddr"), allow)],
                None,
            ));
        }
        if destinations {
            out.push(rule(
                table,
                name,
                vec![in_set(field(v6, "daddr"), allow)],
                None,
            ));
        }
    }
    for v6 in [false, true] {
        let (block, dst, dstport) = if v6 {
            (SetKind::Block6, SetKind::Dst6, SetKind::DstPort6)
        } else {
            (SetKind::Block4, SetKind::Dst4, SetKind::DstPort4)
        };
        if sources {
            out.push(rule(
                table,
                name,
                vec![in_set(field(v6, "saddr"), block)],
                Some(SOURCE_DROP),
            ));
        }
        if destinations {
            out.push(rule(
                table,
                name,
                vec![in_set(field(v6, "daddr"), dst)],
                Some(DESTINATION_DROP),
            ));
            let m = vec![tcp_or_udp(), in_set(addr_port(v6), dstport)];
            out.push(rule(table, name, m, Some(DESTINATION_DROP)));
        }
    }
    out
}
