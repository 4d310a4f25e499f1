//! Just enough DER to read the key structures this module meets: PKCS#8 `PrivateKeyInfo`
//! (which algorithm a PEM key is), X.509 `SubjectPublicKeyInfo` (what KMS `GetPublicKey`
//! returns), PKCS#1 `RSAPublicKey`, and ECDSA `Ecdsa-Sig-Value` (what KMS `Sign` returns).
//! Strict: definite lengths in minimal form only, no trailing bytes.
// Public keys and signatures in DER come only from KMS.
#![cfg_attr(not(feature = "kms"), allow(dead_code))]

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// `rsaEncryption`, 1.2.840.113549.1.1.1.
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey`, 1.2.840.10045.2.1.
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `prime256v1` (P-256), 1.2.840.10045.3.1.7.
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (P-384), 1.3.132.0.34.
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `id-Ed25519`, 1.3.101.112.
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A DER input that is consumed element by element.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self(input)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads one element: its tag and contents.
    pub(crate) fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // Minimal form: long form only for lengths of 128 and more, no leading zero byte.
            if len < 0x80 || bytes[0] == 0 {
                return None;
            }
            (len, rest)
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Some((tag, contents))
    }

    /// Reads one element that must have `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.any()? {
            (t, contents) if t == tag => Some(contents),
            _ => None,
        }
    }

    /// Reads a SEQUENCE and returns a reader over its contents.
    pub(crate) fn sequence(&mut self) -> Option<Reader<'a>> {
        self.expect(TAG_SEQUENCE).map(Reader)
    }

    /// Reads a non-negative INTEGER and returns its magnitude without leading zeros.
    pub(crate) fn unsigned_integer(&mut self) -> Option<&'a [u8]> {
        let contents = self.expect(TAG_INTEGER)?;
        if contents.is_empty() || contents[0] & 0x80 != 0 {
            return None;
        }
        let start = contents
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(contents.len());
        Some(&contents[start..])
    }

    /// Reads a BIT STRING without unused bits and returns its bytes.
    pub(crate) fn bit_string(&mut self) -> Option<&'a [u8]> {
        match self.expect(TAG_BIT_STRING)?.split_first() {
            Some((0, bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// Requires that nothing is left.
    pub(crate) fn finish(self) -> Option<()> {
        self.is_empty().then_some(())
    }
}

/// The algorithm of a PKCS#8 `PrivateKeyInfo` or an X.509 `SubjectPublicKeyInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyAlgorithm {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// Reads an `AlgorithmIdentifier` SEQUENCE.
fn algorithm_identifier(reader: &mut Reader<'_>) -> Option<KeyAlgorithm> {
    let mut alg = reader.sequence()?;
    let oid = alg.expect(TAG_OID)?;
    match oid {
        OID_RSA => Some(KeyAlgorithm::Rsa),
        OID_ED25519 => Some(KeyAlgorithm::Ed25519),
        OID_EC_PUBLIC_KEY => match alg.expect(TAG_OID)? {
            OID_P256 => Some(KeyAlgorithm::EcP256),
            OID_P384 => Some(KeyAlgorithm::EcP384),
            _ => None,
        },
        _ => None,
    }
}

/// The algorithm of an unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5208, RFC 5958).
pub(crate) fn pkcs8_algorithm(der: &[u8]) -> Option<KeyAlgorithm> {
    let mut outer = Reader::new(der);
    let mut info = outer.sequence()?;
    outer.finish()?;
    let version = info.expect(TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    let algorithm = algorithm_identifier(&mut info)?;
    info.expect(TAG_OCTET_STRING)?;
    Some(algorithm)
}

/// A public key read from an X.509 `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PublicKey<'a> {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// The affine coordinates of a P-256 or P-384 point.
    Ec {
        algorithm: KeyAlgorithm,
        x: &'a [u8],
        y: &'a [u8],
    },
    /// The 32-byte Ed25519 public key.
    Ed25519 { x: &'a [u8] },
}

/// Reads a `SubjectPublicKeyInfo`.
pub(crate) fn subject_public_key_info(der: &[u8]) -> Option<PublicKey<'_>> {
    let mut outer = Reader::new(der);
    let mut spki = outer.sequence()?;
    outer.finish()?;
    let algorithm = algorithm_identifier(&mut spki)?;
    let key = spki.bit_string()?;
    spki.finish()?;
    match algorithm {
        KeyAlgorithm::Rsa => rsa_public_key(key),
        KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
            let size = if algorithm == KeyAlgorithm::EcP256 {
                32
            } else {
                48
            };
            let (x, y) = uncompressed_point(key, size)?;
            Some(PublicKey::Ec { algorithm, x, y })
        }
        KeyAlgorithm::Ed25519 => (key.len() == 32).then_some(PublicKey::Ed25519 { x: key }),
    }
}

/// Reads a PKCS#1 `RSAPublicKey` (RFC 8017 §A.1.1).
pub(crate) fn rsa_public_key(der: &[u8]) -> Option<PublicKey<'_>> {
    let mut outer = Reader::new(der);
    let mut key = outer.sequence()?;
    outer.finish()?;
    let n = key.unsigned_integer()?;
    let e = key.unsigned_integer()?;
    key.finish()?;
    (!n.is_empty() && !e.is_empty()).then_some(PublicKey::Rsa { n, e })
}

