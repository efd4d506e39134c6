//! Google (Gmail): `access_type=offline` and `prompt=consent` (without both Google sends no
//! refresh token), PKCE S256, identity from the OpenID userinfo endpoint, revocation at
//! oauth2.googleapis.com.

use gptgate_ports::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::config::{Defaults, ProviderConfig, ProviderSetupError};
use crate::standard::{futures_like::BoxFuture, IdentityContext, StandardProvider};

/// Who the user is, and sending mail as them. Read scopes are added only when an action needs
/// them.
pub const SCOPES: &str =
    "openid email https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.readonly";

pub const DEFAULTS: Defaults = Defaults {
    authorize: "https://accounts.google.com/o/oauth2/v2/auth",
    token: "https://oauth2.googleapis.com/token",
    revoke: Some("https://oauth2.googleapis.com/revoke"),
    api_base: "https://gmail.googleapis.com",
    userinfo: Some("https://openidconnect.googleapis.com/v1/userinfo"),
    scopes: SCOPES,
};

pub fn provider(config: &ProviderConfig) -> Result<StandardProvider, ProviderSetupError> {
    StandardProvider::new(
        config,
        vec![("access_type", "offline"), ("prompt", "consent")],
        true,
        true,
        identify,
    )
}

fn identify<'a>(
    cx: IdentityContext<'a>,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<Map<String, Value>, ProviderError>> {
    Box::pin(async move {
        let url = cx
            .userinfo_url
            .ok_or_else(|| ProviderError::Unavailable("no userinfo URL is configured".into()))?;
        let response = cx
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        let status = response.status();
        let body: Value = crate::http::read_json(response)
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        if !status.is_success() {
            let code = body
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| format!("http_{}", status.as_u16()), str::to_owned);
            return Err(ProviderError::Rejected { code });
        }
        let mut metadata = Map::new();
        for (key, field) in [
            ("email", "email"),
            ("emailVerified", "email_verified"),
            ("subject", "sub"),
            ("name", "name"),
        ] {
            if let Some(v) = body.get(field) {
                metadata.insert(key.into(), v.clone());
            }
        }
        Ok(metadata)
    })
}
