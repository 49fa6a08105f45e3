//! `[respond]` and its `[[respond.rule]]` tables, read and checked into a
//! [`Policy`]; every error names the file, the line and the key.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wirewatch_detect::{Kind, Severity};
use wirewatch_respond::hooks::{
    Hook, DEFAULT_EXEC_TIMEOUT, DEFAULT_RETRIES, DEFAULT_WEBHOOK_TIMEOUT,
};
use wirewatch_respond::policy::{
    default_rules, Action, Mode, Policy, Rule, DEFAULT_BLOCKS_PER_MINUTE, DEFAULT_DURATION,
    DEFAULT_MAX_BLOCKS,
};
use wirewatch_respond::IpNet;

use super::{ConfigError, TomlPlace};

/// TOML `[respond]`, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RespondConfig {
    /// The policy the table describes (`None`: no `[respond]` table).
    pub policy: Option<Policy>,
    /// `nft`: the nft program (default: `nft` on the PATH).
    pub nft: Option<PathBuf>,
}

/// `[respond]` as written.
#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [respond] table"
)]
pub(super) struct TomlRespond {
    mode: Option<Spanned<String>>,
    forward: Option<bool>,
    max_blocks: Option<Spanned<u64>>,
    blocks_per_minute: Option<Spanned<u64>>,
    allow: Option<Vec<Spanned<String>>>,
    ssh_ports: Option<Vec<Spanned<u64>>>,
    duration: Option<Spanned<String>>,
    nft: Option<Spanned<String>>,
    rule: Option<Vec<Spanned<TomlRule>>>,
}

/// One `[[respond.rule]]` as written.
#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    expecting = "a [[respond.rule]] table"
)]
struct TomlRule {
    name: Option<Spanned<String>>,
    kinds: Option<Vec<Spanned<String>>>,
    severity: Option<Spanned<String>>,
    score: Option<Spanned<f64>>,
    action: Spanned<String>,
    duration: Option<Spanned<String>>,
    scope: Option<Vec<Spanned<String>>>,
    program: Option<Spanned<String>>,
    args: Option<Vec<String>>,
    timeout: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    retries: Option<Spanned<u64>>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    ca_file: Option<Spanned<String>>,
}

/// A duration of at least a second.
fn seconds(s: &str) -> Result<Duration, String> {
    match wirewatch_units::parse_duration(s)? {
        0 => Err("must be longer than 0".into()),
        d => Ok(Duration::from_secs(d as u64)),
    }
}

fn net(s: &str) -> Result<IpNet, String> {
    s.trim().parse::<IpNet>().map_err(|e| format!("'{s}': {e}"))
}

