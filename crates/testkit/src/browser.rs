//! A headless Chromium driven over the DevTools protocol on
//! `--remote-debugging-pipe` (fd 3 takes commands, fd 4 gives replies and
//! events; JSON messages ended by a NUL byte). No WebSocket and no browser
//! crate: `serde_json` and `libc` only.
//!
//! ```no_run
//! let mut b = wirewatch_testkit::require!(wirewatch_testkit::browser::Browser::launch());
//! b.open("http://127.0.0.1:8080/").unwrap();
//! b.wait_for("document.body.dataset.ready", std::time::Duration::from_secs(20)).unwrap();
//! b.screenshot(1280, 800, std::path::Path::new("shot.png"), false).unwrap();
//! assert!(b.csp_violations().unwrap().is_empty());
//! ```
//!
//! Every page opened counts its Content-Security-Policy violations (a
//! listener installed before the page's own scripts run) and the browser
//! records uncaught exceptions and dialogs (`alert()`), which it dismisses.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest wait for one reply of the browser.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Run in every page before its scripts: counts CSP violations.
const CSP_LISTENER: &str = "window.__cspViolations = [];\
document.addEventListener('securitypolicyviolation', function (e) {\
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);\
});";

/// A running headless Chromium with one page; killed on drop.
pub struct Browser {
    child: Child,
    profile: std::path::PathBuf,
    to: std::fs::File,
    from: std::fs::File,
    pending: Vec<u8>,
    next_id: u64,
    session: String,
    /// Uncaught exceptions in the page (their descriptions).
    pub exceptions: Vec<String>,
    /// Messages of the dialogs (`alert()`, `confirm()`…) the page opened.
    pub dialogs: Vec<String>,
}

/// `Err` when chromium is not installed (the reason, for a skip).
pub fn chromium() -> Result<std::path::PathBuf, String> {
    crate::tool("chromium")
        .map_err(|_| "chromium not on PATH (Debian package chromium)".to_string())
}

/// A pipe with both ends moved to fds above 9 (so `dup2` onto 3 and 4 in the
/// child never closes one of them), close-on-exec.
fn high_pipe() -> std::io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut high = [0; 2];
    for (h, fd) in high.iter_mut().zip(fds) {
        // SAFETY: duplicating and closing fds this function just made.
        unsafe {
            *h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            libc::close(fd);
        }
        if *h < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok((high[0], high[1]))
}

fn io_err(e: impl std::fmt::Display) -> String {
    format!("chromium: {e}")
}

impl Browser {
    /// Starts `chromium --headless --remote-debugging-pipe` with one blank
    /// page. `Err` says why (not installed, did not start).
    pub fn launch() -> Result<Browser, String> {
        Browser::launch_with(&[])
    }

    /// [`Browser::launch`] inside the network namespace `ns` (made by
    /// `ip netns add`), to reach a server on that namespace's loopback.
    pub fn launch_in_netns(ns: &str) -> Result<Browser, String> {
        crate::netns()?;
        Browser::launch_with(&["ip", "netns", "exec", ns])
    }

    /// Starts chromium through `wrapper` (a command that runs the rest of
    /// its arguments, keeping fds 3 and 4), or directly when it is empty.
    fn launch_with(wrapper: &[&str]) -> Result<Browser, String> {
        let program = chromium()?;
        let (cmd_r, cmd_w) = high_pipe().map_err(io_err)?;
        let (out_r, out_w) = high_pipe().map_err(io_err)?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "wirewatch-chromium-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-pipe",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe dup2 calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(out_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        // SAFETY: the child's ends, ours to close whatever happened.
        unsafe {
            libc::close(cmd_r);
            libc::close(out_w);
        }
        let child = spawned.map_err(io_err)?;
        // SAFETY: fds made by high_pipe, owned by nothing else.
        let (to, from) = unsafe {
            (
                std::fs::File::from_raw_fd(cmd_w),
                std::fs::File::from_raw_fd(out_r),
            )
        };
        let mut b = Browser {
            child,
            profile,
            to,
            from,
            pending: Vec::new(),
            next_id: 0,
            session: String::new(),
            exceptions: Vec::new(),
            dialogs: Vec::new(),
        };
        b.attach()?;
        Ok(b)
    }

    /// Makes the page and attaches to it; enables what the tests use.
    fn attach(&mut self) -> Result<(), String> {
        let target = self.call_browser("Target.createTarget", json!({"url": "about:blank"}))?;
        let id = target["targetId"].as_str().unwrap_or_default().to_string();
        let s = self.call_browser(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        )?;
        self.session = s["sessionId"].as_str().unwrap_or_default().to_string();
        self.call("Page.enable", json!({}))?;
        self.call("Runtime.enable", json!({}))?;
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": CSP_LISTENER}),
        )?;
        Ok(())
    }

    /// Sends `method` to the browser itself (no session).
    fn call_browser(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.send(None, method, params)
    }

