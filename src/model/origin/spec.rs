//! Parsing of origin strings: `echo`, `http://host[:port]`, `h2c://host[:port]`,
//! `https://host[:port]`.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An origin string that does not parse; names the string and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("origin {input:?}: {problem}")]
pub struct OriginSpecError {
    pub input: String,
    pub problem: String,
}

/// A parsed origin: "echo", "http://host:port", "h2c://host:port", "https://host:port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSpec {
    /// The built-in origin that answers with a JSON description of the request.
    Echo,
    /// A plain-HTTP origin; `authority` is `host[:port]`, lower-cased.
    Http {
        /// `host[:port]` as sent in the Host header.
        authority: String,
    },
    /// A plain-HTTP origin spoken to in HTTP/2 with prior knowledge (no upgrade, no ALPN).
    H2c {
        /// `host[:port]`, lower-cased.
        authority: String,
    },
    /// A TLS origin, verified against the configured roots.
    Https {
        /// `host[:port]` as sent in the Host header.
        authority: String,
        /// The name the origin's certificate must match (no port, no IPv6 brackets).
        host: String,
    },
}

impl fmt::Display for OriginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginSpec::Echo => f.write_str("echo"),
            OriginSpec::Http { authority } => write!(f, "http://{authority}"),
            OriginSpec::H2c { authority } => write!(f, "h2c://{authority}"),
            OriginSpec::Https { authority, .. } => write!(f, "https://{authority}"),
        }
    }
}

/// The built-in echo origin: what `[proxy] default_origin` defaults to.
impl Default for OriginSpec {
    fn default() -> Self {
        OriginSpec::Echo
    }
}

impl FromStr for OriginSpec {
    type Err = OriginSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map_err(|problem| OriginSpecError {
            input: s.to_string(),
            problem,
        })
    }
}

fn parse(s: &str) -> Result<OriginSpec, String> {
    if s == "echo" {
        return Ok(OriginSpec::Echo);
    }
    let (scheme, rest) = split_scheme(s)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
    check_no_extras(&authority)?;
    let (host, port) = split_host_port(&authority)?;
    check_host(host)?;
    check_port(port)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(match scheme {
        Scheme::Http => OriginSpec::Http { authority },
        Scheme::H2c => OriginSpec::H2c { authority },
        Scheme::Https => OriginSpec::Https { authority, host },
    })
}

enum Scheme {
    Http,
    H2c,
    Https,
}

/// The scheme, and what follows `://`.
fn split_scheme(s: &str) -> Result<(Scheme, &str), String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(
            "must be \"echo\", http://host:port, h2c://host:port or https://host:port".into(),
        );
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok((Scheme::Http, rest)),
        "h2c" => Ok((Scheme::H2c, rest)),
        "https" => Ok((Scheme::Https, rest)),
        other => Err(format!(
            "unsupported scheme {other:?} (use http, h2c or https)"
        )),
    }
}

fn check_no_extras(authority: &str) -> Result<(), String> {
    let problems = [
        ('/', "must not have a path"),
        ('?', "must not have a query"),
        ('#', "must not have a fragment"),
        ('@', "must not have userinfo"),
    ];
    for (c, problem) in problems {
        if authority.contains(c) {
            return Err(problem.into());
        }
    }
    if authority.is_empty() {
        return Err("has no host".into());
    }
    Ok(())
}

/// Splits `host[:port]`, keeping IPv6 brackets on the host.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    let host_end = if authority.starts_with('[') {
        authority
            .find(']')
            .map(|i| i + 1)
            .ok_or("has an unclosed IPv6 bracket")?
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, tail) = authority.split_at(host_end);
    match tail.strip_prefix(':') {
        Some(port) => Ok((host, Some(port))),
        None if tail.is_empty() => Ok((host, None)),
        None => Err(format!("has unexpected text {tail:?} after the host")),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        return inner
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("{host:?} is not an IPv6 address"));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host.chars().all(valid) {
        return Err(format!("host {host:?} has invalid characters"));
    }
    Ok(())
}

fn check_port(port: Option<&str>) -> Result<(), String> {
    let Some(port) = port else {
        return Ok(());
    };
    let all_digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(p) if p != 0 && all_digits => Ok(()),
        _ => Err(format!("port {port:?} must be a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> OriginSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<OriginSpec>().unwrap_err().to_string()
    }

    fn http(a: &str) -> OriginSpec {
        OriginSpec::Http {
            authority: a.into(),
        }
    }

    fn https(a: &str, h: &str) -> OriginSpec {
        OriginSpec::Https {
            authority: a.into(),
            host: h.into(),
        }
    }

    #[test]
    fn parses_good_origins() {
        assert_eq!(ok("echo"), OriginSpec::Echo);
        assert_eq!(ok("http://127.0.0.1:9000"), http("127.0.0.1:9000"));
        assert_eq!(ok("http://127.0.0.1:9000/"), http("127.0.0.1:9000"));
        assert_eq!(
            ok("HTTP://Backend.Internal:80"),
            http("backend.internal:80")
        );
        assert_eq!(ok("http://backend"), http("backend"));
        assert_eq!(
            ok("H2C://Grpc.Internal:50051"),
            OriginSpec::H2c {
                authority: "grpc.internal:50051".into()
            }
        );
        assert_eq!(
            ok("https://api.example.com:8443"),
            https("api.example.com:8443", "api.example.com")
        );
        assert_eq!(ok("https://[::1]:8443/"), https("[::1]:8443", "::1"));
        assert_eq!(
            ok("https://svc_a.local"),
            https("svc_a.local", "svc_a.local")
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "echo",
            "http://a:1",
            "h2c://a:2",
            "https://[::1]:8443",
            "https://b.example",
        ] {
            assert_eq!(ok(s).to_string(), s);
            assert_eq!(ok(&ok(s).to_string()), ok(s));
        }
    }

    #[test]
    fn rejects_bad_origins_naming_the_problem() {
        let cases = [
            ("", "must be \"echo\""),
            ("Echo", "must be \"echo\""),
            ("localhost:8080", "must be \"echo\""),
            ("ftp://host:21", "unsupported scheme \"ftp\""),
            ("ws://host:80", "unsupported scheme"),
            ("http://host:80/path", "path"),
            ("h2c://host:80/path", "path"),
            ("h2c://", "no host"),
            ("h2://host:80", "unsupported scheme \"h2\""),
            ("http://host:80//", "path"),
            ("http://host:80?x=1", "query"),
            ("http://host:80/?x=1", "path"),
            ("http://host#frag", "fragment"),
            ("http://user:pw@host:80", "userinfo"),
            ("http://", "no host"),
            ("http:///", "no host"),
            ("http://:80", "no host"),
            ("http://host:", "port \"\""),
            ("http://host:0", "port \"0\""),
            ("http://host:65536", "port \"65536\""),
            ("http://host:+80", "port \"+80\""),
            ("http://host:8x", "port"),
            ("http://ho st:80", "invalid characters"),
            ("http://host:80:90", "port"),
            ("https://[::1", "unclosed IPv6"),
            ("https://[nope]:80", "not an IPv6"),
            ("https://[::1]x", "unexpected text"),
        ];
        for (input, want) in cases {
            let e = err(input);
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(e.contains(&format!("{input:?}")), "{input:?}: {e}");
        }
    }
}
