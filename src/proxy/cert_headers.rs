//! The headers the proxy sends to the origin about the client certificate (a documented
//! contract), built once per connection, and the list of such headers stripped from every
//! incoming request (rule 3, docs/architecture.md).

pub mod cache;
mod xfcc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue, MaxSizeReached};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::hex;
use crate::identity::ClientIdentity;

/// RFC 9440: sf-binary `:BASE64:` of the leaf DER.
pub const CLIENT_CERT: &str = "client-cert";
/// RFC 9440: comma-separated sf-binary list of the intermediates (omitted when none).
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";
/// One of `ok`, `missing`, `bad`, `expired`, `revoked`, `unknown_ca`, `unknown`.
pub const VERDICT: &str = "client-cert-verdict";
/// RFC 4514 subject DN, non-printable bytes as `\XX`.
pub const SUBJECT: &str = "client-cert-subject";
/// RFC 4514 issuer DN, non-printable bytes as `\XX`.
pub const ISSUER: &str = "client-cert-issuer";
/// Serial number, lower-case hex without leading zero bytes.
pub const SERIAL: &str = "client-cert-serial";
/// Lower-case hex SHA-256 of the leaf DER.
pub const FINGERPRINT: &str = "client-cert-sha256";
/// notBefore, RFC 3339 UTC with `Z`, e.g. `2026-01-02T03:04:05Z`.
pub const NOT_BEFORE: &str = "client-cert-not-before";
/// notAfter, RFC 3339 UTC with `Z`.
pub const NOT_AFTER: &str = "client-cert-not-after";
/// `DNS:a.example.com, URI:spiffe://x, email:a@b, IP:10.0.0.1`; in values `\` and `,` are
/// backslash-escaped and every byte outside `!`..=`~` (space included) is written `\XX`.
pub const SAN: &str = "client-cert-san";
/// Id of the mutual authentication the connection was verified under.
pub const MUTUAL_AUTHENTICATION: &str = "client-cert-mutual-authentication";
/// Envoy-format `x-forwarded-client-cert`, only when enabled and the verdict is `ok`.
pub const XFCC: &str = "x-forwarded-client-cert";

/// Every header the proxy sets about the client certificate or forwarding: the list stripped from
/// every incoming request first (rule 3, docs/architecture.md), whatever the domain's policy, so a
/// client can never supply a value the origin would take for the proxy's.
pub const STRIPPED: &[&str] = &[
    CLIENT_CERT,
    CLIENT_CERT_CHAIN,
    VERDICT,
    SUBJECT,
    ISSUER,
    SERIAL,
    FINGERPRINT,
    NOT_BEFORE,
    NOT_AFTER,
    SAN,
    MUTUAL_AUTHENTICATION,
    XFCC,
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    // Not set by the proxy, but commonly trusted by frameworks behind a proxy; a client must
    // not be able to set them either.
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
];

// Parsed once at compile time (`from_static` is const and rejects a bad name at build time).
static H_CLIENT_CERT: HeaderName = HeaderName::from_static(CLIENT_CERT);
static H_CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static(CLIENT_CERT_CHAIN);
static H_VERDICT: HeaderName = HeaderName::from_static(VERDICT);
static H_SUBJECT: HeaderName = HeaderName::from_static(SUBJECT);
static H_ISSUER: HeaderName = HeaderName::from_static(ISSUER);
static H_SERIAL: HeaderName = HeaderName::from_static(SERIAL);
static H_FINGERPRINT: HeaderName = HeaderName::from_static(FINGERPRINT);
static H_NOT_BEFORE: HeaderName = HeaderName::from_static(NOT_BEFORE);
static H_NOT_AFTER: HeaderName = HeaderName::from_static(NOT_AFTER);
static H_SAN: HeaderName = HeaderName::from_static(SAN);
static H_MUTUAL_AUTHENTICATION: HeaderName = HeaderName::from_static(MUTUAL_AUTHENTICATION);
static H_XFCC: HeaderName = HeaderName::from_static(XFCC);

/// [`STRIPPED`] as header names, so stripping does not parse names per request.
static STRIPPED_NAMES: [HeaderName; 20] = [
    HeaderName::from_static(CLIENT_CERT),
    HeaderName::from_static(CLIENT_CERT_CHAIN),
    HeaderName::from_static(VERDICT),
    HeaderName::from_static(SUBJECT),
    HeaderName::from_static(ISSUER),
    HeaderName::from_static(SERIAL),
    HeaderName::from_static(FINGERPRINT),
    HeaderName::from_static(NOT_BEFORE),
    HeaderName::from_static(NOT_AFTER),
    HeaderName::from_static(SAN),
    HeaderName::from_static(MUTUAL_AUTHENTICATION),
    HeaderName::from_static(XFCC),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-real-ip"),
];

