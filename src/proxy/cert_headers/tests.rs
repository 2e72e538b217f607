//! Tests of the origin-facing certificate headers, including certificates with hostile contents.

use super::*;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, Issuer, KeyPair, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::net::IpAddr;
use time::macros::datetime;

const OK: CertHeaderOptions = CertHeaderOptions { xfcc: false };
const WITH_XFCC: CertHeaderOptions = CertHeaderOptions { xfcc: true };

fn issuer() -> Issuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test CA");
    Issuer::new(params, KeyPair::generate().unwrap())
}

fn plain_params() -> CertificateParams {
    let mut params = CertificateParams::new(vec!["a.example.com".into()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.distinguished_name.push(DnType::CommonName, "client");
    params.serial_number = Some(SerialNumber::from(vec![0x01, 0x02]));
    params.not_before = datetime!(2026-01-02 03:04:05 UTC);
    params.not_after = datetime!(2027-02-03 04:05:06 UTC);
    params.subject_alt_names.extend([
        SanType::URI("spiffe://example.org/client".try_into().unwrap()),
        SanType::Rfc822Name("a@example.com".try_into().unwrap()),
        SanType::IpAddress(IpAddr::from([10, 0, 0, 1])),
    ]);
    params
}

fn identity_for(params: &CertificateParams, chain: &[CertificateDer<'static>]) -> ClientIdentity {
    let leaf = params
        .signed_by(&KeyPair::generate().unwrap(), &issuer())
        .unwrap();
    let mut full = vec![leaf.der().clone()];
    full.extend_from_slice(chain);
    ClientIdentity::from_chain(&full, &crate::identity::TrustAnchors::default()).unwrap()
}

fn build(
    ma: Option<&str>,
    verdict: &str,
    id: Option<&ClientIdentity>,
    opts: &CertHeaderOptions,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    append_cert_headers(&mut headers, ma, verdict, id, opts, Some("spiffe://proxy")).unwrap();
    headers
}

fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// Every value is what `HeaderValue::from_str` accepts and carries no line break.
fn assert_all_header_safe(headers: &HeaderMap) {
    for (name, value) in headers {
        let text = value
            .to_str()
            .unwrap_or_else(|_| panic!("{name} is not visible ASCII"));
        assert!(HeaderValue::from_str(text).is_ok(), "{name}");
        assert!(!text.contains(['\r', '\n', '\0']), "{name}");
    }
}

#[test]
fn no_mutual_authentication_means_no_headers() {
    let id = identity_for(&plain_params(), &[]);
    let built = PrebuiltCertHeaders::new(None, "ok", Some(&id), &WITH_XFCC, None);
    assert!(built.is_empty());
    assert!(build(None, "ok", Some(&id), &WITH_XFCC).is_empty());
}

#[test]
fn missing_certificate_sends_only_verdict_and_ma() {
    let headers = build(Some("MA123"), "missing", None, &WITH_XFCC);
    assert_eq!(headers.len(), 2);
    assert_eq!(get(&headers, VERDICT), Some("missing"));
    assert_eq!(get(&headers, MUTUAL_AUTHENTICATION), Some("MA123"));
}

#[test]
fn full_header_set_for_a_plain_certificate() {
    let id = identity_for(&plain_params(), &[]);
    let h = build(Some("MA123"), "ok", Some(&id), &OK);
    assert_eq!(get(&h, VERDICT), Some("ok"));
    assert_eq!(get(&h, SUBJECT), Some("CN=client,O=Example"));
    assert_eq!(get(&h, ISSUER), Some("CN=Test CA"));
    assert_eq!(get(&h, SERIAL), Some("0102"));
    assert_eq!(get(&h, FINGERPRINT), Some(id.sha256_hex.as_str()));
    assert_eq!(get(&h, NOT_BEFORE), Some("2026-01-02T03:04:05Z"));
    assert_eq!(get(&h, NOT_AFTER), Some("2027-02-03T04:05:06Z"));
    assert_eq!(
        get(&h, SAN),
        Some(
            "DNS:a.example.com, URI:spiffe://example.org/client, email:a@example.com, IP:10.0.0.1"
        )
    );
    assert_eq!(get(&h, CLIENT_CERT_CHAIN), None);
    assert_eq!(get(&h, XFCC), None);
    assert_all_header_safe(&h);
}

#[test]
fn rfc9440_sf_binary_is_exact() {
    let id = ClientIdentity {
        leaf_der: vec![1, 2, 3, 4],
        chain_der: vec![vec![0xfb, 0xff], vec![0xff, 0xfe, 0xfd]],
        sha256_hex: "00".into(),
        ..ClientIdentity::default()
    };
    let h = build(Some("m"), "bad", Some(&id), &OK);
    // Standard alphabet ('+', '/') with '=' padding, between colons.
    assert_eq!(get(&h, CLIENT_CERT), Some(":AQIDBA==:"));
    assert_eq!(get(&h, CLIENT_CERT_CHAIN), Some(":+/8=:, ://79:"));
    // Leaf not parsed: no derived fields, no invented 1970 dates.
    assert_eq!(get(&h, SUBJECT), None);
    assert_eq!(get(&h, NOT_BEFORE), None);
    assert_eq!(get(&h, FINGERPRINT), Some("00"));
}

#[test]
fn client_cert_headers_carry_real_der() {
    let mid = vec![0x30, 0x00];
    let mut id = identity_for(&plain_params(), &[CertificateDer::from(mid.clone())]);
    // Not on a path to any trust anchor: presented, kept for re-verification, not forwarded.
    assert_eq!(id.presented_der, vec![mid.clone()]);
    assert_eq!(
        get(&build(Some("m"), "ok", Some(&id), &OK), CLIENT_CERT_CHAIN),
        None
    );
    // The chain header carries the verified path, exactly.
    id.chain_der = vec![mid];
    let h = build(Some("m"), "ok", Some(&id), &OK);
    let leaf = get(&h, CLIENT_CERT).unwrap();
    let inner = leaf
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .unwrap();
    assert_eq!(STANDARD.decode(inner).unwrap(), id.leaf_der);
    assert_eq!(get(&h, CLIENT_CERT_CHAIN), Some(":MAA=:"));
}

#[test]
fn verdict_is_sanitised() {
    for bad in ["ok\r\nx-evil: 1", "", "OK", "ok ", "a-b"] {
        let h = build(Some("m"), bad, None, &OK);
        assert_eq!(get(&h, VERDICT), Some("unknown"), "{bad:?}");
    }
    let h = build(Some("m\r\nx: y, z"), "unknown_ca", None, &OK);
    assert_eq!(get(&h, VERDICT), Some("unknown_ca"));
    assert_eq!(
        get(&h, MUTUAL_AUTHENTICATION),
        Some("m\\0D\\0Ax:\\20y\\,\\20z")
    );
}

#[test]
fn xfcc_only_when_enabled_and_verified() {
    let id = identity_for(&plain_params(), &[]);
    assert_eq!(get(&build(Some("m"), "ok", Some(&id), &OK), XFCC), None);
    for verdict in ["bad", "unknown_ca", "expired", "revoked", "unknown"] {
        let h = build(Some("m"), verdict, Some(&id), &WITH_XFCC);
        assert_eq!(get(&h, XFCC), None, "{verdict}");
    }
    let h = build(Some("m"), "ok", Some(&id), &WITH_XFCC);
    let xfcc = get(&h, XFCC).unwrap();
    let prefix = format!(
        "By=spiffe://proxy;Hash={};Cert=\"-----BEGIN%20CERTIFICATE-----%0A",
        id.sha256_hex
    );
    assert!(xfcc.starts_with(&prefix), "{xfcc}");
    assert!(xfcc.ends_with(
        ";Subject=\"CN=client,O=Example\";URI=spiffe://example.org/client;DNS=a.example.com"
    ));
    let pairs = parse_xfcc(xfcc);
    let cert = pairs.iter().find(|(k, _)| k == "Cert").unwrap();
    let chain = pairs.iter().find(|(k, _)| k == "Chain").unwrap();
    // Chain is leaf + intermediates (Envoy's meaning); here there are none.
    assert_eq!(cert.1, chain.1);
    let pem = String::from_utf8(percent_decode(&cert.1)).unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    assert_eq!(der.as_ref(), id.leaf_der.as_slice());
}

#[test]
fn strips_spoofed_headers_in_any_case_and_every_copy() {
    let mut headers = HeaderMap::new();
    let spoofed = [
        "Client-Cert",
        "CLIENT-CERT-CHAIN",
        "client-cert-verdict",
        "Client-Cert-Subject",
        "client-cert-ISSUER",
        "Client-Cert-Serial",
        "Client-Cert-SHA256",
        "client-cert-not-before",
        "Client-Cert-Not-After",
        "Client-Cert-San",
        "Client-Cert-Mutual-Authentication",
        "X-Forwarded-Client-Cert",
        "X-Forwarded-For",
        "x-forwarded-PROTO",
        "X-Forwarded-Host",
        "Forwarded",
    ];
    for name in spoofed {
        for copy in 0..3 {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.append(
                name,
                HeaderValue::from_str(&format!("spoof{copy}")).unwrap(),
            );
        }
    }
    headers.append("x-keep", HeaderValue::from_static("1"));
    headers.append("x-keep", HeaderValue::from_static("2"));
    assert_eq!(headers.len(), spoofed.len() * 3 + 2);
    strip_untrusted(&mut headers);
    assert_eq!(headers.len(), 2);
    assert_eq!(headers.get_all("x-keep").iter().count(), 2);
}

#[test]
fn strip_removes_underscore_spellings_of_our_headers_only() {
    let mut headers = HeaderMap::new();
    for name in [
        "client_cert_verdict",
        "Client_Cert",
        "client-cert_subject",
        "x_forwarded_for",
        "X_FORWARDED_CLIENT_CERT",
    ] {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.append(name, HeaderValue::from_static("spoof"));
    }
    for keep in ["x_request_id", "client_cert_verdict_x", "forwarded_"] {
        headers.append(keep, HeaderValue::from_static("1"));
    }
    strip_untrusted(&mut headers);
    let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    left.sort_unstable();
    assert_eq!(
        left,
        ["client_cert_verdict_x", "forwarded_", "x_request_id"]
    );
}

#[test]
fn stripped_list_covers_every_header_we_set() {
    let names: Vec<&str> = STRIPPED_NAMES.iter().map(HeaderName::as_str).collect();
    assert_eq!(names, STRIPPED);
    let mut id = identity_for(&plain_params(), &[]);
    id.chain_der = vec![vec![0x30, 0x00]];
    let h = build(Some("m"), "ok", Some(&id), &WITH_XFCC);
    assert_eq!(h.len(), 12);
    for name in h.keys() {
        assert!(
            STRIPPED.contains(&name.as_str()),
            "{name} is set but never stripped"
        );
    }
}

#[test]
fn apply_replaces_client_values_and_prebuilt_is_reusable() {
    let id = identity_for(&plain_params(), &[]);
    let pre = PrebuiltCertHeaders::new(Some("m"), "ok", Some(&id), &OK, None);
    for _ in 0..3 {
        let mut headers = HeaderMap::new();
        headers.append(VERDICT, HeaderValue::from_static("ok-spoof"));
        headers.append(VERDICT, HeaderValue::from_static("ok-spoof2"));
        pre.apply(&mut headers).unwrap();
        let verdicts: Vec<_> = headers.get_all(VERDICT).iter().collect();
        assert_eq!(verdicts, vec![HeaderValue::from_static("ok")]);
        assert_eq!(headers.len(), pre.iter().count());
    }
}

/// Subject parts chosen to break naive header building: quotes, separators, line breaks, NUL,
/// non-ASCII, a leading '#' and a trailing space.
fn hostile_subject() -> Vec<(DnType, String)> {
    let mut cn =
        String::from("#\"quoted\", comma; semi+plus <a> back\\slash\nnew\r\nline\0nul é 日本 ");
    while cn.len() < 10 * 1024 {
        cn.push_str("0123456789,;\"\r\n");
    }
    cn.push(' ');
    vec![
        (DnType::CountryName, "ZZ".into()),
        (
            DnType::OrganizationName,
            "Quote\"Comma,Semi;Eq=Back\\".into(),
        ),
        (DnType::OrganizationalUnitName, "\t\x7f\x01 tabs".into()),
        (DnType::CommonName, cn),
    ]
}

fn hostile_dns(i: usize) -> String {
    match i % 250 {
        0 => format!("q\"uote,comma;semi=eq\\back{i}.example"),
        1 => format!("cr\r\nlf\0nul\x7fdel {i}.example"),
        _ => format!("host{i}.example.com"),
    }
}

fn hostile_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    for (ty, value) in hostile_subject() {
        params
            .distinguished_name
            .push(ty, DnValue::Utf8String(value));
    }
    for i in 0..1000 {
        let name = hostile_dns(i).try_into().unwrap();
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.subject_alt_names.extend([
        SanType::URI("spiffe://x/a;b=\"c\",d\\e".try_into().unwrap()),
        SanType::Rfc822Name("we,ird\"@exa mple.com".try_into().unwrap()),
    ]);
    params
}

#[test]
fn hostile_certificate_builds_safe_headers_that_parse_back() {
    let id = identity_for(&hostile_params(), &[]);
    assert_eq!(id.dns_sans.len(), 1000);
    let h = build(Some("ma"), "ok", Some(&id), &WITH_XFCC);
    assert_eq!(
        h.len(),
        11,
        "every header but the chain must have been built"
    );
    assert_all_header_safe(&h);

    // Subject: RFC 4514, most specific RDN first, each value unescapes to the original.
    let rdns = split_unescaped(get(&h, SUBJECT).unwrap(), ',');
    let originals: Vec<String> = hostile_subject()
        .into_iter()
        .rev()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(rdns.len(), originals.len());
    for (rdn, original) in rdns.iter().zip(&originals) {
        let (_, value) = rdn.split_once('=').unwrap();
        assert_eq!(unescape(value), original.as_bytes());
    }

    // SAN: every entry comes back, in order.
    let sans: Vec<Vec<u8>> = split_unescaped(get(&h, SAN).unwrap(), ',')
        .iter()
        .map(|item| unescape(item.trim_start()))
        .collect();
    let mut expected: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("DNS:{}", hostile_dns(i)).into_bytes())
        .collect();
    expected.push(b"URI:spiffe://x/a;b=\"c\",d\\e".to_vec());
    expected.push(b"email:we,ird\"@exa mple.com".to_vec());
    assert_eq!(sans, expected);

    // XFCC: one element whose DNS pairs, Subject and Hash come back.
    let xfcc = parse_xfcc(get(&h, XFCC).unwrap());
    let dns: Vec<Vec<u8>> = xfcc
        .iter()
        .filter(|(k, _)| k == "DNS")
        .map(|(_, v)| percent_decode(v))
        .collect();
    let want: Vec<Vec<u8>> = id.dns_sans.iter().map(|d| d.as_bytes().to_vec()).collect();
    assert_eq!(dns, want);
    let value_of = |key: &str| xfcc.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(value_of("Subject"), Some(id.subject.clone()));
    assert_eq!(value_of("Hash"), Some(id.sha256_hex.clone()));
    assert_eq!(
        value_of("URI").map(|v| percent_decode(&v)),
        Some(id.uri_sans[0].as_bytes().to_vec())
    );

    // RFC 9440 leaf survives whole.
    let leaf = get(&h, CLIENT_CERT).unwrap();
    assert_eq!(
        STANDARD.decode(&leaf[1..leaf.len() - 1]).unwrap(),
        id.leaf_der
    );
}

/// Splits at separators not preceded by a backslash escape, keeping escapes in the parts.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let current = parts.last_mut().unwrap();
        if c == '\\' {
            current.push(c);
            current.extend(chars.next());
        } else if c == sep {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    parts
}

/// Reverses RFC 4514 / SAN escaping: `\XX` is a byte, `\c` is `c`.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(bytes[i + 1]);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A minimal XFCC reader: one element, `;`-separated pairs, quoted values with `\` escapes.
fn parse_xfcc(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    _ => value.push(c),
                }
            }
            assert!(
                matches!(chars.next(), None | Some(';')),
                "junk after quoted {key}"
            );
        } else {
            value = chars.by_ref().take_while(|&c| c != ';').collect();
            assert!(!value.contains([',', '=', '"']), "unquoted {key}={value}");
        }
        pairs.push((key, value));
    }
    pairs
}
