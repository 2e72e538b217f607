//! RFC 4514 string form of an X.509 distinguished name, escaped further so that the result is
//! printable ASCII only and can always go into an HTTP header value.

use std::borrow::Cow;

use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::hex_lower;

/// Short names for attribute types: the RFC 4514 §3 table plus a few widely registered ones
/// (IANA LDAP descriptors) that real client certificates carry. Any other type is written as
/// its dotted OID with a `#` hex value, as RFC 4514 requires.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("2.5.4.4", "SN"),
    ("2.5.4.42", "GN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.12", "title"),
    ("2.5.4.17", "postalCode"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

/// The RFC 4514 string of `name`: RDNs in reverse order (most specific first, so "CN=…,O=…"
/// for a typical certificate), multi-valued RDNs joined with '+'.
pub(super) fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_attribute(attr, &mut out);
        }
    }
    out
}

fn push_attribute(attr: &AttributeTypeAndValue<'_>, out: &mut String) {
    let oid = attr.attr_type().to_id_string();
    let short = SHORT_NAMES.iter().find(|(id, _)| *id == oid);
    let text = short.and_then(|_| string_value(attr.attr_value()));
    match (short, text) {
        (Some((_, short)), Some(text)) => {
            out.push_str(short);
            out.push('=');
            escape_value(&text, out);
        }
        // RFC 4514 §2.4: a type without a known string form, or a value that is not a string,
        // is written as '#' and the hex of the value's BER (here DER) encoding.
        (Some((_, short)), None) => push_hex_form(short, attr.attr_value(), out),
        (None, _) => push_hex_form(&oid, attr.attr_value(), out),
    }
}

fn push_hex_form(attr_type: &str, value: &Any<'_>, out: &mut String) {
    out.push_str(attr_type);
    out.push_str("=#");
    out.push_str(&hex_lower(&value.to_der_vec().unwrap_or_default()));
}

/// The value's characters as UTF-8 bytes (or raw bytes for 8-bit string types), or None when
/// the value is not a string type or does not decode, which then gets the '#' hex form.
fn string_value<'a>(value: &Any<'a>) -> Option<Cow<'a, [u8]>> {
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::TeletexString
        | Tag::GeneralString => Some(Cow::Borrowed(value.data)),
        Tag::BmpString => utf16be(value.data).map(|s| Cow::Owned(s.into_bytes())),
        Tag::UniversalString => utf32be(value.data).map(|s| Cow::Owned(s.into_bytes())),
        _ => None,
    }
}

fn utf16be(data: &[u8]) -> Option<String> {
    if data.len() % 2 != 0 {
        return None;
    }
    let units = data
        .chunks_exact(2)
        .filter_map(|c| <[u8; 2]>::try_from(c).ok())
        .map(u16::from_be_bytes);
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

fn utf32be(data: &[u8]) -> Option<String> {
    if data.len() % 4 != 0 {
        return None;
    }
    data.chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(|c| char::from_u32(u32::from_be_bytes(c)))
        .collect()
}

/// RFC 4514 §2.4 escaping, plus hex escapes for every byte outside printable ASCII so that
/// the string is a valid header value whatever the certificate holds (control characters,
/// DEL, UTF-8 and bytes that are not UTF-8 at all all become `\XX`).
fn escape_value(value: &[u8], out: &mut String) {
    let last = value.len().saturating_sub(1);
    for (i, &b) in value.iter().enumerate() {
        match b {
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'#' if i == 0 => out.push_str("\\#"),
            // A leading or trailing space gets the hex form rather than "\ ": HTTP strips
            // whitespace at the ends of a header value, which would leave a dangling '\'.
            b' ' if i == 0 || i == last => out.push_str("\\20"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => push_hex_escape(b, out),
        }
    }
}

fn push_hex_escape(b: u8, out: &mut String) {
    out.push('\\');
    crate::hex::push_byte(out, b, crate::hex::Case::Upper);
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    use crate::model::pki::test_support::tlv;

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut inner = tlv(0x06, oid);
        inner.extend(tlv(tag, value));
        tlv(0x30, &inner)
    }

    /// A Name from RDNs, each a list of attribute encodings, in DER (RDNSequence) order.
    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let seq: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| tlv(0x31, &rdn.concat()))
            .collect();
        tlv(0x30, &seq)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const UTF8: u8 = 0x0c;

    fn render(der: &[u8]) -> String {
        let (_, parsed) = X509Name::from_der(der).unwrap();
        rfc4514(&parsed)
    }

    #[test]
    fn reverses_rdns_and_joins_multi_valued() {
        let der = name(&[
            vec![atv(C, 0x13, b"US")],
            vec![atv(O, UTF8, b"Example")],
            vec![atv(OU, UTF8, b"Eng"), atv(CN, UTF8, b"client")],
        ]);
        assert_eq!(render(&der), "OU=Eng+CN=client,O=Example,C=US");
    }

    #[test]
    fn escapes_specials_and_edges() {
        let der = name(&[vec![atv(CN, UTF8, b"#a, b+c\"d\\e<f>g;h=i ")]]);
        assert_eq!(render(&der), "CN=\\#a\\, b\\+c\\\"d\\\\e\\<f\\>g\\;h=i\\20");
        let der = name(&[vec![atv(CN, UTF8, b" lead#")]]);
        assert_eq!(render(&der), "CN=\\20lead#");
    }

    #[test]
    fn hex_escapes_everything_outside_printable_ascii() {
        let der = name(&[vec![atv(CN, UTF8, "a\0b\n\r\t\x7fé日".as_bytes())]]);
        assert_eq!(
            render(&der),
            "CN=a\\00b\\0A\\0D\\09\\7F\\C3\\A9\\E6\\97\\A5"
        );
        // Not UTF-8 at all: still escaped byte by byte.
        let der = name(&[vec![atv(CN, UTF8, &[0xff, 0xfe, b'x'])]]);
        assert_eq!(render(&der), "CN=\\FF\\FEx");
    }

    #[test]
    fn decodes_bmp_and_universal_strings() {
        let bmp: Vec<u8> = "é日".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let der = name(&[vec![atv(CN, 0x1e, &bmp)]]);
        assert_eq!(render(&der), "CN=\\C3\\A9\\E6\\97\\A5");
        let uni: Vec<u8> = "ab"
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        let der = name(&[vec![atv(CN, 0x1c, &uni)]]);
        assert_eq!(render(&der), "CN=ab");
        // An odd-length BMPString cannot be decoded: hex form of the whole value.
        let der = name(&[vec![atv(CN, 0x1e, &[0x00, 0x41, 0x00])]]);
        assert_eq!(render(&der), "CN=#1e03004100");
    }

    #[test]
    fn unknown_types_and_non_string_values_use_hex_form() {
        // 1.2.3.4 = 0x2a 0x03 0x04
        let der = name(&[vec![atv(&[0x2a, 0x03, 0x04], UTF8, b"x,y")]]);
        assert_eq!(render(&der), "1.2.3.4=#0c03782c79");
        let der = name(&[vec![atv(CN, 0x04, &[0x01, 0x02])]]);
        assert_eq!(render(&der), "CN=#04020102");
    }

    #[test]
    fn long_values_use_long_lengths() {
        let long = "x".repeat(300);
        let der = name(&[vec![atv(CN, UTF8, long.as_bytes())]]);
        assert_eq!(render(&der), format!("CN={long}"));
    }
}
