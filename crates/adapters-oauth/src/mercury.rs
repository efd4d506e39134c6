//! Mercury: OAuth 2.0 at oauth2.mercury.com (sandbox: oauth2-sandbox.mercury.com), client
//! credentials by HTTP Basic, scopes `read offline_access` (refresh tokens are single-use and
//! expire after 30 days), PKCE S256. Identity: the business's accounts. Access to Mercury's
//! OAuth is granted by Mercury on request.

use gptgate_ports::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::config::{Defaults, ProviderConfig, ProviderSetupError};
use crate::standard::{futures_like::BoxFuture, IdentityContext, StandardProvider};

pub const SCOPES: &str = "read offline_access";

pub const DEFAULTS: Defaults = Defaults {
    authorize: "https://oauth2.mercury.com/oauth2/auth",
    token: "https://oauth2.mercury.com/oauth2/token",
    revoke: Some("https://oauth2.mercury.com/oauth2/revoke"),
    api_base: "https://api.mercury.com/api/v1",
    userinfo: None,
    scopes: SCOPES,
};

pub fn provider(config: &ProviderConfig) -> Result<StandardProvider, ProviderSetupError> {
    StandardProvider::new(config, vec![], true, false, identify)
}

fn identify<'a>(
    cx: IdentityContext<'a>,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<Map<String, Value>, ProviderError>> {
    Box::pin(async move {
        let response = cx
            .http
            .get(format!("{}/accounts", cx.api_base))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Rejected {
                code: format!("http_{}", status.as_u16()),
            });
        }
        let body: Value = crate::http::read_json(response)
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        let accounts = body
            .get("accounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut metadata = Map::new();
        if let Some(business) = accounts.iter().find_map(|a| a.get("legalBusinessName")) {
            metadata.insert("business".into(), business.clone());
        }
        let names: Vec<Value> = accounts
            .iter()
            .filter_map(|a| a.get("name").cloned())
            .collect();
        metadata.insert("accounts".into(), json!(names));
        Ok(metadata)
    })
}
