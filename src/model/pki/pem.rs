//! Reading PEM sections out of operator text, refusing labels the caller does not accept.
//!
//! Decoding uses rustls-pki-types, which silently skips sections whose label it does not know
//! (e.g. "ENCRYPTED PRIVATE KEY") and lines that do not start with "-----BEGIN ". So before
//! decoding we list every BEGIN marker ourselves and judge each label; anything the decoder would
//! skip is refused here rather than silently dropped (a bundle must hold exactly what the operator
//! sees in it, and never a key).

use rustls_pki_types::pem::{self, PemObject, SectionKind};

use super::{PkiError, MAX_BUNDLE_BYTES};

/// Which input is being read; decides which labels are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// A CA bundle: certificates only.
    Bundle,
    /// A certificate chain: certificates only.
    Chain,
    /// A private key: one key section (plus optional "EC PARAMETERS").
    Key,
    /// A certificate revocation list: `X509 CRL` sections only (the caller wants exactly one).
    Crl,
}

/// One `-----BEGIN` marker found in the text.
struct Marker {
    /// The label as written, trimmed.
    label: String,
    /// Whether the marker starts its line (the decoder ignores it otherwise).
    starts_line: bool,
    /// Whether it is spelled exactly "-----BEGIN " (the decoder ignores other spellings).
    exact: bool,
}

/// Checks size and labels, then decodes every section the decoder knows, in order.
pub(super) fn read_sections(
    text: &str,
    input: Input,
) -> Result<Vec<(SectionKind, Vec<u8>)>, PkiError> {
    check_size(text, input)?;
    // Windows editors may prepend a byte order mark, which would hide the first BEGIN line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let markers = find_markers(text);
    judge_markers(&markers, text, input)?;
    let expected = markers
        .iter()
        .filter(|m| SectionKind::try_from(m.label.as_bytes()).is_ok())
        .count();
    let sections = decode(text)?;
    if sections.len() != expected {
        // A BEGIN line without its END line, swallowed by the next section.
        return Err(PkiError::MalformedPem {
            section: sections.len() + 1,
            problem: "a section is missing its -----END line",
        });
    }
    Ok(sections)
}

fn check_size(text: &str, input: Input) -> Result<(), PkiError> {
    if text.trim().is_empty() {
        return Err(PkiError::Blank);
    }
    let limit = match input {
        Input::Crl => super::MAX_CRL_PEM_BYTES,
        _ => MAX_BUNDLE_BYTES,
    };
    if text.len() > limit {
        return Err(PkiError::TooLarge {
            size: text.len(),
            limit,
        });
    }
    Ok(())
}

/// Every "-----BEGIN" in the text, matched case-insensitively so that odd spellings are
/// refused instead of skipped.
fn find_markers(text: &str) -> Vec<Marker> {
    const BEGIN: &str = "-----BEGIN";
    let upper = text.to_ascii_uppercase();
    let bytes = text.as_bytes();
    upper
        .match_indices(BEGIN)
        .map(|(at, _)| {
            let starts_line = at == 0 || matches!(bytes.get(at - 1), Some(b'\n' | b'\r'));
            // `at` is a char boundary and BEGIN is ASCII, so `at + BEGIN.len()` is one too;
            // `get` keeps this panic-free regardless.
            let rest = text.get(at + BEGIN.len()..).unwrap_or("");
            let line = rest.split(['\n', '\r']).next().unwrap_or("");
            let label = line.split("-----").next().unwrap_or("").trim().to_string();
            let exact = text.get(at..).is_some_and(|m| m.starts_with("-----BEGIN "));
            Marker {
                label,
                starts_line,
                exact,
            }
        })
        .collect()
}

