//! Host names in the web API. Reverse DNS is answered by a hosts file that
//! only the wirewatch child sees: it runs in a private mount namespace
//! (`unshare -m`, Debian package util-linux) where a temporary file is
//! bind-mounted over `/etc/hosts`, and an `nsswitch.conf` saying `hosts:
//! files` over `/etc/nsswitch.conf`, so that no lookup asks a DNS server.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wirewatch_testkit::{require, tool};

use crate::web::{final_report, json, Served};

/// A hosts file and an `nsswitch.conf` to put over the real ones in a
/// private mount namespace (removed with the value).
pub(crate) struct PrivateHosts {
    dir: tempfile::TempDir,
}

impl PrivateHosts {
    /// `lines` (address, name) as the hosts file. `Err` (for a skip) when
    /// it cannot be used here: needs root, `unshare` and `mount`.
    pub(crate) fn new(lines: &[(String, String)]) -> Result<PrivateHosts, String> {
        wirewatch_testkit::root("bind-mounting a hosts file in a private mount namespace")?;
        tool("unshare")?;
        tool("mount")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let hosts: String = lines.iter().map(|(a, n)| format!("{a} {n}\n")).collect();
        for (file, text) in [
            ("hosts", hosts.as_str()),
            ("nsswitch.conf", "hosts: files\n"),
        ] {
            let path = dir.path().join(file);
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            // Readable after wirewatch drops its privileges.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| e.to_string())?;
        }
        Ok(PrivateHosts { dir })
    }

    /// The words of a command that runs the rest of its command line (a
    /// program and its arguments) with these files as `/etc/hosts` and
    /// `/etc/nsswitch.conf`.
    pub(crate) fn wrapper(&self) -> Vec<String> {
        let d = self.dir.path().display();
        let script = format!(
            "mount --bind '{d}/hosts' /etc/hosts && mount --bind '{d}/nsswitch.conf' /etc/nsswitch.conf && exec \"$0\" \"$@\""
        );
        ["unshare", "-m", "sh", "-c", &script]
            .map(String::from)
            .to_vec()
    }

    /// [`PrivateHosts::wrapper`] as a command, ready for the program.
    fn command(&self) -> Command {
        let words = self.wrapper();
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..])
            .arg(assert_cmd::cargo::cargo_bin("wirewatch"));
        cmd
    }
}

/// Waits (bounded) until the server has no lookup in flight; returns
/// `/api/v1/status`' `names`.
fn settled_names(s: &Served) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let names = json(&s.get("/api/v1/status", &[]))["names"].clone();
        if names["pending"] == 0 || names["enabled"] == false {
            return names;
        }
        assert!(Instant::now() < deadline, "lookups still pending: {names}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The name each entry's address has in `hosts` (null when not listed).
fn expected(hosts: &HashMap<String, String>, addr: &Value) -> Value {
    addr.as_str()
        .and_then(|a| hosts.get(a))
        .map_or(Value::Null, |n| Value::from(n.as_str()))
}

#[test]
fn names_from_the_hosts_file_appear_in_the_api_and_are_null_with_n() {
    // The addresses of the capture's busiest pairs, from the report.
    let report = final_report(&["--view", "pair", "-o", "2s"]);
    let entries = report["entries"].as_array().unwrap();
    assert!(
        entries.iter().all(|e| e.get("src_name").is_none()),
        "the report has no names: {report}"
    );
    let mut hosts = HashMap::new();
    for e in entries.iter().take(3) {
        for side in ["src", "dst"] {
            let addr = e[side].as_str().unwrap().to_string();
            let n = hosts.len();
            hosts
                .entry(addr)
                .or_insert_with(|| format!("<b>host{n}</b>.example"));
        }
    }
    let lines: Vec<(String, String)> = hosts.clone().into_iter().collect();
    let private = require!(PrivateHosts::new(&lines));

    // A replay read at full speed publishes once, at its end: the names
    // come after that, and are in the answers made after they came.
    let s = Served::spawn_in(
        private.command(),
        &crate::web::demo(),
        &[],
        &["--web", "127.0.0.1:0"],
    );
    s.wait_ended(&[]);
    let names = settled_names(&s);
    assert_eq!(names["enabled"], true, "{names}");
    assert!(
        names["cached"].as_u64().unwrap() >= hosts.len() as u64,
        "{names}"
    );
    let top = json(&s.get("/api/v1/top?by=pair&window=2s&limit=100", &[]));
    let mut named = 0;
    for e in top["entries"].as_array().unwrap() {
        for side in ["src", "dst"] {
            let want = expected(&hosts, &e[side]);
            assert_eq!(e[format!("{side}_name")], want, "{side} of {e}");
            named += usize::from(!want.is_null());
        }
    }
    assert!(named >= hosts.len(), "{named} names in {top}");
    // A host's page: its own name and its peers'.
    let (addr, name) = lines.first().unwrap();
    let host = json(&s.get(&format!("/api/v1/host/{addr}"), &[]));
    assert_eq!(host["host_name"], name.as_str(), "{host}");
    for p in host["peers"].as_array().unwrap() {
        assert_eq!(p["dst_name"], expected(&hosts, &p["dst"]), "{p}");
    }
    s.stop();

    // -n: no lookups, every name null (the fields are still there).
    let s = Served::spawn_in(
        private.command(),
        &crate::web::demo(),
        &[],
        &["-n", "--web", "127.0.0.1:0"],
    );
    s.wait_ended(&[]);
    assert_eq!(settled_names(&s), serde_json::json!({ "enabled": false }));
    let top = json(&s.get("/api/v1/top?by=pair&window=2s&limit=5", &[]));
    for e in top["entries"].as_array().unwrap() {
        assert_eq!(
            (&e["src_name"], &e["dst_name"]),
            (&Value::Null, &Value::Null),
            "{e}"
        );
    }
    s.stop();
}
