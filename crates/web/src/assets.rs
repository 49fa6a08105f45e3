//! The dashboard: static files embedded in the binary (`include_str!`, no
//! build step), served at `/` and under `/assets/`, and the security headers
//! every answer carries.
//!
//! Each file has an `ETag` (a hash of its content, fixed at compile time) and
//! `Cache-Control: no-cache`: a browser keeps its copy and asks again with
//! `If-None-Match`, which is answered `304` without a body until the binary
//! changes. The page loads nothing from elsewhere (no CDN); the only
//! third-party file is uPlot, vendored with its licence
//! (`assets/vendor/VENDORED.md`).

use crate::api::Answer;

/// The Content-Security-Policy of every answer: scripts and styles from
/// this server only (no inline script or style), no framing, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The Referrer-Policy of every answer.
pub const REFERRER_POLICY: &str = "no-referrer";

/// `Cache-Control` of the dashboard's files: keep, but revalidate.
pub const CACHE_FILES: &str = "no-cache";

/// `Cache-Control` of everything else (API answers change every second).
pub const CACHE_OTHER: &str = "no-store";

/// One embedded file.
struct File {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: u64,
}

const fn file(path: &'static str, content_type: &'static str, body: &'static str) -> File {
    File {
        path,
        content_type,
        body,
        etag: fnv1a(body.as_bytes()),
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

static FILES: [File; 7] = [
    file("/", HTML, include_str!("../assets/index.html")),
    file("/assets/app.js", JS, include_str!("../assets/app.js")),
    file("/assets/app.css", CSS, include_str!("../assets/app.css")),
    file(
        "/assets/vendor/uplot/uPlot.iife.min.js",
        JS,
        include_str!("../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    file(
        "/assets/vendor/uplot/uPlot.min.css",
        CSS,
        include_str!("../assets/vendor/uplot/uPlot.min.css"),
    ),
    file(
        "/assets/vendor/uplot/LICENSE",
        TEXT,
        include_str!("../assets/vendor/uplot/LICENSE"),
    ),
    file(
        "/assets/vendor/VENDORED.md",
        TEXT,
        include_str!("../assets/vendor/VENDORED.md"),
    ),
];

/// 64-bit FNV-1a, evaluated at compile time for the ETags.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

fn find(path: &str) -> Option<&'static File> {
    let path = if path == "/index.html" { "/" } else { path };
    FILES.iter().find(|f| f.path == path)
}

/// Whether `path` is the dashboard's to answer (`/` or under `/assets/`).
pub fn is_asset_path(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.starts_with("/assets/")
}

/// The file at `path` (`/`, `/index.html` or `/assets/…`), or None.
pub fn get(path: &str) -> Option<Answer> {
    find(path).map(|f| Answer {
        status: 200,
        content_type: f.content_type,
        body: f.body.to_string(),
    })
}

/// `path`'s ETag (quoted, as the header carries it), for a dashboard file.
pub fn etag(path: &str) -> Option<String> {
    find(path).map(|f| format!("\"{:016x}\"", f.etag))
}

/// `Cache-Control` for the answer to `path`.
pub fn cache_control(path: &str) -> &'static str {
    if find(path).is_some() {
        CACHE_FILES
    } else {
        CACHE_OTHER
    }
}

/// `304 Not Modified` when `if_none_match` (the request's header) names
/// `path`'s current ETag (or is `*`); else None.
pub fn not_modified(path: &str, if_none_match: Option<&[u8]>) -> Option<Answer> {
    let tag = etag(path)?;
    let given = std::str::from_utf8(if_none_match?).ok()?;
    let hit = given
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    hit.then(|| Answer {
        status: 304,
        content_type: TEXT,
        body: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type_and_others_are_not() {
        let page = get("/").unwrap();
        assert_eq!((page.status, page.content_type), (200, HTML));
        assert!(page.body.contains("/assets/app.js"));
        assert_eq!(get("/index.html"), Some(page));
        let js = get("/assets/vendor/uplot/uPlot.iife.min.js").unwrap();
        assert!(js
            .body
            .starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.32) */"));
        assert_eq!(js.content_type, JS);
        assert_eq!(get("/assets/app.css").unwrap().content_type, CSS);
        assert!(get("/assets/vendor/uplot/LICENSE")
            .unwrap()
            .body
            .contains("Leon Sorokin"));
        for missing in ["/assets/", "/assets/nope.js", "/assets/../Cargo.toml", "/x"] {
            assert_eq!(get(missing), None, "{missing}");
        }
        assert!(is_asset_path("/assets/nope.js") && is_asset_path("/"));
        assert!(!is_asset_path("/api/v1/top"));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_no_markup_from_data() {
        let page = get("/").unwrap().body;
        for bad in [
            "<script>", "style=", "<style", "onclick", "http://", "https://",
        ] {
            assert!(!page.contains(bad), "index.html has {bad}");
        }
        // Every <script> has a src on this server.
        assert_eq!(
            page.matches("<script ").count(),
            page.matches("<script src=\"/assets/").count()
        );
        let js = get("/assets/app.js").unwrap().body;
        for bad in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!js.contains(bad), "app.js uses {bad}");
        }
    }

    #[test]
    fn etags_differ_per_file_and_revalidate_to_304() {
        let tag = etag("/assets/app.js").unwrap();
        assert_ne!(Some(tag.clone()), etag("/assets/app.css"));
        assert_eq!(etag("/api/v1/top"), None);
        let hit = not_modified("/assets/app.js", Some(tag.as_bytes())).unwrap();
        assert_eq!((hit.status, hit.body.as_str()), (304, ""));
        let list = format!("\"x\", W/{tag}");
        assert!(not_modified("/assets/app.js", Some(list.as_bytes())).is_some());
        assert_eq!(not_modified("/assets/app.js", Some(b"\"other\"")), None);
        assert_eq!(not_modified("/assets/app.js", None), None);
        assert_eq!(not_modified("/api/v1/top", Some(b"*")), None);
        assert_eq!(cache_control("/"), CACHE_FILES);
        assert_eq!(cache_control("/api/v1/top"), CACHE_OTHER);
    }
}