fn judge_markers(markers: &[Marker], text: &str, input: Input) -> Result<(), PkiError> {
    let any_key = markers.iter().any(|m| is_private_key_label(&m.label));
    // Checked before anything else: a bundle or chain with key material is refused outright so
    // the key is never stored, whatever else is wrong with the input.
    match input {
        Input::Bundle if any_key => return Err(PkiError::PrivateKeyInBundle),
        Input::Chain if any_key => return Err(PkiError::PrivateKeyInChain),
        Input::Crl if any_key => return Err(PkiError::PrivateKeyInCrl),
        _ => {}
    }
    if input == Input::Key && is_legacy_encrypted(text) {
        return Err(PkiError::EncryptedKey);
    }
    for (i, marker) in markers.iter().enumerate() {
        if !marker.starts_line {
            return Err(PkiError::MisplacedMarker { section: i + 1 });
        }
        if !marker.exact {
            return Err(PkiError::MalformedPem {
                section: i + 1,
                problem: "the -----BEGIN line is malformed",
            });
        }
        judge_label(&marker.label, input)?;
    }
    if input != Input::Key && markers.len() > super::MAX_BUNDLE_CERTS {
        return Err(PkiError::TooManyCertificates {
            count: markers.len(),
            limit: super::MAX_BUNDLE_CERTS,
        });
    }
    Ok(())
}

fn judge_label(label: &str, input: Input) -> Result<(), PkiError> {
    match input {
        Input::Bundle | Input::Chain if label == "CERTIFICATE" => Ok(()),
        Input::Bundle | Input::Chain => Err(unexpected(label, "CERTIFICATE")),
        Input::Crl if label == "X509 CRL" => Ok(()),
        Input::Crl => Err(unexpected(label, "X509 CRL")),
        Input::Key => match label {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Ok(()),
            // `openssl ecparam -genkey` writes the curve parameters before the key; they are
            // public and redundant with the key's own parameters, so they are ignored.
            "EC PARAMETERS" => Ok(()),
            "ENCRYPTED PRIVATE KEY" => Err(PkiError::EncryptedKey),
            l if l.ends_with("CERTIFICATE") => Err(PkiError::CertificateInKey),
            l => Err(unexpected(
                l,
                "PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
            )),
        },
    }
}

fn unexpected(label: &str, expected: &'static str) -> PkiError {
    PkiError::UnexpectedSection {
        label: display_label(label),
        expected,
    }
}

/// Any label naming private key material, in any format or case ("OPENSSH PRIVATE KEY",
/// "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"...).
fn is_private_key_label(label: &str) -> bool {
    label.to_ascii_uppercase().contains("PRIVATE KEY")
}

/// Traditional OpenSSL encryption puts RFC 1421 headers inside the section.
fn is_legacy_encrypted(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
}

/// The label cut to printable ASCII and a bounded length, since it is echoed to the operator.
fn display_label(label: &str) -> String {
    let shown: String = label
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(40)
        .collect();
    if shown.is_empty() {
        "(empty)".to_string()
    } else {
        shown
    }
}

fn decode(text: &str) -> Result<Vec<(SectionKind, Vec<u8>)>, PkiError> {
    let mut sections = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
        let section = sections.len() + 1;
        let problem = match item {
            Ok(found) => {
                sections.push(found);
                continue;
            }
            Err(err) => pem_problem(&err),
        };
        return Err(PkiError::MalformedPem { section, problem });
    }
    Ok(sections)
}

