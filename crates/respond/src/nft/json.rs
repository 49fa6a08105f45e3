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

/// Parses `nft -j list table` output. Objects other than sets, chains and
/// rules are skipped; a set that cannot be read is an error; of the rules
/// only our counted drops (by comment) are read.
pub(super) fn parse_listing(json: &str) -> Result<Listing, NftError> {
    let doc: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| NftError::Parse(format!("nft's JSON listing: {e}")))?;
    let objects = doc
        .get("nftables")
        .and_then(|o| o.as_array())
        .ok_or_else(|| NftError::Parse("nft's JSON listing has no \"nftables\" array".into()))?;
    let mut l = Listing::default();
    for obj in objects {
        if let Some(set) = obj.get("set") {
            let set: Set<'_> = serde_json::from_value(set.clone())
                .map_err(|e| NftError::Parse(format!("a set in nft's listing: {e}")))?;
            add_set(&mut l, &set)?;
        } else if let Some(name) = obj.pointer("/chain/name").and_then(|n| n.as_str()) {
            l.chains.push(name.to_string());
        } else if let Some(rule) = obj.get("rule") {
            l.counters.extend(counted(rule));
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

/// A rule's comment and its counter's packets and bytes, when it has both.
fn counted(rule: &serde_json::Value) -> Option<(String, u64, u64)> {
    let comment = rule.get("comment")?.as_str()?;
    let counter = rule
        .get("expr")?
        .as_array()?
        .iter()
        .find_map(|st| st.get("counter"))?;
    let n = |k: &str| counter.get(k).and_then(|v| v.as_u64());
    Some((comment.to_string(), n("packets")?, n("bytes")?))
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

/// A rule of `chain`: the matches `expr`, then `accept` without
/// `comment`, or `counter drop` with it (the comment is how the counters
/// are found again in a listing).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `nft -j list table inet wirewatch` of nftables 1.0.6, trimmed.
    const LISTING: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "wirewatch", "handle": 1}}, {"set": {"family": "inet", "name": "block_v4", "table": "wirewatch", "type": "ipv4_addr", "handle": 2, "flags": ["interval", "timeout"], "elem": [{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 24}}, "timeout": 3600, "expires": 3599}}, {"elem": {"val": "192.0.2.7", "timeout": 100, "expires": 99}}]}}, {"set": {"family": "inet", "name": "block_v6", "table": "wirewatch", "type": "ipv6_addr", "handle": 3, "flags": ["interval", "timeout"], "elem": [{"elem": {"val": {"prefix": {"addr": "2001:db8::", "len": 32}}, "timeout": 3600, "expires": 3599}}]}}, {"set": {"family": "inet", "name": "allow_v4", "table": "wirewatch", "type": "ipv4_addr", "handle": 4, "flags": ["interval"], "elem": [{"prefix": {"addr": "192.168.0.0", "len": 16}}]}}, {"set": {"family": "inet", "name": "dstport_v4", "table": "wirewatch", "type": ["ipv4_addr", "inet_service"], "handle": 5, "flags": ["timeout"], "elem": [{"elem": {"val": {"concat": ["198.51.100.9", 443]}, "timeout": 3600, "expires": 3599}}]}}, {"set": {"family": "inet", "name": "dst_v4", "table": "wirewatch", "type": "ipv4_addr", "handle": 7, "flags": ["interval"]}}, {"chain": {"family": "inet", "table": "wirewatch", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "wirewatch", "chain": "input", "handle": 6, "comment": "wirewatch: source drop", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@block_v4"}}, {"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}}]}"#;

    fn net(s: &str) -> Target {
        Target::Source(s.parse().unwrap())
    }

    fn to(a: &str, port: Option<u16>) -> Target {
        Target::Destination {
            addr: a.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn a_listing_gives_elements_with_their_time_left_sets_of_another_shape_and_counters() {
        let l = parse_listing(LISTING).unwrap();
        let listed = |target, expires| Listed { target, expires };
        assert_eq!(
            l.elems(SetKind::Block4),
            [
                listed(net("10.0.0.0/24"), Some(3599)),
                listed(net("192.0.2.7"), Some(99))
            ]
        );
        assert_eq!(
            l.elems(SetKind::Block6),
            [listed(net("2001:db8::/32"), Some(3599))]
        );
        assert_eq!(
            l.elems(SetKind::Allow4),
            [listed(net("192.168.0.0/16"), None)]
        );
        assert_eq!(
            l.elems(SetKind::DstPort4),
            [listed(to("198.51.100.9", Some(443)), Some(3599))]
        );
        // dst_v4 has the interval flag, not timeout: to be replaced.
        assert_eq!(l.misshapen, ["dst_v4"]);
        assert!(l.elems(SetKind::Dst4).is_empty());
        assert_eq!(l.blocks().count(), 4, "the allow set is not a block");
        assert_eq!(l.chains, ["input"]);
        assert_eq!(l.counters, [(SOURCE_DROP.to_string(), 3, 180)]);
    }

    fn parse_err(json: &str) -> String {
        match parse_listing(json) {
            Err(NftError::Parse(m)) => m,
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn odd_listings_are_errors_not_panics() {
        assert!(parse_err("").contains("nft's JSON listing"));
        assert!(parse_err("{}").contains("no \"nftables\" array"));
        assert!(parse_err(r#"{"nftables": 3}"#).contains("no \"nftables\" array"));
        // A set without its type.
        let no_type =
            r#"{"nftables": [{"set": {"family": "inet", "name": "block_v4", "table": "t"}}]}"#;
        assert!(
            parse_err(no_type).contains("type"),
            "{}",
            parse_err(no_type)
        );
        let set = |name: &str, ty: &str, elem: &str| {
            format!(
                r#"{{"nftables": [{{"set": {{"family": "inet", "name": "{name}", "table": "t", "type": {ty}, "flags": ["timeout"], "elem": [{elem}]}}}}]}}"#
            )
        };
        let concat = r#"["ipv4_addr", "inet_service"]"#;
        for (name, ty, elem, why) in [
            (
                "dst_v4",
                r#""ipv4_addr""#,
                r#""not-an-address""#,
                "not an address",
            ),
            ("dst_v4", r#""ipv4_addr""#, "17", "not an address"),
            (
                "dstport_v4",
                concat,
                r#"{"concat": ["192.0.2.1", 70000]}"#,
                "port out of range",
            ),
            (
                "dstport_v4",
                concat,
                r#"{"concat": ["192.0.2.1"]}"#,
                "not an address . port",
            ),
            ("dstport_v4", concat, r#""192.0.2.1""#, "unexpected element"),
            (
                "dst_v4",
                r#""ipv4_addr""#,
                r#"{"range": ["192.0.2.1", "192.0.2.9"]}"#,
                "not an address",
            ),
        ] {
            let m = parse_err(&set(name, ty, elem));
            assert!(m.starts_with(why), "{elem}: {m}");
        }
        let long = r#"{"nftables": [{"set": {"family": "inet", "name": "block_v4", "table": "t", "type": "ipv4_addr", "flags": ["interval", "timeout"], "elem": [{"prefix": {"addr": "10.0.0.0", "len": 40}}]}}]}"#;
        assert!(parse_err(long).starts_with("bad prefix"));
    }

    #[test]
    fn element_values_are_addresses_prefixes_and_concatenations() {
        let json = |t: &Target| serde_json::to_string(&timed(t, 60)).unwrap();
        assert_eq!(
            json(&net("192.0.2.7")),
            r#"{"elem":{"val":"192.0.2.7","timeout":60,"expires":null,"comment":null,"counter":null}}"#
        );
        assert!(
            json(&net("10.1.2.3/24")).contains(r#""val":{"prefix":{"addr":"10.1.2.0","len":24}}"#)
        );
        assert!(
            json(&net("2001:db8::/48")).contains(r#"{"prefix":{"addr":"2001:db8::","len":48}}"#)
        );
        assert!(
            json(&to("2001:db8::1", Some(443))).contains(r#""val":{"concat":["2001:db8::1",443]}"#)
        );
        assert!(json(&to("192.0.2.1", None)).contains(r#""val":"192.0.2.1""#));
        assert_eq!(SetKind::of(&net("10.0.0.0/8")), SetKind::Block4);
        assert_eq!(SetKind::of(&to("2001:db8::1", Some(1))), SetKind::DstPort6);
        assert_eq!(SetKind::of(&to("2001:db8::1", None)), SetKind::Dst6);
    }

    #[test]
    fn every_generated_element_parses_back_to_its_target() {
        for t in [
            net("192.0.2.7"),
            net("10.0.0.0/8"),
            net("2001:db8::/32"),
            net("2001:db8::9"),
            to("192.0.2.1", None),
            to("2001:db8::1", Some(53)),
            to("192.0.2.1", Some(65535)),
        ] {
            let back = parse_elem(SetKind::of(&t), &timed(&t, 5)).unwrap();
            assert_eq!(back.target, t);
        }
    }

    /// The setup batch as `nft` reads it.
    fn setup_json(forward: bool, now: &Listing) -> serde_json::Value {
        let allow = [
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        serde_json::from_str(&batch(setup("ww", forward, &allow, now))).unwrap()
    }

    fn commands<'a>(
        doc: &'a serde_json::Value,
        verb: &str,
        what: &str,
    ) -> Vec<&'a serde_json::Value> {
        doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.get(verb).and_then(|v| v.get(what)))
            .collect()
    }

    #[test]
    fn setup_creates_sets_and_chains_with_allow_rules_first() {
        let doc = setup_json(false, &Listing::default());
        let sets = commands(&doc, "add", "set");
        assert_eq!(sets.len(), 8);
        let block = sets.iter().find(|s| s["name"] == "block_v6").unwrap();
        assert_eq!(block["type"], "ipv6_addr");
        let mut flags: Vec<_> = block["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        flags.sort();
        assert_eq!(flags, ["interval", "timeout"]);
        let dp = sets.iter().find(|s| s["name"] == "dstport_v4").unwrap();
        assert_eq!(dp["type"], serde_json::json!(["ipv4_addr", "inet_service"]));
        let chains = commands(&doc, "add", "chain");
        let names: Vec<_> = chains.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["input", "output"]);
        assert!(chains
            .iter()
            .all(|c| c["prio"] == -10 && c["policy"] == "accept"));
        let rules = commands(&doc, "add", "rule");
        let input: Vec<_> = rules.iter().filter(|r| r["chain"] == "input").collect();
        // allow v4, allow v6, then the two counted source drops.
        assert_eq!(input.len(), 4);
        assert_eq!(input[0]["expr"][0]["match"]["right"], "@allow_v4");
        assert_eq!(input[0]["expr"][1], serde_json::json!({"accept": null}));
        assert_eq!(input[2]["expr"][0]["match"]["right"], "@block_v4");
        assert_eq!(input[2]["comment"], SOURCE_DROP);
        let output: Vec<_> = rules.iter().filter(|r| r["chain"] == "output").collect();
        assert_eq!(output.len(), 2 + 4);
        let port = output
            .iter()
            .find(|r| r["expr"][1]["match"]["right"] == "@dstport_v6")
            .unwrap();
        assert_eq!(
            port["expr"][0]["match"]["left"],
            serde_json::json!({"meta": {"key": "l4proto"}})
        );
        assert_eq!(port["comment"], DESTINATION_DROP);
        // The allow sets are flushed and reloaded.
        let allow4 = commands(&doc, "add", "element");
        assert_eq!(allow4.len(), 2);
        assert_eq!(
            allow4[0]["elem"][0],
            serde_json::json!({"prefix": {"addr": "192.0.2.0", "len": 24}})
        );
        assert_eq!(commands(&doc, "flush", "set").len(), 2);
        assert!(commands(&doc, "delete", "chain").is_empty());
    }

    #[test]
    fn setup_over_an_existing_table_replaces_chains_and_misshapen_sets_only() {
        let now = parse_listing(LISTING).unwrap();
        let doc = setup_json(true, &now);
        let deleted: Vec<_> = commands(&doc, "delete", "chain")
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(deleted, ["input"]);
        let sets: Vec<_> = commands(&doc, "delete", "set")
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(sets, ["dst_v4"], "block_v4 and its elements stay");
        let chains: Vec<_> = commands(&doc, "add", "chain")
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(chains, ["input", "output", "forward"]);
        let forward = commands(&doc, "add", "rule")
            .into_iter()
            .filter(|r| r["chain"] == "forward")
            .count();
        assert_eq!(
            forward,
            4 + 2 + 4,
            "allow both ways, source and destination drops"
        );
    }
}
