use gptgate_domain::ProviderId;
use secrecy::SecretString;

/// A provider's client credentials and endpoints.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: ProviderId,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    /// RFC 7009 revocation endpoint, where the provider has one.
    pub revoke_url: Option<String>,
    /// Base of the provider's API (identity calls, and actions later).
    pub api_base_url: String,
}

/// Why a provider configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {what} is not a valid URL")]
pub struct InvalidProviderUrl {
    pub provider: ProviderId,
    pub what: &'static str,
}
