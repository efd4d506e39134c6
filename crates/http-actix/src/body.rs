//! JSON request bodies. Handlers take the raw bytes (bounded by the body limit) and parse them
//! here, so every malformed body gets the same error shape; an empty body reads as `{}`.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::from_json(&e))
}

/// Deserializes a string, or a number written as digits (a GPT may send a code as `12345`,
/// dropping its leading zero: it is padded back to six digits).
pub mod code_string {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u32),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Text(s)) => Ok(s),
            Ok(Raw::Number(n)) => Ok(format!("{n:06}")),
            Err(_) => Err(serde::de::Error::custom(
                "expected the code as a string of 6 digits",
            )),
        }
    }
}
