//! How large an RSA public key is: asked of every key before a signature is verified with it
//! (`LaunchKey::rsa_size_ok`). The PEM is read as jsonwebtoken reads it (the `pem` crate: any
//! line length), its DER by the `rsa` crate (the same crate and version jsonwebtoken verifies
//! RS256 with here); nothing else of either is used.

use base64::Engine;
use gptgate_domain::bit_length;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

/// The modulus size, in bits, of a PEM RSA public key (`PUBLIC KEY` or PKCS#1 `RSA PUBLIC
/// KEY`); `None` if it is not one the verifier could use either.
pub(crate) fn pem_bits(pem: &str) -> Option<u64> {
    let block = pem::parse(pem.trim()).ok()?;
    let key = match block.tag() {
        "PUBLIC KEY" => rsa::RsaPublicKey::from_public_key_der(block.contents()).ok()?,
        "RSA PUBLIC KEY" => rsa::RsaPublicKey::from_pkcs1_der(block.contents()).ok()?,
        _ => return None,
    };
    Some(bit_length(&key.n().to_bytes_be()))
}

/// The size, in bits, of a JWK's modulus `n` (base64url, big-endian); `None` if it is not
/// base64url as jsonwebtoken reads it.
pub(crate) fn jwk_modulus_bits(n: &str) -> Option<u64> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .ok()
        .map(|bytes| bit_length(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_2048: &str = include_str!("../tests/fixtures/test-only-rsa-public.pem");
    const RSA_2047: &str = include_str!("../tests/fixtures/test-only-rsa-2047-public.pem");
    const RSA_1024_PKCS1: &str =
        include_str!("../tests/fixtures/test-only-rsa-1024-pkcs1-public.pem");

    /// `pem` with its body wrapped at `width` columns.
    fn rewrapped(pem: &str, width: usize) -> String {
        let lines: Vec<&str> = pem.trim().lines().collect();
        let body: String = lines[1..lines.len() - 1].concat();
        let wrapped: Vec<String> = body
            .as_bytes()
            .chunks(width)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        format!(
            "{}\n{}\n{}\n",
            lines[0],
            wrapped.join("\n"),
            lines[lines.len() - 1]
        )
    }

    #[test]
    fn a_pem_keys_size_is_read_in_either_form_and_any_line_length() {
        assert_eq!(pem_bits(RSA_2048), Some(2048));
        assert_eq!(pem_bits(&rewrapped(RSA_2048, 76)), Some(2048));
        assert_eq!(pem_bits(&rewrapped(RSA_2048, 10_000)), Some(2048));
        assert_eq!(pem_bits(RSA_2047), Some(2047));
        assert_eq!(pem_bits(RSA_1024_PKCS1), Some(1024));
        assert_eq!(pem_bits("not a key"), None);
        let certificate = RSA_2048.replace("PUBLIC KEY", "CERTIFICATE");
        assert_eq!(pem_bits(&certificate), None);
    }

    #[test]
    fn a_jwk_modulus_is_counted_from_its_first_set_bit() {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(jwk_modulus_bits(&b64(&[0x80; 256])), Some(2048));
        assert_eq!(jwk_modulus_bits(&b64(&[0x7f; 256])), Some(2047));
        assert_eq!(jwk_modulus_bits("not base64url!"), None);
    }
}
