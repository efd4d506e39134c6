use std::time::Duration;

use gptgate_domain::ProviderId;

use crate::config::ProviderSetupError;

/// The HTTP client for provider calls: bounded in time, and never following redirects (an
/// OAuth token endpoint that redirects is a misconfiguration or an attack, RFC 9700 4.11). A
/// client that cannot be built with these settings is an error, never a default client.
pub fn client(provider: ProviderId) -> Result<reqwest::Client, ProviderSetupError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ProviderSetupError::HttpClient {
            provider,
            reason: e.to_string(),
        })
}

/// The most of a provider's answer gptgate reads: anything larger is refused rather than
/// held in memory.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Why a provider's answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the provider's answer is larger than {} MiB", MAX_ANSWER_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the provider's answer could not be read: {0}")]
    Read(#[source] reqwest::Error),
    #[error("the provider's answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

/// The provider's answer as JSON, read up to [`MAX_ANSWER_BYTES`].
pub async fn read_json(mut response: reqwest::Response) -> Result<serde_json::Value, AnswerError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(AnswerError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AnswerError::Read(e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AnswerError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(AnswerError::NotJson)
}

/// A token response's `expires_in`, read leniently: an integer, a finite float (cut to whole
/// seconds, saturating) or a numeric string; anything else means "not said". Its range is the
/// caller's to clamp (`gptgate_domain::token_expiry`).
pub fn expires_in(body: &serde_json::Value) -> Option<time::Duration> {
    use serde_json::Value;
    let seconds = match body.get("expires_in")? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    Some(time::Duration::seconds(seconds))
}

/// A refusal of a refresh whose code means the grant is gone (`codes`: the provider's words
/// for it) becomes [`gptgate_ports::ProviderError::GrantRevoked`]; anything else is kept.
pub fn grant_revoked_if(
    e: gptgate_ports::ProviderError,
    codes: &[&str],
) -> gptgate_ports::ProviderError {
    use gptgate_ports::ProviderError;
    match e {
        ProviderError::Rejected { code } if codes.contains(&code.as_str()) => {
            ProviderError::GrantRevoked { code }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::Duration;

    #[test]
    fn expires_in_is_read_from_whatever_a_provider_sends() {
        let cases = [
            (json!({ "expires_in": 3600 }), Some(Duration::hours(1))),
            (json!({ "expires_in": "3600" }), Some(Duration::hours(1))),
            (json!({ "expires_in": -5 }), Some(Duration::seconds(-5))),
            (
                json!({ "expires_in": 1e18 }),
                Some(Duration::seconds(1_000_000_000_000_000_000)),
            ),
            (
                json!({ "expires_in": 1e300 }),
                Some(Duration::seconds(i64::MAX)),
            ),
            (
                json!({ "expires_in": 3599.9 }),
                Some(Duration::seconds(3599)),
            ),
            (json!({ "expires_in": "soon" }), None),
            (json!({ "expires_in": null }), None),
            (json!({ "expires_in": [1] }), None),
            (json!({}), None),
        ];
        for (body, expected) in cases {
            assert_eq!(super::expires_in(&body), expected, "{body}");
        }
    }
}
