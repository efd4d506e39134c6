//! What the action tests share: a provider configured against a wiremock server, and one
//! action run with a token and the account's metadata.

#![allow(dead_code)]

use gptgate_adapters_oauth::ProviderConfig;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionCall, ActionError, ProviderActions};
use secrecy::SecretString;
use serde_json::{Map, Value};
use wiremock::MockServer;

/// `id`'s configuration with every endpoint on `server` and its API at `api_path` there.
pub fn config(id: ProviderId, server: &MockServer, api_path: &str) -> ProviderConfig {
    ProviderConfig {
        id,
        client_id: "cid".into(),
        client_secret: SecretString::from("secret".to_owned()),
        authorize_url: format!("{}/oauth/authorize", server.uri()),
        token_url: format!("{}/oauth/token", server.uri()),
        revoke_url: None,
        api_base_url: format!("{}{api_path}", server.uri()),
        userinfo_url: None,
        scopes: String::new(),
    }
}

/// Runs `action` with access token `token` on an account with `metadata`.
pub async fn run_with(
    actions: &dyn ProviderActions,
    token: &str,
    metadata: &Map<String, Value>,
    action: &str,
    params: Value,
) -> Result<Value, ActionError> {
    let token = SecretString::from(token.to_owned());
    actions
        .run(
            action,
            ActionCall {
                access_token: &token,
                metadata,
                params: &params,
            },
        )
        .await
}
