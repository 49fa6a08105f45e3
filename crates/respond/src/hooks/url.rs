//! Webhook URLs: `http://` or `https://`, a host (name, IPv4, `[IPv6]`),
//! an optional port and a path with its query; parsed once at config time.

use std::fmt;

/// A parsed webhook URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookUrl {
    /// `https://`.
    pub tls: bool,
    /// The host name or address, without brackets.
    pub host: String,
    /// The port, the scheme's default when none is written.
    pub port: u16,
    /// The path and query, at least `/`.
    pub path: String,
}

/// What is wrong with a webhook URL; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `SCHEME://…`.
    #[error("webhook URL '{0}': expected http://HOST[:PORT]/PATH or https://…")]
    Shape(String),
    /// A scheme other than http and https.
    #[error("webhook URL '{url}': scheme '{scheme}' is not supported (http:// or https:// only)")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// Nothing between `://` and the port or path.
    #[error("webhook URL '{0}': the host is empty")]
    EmptyHost(String),
    /// A port that is not a number from 1 to 65535.
    #[error("webhook URL '{url}': port '{port}' is not a number from 1 to 65535")]
    Port {
        /// The URL.
        url: String,
        /// The port as written.
        port: String,
    },
    /// `user:password@` in the URL.
    #[error("webhook URL '{0}': credentials in the URL are not supported (use headers, e.g. Authorization)")]
    Credentials(String),
    /// Spaces or control characters.
    #[error("webhook URL '{0}': spaces and control characters must be percent-encoded")]
    Characters(String),
    /// A host with characters no host name has.
    #[error("webhook URL '{url}': '{host}' is not a host name or address")]
    Host {
        /// The URL.
        url: String,
        /// The host as written.
        host: String,
    },
}

impl HookUrl {
    /// Parses `http://HOST[:PORT][/PATH][?QUERY]` (or https); a `#fragment`
    /// is dropped, as browsers never send it either.
    pub fn parse(s: &str) -> Result<HookUrl, UrlError> {
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Characters(s.into()));
        }
        let (scheme, rest) = s.split_once("://").ok_or(UrlError::Shape(s.into()))?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, 80),
            "https" => (true, 443),
            _ => {
                return Err(UrlError::Scheme {
                    url: s.into(),
                    scheme: scheme.into(),
                })
            }
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::Credentials(s.into()));
        }
        let (host, port) = split_port(s, authority)?;
        check_host(s, host)?;
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(HookUrl {
            tls,
            host: host.to_string(),
            port: port.unwrap_or(default_port),
            path,
        })
    }

    /// The `Host` header's value: the port only when not the default.
    pub fn host_header(&self) -> String {
        let host = self.bracketed_host();
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }

    fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → host and port as written.
fn split_port<'a>(url: &str, authority: &'a str) -> Result<(&'a str, Option<u16>), UrlError> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or(UrlError::Host {
                url: url.into(),
                host: authority.into(),
            })?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(UrlError::EmptyHost(url.into()));
    }
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(UrlError::Port {
                url: url.into(),
                port: p.into(),
            }),
        })
        .transpose()?;
    Ok((host, port))
}

/// Letters, digits, `-`, `.`, `_`, and `:` for IPv6 addresses.
fn check_host(url: &str, host: &str) -> Result<(), UrlError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-._:".contains(c);
    if host.chars().all(ok) {
        Ok(())
    } else {
        Err(UrlError::Host {
            url: url.into(),
            host: host.into(),
        })
    }
}

impl fmt::Display for HookUrl {
    /// The URL as it will be requested.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(tls: bool, host: &str, port: u16, path: &str) -> HookUrl {
        HookUrl {
            tls,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn good_urls_are_split_into_their_parts() {
        let cases = [
            (
                "http://127.0.0.1:8080/hook",
                url(false, "127.0.0.1", 8080, "/hook"),
            ),
            (
                "https://hooks.slack.com/services/T0/B0/x",
                url(true, "hooks.slack.com", 443, "/services/T0/B0/x"),
            ),
            ("HTTP://example.org", url(false, "example.org", 80, "/")),
            (
                "http://example.org?a=1#frag",
                url(false, "example.org", 80, "/?a=1"),
            ),
            (
                "https://[2001:db8::1]:8443/x?y",
                url(true, "2001:db8::1", 8443, "/x?y"),
            ),
            ("https://[::1]/", url(true, "::1", 443, "/")),
        ];
        for (text, want) in cases {
            assert_eq!(HookUrl::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn urls_are_written_back_with_the_port_only_when_not_the_default() {
        for text in [
            "http://127.0.0.1:8080/hook",
            "https://example.org/x?y=1",
            "https://[::1]:8443/",
        ] {
            assert_eq!(HookUrl::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(HookUrl::parse("http://h:80").unwrap().host_header(), "h");
        assert_eq!(
            HookUrl::parse("https://h:80").unwrap().host_header(),
            "h:80"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong_in_one_line() {
        let cases = [
            (
                "ftp://h/x",
                "scheme 'ftp' is not supported (http:// or https:// only)",
            ),
            ("h/x", "expected http://HOST[:PORT]/PATH or https://…"),
            ("http:///x", "the host is empty"),
            ("http://:80/x", "the host is empty"),
            ("http://h:0/x", "port '0' is not a number from 1 to 65535"),
            (
                "http://h:65536/x",
                "port '65536' is not a number from 1 to 65535",
            ),
            (
                "http://h:+80/x",
                "port '+80' is not a number from 1 to 65535",
            ),
            ("http://h:/x", "port '' is not a number from 1 to 65535"),
            ("http://u:p@h/x", "credentials in the URL are not supported"),
            (
                "http://h x/",
                "spaces and control characters must be percent-encoded",
            ),
            ("http://h%2f/", "'h%2f' is not a host name or address"),
            ("http://[::1/", "'[::1' is not a host name or address"),
        ];
        for (text, want) in cases {
            let e = HookUrl::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with(&format!("webhook URL '{text}'")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
