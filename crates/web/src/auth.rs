//! Bearer tokens: read from their files, or made at first start; checked
//! in constant time; `/metrics` may have its own.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Random bytes in a generated token (written as hex).
const TOKEN_BYTES: usize = 32;

/// The tokens the server asks for.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    /// Every path (`--web-token-file`).
    pub main: Option<String>,
    /// `/metrics` only (`--web-metrics-token-file`).
    pub metrics: Option<String>,
}

/// The path only the metrics token opens.
pub const METRICS_PATH: &str = "/metrics";

impl Tokens {
    /// Whether a request for `path` with this `Authorization` header value
    /// may be answered. With a metrics token, `/metrics` takes it or the
    /// main token; every other path takes only the main token; a path no
    /// token guards is open.
    pub fn allows(&self, path: &str, authorization: Option<&[u8]>) -> bool {
        let given = authorization.and_then(|v| v.strip_prefix(b"Bearer "));
        let fits = |want: &Option<String>| {
            want.as_ref()
                .is_some_and(|w| given.is_some_and(|g| same_token(g, w.as_bytes())))
        };
        if path == METRICS_PATH && self.metrics.is_some() {
            fits(&self.metrics) || fits(&self.main)
        } else {
            self.main.is_none() || fits(&self.main)
        }
    }
}

/// Whether `given` equals `want`, in a time that does not depend on where
/// they differ (only on the length of `given`).
pub fn same_token(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, &g) in given.iter().enumerate() {
        diff |= g ^ want.get(i % want.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

/// The token in `path` (its first line, trimmed; empty is an error). A
/// file that does not exist is made: 32 random bytes as hex, mode 0600;
/// then the second value is the line to tell the user (once: later starts
/// read the file).
pub fn load(path: &Path, what: &str) -> anyhow::Result<(String, Option<String>)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.lines().next().unwrap_or("").trim().to_string();
            if token.is_empty() {
                anyhow::bail!("{what} {}: the file is empty", path.display());
            }
            Ok((token, None))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate(path)
                .map_err(|e| anyhow::anyhow!("{what} {}: making a token: {e}", path.display()))?;
            // Shown this once (the "printed once"); later starts
            // read the file and say nothing.
            let note = format!(
                "{what} {} did not exist: made a new random token in it (mode 0600), shown this once: {token}; clients send it as 'Authorization: Bearer TOKEN'",
                path.display()
            );
            Ok((token, Some(note)))
        }
        Err(e) => anyhow::bail!("{what} {}: {e}", path.display()),
    }
}

/// Writes a new token to `path` (which must not exist), readable by its
/// owner only.
fn generate(path: &Path) -> std::io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{token}")?;
    f.sync_all()?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"secret", b"secret"));
        assert!(!same_token(b"secreT", b"secret"));
        assert!(!same_token(b"secre", b"secret"));
        assert!(!same_token(b"secret1", b"secret"));
        assert!(!same_token(b"", b"secret"));
    }

    #[test]
    fn metrics_take_their_token_or_the_main_one_and_the_rest_only_the_main_one() {
        let t = Tokens {
            main: Some("main".into()),
            metrics: Some("scrape".into()),
        };
        let ok = |path: &str, h: &str| t.allows(path, Some(h.as_bytes()));
        assert!(ok("/metrics", "Bearer scrape"));
        assert!(ok("/metrics", "Bearer main"));
        assert!(!ok("/metrics", "Bearer other"));
        assert!(!t.allows("/metrics", None));
        assert!(ok("/api/v1/top", "Bearer main"));
        assert!(!ok("/api/v1/top", "Bearer scrape"));
        // Only a metrics token: the API stays open, /metrics does not.
        let t = Tokens {
            main: None,
            metrics: Some("scrape".into()),
        };
        assert!(t.allows("/api/v1/top", None));
        assert!(!t.allows("/metrics", None));
        assert!(t.allows("/metrics", Some(b"Bearer scrape")));
        assert!(Tokens::default().allows("/metrics", None));
    }

    #[test]
    fn a_missing_token_file_is_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let (made, note) = load(&path, "web token file").unwrap();
        assert_eq!(made.len(), 2 * TOKEN_BYTES);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        let note = note.expect("a note the first time");
        assert!(note.contains(&path.display().to_string()) && note.contains(&made));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(&path, "x").unwrap(), (made.clone(), None));
        let (other, _) = load(&dir.path().join("second"), "x").unwrap();
        assert_ne!(other, made);
        std::fs::write(&path, "\n").unwrap();
        let e = load(&path, "web token file").unwrap_err().to_string();
        assert!(e.ends_with("the file is empty"), "{e}");
        let e = load(&dir.path().join("no/such/dir"), "web token file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/dir: making a token:"), "{e}");
    }
}