    /// Sends `method` to the page and waits for its result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    fn send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut m = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            m["sessionId"] = json!(s);
        }
        let mut bytes = m.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).map_err(io_err)?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let v = self.message(deadline)?;
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    return Err(format!("chromium: {method}: {e}"));
                }
                return Ok(v["result"].clone());
            }
            self.event(&v)?;
        }
    }

    /// Records an event; dismisses dialogs so the page goes on.
    fn event(&mut self, v: &Value) -> Result<(), String> {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &v["params"]["exceptionDetails"];
                let text = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?");
                self.exceptions.push(text.to_string());
            }
            Some("Page.javascriptDialogOpening") => {
                let msg = v["params"]["message"].as_str().unwrap_or_default();
                self.dialogs.push(msg.to_string());
                let session = self.session.clone();
                self.next_id += 1;
                let m = json!({"id": self.next_id, "sessionId": session,
                    "method": "Page.handleJavaScriptDialog", "params": {"accept": false}});
                let mut bytes = m.to_string().into_bytes();
                bytes.push(0);
                self.to.write_all(&bytes).map_err(io_err)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The next NUL-ended message, waiting at most until `deadline`.
    fn message(&mut self, deadline: Instant) -> Result<Value, String> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == 0) {
                let msg: Vec<u8> = self.pending.drain(..=end).collect();
                return serde_json::from_slice(&msg[..end]).map_err(io_err);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("chromium: no reply in time".into());
            }
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&self.from),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one pollfd we own.
            if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                continue;
            }
            let mut buf = [0u8; 64 * 1024];
            let n = self.from.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                return Err("chromium closed its pipe".into());
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Loads `url` in the page (returns when the navigation is under way;
    /// use [`Browser::wait_for`] for the page's own readiness).
    pub fn open(&mut self, url: &str) -> Result<(), String> {
        let r = self.call("Page.navigate", json!({"url": url}))?;
        match r["errorText"].as_str() {
            Some(e) if !e.is_empty() => Err(format!("chromium: opening {url}: {e}")),
            _ => Ok(()),
        }
    }

    /// Evaluates the expression `js` in the page (promises are awaited) and
    /// returns its value as JSON; an exception is an `Err`.
    pub fn eval(&mut self, js: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(d) = r.get("exceptionDetails") {
            return Err(format!("{js}: {}", d["exception"]["description"]));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `js` every 100 ms until its value is truthy (returned),
    /// or fails after `timeout` with the last value or error. An exception
    /// counts as not yet (the page may be between two documents).
    pub fn wait_for(&mut self, js: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.eval(js) {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => v.to_string(),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!("{js} still {last} after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets the viewport (`w`×`h` CSS pixels, phone-like below 500 wide)
    /// and the colour scheme the page sees.
    pub fn emulate(&mut self, w: u32, h: u32, dark: bool) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 500}),
        )?;
        let scheme = if dark { "dark" } else { "light" };
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )?;
        Ok(())
    }

    /// Writes a `w`×`h` PNG of the page in the light or dark scheme to
    /// `path` (its directory is made). Charts follow the new width after
    /// a short pause.
    pub fn screenshot(&mut self, w: u32, h: u32, path: &Path, dark: bool) -> Result<(), String> {
        self.emulate(w, h, dark)?;
        // Let resize listeners and the colour scheme settle.
        self.eval("new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))")?;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
        )?;
        let png = base64_decode(r["data"].as_str().unwrap_or_default())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The CSP violations the current page reported (directive and URL).
    pub fn csp_violations(&mut self) -> Result<Vec<String>, String> {
        let v = self.eval("window.__cspViolations || ['the CSP listener did not run']")?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// JavaScript's truthiness of a returned value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Standard base64 (with or without padding) to bytes.
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let val = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not base64: {:?}", c as char)),
        }
        .into())
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let [_, a, b, c] = n.to_be_bytes();
        out.push(a);
        if chunk.len() > 2 {
            out.push(b);
        }
        if chunk.len() > 3 {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert!(base64_decode("a$==").is_err());
    }

    #[test]
    fn a_page_is_evaluated_and_screenshotted() {
        crate::require!(chromium());
        let mut b = Browser::launch().unwrap();
        b.open("data:text/html,<title>t</title><p id=x>hi</p>")
            .unwrap();
        let v = b
            .wait_for(
                "document.getElementById('x') && document.getElementById('x').textContent",
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(v, "hi");
        assert_eq!(b.eval("1 + 2").unwrap(), 3);
        assert!(b.eval("nosuchname.x").is_err());
        let dir = std::env::temp_dir().join(format!("wirewatch-browser-{}", std::process::id()));
        let png = dir.join("shot.png");
        b.screenshot(390, 844, &png, true).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // The IHDR chunk: width and height, big-endian.
        assert_eq!(&bytes[16..24], &[0, 0, 1, 134, 0, 0, 3, 76]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