/// Splits an uncompressed SEC1 point `04 || x || y` with coordinates of `size` bytes.
pub(crate) fn uncompressed_point(point: &[u8], size: usize) -> Option<(&[u8], &[u8])> {
    match point.split_first() {
        Some((4, xy)) if xy.len() == 2 * size => Some(xy.split_at(size)),
        _ => None,
    }
}

/// Converts a DER `Ecdsa-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`, RFC 3279 §2.2.3, as
/// KMS returns it) into the fixed-width `r || s` that JWS uses (RFC 7518 §3.4).
pub(crate) fn ecdsa_der_to_jose(der: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut outer = Reader::new(der);
    let mut sig = outer.sequence()?;
    outer.finish()?;
    let r = sig.unsigned_integer()?;
    let s = sig.unsigned_integer()?;
    sig.finish()?;
    if r.is_empty() || s.is_empty() || r.len() > size || s.len() > size {
        return None;
    }
    let mut out = vec![0; 2 * size];
    out[size - r.len()..size].copy_from_slice(r);
    out[2 * size - s.len()..].copy_from_slice(s);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.push(0x81);
            out.push(contents.len() as u8);
        }
        out.extend_from_slice(contents);
        out
    }

    #[test]
    fn ecdsa_signature_is_padded_and_stripped_to_fixed_width() {
        // r has a leading zero (its top bit is set), s is short.
        let mut r = vec![0x00, 0x80];
        r.extend_from_slice(&[0x11; 31]);
        let s = vec![0x01, 0x02];
        let mut seq = der(TAG_INTEGER, &r);
        seq.extend(der(TAG_INTEGER, &s));
        let sig = der(TAG_SEQUENCE, &seq);
        let jose = ecdsa_der_to_jose(&sig, 32).unwrap();
        assert_eq!(jose.len(), 64);
        assert_eq!(jose[0], 0x80);
        assert_eq!(&jose[1..32], &[0x11; 31]);
        assert_eq!(&jose[32..62], &[0; 30]);
        assert_eq!(&jose[62..], &[0x01, 0x02]);
    }

    #[test]
    fn ecdsa_signature_rejects_negative_oversized_and_trailing_bytes() {
        let seq = [der(TAG_INTEGER, &[0x80]), der(TAG_INTEGER, &[1])].concat();
        assert_eq!(ecdsa_der_to_jose(&der(TAG_SEQUENCE, &seq), 32), None);
        let seq = [der(TAG_INTEGER, &[0x01; 33]), der(TAG_INTEGER, &[1])].concat();
        assert_eq!(ecdsa_der_to_jose(&der(TAG_SEQUENCE, &seq), 32), None);
        let seq = [der(TAG_INTEGER, &[1]), der(TAG_INTEGER, &[1])].concat();
        let mut sig = der(TAG_SEQUENCE, &seq);
        sig.push(0);
        assert_eq!(ecdsa_der_to_jose(&sig, 32), None);
    }

    #[test]
    fn rejects_non_minimal_lengths() {
        // Length 5 in long form.
        let mut reader = Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(reader.any(), None);
    }

    #[test]
    fn reads_an_ed25519_subject_public_key_info() {
        let alg = der(TAG_SEQUENCE, &der(TAG_OID, OID_ED25519));
        let mut bits = vec![0];
        bits.extend_from_slice(&[7; 32]);
        let spki = der(TAG_SEQUENCE, &[alg, der(TAG_BIT_STRING, &bits)].concat());
        assert_eq!(
            subject_public_key_info(&spki),
            Some(PublicKey::Ed25519 { x: &[7; 32] })
        );
    }
}