fn pem_problem(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => "the section has no matching -----END line",
        pem::Error::IllegalSectionStart { .. } => "the -----BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "the body is not valid base64",
        pem::Error::SectionTooLarge => "the section is too large",
        _ => "the text can't be read as PEM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";

    #[test]
    fn decodes_certificates_and_ignores_comments() {
        let text = format!("# comment\n{CERT_PEM}\nsubject=foo\n{CERT_PEM}");
        let sections = read_sections(&text, Input::Bundle).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0], (SectionKind::Certificate, vec![0, 1, 2]));
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let text = format!("\u{feff}{}", CERT_PEM.replace('\n', "\r\n"));
        assert_eq!(read_sections(&text, Input::Chain).unwrap().len(), 1);
    }

    #[test]
    fn key_labels_are_refused_in_certificate_inputs() {
        for label in [
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "private key",
        ] {
            let text = format!("{CERT_PEM}-----BEGIN {label}-----\nAAEC\n-----END {label}-----\n");
            assert_eq!(
                read_sections(&text, Input::Bundle),
                Err(PkiError::PrivateKeyInBundle),
                "{label}"
            );
            assert_eq!(
                read_sections(&text, Input::Chain),
                Err(PkiError::PrivateKeyInChain),
                "{label}"
            );
        }
    }

    #[test]
    fn indented_key_is_still_refused() {
        // The decoder would skip an indented section; it must not slip through as a comment.
        let text = format!(
            "{CERT_PEM}  -----BEGIN PRIVATE KEY-----\n  AAEC\n  -----END PRIVATE KEY-----\n"
        );
        assert_eq!(
            read_sections(&text, Input::Bundle),
            Err(PkiError::PrivateKeyInBundle)
        );
    }

    #[test]
    fn indented_certificate_is_refused_not_skipped() {
        let text = format!("{CERT_PEM}  {CERT_PEM}");
        assert_eq!(
            read_sections(&text, Input::Bundle),
            Err(PkiError::MisplacedMarker { section: 2 })
        );
    }

    #[test]
    fn other_labels_are_named() {
        for label in ["X509 CRL", "CERTIFICATE REQUEST", "PUBLIC KEY", "PKCS7"] {
            let text = format!("-----BEGIN {label}-----\nAAEC\n-----END {label}-----\n");
            let err = read_sections(&text, Input::Bundle).unwrap_err();
            assert_eq!(
                err,
                PkiError::UnexpectedSection {
                    label: label.to_string(),
                    expected: "CERTIFICATE"
                }
            );
            assert!(err.to_string().contains(label));
        }
    }

    #[test]
    fn missing_end_line_is_reported() {
        let text = "-----BEGIN CERTIFICATE-----\nAAEC\n";
        assert!(matches!(
            read_sections(text, Input::Bundle),
            Err(PkiError::MalformedPem { section: 1, .. })
        ));
        // A section swallowed by the next BEGIN line is also caught.
        let text = format!("-----BEGIN CERTIFICATE-----\nAAEC\n{CERT_PEM}");
        assert!(matches!(
            read_sections(&text, Input::Bundle),
            Err(PkiError::MalformedPem { .. })
        ));
    }

    #[test]
    fn odd_spellings_of_begin_are_refused_not_skipped() {
        for begin in ["-----begin CERTIFICATE-----", "-----BEGINCERTIFICATE-----"] {
            let text = format!("{CERT_PEM}{begin}\nAAEC\n-----END CERTIFICATE-----\n");
            assert_eq!(
                read_sections(&text, Input::Bundle),
                Err(PkiError::MalformedPem {
                    section: 2,
                    problem: "the -----BEGIN line is malformed"
                }),
                "{begin}"
            );
        }
    }

    #[test]
    fn bad_base64_names_the_section() {
        let text =
            format!("{CERT_PEM}-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        assert_eq!(
            read_sections(&text, Input::Bundle),
            Err(PkiError::MalformedPem {
                section: 2,
                problem: "the body is not valid base64"
            })
        );
    }

    #[test]
    fn blank_and_oversized_inputs_are_refused() {
        assert_eq!(read_sections(" \n\t", Input::Key), Err(PkiError::Blank));
        assert_eq!(read_sections("", Input::Bundle), Err(PkiError::Blank));
        let big = "a".repeat(MAX_BUNDLE_BYTES + 1);
        assert!(matches!(
            read_sections(&big, Input::Chain),
            Err(PkiError::TooLarge { .. })
        ));
    }

    #[test]
    fn key_input_labels() {
        let section = |l: &str| format!("-----BEGIN {l}-----\nAAEC\n-----END {l}-----\n");
        let ec = format!("{}{}", section("EC PARAMETERS"), section("EC PRIVATE KEY"));
        let read = read_sections(&ec, Input::Key).unwrap();
        assert_eq!(read, vec![(SectionKind::EcPrivateKey, vec![0, 1, 2])]);
        assert_eq!(
            read_sections(&section("ENCRYPTED PRIVATE KEY"), Input::Key),
            Err(PkiError::EncryptedKey)
        );
        assert_eq!(
            read_sections(&section("CERTIFICATE"), Input::Key),
            Err(PkiError::CertificateInKey)
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            read_sections(legacy, Input::Key),
            Err(PkiError::EncryptedKey)
        );
    }

    #[test]
    fn echoed_labels_are_sanitised() {
        let label = format!("X\u{7}{}", "Y".repeat(100));
        let text = format!("-----BEGIN {label}-----\nAAEC\n-----END {label}-----\n");
        match read_sections(&text, Input::Bundle) {
            Err(PkiError::UnexpectedSection { label, .. }) => {
                assert_eq!(label.len(), 40);
                assert!(label.chars().all(|c| c.is_ascii_graphic()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
