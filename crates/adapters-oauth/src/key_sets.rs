//! Learning platforms' public key sets (JWKS, RFC 7517), fetched over HTTPS for LTI 1.3
//! launches: bounded in time and size, never following redirects, and keeping only keys that
//! can verify an RS256 id_token (RSA, 2,048 bits or more, named by `kid`, not meant for
//! encryption).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use gptgate_domain::{bit_length, LaunchKey, PlatformKey, PlatformUrl};
use gptgate_ports::{KeySetError, KeySets};
use serde::Deserialize;

/// A public exponent RSA can verify with: odd, at least 3, at most 33 bits (the RSA
/// implementation refuses larger ones).
fn exponent_ok(e: &[u8]) -> bool {
    let bits = bit_length(e);
    bits > 1 && bits <= 33 && e.last().is_some_and(|b| b & 1 == 1)
}

/// The key set fetcher.
#[derive(Debug, Clone)]
pub struct HttpKeySets {
    client: reqwest::Client,
}

impl HttpKeySets {
    /// A fetcher with its own client: 5 s to connect, 10 s in all, no redirects.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 signing keys of a key set document.
fn signing_keys(body: serde_json::Value) -> Result<Vec<PlatformKey>, KeySetError> {
    let set: Jwks = serde_json::from_value(body).map_err(|_| KeySetError::Malformed)?;
    let decode = |v: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v)
            .ok()
    };
    Ok(set
        .keys
        .into_iter()
        // A key of a shape we do not know is another kind's, not a broken set.
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .filter(|k| {
            k.kty == "RSA"
                && k.alg.as_deref().is_none_or(|a| a == "RS256")
                && k.usage.as_deref().is_none_or(|u| u == "sig")
        })
        .filter_map(|k| {
            let (kid, n, e) = (k.kid?, k.n?, k.e?);
            let usable = LaunchKey::rsa_size_ok(bit_length(&decode(&n)?))
                && decode(&e).is_some_and(|e| exponent_ok(&e));
            (!kid.is_empty() && usable).then_some(PlatformKey { kid, n, e })
        })
        .collect())
}

