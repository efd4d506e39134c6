//! How large an RSA public key is: asked of every key before a signature is verified with it
//! (`LaunchKey::MIN_RSA_BITS`). The `rsa` crate reads the PEM (the same crate and version
//! jsonwebtoken verifies RS256 with here); nothing else of it is used.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

/// The modulus size, in bits, of a PEM RSA public key (`PUBLIC KEY` or PKCS#1 `RSA PUBLIC
/// KEY`); `None` if it is not one the verifier could use either.
pub(crate) fn pem_bits(pem: &str) -> Option<u32> {
    let pem = pem.trim();
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .ok()?;
    u32::try_from(key.n().bits()).ok()
}

/// The size, in bits, of a JWK's modulus `n` (base64url, big-endian); `None` if it is not
/// base64url.
pub(crate) fn jwk_modulus_bits(n: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n.trim_end_matches('='))
        .ok()?;
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return Some(0);
    };
    let significant = u32::try_from(bytes.len() - first).ok()?;
    Some((significant - 1) * 8 + (8 - bytes[first].leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_2048: &str = include_str!("../tests/fixtures/test-only-rsa-public.pem");
    const RSA_2047: &str = include_str!("../tests/fixtures/test-only-rsa-2047-public.pem");
    const RSA_1024_PKCS1: &str =
        include_str!("../tests/fixtures/test-only-rsa-1024-pkcs1-public.pem");

    #[test]
    fn a_pem_keys_size_is_read_in_either_form() {
        assert_eq!(pem_bits(RSA_2048), Some(2048));
        assert_eq!(pem_bits(RSA_2047), Some(2047));
        assert_eq!(pem_bits(RSA_1024_PKCS1), Some(1024));
        assert_eq!(pem_bits("not a key"), None);
    }

    #[test]
    fn a_jwk_modulus_is_counted_from_its_first_set_bit() {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(jwk_modulus_bits(&b64(&[0x80; 256])), Some(2048));
        assert_eq!(jwk_modulus_bits(&b64(&[0x7f; 256])), Some(2047));
        // A leading zero byte (as some encoders write) does not count.
        let mut padded = vec![0u8];
        padded.extend([0xff; 256]);
        assert_eq!(jwk_modulus_bits(&b64(&padded)), Some(2048));
        assert_eq!(jwk_modulus_bits(&b64(&[0x01])), Some(1));
        assert_eq!(jwk_modulus_bits(&b64(&[0, 0])), Some(0));
        assert_eq!(jwk_modulus_bits("not base64url!"), None);
    }
}
