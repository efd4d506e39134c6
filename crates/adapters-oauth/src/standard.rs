//! A provider that follows RFC 6749 closely enough for the `oauth2` crate's standard types:
//! Linear, Google and Mercury.

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{
    Authorization, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet, REVOKE_TIME_LIMIT,
};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use time::Duration;

use crate::config::{ProviderConfig, ProviderSetupError};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Where identity calls go.
pub struct IdentityContext<'a> {
    pub http: &'a reqwest::Client,
    pub api_base: &'a str,
    pub userinfo_url: Option<&'a str>,
}

/// How a provider tells who the account is.
pub type Identify =
    for<'a> fn(
        IdentityContext<'a>,
        &'a SecretString,
    ) -> futures_like::BoxFuture<'a, Result<Map<String, Value>, ProviderError>>;

/// A minimal boxed-future alias, to keep `futures` out of the dependency list.
pub mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

/// A standard OAuth 2.0 provider.
pub struct StandardProvider {
    id: ProviderId,
    client: Client,
    http: reqwest::Client,
    api_base_url: String,
    scopes: String,
    userinfo_url: Option<String>,
    extra_params: Vec<(&'static str, &'static str)>,
    pkce: bool,
    identify: Identify,
    client_id: String,
    client_secret: SecretString,
    revoke_url: Option<String>,
    auth_in_body: bool,
}

impl StandardProvider {
    /// `config.scopes` is the `scope` parameter as the provider wants it (space- or
    /// comma-separated); `auth_in_body` sends the client secret in the form instead of HTTP
    /// Basic.
    pub fn new(
        config: &ProviderConfig,
        extra_params: Vec<(&'static str, &'static str)>,
        pkce: bool,
        auth_in_body: bool,
        identify: Identify,
    ) -> Result<Self, ProviderSetupError> {
        let invalid = |what| ProviderSetupError::InvalidUrl {
            provider: config.id,
            what,
        };
        if let Some(url) = &config.revoke_url {
            reqwest::Url::parse(url).map_err(|_| invalid("revoke URL"))?;
        }
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(config.authorize_url.clone()).map_err(|_| invalid("authorize URL"))?,
            )
            .set_token_uri(
                TokenUrl::new(config.token_url.clone()).map_err(|_| invalid("token URL"))?,
            )
            .set_auth_type(if auth_in_body {
                AuthType::RequestBody
            } else {
                AuthType::BasicAuth
            });
        reqwest::Url::parse(&config.api_base_url).map_err(|_| invalid("API base URL"))?;
        Ok(Self {
            id: config.id,
            client,
            http: crate::http::client(config.id)?,
            api_base_url: config.api_base_url.trim_end_matches('/').to_owned(),
            scopes: config.scopes.clone(),
            userinfo_url: config.userinfo_url.clone(),
            extra_params,
            pkce,
            identify,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            revoke_url: config.revoke_url.clone(),
            auth_in_body,
        })
    }
}

/// The tokens of a standard token response.
fn token_set(response: &oauth2::basic::BasicTokenResponse) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        expires_in: response
            .expires_in()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(Duration::seconds),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
        metadata: Map::new(),
    }
}

fn rejected_or_unavailable<E>(
    e: RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> ProviderError
where
    E: std::error::Error + Send + Sync + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => ProviderError::Rejected {
            code: r.error().as_ref().to_owned(),
        },
        other => ProviderError::Unavailable(Box::new(other)),
    }
}

#[async_trait]
impl OAuthProvider for StandardProvider {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization {
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new(state.to_owned()))
            .add_scope(Scope::new(self.scopes.clone()));
        if let Ok(uri) = RedirectUrl::new(redirect_uri.to_owned()) {
            request = request.set_redirect_uri(Cow::Owned(uri));
        }
        for (name, value) in &self.extra_params {
            request = request.add_extra_param(*name, *value);
        }
        let mut verifier = None;
        if self.pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(SecretString::from(v.secret().clone()));
        }
        let (url, _) = request.url();
        Authorization {
            url: url.to_string(),
            pkce_verifier: verifier,
        }
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&SecretString>,
        redirect_uri: &str,
        _callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_redirect_uri(Cow::Owned(redirect));
        if let Some(v) = pkce_verifier {
            request =
                request.set_pkce_verifier(PkceCodeVerifier::new(v.expose_secret().to_owned()));
        }
        let response = request
            .request_async(&self.http)
            .await
            .map_err(rejected_or_unavailable)?;
        Ok(token_set(&response))
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        _metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError> {
        let response = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(rejected_or_unavailable)
            .map_err(|e| crate::http::grant_revoked_if(e, &["invalid_grant"]))?;
        Ok(token_set(&response))
    }

    async fn identify(&self, tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError> {
        let context = IdentityContext {
            http: &self.http,
            api_base: &self.api_base_url,
            userinfo_url: self.userinfo_url.as_deref(),
        };
        (self.identify)(context, &tokens.access_token).await
    }

    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError> {
        // RFC 7009 by hand: the oauth2 crate refuses non-https revocation URLs, which sandboxes
        // and tests use; the request is one form POST.
        let Some(url) = &self.revoke_url else {
            return Ok(Revoked::NotAttempted);
        };
        // Revoking the refresh token ends the whole grant (RFC 7009 2.1).
        let (token, hint) = match (&account.refresh_token, &account.access_token) {
            (Some(t), _) => (t, "refresh_token"),
            (None, Some(t)) => (t, "access_token"),
            (None, None) => return Ok(Revoked::NotAttempted),
        };
        let mut form = vec![("token", token.expose_secret()), ("token_type_hint", hint)];
        let mut request = self.http.post(url.as_str()).timeout(REVOKE_TIME_LIMIT);
        if self.auth_in_body {
            form.push(("client_id", self.client_id.as_str()));
            form.push(("client_secret", self.client_secret.expose_secret()));
        } else {
            request = request.basic_auth(&self.client_id, Some(self.client_secret.expose_secret()));
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(Box::new(e)))?;
        // RFC 7009 2.2: 200 means revoked, including for a token that was already invalid.
        match response.status() {
            s if s.is_success() => Ok(Revoked::Confirmed),
            s if s.is_client_error() => Err(ProviderError::Rejected {
                code: format!("http_{}", s.as_u16()),
            }),
            s => Err(ProviderError::Unavailable(
                format!("revocation answered {s}").into(),
            )),
        }
    }
}
