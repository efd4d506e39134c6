//! Slack (OAuth v2). Slack's token endpoint answers errors as HTTP 200 `{"ok": false,
//! "error": ...}`, which no standard OAuth client reads, so the two calls are made here as
//! Slack documents them. gptgate installs with bot scopes only (`scope`, comma-separated); the
//! bot token is the account's access token, and with token rotation Slack also sends a
//! single-use refresh token. Identity from `auth.test`; revocation with `auth.revoke`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{
    Authorization, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet, REVOKE_TIME_LIMIT,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::config::{Defaults, ProviderConfig, ProviderSetupError};

/// Post messages and find the channel to post in.
pub const SCOPES: &str = "chat:write,channels:read";

pub const DEFAULTS: Defaults = Defaults {
    authorize: "https://slack.com/oauth/v2/authorize",
    token: "https://slack.com/api/oauth.v2.access",
    revoke: Some("https://slack.com/api/auth.revoke"),
    api_base: "https://slack.com/api",
    userinfo: None,
    scopes: SCOPES,
};

pub struct Slack {
    config: ProviderConfig,
    authorize: reqwest::Url,
    http: reqwest::Client,
}

pub fn provider(config: &ProviderConfig) -> Result<Slack, ProviderSetupError> {
    let invalid = |what| ProviderSetupError::InvalidUrl {
        provider: ProviderId::Slack,
        what,
    };
    let authorize =
        reqwest::Url::parse(&config.authorize_url).map_err(|_| invalid("authorize URL"))?;
    reqwest::Url::parse(&config.token_url).map_err(|_| invalid("token URL"))?;
    reqwest::Url::parse(&config.api_base_url).map_err(|_| invalid("API base URL"))?;
    Ok(Slack {
        config: config.clone(),
        authorize,
        http: crate::http::client(ProviderId::Slack)?,
    })
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Unavailable(Box::new(e))
}

/// Slack's envelope: `ok: false` carries the error code whatever the HTTP status.
fn slack_ok(body: &Value) -> Result<(), ProviderError> {
    if body.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(ProviderError::Rejected {
            code: body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unexpected_response")
                .to_owned(),
        })
    }
}

/// The tokens of an `oauth.v2.access` answer (a code exchange or a refresh).
fn token_set(body: &Value) -> Result<TokenSet, ProviderError> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let access = text(body, "access_token").ok_or_else(|| ProviderError::Rejected {
        code: "no_bot_token".into(),
    })?;
    let mut metadata = Map::new();
    if let Some(team) = body.get("team").filter(|t| t.is_object()) {
        metadata.insert(
            "team".into(),
            json!({ "id": team.get("id"), "name": team.get("name") }),
        );
    }
    for (key, field) in [("botUserId", "bot_user_id"), ("appId", "app_id")] {
        if let Some(v) = text(body, field) {
            metadata.insert(key.into(), json!(v));
        }
    }
    if let Some(user) = body.pointer("/authed_user/id").and_then(Value::as_str) {
        metadata.insert("installedBy".into(), json!(user));
    }
    Ok(TokenSet {
        access_token: SecretString::from(access),
        refresh_token: text(body, "refresh_token").map(SecretString::from),
        expires_in: crate::http::expires_in(body),
        scopes: text(body, "scope")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        metadata,
    })
}

impl Slack {
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let response = request.send().await.map_err(unavailable)?;
        if response.status().is_server_error() {
            return Err(ProviderError::Unavailable(
                format!("Slack answered {}", response.status()).into(),
            ));
        }
        let body: Value = crate::http::read_json(response)
            .await
            .map_err(unavailable)?;
        slack_ok(&body)?;
        Ok(body)
    }
}

#[async_trait]
impl OAuthProvider for Slack {
    fn id(&self) -> ProviderId {
        ProviderId::Slack
    }

    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization {
        let mut url = self.authorize.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("scope", &self.config.scopes)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        Authorization {
            url: url.to_string(),
            pkce_verifier: None,
        }
    }

    async fn exchange_code(
        &self,
        code: &str,
        _pkce_verifier: Option<&SecretString>,
        redirect_uri: &str,
        _callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError> {
        let body = self
            .call(self.http.post(&self.config.token_url).form(&[
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", &self.config.client_id),
                ("client_secret", self.config.client_secret.expose_secret()),
            ]))
            .await?;
        token_set(&body)
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        _metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError> {
        // Token rotation: a single-use refresh token for a new pair.
        let body = self
            .call(self.http.post(&self.config.token_url).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
                ("client_id", &self.config.client_id),
                ("client_secret", self.config.client_secret.expose_secret()),
            ]))
            .await
            .map_err(|e| crate::http::grant_revoked_if(e, &["invalid_refresh_token"]))?;
        token_set(&body)
    }

    async fn identify(&self, tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError> {
        let body = self
            .call(
                self.http
                    .post(format!(
                        "{}/auth.test",
                        self.config.api_base_url.trim_end_matches('/')
                    ))
                    .bearer_auth(tokens.access_token.expose_secret()),
            )
            .await?;
        let mut metadata = Map::new();
        for (key, field) in [
            ("workspaceUrl", "url"),
            ("workspace", "team"),
            ("teamId", "team_id"),
            ("botId", "bot_id"),
        ] {
            if let Some(v) = body.get(field) {
                metadata.insert(key.into(), v.clone());
            }
        }
        Ok(metadata)
    }

    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError> {
        let (Some(url), Some(token)) = (&self.config.revoke_url, &account.access_token) else {
            return Ok(Revoked::NotAttempted);
        };
        self.call(
            self.http
                .post(url)
                .bearer_auth(token.expose_secret())
                .timeout(REVOKE_TIME_LIMIT),
        )
        .await?;
        Ok(Revoked::Confirmed)
    }
}
