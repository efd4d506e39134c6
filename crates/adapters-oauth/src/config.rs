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

/// A provider as configured by the operator: credentials, and any endpoint overrides (for
/// sandboxes and tests); unset endpoints take the provider's defaults.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub id: ProviderId,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    pub api_base_url: Option<String>,
}

impl ProviderSettings {
    /// The settings with defaults filled in.
    pub fn resolve(
        &self,
        authorize: &str,
        token: &str,
        revoke: Option<&str>,
        api_base: &str,
    ) -> ProviderConfig {
        ProviderConfig {
            id: self.id,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            authorize_url: self
                .authorize_url
                .clone()
                .unwrap_or_else(|| authorize.to_owned()),
            token_url: self.token_url.clone().unwrap_or_else(|| token.to_owned()),
            revoke_url: self
                .revoke_url
                .clone()
                .or_else(|| revoke.map(str::to_owned)),
            api_base_url: self
                .api_base_url
                .clone()
                .unwrap_or_else(|| api_base.to_owned()),
        }
    }
}
