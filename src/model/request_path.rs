//! The request path as path-prefix rules see it. A rule on `/admin` is only as good as the
//! agreement between the proxy and the origin on what `/admin` is: `//admin`, `/%61dmin`,
//! `/public/../admin` and `/public/..;/admin` all reach `/admin` on some origin. So the path is
//! normalised before it is matched, the normalised path is what the origin receives, and what
//! cannot be normalised without guessing how the origin reads it is refused (Envoy
//! CVE-2019-9901 and the Tomcat `..;/` bypasses came from matching a path the origin read
//! differently).
//!
//! Normalising: percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded,
//! other escapes get upper-case hex, runs of `/` become one. Refused: a path that does not start
//! with `/`, a broken escape, an encoded `/` or `\`, a literal `\`, and any `.` or `..` segment
//! (also with `;` parameters) — clients resolve dot segments before sending, so only crafted
//! requests carry them. Prefixes are then matched against the path without its `;`
//! parameters ([`without_parameters`]), the form servlet containers route on.

use std::borrow::Cow;

/// Why a path cannot be matched against path rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request path does not start with /")]
    NotAbsolute,
    #[error("the request path holds a malformed percent escape")]
    BadEscape,
    #[error("the request path holds an encoded / or \\, or a backslash")]
    AmbiguousSeparator,
    #[error("the request path holds a . or .. segment")]
    DotSegment,
}

/// The normalised form of an origin-form path (without its query), borrowed when the input is
/// already normal.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let out = if needs_rewrite(path) {
        Cow::Owned(rewrite(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if out.contains('\\') {
        return Err(PathError::AmbiguousSeparator);
    }
    if out.split('/').any(is_dot_segment) {
        return Err(PathError::DotSegment);
    }
    Ok(out)
}

fn needs_rewrite(path: &str) -> bool {
    path.contains('%') || path.contains("//")
}

/// Decode unreserved escapes, upper-case the others, merge slashes.
fn rewrite(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
            let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadEscape);
            };
            let decoded = hi << 4 | lo;
            match decoded {
                b'/' | b'\\' => return Err(PathError::AmbiguousSeparator),
                c if is_unreserved(c) => out.push(char::from(c)),
                c => {
                    out.push('%');
                    crate::hex::push_byte(&mut out, c, crate::hex::Case::Upper);
                }
            }
            i += 3;
            continue;
        }
        if !(b == b'/' && out.ends_with('/')) {
            // `path` is a str and `b` is not '%': copying byte by byte keeps UTF-8 sequences
            // whole because they are copied in order.
            match path.get(i..=i) {
                Some(s) => out.push_str(s),
                None => {
                    let end = next_boundary(path, i);
                    out.push_str(path.get(i..end).unwrap_or(""));
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

/// The next char boundary after `i` (for a multi-byte character starting at `i`).
fn next_boundary(s: &str, i: usize) -> usize {
    (i + 1..=s.len())
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(s.len())
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// `.` or `..`, alone or with `;` parameters (`..;jsessionid=x`, which Tomcat resolves).
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    name == "." || name == ".."
}

/// Whether `path` (normalised) falls under `prefix` (normalised, without `;`): a plain string
/// prefix, as Envoy's `prefix` and nginx's `location` (`/admin` also covers `/admins`), of the
/// path with its `;` parameters removed (see [`without_parameters`]).
pub fn under(path: &str, prefix: &str) -> bool {
    without_parameters(path).starts_with(prefix)
}

/// The path as servlet containers (Tomcat, Jetty, Spring) resolve it: `;` parameters dropped
/// from every segment, then the empty segments that leaves merged. To them `/;x/admin` and
/// `/admin;x/users` are `/admin` and `/admin/users`, so prefix rules judge this form (the
/// Shiro and Spring Security `;` bypasses came from matching the raw one). For an origin that
/// reads `;` literally this only puts more paths under a prefix, never fewer: a prefix holds
/// no `;`, so a path it covers keeps its first `;` past the prefix.
pub fn without_parameters(path: &str) -> Cow<'_, str> {
    if !path.contains(';') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/') {
        let name = segment.split(';').next().unwrap_or(segment);
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(name);
    }
    // `split` starts with the empty text before the leading `/`, which pushed that `/`.
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_borrowed() {
        for p in ["/", "/admin", "/a/b.c/d~e_f-g", "/a;b=c", "/caf\u{e9}"] {
            assert!(
                matches!(normalize(p), Ok(Cow::Borrowed(q)) if q == p),
                "{p}"
            );
        }
    }

    #[test]
    fn escapes_and_slashes_are_normalised() {
        let cases = [
            ("/%61dmin", "/admin"),
            ("//admin", "/admin"),
            ("/a///b//", "/a/b/"),
            ("/%7e%2d", "/~-"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/%e2%82%ac", "/%E2%82%AC"),
            ("/caf\u{e9}//x", "/caf\u{e9}/x"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases = [
            ("admin", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("/a%2", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/a%2fb", PathError::AmbiguousSeparator),
            ("/a%2Fb", PathError::AmbiguousSeparator),
            ("/a%5cb", PathError::AmbiguousSeparator),
            ("/a\\b", PathError::AmbiguousSeparator),
            ("/public/../admin", PathError::DotSegment),
            ("/public/%2e%2e/admin", PathError::DotSegment),
            ("/public/..;/admin", PathError::DotSegment),
            ("/./admin", PathError::DotSegment),
            ("/admin/.", PathError::DotSegment),
            ("/admin/..", PathError::DotSegment),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), Err(want), "{raw}");
        }
        assert!(normalize("/a/...").is_ok(), "three dots are a name");
        assert!(normalize("/.well-known/x").is_ok());
    }

    #[test]
    fn prefix_is_a_string_prefix() {
        assert!(under("/admin", "/admin"));
        assert!(under("/admin/x", "/admin"));
        assert!(under("/admins", "/admin"));
        assert!(!under("/adm", "/admin"));
        assert!(!under("/admin", "/admin/"));
    }

    #[test]
    fn prefixes_judge_the_path_without_its_parameters() {
        let cases = [
            ("/admin", "/admin"),
            ("/;/admin/x", "/admin/x"),
            ("/;x=1/admin", "/admin"),
            ("/admin;jsessionid=1/users", "/admin/users"),
            ("/admin;", "/admin"),
            ("/;a/;b//admin;c/u", "/admin/u"),
            ("/a/b;c/", "/a/b/"),
            ("/;", "/"),
        ];
        for (raw, want) in cases {
            assert_eq!(without_parameters(raw), want, "{raw}");
        }
        assert!(under("/admin;x/users", "/admin/"));
        assert!(under("/;/admin", "/admin"));
        assert!(!under("/public;x/admin", "/admin"));
    }
}
