//! Zoho. Zoho runs one accounts server per data centre; its callback names the user's in
//! `accounts-server` (and `location`). The token request goes there ONLY if that server is in
//! the allow-list, since it receives our client secret. Errors may arrive as HTTP 200
//! `{"error": ...}`, so the calls are made here rather than through a standard OAuth client.
//! The token response's `api_domain` and the accounts server are kept in the account's
//! metadata: refreshes and API calls must go to the same data centre.

use std::collections::BTreeMap;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{
    Authorization, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet, REVOKE_TIME_LIMIT,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::config::{Defaults, ProviderConfig, ProviderSetupError};

/// Who the user is, and what the actions need: create and read leads, read contacts,
/// accounts and deals (comma-separated, as Zoho wants).
pub const SCOPES: &str = "AaaServer.profile.Read,ZohoCRM.modules.leads.CREATE,ZohoCRM.modules.leads.READ,ZohoCRM.modules.contacts.READ,ZohoCRM.modules.accounts.READ,ZohoCRM.modules.deals.READ";

pub const DEFAULTS: Defaults = Defaults {
    authorize: "https://accounts.zoho.com/oauth/v2/auth",
    token: "https://accounts.zoho.com/oauth/v2/token",
    revoke: Some("https://accounts.zoho.com/oauth/v2/token/revoke"),
    api_base: "https://www.zohoapis.com",
    userinfo: None,
    scopes: SCOPES,
};

/// Zoho's accounts servers, one per data centre.
pub const ACCOUNTS_SERVERS: [&str; 8] = [
    "https://accounts.zoho.com",
    "https://accounts.zoho.eu",
    "https://accounts.zoho.in",
    "https://accounts.zoho.com.au",
    "https://accounts.zoho.jp",
    "https://accounts.zoho.com.cn",
    "https://accounts.zoho.sa",
    "https://accounts.zohocloud.ca",
];

pub struct Zoho {
    config: ProviderConfig,
    authorize: reqwest::Url,
    /// Origins the token request may go to.
    allowed: Vec<String>,
    http: reqwest::Client,
}

fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url.trim()).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// `allowed` replaces the default list of accounts servers (`ZOHO_ACCOUNTS_SERVERS`).
pub fn provider(
    config: &ProviderConfig,
    allowed: Option<&[String]>,
) -> Result<Zoho, ProviderSetupError> {
    let invalid = |what| ProviderSetupError::InvalidUrl {
        provider: ProviderId::Zoho,
        what,
    };
    let authorize =
        reqwest::Url::parse(&config.authorize_url).map_err(|_| invalid("authorize URL"))?;
    reqwest::Url::parse(&config.token_url).map_err(|_| invalid("token URL"))?;
    let allowed = match allowed {
        Some(list) => list
            .iter()
            .map(|s| origin(s).ok_or_else(|| invalid("accounts server")))
            .collect::<Result<Vec<_>, _>>()?,
        None => ACCOUNTS_SERVERS.iter().filter_map(|s| origin(s)).collect(),
    };
    Ok(Zoho {
        config: config.clone(),
        authorize,
        allowed,
        http: crate::http::client(ProviderId::Zoho)?,
    })
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Unavailable(Box::new(e))
}

impl Zoho {
    /// The accounts server to use: the one the callback named if it is allowed, else the
    /// configured one. An unlisted server is refused before any request is made.
    fn accounts_server(&self, named: Option<&str>) -> Result<String, ProviderError> {
        match named {
            None => origin(&self.config.token_url)
                .ok_or_else(|| ProviderError::Unavailable("the token URL has no origin".into())),
            Some(server) => origin(server)
                .filter(|o| self.allowed.contains(o))
                .ok_or_else(|| ProviderError::Rejected {
                    code: "untrusted_accounts_server".into(),
                }),
        }
    }

