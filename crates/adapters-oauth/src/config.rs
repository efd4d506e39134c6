use gptgate_domain::ProviderId;
use secrecy::SecretString;

/// A provider's client credentials, endpoints and scopes, resolved.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: ProviderId,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    /// Revocation endpoint, where the provider has one.
    pub revoke_url: Option<String>,
    /// Base of the provider's API (identity calls, and actions later).
    pub api_base_url: String,
    /// Where the account's identity is read (Google's OpenID userinfo endpoint).
    pub userinfo_url: Option<String>,
    /// The `scope` parameter, as the provider wants it.
    pub scopes: String,
}

/// Why a provider adapter cannot be built: the server refuses to start rather than run a
/// provider without its safety settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("{provider}: {what} is not a valid URL")]
    InvalidUrl {
        provider: ProviderId,
        what: &'static str,
    },
    /// The HTTP client (no redirects, timeouts, rustls) could not be built.
    #[error("{provider}: the HTTP client could not be built: {reason}")]
    HttpClient {
        provider: ProviderId,
        reason: String,
    },
}

/// A provider as configured by the operator: credentials, and any endpoint or scope overrides
/// (for sandboxes and tests); what is unset takes the provider's defaults.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub id: ProviderId,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    pub api_base_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// Replaces the default scopes (`{PREFIX}_SCOPES`).
    pub scopes: Option<String>,
    /// Zoho only: the accounts servers a callback may name (`ZOHO_ACCOUNTS_SERVERS`).
    pub accounts_servers: Option<Vec<String>>,
}

/// A provider's default endpoints and scopes.
pub struct Defaults {
    pub authorize: &'static str,
    pub token: &'static str,
    pub revoke: Option<&'static str>,
    pub api_base: &'static str,
    pub userinfo: Option<&'static str>,
    pub scopes: &'static str,
}

impl ProviderSettings {
    /// The settings with the provider's defaults filled in.
    pub fn resolve(&self, d: &Defaults) -> ProviderConfig {
        let or =
            |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.to_owned());
        ProviderConfig {
            id: self.id,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            authorize_url: or(&self.authorize_url, d.authorize),
            token_url: or(&self.token_url, d.token),
            revoke_url: self
                .revoke_url
                .clone()
                .or_else(|| d.revoke.map(str::to_owned)),
            api_base_url: or(&self.api_base_url, d.api_base),
            userinfo_url: self
                .userinfo_url
                .clone()
                .or_else(|| d.userinfo.map(str::to_owned)),
            scopes: or(&self.scopes, d.scopes),
        }
    }
}
