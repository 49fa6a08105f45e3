//! The dashboard in a real browser: headless Chromium (Debian package
//! `chromium`) driven over the DevTools pipe (`wirewatch_testkit::browser`)
//! loads the page served by `wirewatch -r samples/demo.pcapng --web
//! 127.0.0.1:0`, and the test reads what the page shows from its DOM.
//! Screenshots go to `target/test-artifacts/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wirewatch_testkit::browser::Browser;
use wirewatch_testkit::{require, workspace_root};

use crate::live;
use crate::web::{final_report, json, Served};

/// How long a page may take to show its data.
pub(crate) const READY: Duration = Duration::from_secs(30);

/// Where screenshots are written.
pub(crate) fn artifacts() -> PathBuf {
    workspace_root().join("target/test-artifacts")
}

/// The first row of the top table as the page shows it: addresses and the
/// exact byte counts (`data-value`) sent and received.
pub(crate) const FIRST_ROW: &str = "(() => {
  const r = document.querySelector('table.toptable tbody tr.entry');
  if (!r) return null;
  const q = (s) => r.querySelector(s);
  return { src: q('td.src').textContent, dst: q('td.dst').textContent,
    sent: Number(q('td.bytes-sent').dataset.value), received: Number(q('td.bytes-received').dataset.value),
    sentText: q('td.bytes-sent').textContent };
})()";

/// Opens `url` and waits until the page says it shows `page`'s data.
pub(crate) fn open_ready(b: &mut Browser, url: &str, page: &str) {
    // A new fragment is no new document: the flag must not be the last page's.
    b.eval("delete document.body.dataset.ready").unwrap();
    b.open(url).unwrap();
    let cond = format!("document.body.dataset.ready === '{page}'");
    b.wait_for(&cond, READY)
        .unwrap_or_else(|e| panic!("{url}: {e}; exceptions {:?}", b.exceptions));
}