    /// The token URL on `server`: the configured URL's path on that origin.
    fn on_server(&self, server: &str, configured: &str) -> String {
        match reqwest::Url::parse(configured) {
            Ok(url) => format!("{server}{}", url.path()),
            Err(_) => format!("{server}/oauth/v2/token"),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        // Zoho's revocation takes the token in the query string: an error must not carry the URL.
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.without_url()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(
                format!("Zoho answered {status}").into(),
            ));
        }
        let body: Value = crate::http::read_json(response)
            .await
            .map_err(unavailable)?;
        if let Some(code) = body.get("error").and_then(Value::as_str) {
            return Err(ProviderError::Rejected {
                code: code.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(ProviderError::Rejected {
                code: format!("http_{}", status.as_u16()),
            });
        }
        Ok(body)
    }
}

#[async_trait]
impl OAuthProvider for Zoho {
    fn id(&self) -> ProviderId {
        ProviderId::Zoho
    }

    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization {
        let mut url = self.authorize.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("scope", &self.config.scopes)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
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
        callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError> {
        let server = self.accounts_server(callback.get("accounts-server").map(String::as_str))?;
        let token_url = self.on_server(&server, &self.config.token_url);
        let body = self
            .call(self.http.post(token_url).form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", &self.config.client_id),
                ("client_secret", self.config.client_secret.expose_secret()),
            ]))
            .await?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let access = text("access_token").ok_or_else(|| ProviderError::Rejected {
            code: "no_access_token".into(),
        })?;
        let mut metadata = Map::new();
        metadata.insert("accountsServer".into(), json!(server));
        if let Some(domain) = text("api_domain") {
            metadata.insert("apiDomain".into(), json!(domain));
        }
        if let Some(location) = callback.get("location") {
            metadata.insert("location".into(), json!(location));
        }
        Ok(TokenSet {
            access_token: SecretString::from(access),
            refresh_token: text("refresh_token").map(SecretString::from),
            expires_in: crate::http::expires_in(&body),
            scopes: text("scope")
                .map(|s| {
                    s.split([',', ' '])
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            metadata,
        })
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError> {
        // At the account's own data centre; Zoho keeps the refresh token (none comes back).
        let server =
            self.accounts_server(metadata.get("accountsServer").and_then(Value::as_str))?;
        let body = self
            .call(
                self.http
                    .post(self.on_server(&server, &self.config.token_url))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token.expose_secret()),
                        ("client_id", &self.config.client_id),
                        ("client_secret", self.config.client_secret.expose_secret()),
                    ]),
            )
            .await
            .map_err(|e| crate::http::grant_revoked_if(e, &["invalid_code"]))?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let access = text("access_token").ok_or_else(|| ProviderError::Rejected {
            code: "no_access_token".into(),
        })?;
        let mut fresh = Map::new();
        if let Some(domain) = text("api_domain") {
            fresh.insert("apiDomain".into(), json!(domain));
        }
        Ok(TokenSet {
            access_token: SecretString::from(access),
            refresh_token: text("refresh_token").map(SecretString::from),
            expires_in: crate::http::expires_in(&body),
            scopes: Vec::new(),
            metadata: fresh,
        })
    }

    async fn identify(&self, tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError> {
        let server = self.accounts_server(
            tokens
                .metadata
                .get("accountsServer")
                .and_then(Value::as_str),
        )?;
        let body = self
            .call(self.http.get(format!("{server}/oauth/user/info")).header(
                "Authorization",
                format!("Zoho-oauthtoken {}", tokens.access_token.expose_secret()),
            ))
            .await?;
        let mut metadata = Map::new();
        for (key, field) in [
            ("email", "Email"),
            ("name", "Display_Name"),
            ("zuid", "ZUID"),
        ] {
            if let Some(v) = body.get(field) {
                metadata.insert(key.into(), v.clone());
            }
        }
        Ok(metadata)
    }

    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError> {
        let (Some(configured), Some(token)) = (&self.config.revoke_url, &account.refresh_token)
        else {
            return Ok(Revoked::NotAttempted);
        };
        let server = self.accounts_server(
            account
                .metadata
                .get("accountsServer")
                .and_then(Value::as_str),
        )?;
        let url = self.on_server(&server, configured);
        self.call(
            self.http
                .post(url)
                .query(&[("token", token.expose_secret())])
                .timeout(REVOKE_TIME_LIMIT),
        )
        .await?;
        Ok(Revoked::Confirmed)
    }
}
