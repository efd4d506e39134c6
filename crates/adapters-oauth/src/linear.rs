//! Linear: authorize at linear.app, tokens at api.linear.app (client secret in the body,
//! rotating refresh tokens), PKCE S256, identity from GraphQL `viewer` and `organization`.

use gptgate_ports::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::config::{Defaults, ProviderConfig, ProviderSetupError};
use crate::standard::{futures_like::BoxFuture, IdentityContext, StandardProvider};

/// What gptgate asks Linear for: read the user's workspace, create issues and comments.
pub const SCOPES: &str = "read,issues:create,comments:create";

/// Linear's endpoints and the scopes gptgate asks for.
pub const DEFAULTS: Defaults = Defaults {
    authorize: "https://linear.app/oauth/authorize",
    token: "https://api.linear.app/oauth/token",
    revoke: Some("https://api.linear.app/oauth/revoke"),
    api_base: "https://api.linear.app",
    userinfo: None,
    scopes: SCOPES,
};

/// The Linear provider.
pub fn provider(config: &ProviderConfig) -> Result<StandardProvider, ProviderSetupError> {
    StandardProvider::new(config, vec![("prompt", "consent")], true, true, identify)
}

fn identify<'a>(
    cx: IdentityContext<'a>,
    token: &'a SecretString,
) -> BoxFuture<'a, Result<Map<String, Value>, ProviderError>> {
    Box::pin(async move {
        let response = cx
            .http
            .post(format!("{}/graphql", cx.api_base))
            .bearer_auth(token.expose_secret())
            .json(
                &json!({ "query": "{ viewer { id name email } organization { id name urlKey } }" }),
            )
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        let status = response.status();
        let body: Value = crate::http::read_json(response)
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        if let Some(errors) = body.get("errors").and_then(Value::as_array) {
            let code = errors
                .first()
                .and_then(|e| e.pointer("/extensions/code"))
                .and_then(Value::as_str)
                .unwrap_or("graphql_error");
            return Err(ProviderError::Rejected {
                code: code.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(ProviderError::Rejected {
                code: format!("http_{}", status.as_u16()),
            });
        }
        let viewer = body.pointer("/data/viewer").cloned().unwrap_or(Value::Null);
        let organization = body
            .pointer("/data/organization")
            .cloned()
            .unwrap_or(Value::Null);
        let mut metadata = Map::new();
        for (key, pointer) in [("userId", "/id"), ("name", "/name"), ("email", "/email")] {
            if let Some(v) = viewer.pointer(pointer) {
                metadata.insert(key.into(), v.clone());
            }
        }
        if organization.is_object() {
            metadata.insert("organization".into(), organization);
        }
        Ok(metadata)
    })
}