/// The "not available: …" notes the page shows, as (endpoint, text).
pub(crate) fn unavailable_notes(b: &mut Browser) -> Vec<(String, String)> {
    let v = b
        .eval("[...document.querySelectorAll('[data-unavailable]')].map(e => [e.dataset.unavailable, e.textContent])")
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Each page that needs an endpoint the server does not answer says so
/// with the server's error; a page whose endpoints answer shows no such note.
pub(crate) fn check_degrades_visibly(s: &Served, b: &mut Browser, endpoint: &str, probe: &str) {
    let notes = unavailable_notes(b);
    let a = s.get(probe, &[]);
    let note = notes.iter().find(|(e, _)| e == endpoint);
    if a.status == 200 {
        assert!(note.is_none(), "{endpoint} answers 200, yet: {notes:?}");
    } else {
        let error = json(&a)["error"].as_str().unwrap().to_string();
        let (_, text) =
            note.unwrap_or_else(|| panic!("{endpoint}: {}, no note: {notes:?}", a.status));
        assert!(
            text.starts_with(&format!("not available: {error}")),
            "{text}"
        );
    }
}

/// Screenshots of the page `name` (which draws again when the colour
/// scheme changes) at each size, light and dark.
pub(crate) fn shoot(b: &mut Browser, name: &str, sizes: &[(u32, u32)]) {
    for &(w, h) in sizes {
        for dark in [false, true] {
            let scheme = if dark { "dark" } else { "light" };
            b.emulate(w, h, dark).unwrap();
            b.wait_for("document.body.dataset.ready", READY).unwrap();
            let path = artifacts().join(format!("dashboard-{name}-{w}x{h}-{scheme}.png"));
            b.screenshot(w, h, &path, dark).unwrap();
            assert!(
                std::fs::metadata(&path).unwrap().len() > 1000,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn the_dashboard_shows_the_numbers_of_the_api_and_of_the_report() {
    let mut b = require!(Browser::launch());
    let s = Served::start("127.0.0.1:0", &[]);
    let base = format!("http://{}/", s.addr);
    b.emulate(1280, 800, false).unwrap();
    open_ready(&mut b, &base, "live");
    b.wait_for("document.body.dataset.state === 'ended'", READY)
        .unwrap();
    let row = b.eval(FIRST_ROW).unwrap();
    let api = json(&s.get("/api/v1/top?by=pair&window=2s&limit=1", &[]));
    let report = final_report(&["--view", "pair", "-o", "2s"]);
    for source in [&api["entries"][0], &report["entries"][0]] {
        assert_eq!(row["src"], source["src"], "{row} vs {source}");
        assert_eq!(row["dst"], source["dst"], "{row} vs {source}");
        assert_eq!(row["sent"], source["src_to_dst"]["bytes"], "{row}");
        assert_eq!(row["received"], source["dst_to_src"]["bytes"], "{row}");
    }
    assert!(row["sentText"].as_str().unwrap().ends_with('B'), "{row}");
    // The interface card names the capture.
    let iface = b
        .eval("document.querySelector('.card.iface').dataset.name")
        .unwrap();
    assert_eq!(iface, "demo.pcapng");
    check_degrades_visibly(&s, &mut b, "/api/v1/alerts", "/api/v1/alerts?limit=5");
    // Without --tcp: no TCP columns and no TCP health panel (tcp_views has them).
    let tcp = b
        .eval("[!!document.querySelector('th.tcp'), document.getElementById('tcp-health').children.length]")
        .unwrap();
    assert_eq!(tcp, serde_json::json!([false, 0]));
    shoot(&mut b, "no-history-live", &[(1280, 800)]);

    // The other pages load and say what they cannot show.
    let src = row["src"].as_str().unwrap().to_string();
    for (hash, page, endpoint, probe) in [
        (
            "alerts",
            "alerts",
            "/api/v1/alerts",
            "/api/v1/alerts?limit=200".to_string(),
        ),
        (
            "history",
            "history",
            "/api/v1/history/series",
            "/api/v1/history/series?since=24h".to_string(),
        ),
        (
            "forecast",
            "forecast",
            "/api/v1/forecast",
            "/api/v1/forecast".to_string(),
        ),
        (
            &format!("host/{src}"),
            "host",
            "/api/v1/host/…",
            format!("/api/v1/host/{src}?window=40s"),
        ),
    ] {
        b.emulate(1280, 800, false).unwrap();
        open_ready(&mut b, &format!("{base}#/{hash}"), page);
        check_degrades_visibly(&s, &mut b, endpoint, &probe);
        shoot(&mut b, &format!("no-history-{page}"), &[(1280, 800)]);
    }
    assert_eq!(b.csp_violations().unwrap(), Vec::<String>::new());
    assert_eq!(b.exceptions, Vec::<String>::new());
    assert_eq!(b.dialogs, Vec::<String>::new());
    s.stop();
}

#[test]
fn every_answer_carries_the_security_headers_and_files_revalidate() {
    let s = Served::start("127.0.0.1:0", &[]);
    let header = |a: &wirewatch_testkit::HttpAnswer, name: &str| {
        a.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for path in [
        "/",
        "/assets/app.js",
        "/api/v1/top",
        "/api/v1/nothing",
        "/metrics",
    ] {
        let a = s.get(path, &[]);
        let csp = header(&a, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(
            header(&a, "referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(
            header(&a, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
    let page = s.get("/", &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<script src=\"/assets/app.js\""),
        "{}",
        page.body
    );
    assert_eq!(header(&page, "cache-control").as_deref(), Some("no-cache"));
    let tag = header(&page, "etag").unwrap();
    let again = s.get("/", &[&format!("If-None-Match: {tag}")]);
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    let js = s.get("/assets/vendor/uplot/uPlot.iife.min.js", &[]);
    assert_eq!(
        header(&js, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_ne!(header(&js, "etag"), Some(tag));
    let api = s.get("/api/v1/top", &[]);
    assert_eq!(header(&api, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&api, "etag"), None);
    assert_eq!(s.get("/assets/nope.js", &[]).status, 404);
    s.stop();
}

/// The process name the injection test gives its child. The kernel keeps
/// the first 15 bytes of a name (`/proc/PID/comm`): `<img src=x oner`,
/// which, put into a page as markup, still makes an `<img>` element.
const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";

/// Set by the injection test when it runs this binary as its child.
const XSS_CHILD_ENV: &str = "WIREWATCH_TEST_XSS_CHILD";

/// Not a test of its own: the child of
/// `names_from_proc_appear_as_text_never_as_markup` (does nothing unless
/// it is that child), run as the test `xss_child` at the crate root. Takes
/// the hostile name, connects to the TCP address in the variable, says
/// "ready" and sends 1,000 bytes every 50 ms until stdin closes.
pub fn xss_child() {
    let Ok(addr) = std::env::var(XSS_CHILD_ENV) else {
        return;
    };
    // The process's name is its main thread's: this test runs on another
    // thread, which may rename any thread of its own process.
    std::fs::write("/proc/self/comm", HOSTILE_NAME).unwrap();
    let mut t = std::net::TcpStream::connect(addr.as_str()).unwrap();
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/stdout")
        .unwrap();
    writeln!(out, "ready").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if t.write_all(&[7; 1000]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn names_from_proc_appear_as_text_never_as_markup() {
    require!(wirewatch_testkit::netns());
    require!(wirewatch_testkit::browser::chromium());
    let p = live::pair(231);
    let b_addr = p.addr_b;
    let listener = live::in_netns(&p.b, move || TcpListener::bind((b_addr, 0)).unwrap());
    let server_addr = listener.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let _ = c.read_to_end(&mut Vec::new());
    });
    // The default text report and no history (Running adds --no-history):
    // processes are looked for because the web shows them.
    let args = ["-i", &p.ia, "--web", "127.0.0.1:0"];
    let mut ww = live::Running::start(&p.a, &args);
    let api = ww.web_addr();
    let url = format!("http://{api}");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &p.a])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "xss_child", "--test-threads", "1"])
        .env(XSS_CHILD_ENV, server_addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("ready"))),
        "child not ready"
    );
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
    let comm = comm.trim_end_matches('\n').to_string();
    assert!(
        HOSTILE_NAME.starts_with(&comm) && comm.contains('<'),
        "{comm:?}"
    );

    let mut b = Browser::launch_in_netns(&p.a).unwrap();
    b.emulate(1280, 800, false).unwrap();
    open_ready(&mut b, &format!("{url}/#/live?by=process"), "live");
    // Wait until the child's traffic is attributed and shown.
    let shown = format!(
        "[...document.querySelectorAll('table.toptable td.who a')].some(a => a.textContent === {})",
        serde_json::to_string(&comm).unwrap()
    );
    b.wait_for(&shown, READY)
        .unwrap_or_else(|e| panic!("{e}: {:?}", b.eval("document.body.innerText")));
    shoot(&mut b, "injection", &[(1280, 800)]);
    let page_text = b.eval("document.body.textContent").unwrap();
    assert!(page_text.as_str().unwrap().contains(&comm), "{page_text}");
    // Nothing of it became markup: no element from it, no handler ran.
    assert_eq!(
        b.eval("document.querySelectorAll('img').length").unwrap(),
        0
    );
    assert_eq!(b.eval("typeof window.__xss").unwrap(), "undefined");
    assert_eq!(b.dialogs, Vec::<String>::new());
    assert_eq!(b.csp_violations().unwrap(), Vec::<String>::new());
    // The process page shows the name as its title, as text too.
    let href = b
        .eval("document.querySelector('table.toptable td.who a').getAttribute('href')")
        .unwrap();
    b.open(&format!("{url}/{}", href.as_str().unwrap()))
        .unwrap();
    let title = b
        .wait_for("document.body.dataset.page === 'process' && document.querySelector('.entity-title .name').textContent", READY)
        .unwrap();
    assert_eq!(title, comm.as_str());
    assert_eq!(
        b.eval("document.querySelectorAll('img').length").unwrap(),
        0
    );
    assert_eq!(b.exceptions, Vec::<String>::new());
    drop(b);
    // The process's API page: its flow to the sink, with the name as given.
    let encoded: String = comm.bytes().map(|c| format!("%{c:02X}")).collect();
    let page = live::in_netns(&p.a, move || {
        wirewatch_testkit::http_get(api, &format!("/api/v1/process/{encoded}?window=40s"), &[])
            .unwrap()
    });
    let page: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page["process"], comm.as_str(), "{page}");
    assert!(page["flows"].as_u64().unwrap() >= 1, "{page}");
    let sink_ip = server_addr.ip().to_string();
    assert!(
        page["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["dst"] == sink_ip.as_str()),
        "{page}"
    );
    drop(child.stdin.take());
    child.wait().unwrap();
    // SAFETY: a plain kill(2) of the capture process this test started.
    assert_eq!(unsafe { libc::kill(ww.pid() as i32, libc::SIGTERM) }, 0);
    let (code, _, err) = ww.finish();
    assert_eq!(code, 0, "{err}");
    sink.join().unwrap();
}

/// The reverse-DNS answer the injection test's hosts file gives its peer
/// (no spaces: a hosts file splits names at them). As markup it would be
/// an `<img>` whose empty `src` fails and whose handler sets
/// `window.__xss`.
const HOSTILE_HOST: &str = "<img/src/onerror=window.__xss=1>.example";

#[test]
fn a_reverse_dns_answer_with_html_appears_as_text_never_as_markup() {
    require!(wirewatch_testkit::netns());
    require!(wirewatch_testkit::browser::chromium());
    let p = live::pair(232);
    let private = require!(crate::web_names::PrivateHosts::new(&[(
        p.addr_b.to_string(),
        HOSTILE_HOST.to_string()
    )]));
    // UDP from a to a socket of b every 50 ms until the test ends.
    let (addr_a, addr_b) = (p.addr_a, p.addr_b);
    let sink = live::in_netns(&p.b, move || {
        std::net::UdpSocket::bind((addr_b, 0)).unwrap()
    });
    let to = sink.local_addr().unwrap();
    let from = live::in_netns(&p.a, move || {
        std::net::UdpSocket::bind((addr_a, 0)).unwrap()
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let sender = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            from.send_to(&[7; 500], to).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut ww = live::Running::start_in(
        &p.a,
        &private.wrapper(),
        &["-i", &p.ia, "--web", "127.0.0.1:0"],
    );
    let api = ww.web_addr();
    let url = format!("http://{api}");

    let mut b = Browser::launch_in_netns(&p.a).unwrap();
    b.emulate(1280, 800, false).unwrap();
    open_ready(&mut b, &format!("{url}/#/live?by=pair"), "live");
    let shown = format!(
        "[...document.querySelectorAll('table.toptable td.dst a')].some(a => a.textContent === {})",
        serde_json::to_string(HOSTILE_HOST).unwrap()
    );
    b.wait_for(&shown, READY)
        .unwrap_or_else(|e| panic!("{e}: {:?}", b.eval("document.body.innerText")));
    shoot(&mut b, "injection-dns", &[(1280, 800)]);
    // The address stays on the page beside the name, as a second line and
    // the tooltip.
    let cell = b
        .eval("(() => { const c = document.querySelector('table.toptable td.dst .host'); return [c.title, c.querySelector('.addr').textContent]; })()")
        .unwrap();
    assert_eq!(
        cell,
        serde_json::json!([addr_b.to_string(), addr_b.to_string()])
    );
    let no_markup = |b: &mut Browser| {
        assert_eq!(
            b.eval("document.querySelectorAll('img').length").unwrap(),
            0
        );
        assert_eq!(b.eval("typeof window.__xss").unwrap(), "undefined");
    };
    no_markup(&mut b);
    // The host's page shows the name in its title, as text too.
    b.open(&format!("{url}/#/host/{addr_b}")).unwrap();
    let title = b
        .wait_for("document.body.dataset.page === 'host' && document.querySelector('.entity-title .host-name') && document.querySelector('.entity-title .host-name').textContent", READY)
        .unwrap();
    assert_eq!(title, HOSTILE_HOST);
    no_markup(&mut b);
    assert_eq!(b.dialogs, Vec::<String>::new());
    assert_eq!(b.csp_violations().unwrap(), Vec::<String>::new());
    assert_eq!(b.exceptions, Vec::<String>::new());
    drop(b);

    // The API carries the name as it came, in a JSON string.
    let top = live::in_netns(&p.a, move || {
        wirewatch_testkit::http_get(api, "/api/v1/top?by=pair&limit=100", &[]).unwrap()
    });
    let top = json(&top);
    let entry = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dst"] == addr_b.to_string())
        .unwrap_or_else(|| panic!("no entry to {addr_b}: {top}"));
    assert_eq!(entry["dst_name"], HOSTILE_HOST, "{entry}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    // SAFETY: a plain kill(2) of the capture process this test started.
    assert_eq!(unsafe { libc::kill(ww.pid() as i32, libc::SIGTERM) }, 0);
    let (code, _, err) = ww.finish();
    assert_eq!(code, 0, "{err}");
}
