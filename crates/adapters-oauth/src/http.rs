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