#[async_trait]
impl KeySets for HttpKeySets {
    async fn fetch(&self, url: &PlatformUrl) -> Result<Vec<PlatformKey>, KeySetError> {
        let response = self
            .client
            .get(url.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| KeySetError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeySetError::Unreachable(format!(
                "the platform answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = crate::http::read_json(response)
            .await
            .map_err(|_| KeySetError::Malformed)?;
        signing_keys(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A modulus of `bytes` bytes, its top bit set (8 x `bytes` bits), base64url.
    fn modulus(bytes: usize) -> String {
        let mut n = vec![0xc5; bytes];
        n[0] = 0x80;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn modulus_and_exponent_are_bounded_at_their_edges() {
        let with = |n: String, e: &str| {
            signing_keys(json!({ "keys": [{ "kty": "RSA", "kid": "k", "e": e, "n": n }] }))
                .unwrap()
                .len()
        };
        // 2,048 bits exactly; 2,047 (top byte 0x7f) refused; 4,096 kept; 4,097 refused.
        assert_eq!(with(modulus(256), "AQAB"), 1);
        let mut n = vec![0xc5; 256];
        n[0] = 0x7f;
        assert_eq!(with(b64(&n), "AQAB"), 0, "2,047 bits");
        assert_eq!(with(modulus(512), "AQAB"), 1, "4,096 bits");
        assert_eq!(
            with(b64(&[&[1u8][..], &[0xc5; 512][..]].concat()), "AQAB"),
            0,
            "4,097 bits"
        );
        // Exponents: 3, 65537 and 2^33 - 1 kept; 1, 2, even, empty and 2^33 + 1 refused.
        assert_eq!(with(modulus(256), &b64(&[3])), 1);
        assert_eq!(with(modulus(256), &b64(&[1, 0xff, 0xff, 0xff, 0xff])), 1);
        for bad in [
            b64(&[1]),
            b64(&[2]),
            b64(&[1, 0, 0]),
            String::new(),
            b64(&[2, 0, 0, 0, 1]),
        ] {
            assert_eq!(with(modulus(256), &bad), 0, "{bad}");
        }
    }

    /// Moodle's certs.php answers like this (one RSA key, alg and use given).
    fn moodle_set() -> serde_json::Value {
        json!({ "keys": [
            { "kty": "RSA", "alg": "RS256", "kid": "5e3c0e1b2a", "e": "AQAB", "n": modulus(256), "use": "sig" }
        ]})
    }

    #[test]
    fn only_rs256_signing_keys_of_2048_bits_or_more_are_kept() {
        let keys = signing_keys(json!({ "keys": [
            { "kty": "RSA", "kid": "bare", "e": "AQAB", "n": modulus(256) },
            { "kty": "RSA", "kid": "big", "alg": "RS256", "e": "AQAB", "n": modulus(512) },
            { "kty": "RSA", "kid": "too-big", "e": "AQAB", "n": modulus(513) },
            { "kty": "RSA", "kid": "leading-zero", "e": "AQAB",
              "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([&[0u8][..], &[0xc5; 256][..]].concat()) },
            { "kty": "RSA", "kid": "short", "e": "AQAB", "n": modulus(255) },
            { "kty": "RSA", "kid": "padded-short", "e": "AQAB",
              "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([&[0u8][..], &[0xc5; 255][..]].concat()) },
            { "kty": "RSA", "kid": "enc", "use": "enc", "e": "AQAB", "n": modulus(256) },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "e": "AQAB", "n": modulus(256) },
            { "kty": "RSA", "e": "AQAB", "n": modulus(256) },
            { "kty": "RSA", "kid": "", "e": "AQAB", "n": modulus(256) },
            { "kty": "RSA", "kid": "no-e", "n": modulus(256) },
            { "kty": "RSA", "kid": "bad-b64", "e": "AQAB", "n": "not base64!" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "x" },
            "not an object",
        ]}))
        .unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["bare", "big", "leading-zero"]);
        assert_eq!(keys[0].e, "AQAB");
        assert_eq!(keys[0].n, modulus(256));
        for malformed in [json!({}), json!({ "keys": {} }), json!([1, 2])] {
            assert!(matches!(
                signing_keys(malformed),
                Err(KeySetError::Malformed)
            ));
        }
    }

    #[tokio::test]
    async fn a_platforms_key_set_is_fetched() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/mod/lti/certs.php"))
            .respond_with(ResponseTemplate::new(200).set_body_json(moodle_set()))
            .expect(1)
            .mount(&server)
            .await;
        let url = PlatformUrl::parse(
            &format!("{}/mod/lti/certs.php", server.uri()).replace("127.0.0.1", "localhost"),
            "k",
        )
        .unwrap();
        let keys = HttpKeySets::new().unwrap().fetch(&url).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "5e3c0e1b2a");
    }

    #[tokio::test]
    async fn errors_redirects_and_non_json_are_failures_that_hold_no_body() {
        let server = MockServer::start().await;
        Mock::given(path("/gone"))
            .respond_with(ResponseTemplate::new(404).set_body_string("secret page text"))
            .mount(&server)
            .await;
        Mock::given(path("/moved"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "https://evil.example/jwks"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/html"))
            .respond_with(ResponseTemplate::new(200).set_body_raw("<html>", "text/html"))
            .mount(&server)
            .await;
        let sets = HttpKeySets::new().unwrap();
        let url = |p: &str| {
            PlatformUrl::parse(
                &format!("{}{p}", server.uri()).replace("127.0.0.1", "localhost"),
                "k",
            )
            .unwrap()
        };
        let gone = sets.fetch(&url("/gone")).await.unwrap_err();
        assert!(matches!(&gone, KeySetError::Unreachable(m) if m.contains("404")));
        assert!(!gone.to_string().contains("secret page text"));
        let moved = sets.fetch(&url("/moved")).await.unwrap_err();
        assert!(matches!(&moved, KeySetError::Unreachable(m) if m.contains("302")));
        assert!(matches!(
            sets.fetch(&url("/html")).await,
            Err(KeySetError::Malformed)
        ));
        let closed = PlatformUrl::parse("http://localhost:9/jwks", "k").unwrap();
        assert!(matches!(
            sets.fetch(&closed).await,
            Err(KeySetError::Unreachable(_))
        ));
    }
}