const RFC3339_UTC: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Removes every [`STRIPPED`] header, all occurrences (names are case-insensitive in HTTP and
/// stored lower-case, so "Client-Cert" and "CLIENT-CERT" are the same entry), and their
/// underscore spellings ("client_cert_verdict"): CGI-style origins (WSGI, PHP, Rack, …) map
/// both '-' and '_' to the same `HTTP_CLIENT_CERT_VERDICT` variable, so a client's
/// underscore header would stand in for ours there (the reason for Envoy's
/// `headers_with_underscores_action` and Apache's dropping of such headers for CGI).
pub fn strip_untrusted(headers: &mut HeaderMap) {
    for name in &STRIPPED_NAMES {
        headers.remove(name);
    }
    let underscored: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().contains('_') && is_stripped_spelling(name.as_str()))
        .cloned()
        .collect();
    for name in underscored {
        headers.remove(name);
    }
}

/// Whether [`strip_untrusted`] removes a header with this (lower-case) name: for callers that
/// look at each name of a request once anyway.
pub fn is_untrusted(name: &str) -> bool {
    STRIPPED.contains(&name) || (name.contains('_') && is_stripped_spelling(name))
}

/// True when `name` (lower-case) reads as a [`STRIPPED`] name once '_' is taken for '-'.
fn is_stripped_spelling(name: &str) -> bool {
    STRIPPED.iter().any(|ours| {
        ours.len() == name.len()
            && ours
                .bytes()
                .zip(name.bytes())
                .all(|(o, n)| o == n || (o == b'-' && n == b'_'))
    })
}

/// Options for the headers sent to the origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertHeaderOptions {
    /// Also send Envoy's `x-forwarded-client-cert`.
    pub xfcc: bool,
}

/// Append the client-certificate headers for a request on a connection. `verdict` is the string
/// form of the connection's verdict; `ma_id` None means the domain has no mutual authentication
/// → no headers at all. `by_uri` is XFCC's `By` (the proxy's own URI), when known.
///
/// Builds everything for one request; a connection should build [`PrebuiltCertHeaders`] once
/// instead. Fails only when the map already holds the most headers `http` allows.
pub fn append_cert_headers(
    headers: &mut HeaderMap,
    ma_id: Option<&str>,
    verdict: &str,
    identity: Option<&ClientIdentity>,
    opts: &CertHeaderOptions,
    by_uri: Option<&str>,
) -> Result<(), MaxSizeReached> {
    PrebuiltCertHeaders::new(ma_id, verdict, identity, opts, by_uri).apply(headers)
}

/// The client-certificate headers of one connection, built once (the identity and verdict do
/// not change for the life of a connection) and copied into each request by reference-counted
/// clones of the prebuilt values.
#[derive(Debug, Clone, Default)]
pub struct PrebuiltCertHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl PrebuiltCertHeaders {
    /// The headers for a connection; same arguments as [`append_cert_headers`].
    pub fn new(
        ma_id: Option<&str>,
        verdict: &str,
        identity: Option<&ClientIdentity>,
        opts: &CertHeaderOptions,
        by_uri: Option<&str>,
    ) -> Self {
        let mut built = PrebuiltCertHeaders::default();
        // A domain without mutual authentication never asked for a certificate: say nothing.
        let Some(ma_id) = ma_id else {
            return built;
        };
        built.push(&H_MUTUAL_AUTHENTICATION, escape_text(ma_id));
        let verdict = verdict_token(verdict);
        built.push(&H_VERDICT, verdict.to_owned());
        if let Some(identity) = identity {
            built.push_identity(identity, verdict, opts, by_uri);
        }
        built
    }

    /// Sets every prebuilt header on `headers`, replacing any value already there (so even a
    /// caller that forgot [`strip_untrusted`] cannot end up with a client's value next to
    /// ours). Headers this connection does not send are left alone: strip first.
    pub fn apply(&self, headers: &mut HeaderMap) -> Result<(), MaxSizeReached> {
        headers.try_reserve(self.headers.len())?;
        for (name, value) in &self.headers {
            headers.try_insert(name.clone(), value.clone())?;
        }
        Ok(())
    }

