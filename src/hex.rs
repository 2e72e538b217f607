//! Hex encoding shared by fingerprints, ids and header escapes (one implementation instead of a
//! lookup table per module).

/// Upper- or lower-case digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Upper,
    Lower,
}

fn digit(nibble: u8, case: Case) -> char {
    let c = char::from_digit(u32::from(nibble & 0x0f), 16).unwrap_or('0');
    match case {
        Case::Upper => c.to_ascii_uppercase(),
        Case::Lower => c,
    }
}

/// Append the two hex digits of `b`.
pub fn push_byte(out: &mut String, b: u8, case: Case) {
    out.push(digit(b >> 4, case));
    out.push(digit(b, case));
}

/// `bytes` as hex, two digits per byte.
pub fn encode(bytes: &[u8], case: Case) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        push_byte(&mut out, b, case);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_both_cases() {
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff], Case::Lower), "000fa5ff");
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff], Case::Upper), "000FA5FF");
        assert_eq!(encode(&[], Case::Upper), "");
    }
}
