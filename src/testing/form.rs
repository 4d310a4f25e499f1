//! `application/x-www-form-urlencoded` decoding and strict re-encoding of query strings and
//! bodies.
//!
//! Decoding follows the `form_urlencoded` crate that aws-sigv4 uses to canonicalise query strings
//! (`+` is a space, a `%` not followed by two hex digits stays literal, invalid UTF-8 is replaced),
//! so that the parameters the emulator sees are exactly the ones the signer will canonicalise.

/// Splits on `&`, skips empty pieces, splits each on the first `=` and decodes both halves.
pub(crate) fn decode(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|b| *b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.iter().position(|b| *b == b'=') {
            Some(at) => (
                decode_component(&piece[..at]),
                decode_component(&piece[at + 1..]),
            ),
            None => (decode_component(piece), String::new()),
        })
        .collect()
}

/// Encodes pairs so that [`decode`] gives them back unchanged: everything but RFC 3986
/// unreserved characters is percent-encoded (a space as `%20`, never `+`).
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode_component(name, &mut out);
        out.push('=');
        encode_component(value, &mut out);
    }
    out
}

fn decode_component(input: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => bytes.push(b' '),
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    bytes.push(high << 4 | low);
                    i += 2;
                }
                _ => bytes.push(b'%'),
            },
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex(digit: &u8) -> Option<u8> {
    char::from(*digit).to_digit(16).map(|d| d as u8)
}

fn encode_component(input: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_like_form_urlencoded() {
        assert_eq!(
            decode(b"a=1&&b=x+y%2Bz&c&d=%zz%4&e=%C3%A9&=v&f=a=b"),
            pairs(&[
                ("a", "1"),
                ("b", "x y+z"),
                ("c", ""),
                ("d", "%zz%4"),
                ("e", "é"),
                ("", "v"),
                ("f", "a=b"),
            ])
        );
        assert_eq!(decode(b"bad=%FF"), pairs(&[("bad", "\u{FFFD}")]));
        assert!(decode(b"").is_empty());
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let original = pairs(&[("X Y", "a b+c/d=e&f%g~h-i_j.k"), ("é", "")]);
        let encoded = encode(original.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(encoded, "X%20Y=a%20b%2Bc%2Fd%3De%26f%25g~h-i_j.k&%C3%A9=");
        assert_eq!(decode(encoded.as_bytes()), original);
    }
}