    /// How many headers are sent.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// True when no header is sent (the domain has no mutual authentication).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The prebuilt headers in the order they were built.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(n, v)| (n, v))
    }

    fn push_identity(
        &mut self,
        identity: &ClientIdentity,
        verdict: &str,
        opts: &CertHeaderOptions,
        by_uri: Option<&str>,
    ) {
        self.push(&H_CLIENT_CERT, sf_binary(&identity.leaf_der));
        if !identity.chain_der.is_empty() {
            let items: Vec<String> = identity.chain_der.iter().map(|d| sf_binary(d)).collect();
            self.push(&H_CLIENT_CERT_CHAIN, items.join(", "));
        }
        self.push(&H_FINGERPRINT, identity.sha256_hex.clone());
        if identity.parsed {
            self.push_parsed_fields(identity);
        }
        // XFCC has no "verified" key, so a mesh origin takes whatever it carries as verified
        // (rule 3, docs/architecture.md): only send it for a certificate that passed verification.
        if opts.xfcc && verdict == "ok" {
            self.push(&H_XFCC, xfcc::element(identity, by_uri));
        }
    }

    fn push_parsed_fields(&mut self, identity: &ClientIdentity) {
        self.push(&H_SUBJECT, identity.subject.clone());
        self.push(&H_ISSUER, identity.issuer.clone());
        self.push(&H_SERIAL, identity.serial_hex.clone());
        if let Some(text) = rfc3339(identity.not_before) {
            self.push(&H_NOT_BEFORE, text);
        }
        if let Some(text) = rfc3339(identity.not_after) {
            self.push(&H_NOT_AFTER, text);
        }
        let san = san_list(identity);
        if !san.is_empty() {
            self.push(&H_SAN, san);
        }
    }

    /// Adds a header whose value was built from printable ASCII. The check is a second line of
    /// defence behind the escaping: a value that somehow is not visible ASCII is dropped rather
    /// than forwarded (`HeaderValue` alone would accept obs-text bytes).
    fn push(&mut self, name: &HeaderName, value: String) {
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return;
        }
        if let Ok(value) = HeaderValue::try_from(value) {
            self.headers.push((name.clone(), value));
        }
    }
}

/// The `x-forwarded-client-cert` value for a verified certificate (the caller checks the
/// verdict): None only when the element is not a valid header value.
pub fn xfcc_value(identity: &ClientIdentity, by_uri: Option<&str>) -> Option<HeaderValue> {
    let value = xfcc::element(identity, by_uri);
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    HeaderValue::try_from(value).ok()
}

/// The name of the `x-forwarded-client-cert` header.
pub fn xfcc_name() -> &'static HeaderName {
    &H_XFCC
}

/// The verdict as given when it is a plain lower-case token, else `unknown`: the string comes
/// from the caller and must not be able to smuggle anything into a header.
fn verdict_token(verdict: &str) -> &str {
    let plain = !verdict.is_empty()
        && verdict.len() <= 32
        && verdict.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if plain {
        verdict
    } else {
        "unknown"
    }
}

/// RFC 8941 sf-binary: standard base64 with padding between colons (RFC 9440 §2.1).
fn sf_binary(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

fn rfc3339(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(RFC3339_UTC)
        .ok()
}

fn san_list(identity: &ClientIdentity) -> String {
    let groups: [(&str, &[String]); 4] = [
        ("DNS:", &identity.dns_sans),
        ("URI:", &identity.uri_sans),
        ("email:", &identity.email_sans),
        ("IP:", &identity.ip_sans),
    ];
    let mut out = String::new();
    for (prefix, values) in groups {
        for value in values {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(prefix);
            push_escaped_text(value, &mut out);
        }
    }
    out
}

fn escape_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    push_escaped_text(raw, &mut out);
    out
}

/// Escaping for certificate text in list headers: `\\`, `\,`, and `\XX` for every byte that is
/// not visible ASCII (space too, so ", " stays an unambiguous separator and HTTP's trimming of
/// spaces at the ends of a value cannot change it).
fn push_escaped_text(raw: &str, out: &mut String) {
    for &b in raw.as_bytes() {
        match b {
            b'\\' | b',' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x21..=0x7e => out.push(char::from(b)),
            _ => {
                out.push('\\');
                hex::push_byte(out, b, hex::Case::Upper);
            }
        }
    }
}

#[cfg(test)]
mod tests;