impl TomlPlace<'_> {
    fn list<T>(
        &self,
        key: &str,
        v: Option<Vec<Spanned<String>>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        v.unwrap_or_default()
            .into_iter()
            .map(|s| self.check(key, Some(s), &parse).map(|t| t.expect("given")))
            .collect()
    }

    /// `[respond]` into the policy it describes.
    pub(super) fn respond(&self, t: TomlRespond) -> Result<RespondConfig, ConfigError> {
        let duration = self
            .check("respond.duration", t.duration, seconds)?
            .unwrap_or(DEFAULT_DURATION);
        let mut rules = Vec::new();
        for (k, r) in t.rule.unwrap_or_default().into_iter().enumerate() {
            rules.push(self.rule(k + 1, r, duration)?);
        }
        let default = rules.is_empty();
        if default {
            rules = default_rules();
            for r in &mut rules {
                r.duration = duration;
            }
        }
        let ssh_ports = match t.ssh_ports {
            None => vec![22],
            Some(v) => v
                .into_iter()
                .map(|p| {
                    self.range("respond.ssh-ports", Some(p), 1, 65_535)
                        .map(|p| p.expect("given") as u16)
                })
                .collect::<Result<_, _>>()?,
        };
        let policy = Policy {
            mode: self
                .check("respond.mode", t.mode, Mode::parse)?
                .unwrap_or(Mode::DryRun),
            rules,
            default_rules: default,
            forward: t.forward.unwrap_or(false),
            max_blocks: self
                .range("respond.max-blocks", t.max_blocks, 1, 1_000_000)?
                .map_or(DEFAULT_MAX_BLOCKS, |v| v as usize),
            blocks_per_minute: self
                .range("respond.blocks-per-minute", t.blocks_per_minute, 1, 100_000)?
                .map_or(DEFAULT_BLOCKS_PER_MINUTE, |v| v as u32),
            allow: self.list("respond.allow", t.allow, net)?,
            ssh_ports,
        };
        Ok(RespondConfig {
            policy: Some(policy),
            nft: self
                .check("respond.nft", t.nft, super::nonempty)?
                .map(PathBuf::from),
        })
    }

    /// One `[[respond.rule]]` (the `n`th).
    fn rule(
        &self,
        n: usize,
        r: Spanned<TomlRule>,
        duration: Duration,
    ) -> Result<Rule, ConfigError> {
        let at = r.span().start;
        let r = r.into_inner();
        let key = |k: &str| format!("respond.rule[{n}].{k}");
        let kinds = self.list(&key("kinds"), r.kinds, |s| {
            Kind::parse(s).ok_or_else(|| {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("'{s}' is not an alert kind (one of {})", all.join(", "))
            })
        })?;
        let action_at = r.action.span().start;
        let action_name = r.action.into_inner();
        let timeout = |default: u64| -> Result<Duration, ConfigError> {
            Ok(self
                .check(&key("timeout"), r.timeout.clone(), seconds)?
                .unwrap_or(Duration::from_secs(default)))
        };
        let hook_only = |field: &str, given: bool| -> Result<(), ConfigError> {
            if given {
                return Err(self.error(
                    at,
                    format!(
                        "{}: only an exec or webhook rule takes {field}",
                        key("action")
                    ),
                ));
            }
            Ok(())
        };
        let action = match action_name.as_str() {
            "block-source" | "block-destination" => {
                hook_only("program", r.program.is_some())?;
                hook_only("url", r.url.is_some())?;
                if action_name == "block-source" {
                    Action::BlockSource
                } else {
                    Action::BlockDestination
                }
            }
            "exec" => {
                let Some(program) = self.check(&key("program"), r.program, super::nonempty)? else {
                    return Err(self.error(at, format!("{}: an exec rule needs a program", key("action"))));
                };
                let hook = Hook::exec(
                    PathBuf::from(program),
                    r.args.unwrap_or_default(),
                    timeout(DEFAULT_EXEC_TIMEOUT.as_secs())?,
                )
                .map_err(|e| self.error(at, format!("{}: {e}", key("action"))))?;
                Action::Hook(Arc::new(hook))
            }
            "webhook" => {
                let Some(url) = r.url else {
                    return Err(self.error(at, format!("{}: a webhook rule needs a url", key("action"))));
                };
                let url_at = url.span().start;
                let ca_file = self.check(&key("ca-file"), r.ca_file, super::nonempty)?;
                let hook = Hook::webhook(
                    url.get_ref(),
                    timeout(DEFAULT_WEBHOOK_TIMEOUT.as_secs())?,
                    self.range(&key("retries"), r.retries, 0, 10)?
                        .map_or(DEFAULT_RETRIES, |v| v as u32),
                    r.headers.unwrap_or_default().into_iter().collect(),
                    ca_file.as_deref().map(std::path::Path::new),
                )
                .map_err(|e| self.error(url_at, format!("{}: {e}", key("url"))))?;
                Action::Hook(Arc::new(hook))
            }
            other => {
                return Err(self.error(
                    action_at,
                    format!(
                        "{}: '{other}' is not an action (block-source, block-destination, exec, webhook)",
                        key("action")
                    ),
                ))
            }
        };
        Ok(Rule {
            name: self
                .check(&key("name"), r.name, super::nonempty)?
                .unwrap_or_else(|| format!("rule {n}")),
            kinds,
            min_severity: self
                .check(&key("severity"), r.severity, |s| {
                    Severity::parse(s).ok_or_else(|| {
                        format!("'{s}' is not a severity (info, low, medium, high, critical)")
                    })
                })?
                .unwrap_or(Severity::Medium),
            min_score: match r.score {
                Some(s) if !(s.get_ref().is_finite() && *s.get_ref() >= 0.0) => {
                    return Err(self.error(
                        s.span().start,
                        format!("{}: must be a number of 0 or more", key("score")),
                    ))
                }
                s => s.map(Spanned::into_inner),
            },
            action,
            duration: self
                .check(&key("duration"), r.duration, seconds)?
                .unwrap_or(duration),
            scope: self.list(&key("scope"), r.scope, net)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<RespondConfig, ConfigError> {
        super::super::parse_toml(text, Path::new("/etc/ww.toml")).map(|c| c.respond)
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    #[test]
    fn no_rules_is_the_default_policy_with_the_tables_settings() {
        let c =
            parse("[respond]\nmode = \"enforce\"\nallow = [\"10.0.0.0/8\"]\nduration = \"30m\"\n")
                .unwrap();
        let p = c.policy.unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.default_rules);
        assert_eq!(p.rules[0].duration, Duration::from_secs(1_800));
        assert_eq!(p.allow, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(p.ssh_ports, vec![22]);
        assert_eq!(parse("").unwrap(), RespondConfig::default());
    }

    #[test]
    fn rules_are_read_in_order_with_their_actions() {
        let c = parse(
            r#"
[respond]
[[respond.rule]]
name = "ssh guessing"
kinds = ["brute_force"]
severity = "low"
duration = "2h"

[[respond.rule]]
kinds = ["beaconing", "exfiltration"]
severity = "high"
action = "block-destination"
scope = ["0.0.0.0/0"]

[[respond.rule]]
action = "exec"
program = "/usr/local/bin/page"
args = ["--team", "net"]
timeout = "3s"

[[respond.rule]]
action = "webhook"
url = "https://hooks.example/x"
retries = 2
headers = { Authorization = "Bearer t" }
"#
            .replace(
                "severity = \"low\"",
                "severity = \"low\"\naction = \"block-source\"",
            )
            .as_str(),
        )
        .unwrap();
        let p = c.policy.unwrap();
        assert!(!p.default_rules);
        let names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ssh guessing", "rule 2", "rule 3", "rule 4"]);
        assert_eq!(p.rules[0].action, Action::BlockSource);
        assert_eq!(p.rules[0].min_severity, Severity::Low);
        assert_eq!(p.rules[0].duration, Duration::from_secs(7_200));
        assert_eq!(p.rules[1].kinds, vec![Kind::Beaconing, Kind::Exfiltration]);
        let hook = |k: usize| match &p.rules[k].action {
            Action::Hook(h) => (**h).clone(),
            a => panic!("{a:?}"),
        };
        assert_eq!(
            hook(2),
            Hook::exec(
                "/usr/local/bin/page".into(),
                vec!["--team".into(), "net".into()],
                Duration::from_secs(3)
            )
            .unwrap()
        );
        assert_eq!(
            hook(3),
            Hook::webhook(
                "https://hooks.example/x",
                Duration::from_secs(5),
                2,
                vec![("Authorization".into(), "Bearer t".into())],
                None
            )
            .unwrap()
        );
    }

    #[test]
    fn bad_policies_name_the_file_line_and_key() {
        let cases = [
            (
                "[respond]\nmode = \"block\"\n",
                "/etc/ww.toml:2: respond.mode: 'block' is not a response mode",
            ),
            (
                "[respond]\nallow = [\"10.0.0.0/33\"]\n",
                "/etc/ww.toml:2: respond.allow: '10.0.0.0/33'",
            ),
            (
                "[respond]\n\n[[respond.rule]]\naction = \"ban\"\n",
                "/etc/ww.toml:4: respond.rule[1].action: 'ban' is not an action",
            ),
            (
                "[respond]\n[[respond.rule]]\naction = \"block-source\"\nkinds = [\"scan\"]\n",
                "/etc/ww.toml:4: respond.rule[1].kinds: 'scan' is not an alert kind",
            ),
            (
                "[respond]\n[[respond.rule]]\naction = \"exec\"\n",
                "respond.rule[1].action: an exec rule needs a program",
            ),
            (
                "[respond]\n[[respond.rule]]\naction = \"webhook\"\nurl = \"ftp://x\"\n",
                "/etc/ww.toml:4: respond.rule[1].url: webhook URL 'ftp://x': scheme 'ftp' is not supported",
            ),
            (
                "[respond]\n[[respond.rule]]\naction = \"block-source\"\nduration = \"0s\"\n",
                "/etc/ww.toml:4: respond.rule[1].duration: must be longer than 0",
            ),
            (
                "[respond]\nmax-blocks = 0\n",
                "/etc/ww.toml:2: respond.max-blocks: must be between 1 and 1000000",
            ),
            ("[respond]\n[[respond.rule]]\nkinds = []\n", "/etc/ww.toml:"),
            ("[respond]\nbogus = 1\n", "/etc/ww.toml:2:"),
            ("[respond]\n[[respond.rule]]\naction = \"webhook\"\nurl = \"http://h/x\"\nheaders = { Host = \"x\" }\n", "/etc/ww.toml:4: respond.rule[1].url: header 'Host' is set by wirewatch"),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(
                got.starts_with(want) || got.contains(want),
                "{text:?}\n got {got}\nwant {want}"
            );
            assert!(!got.contains('\n'), "{got}");
        }
    }
}
