//! gptgate as an OAuth 2.1 authorization server (RFC 6749 as tightened by RFC 9700, RFC 7636,
//! RFC 7009): registering clients, checking an authorization request before anything is
//! redirected, issuing codes, and the token endpoint's two grants and revocation. The access
//! tokens are the session tokens the API already accepts, each session tied to its grant, so
//! revoking a grant ends them at once.

use std::sync::Arc;

use gptgate_domain::{
    is_pkce_verifier, Audience, AuthorizationCode, BudgetPolicy, ClientError, ClientId, ClientKind,
    ClientName, CodeChallenge, GrantId, GrantSummary, OAuthClient, OAuthPolicy, RedirectUri,
    RefreshToken, RefreshUse, SessionPolicy, UserId,
};
use secrecy::SecretString;
use tracing::instrument;

use crate::{
    AuthorizationRepository, BudgetRepository, Clock, CodeTaken, InternalError, OpaqueTokens,
    Random, SessionClaims, SessionRepository, SessionTokens, StorageError,
};

/// The ports the authorization server uses.
#[derive(Clone)]
pub struct AuthorizationPorts {
    pub store: Arc<dyn AuthorizationRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    /// Mints codes, refresh tokens and client secrets, and hashes them (SHA-256); PKCE S256
    /// is the same hash of the verifier.
    pub tokens: Arc<dyn OpaqueTokens>,
    pub session_tokens: Arc<dyn SessionTokens>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Bounds dynamic registrations (`/oauth/register`).
    pub budgets: Arc<dyn BudgetRepository>,
}

/// How many clients may register themselves per hour, all together.
pub const REGISTRATIONS_PER_HOUR: u32 = 100;

/// A client as registered: the secret is shown once and never stored.
pub struct RegisteredClient {
    pub client: OAuthClient,
    pub secret: SecretString,
}

/// Why registering a client failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Invalid(#[from] ClientError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Why a client could not register itself (RFC 7591 3.2.2).
#[derive(Debug, thiserror::Error)]
pub enum SelfRegisterError {
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidMetadata(String),
    /// Too many registrations this hour.
    #[error("too many registrations; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: time::Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Why an authorization request cannot even be answered with a redirect: the user sees an
/// error page, never a redirect to an unchecked URI (RFC 6749 4.1.2.1).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("no such client")]
    UnknownClient,
    #[error("this redirect URI is not registered for the client")]
    UnregisteredRedirectUri,
    /// The client may not have access to that face ([`OAuthClient::audience_for`]).
    #[error("this client may not have access to that resource")]
    AudienceNotAllowed,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The token endpoint's errors, as RFC 6749 5.2 names them.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Unknown client or wrong secret: 401 with `WWW-Authenticate`.
    #[error("client authentication failed")]
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, used, issued to another
    /// client, or the redirect URI or PKCE verifier does not match.
    #[error("the grant is invalid")]
    InvalidGrant,
    /// The `resource` asked for is not the one the grant is for (RFC 8707).
    #[error("the resource is not the grant's")]
    InvalidTarget,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// What the token endpoint answers on success.
pub struct IssuedTokens {
    pub access_token: SecretString,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: SecretString,
}

/// The client's credentials, from the request body or Basic authentication; a public client
/// sends its id alone.
pub struct ClientCredentials<'a> {
    pub id: &'a str,
    pub secret: Option<&'a str>,
}

/// The authorization server's use cases.
pub struct Authorization {
    ports: AuthorizationPorts,
    policy: OAuthPolicy,
    sessions: SessionPolicy,
}

impl Authorization {
    pub fn new(ports: AuthorizationPorts, policy: OAuthPolicy, sessions: SessionPolicy) -> Self {
        Self {
            ports,
            policy,
            sessions,
        }
    }

    fn internal(e: impl Into<crate::BoxError>) -> InternalError {
        InternalError::new(e)
    }

    /// Registers a client named `name` of `kind` with `redirect_uris`; the secret is in the
    /// answer and nowhere else.
    #[instrument(skip_all)]
    pub async fn register_client(
        &self,
        name: &str,
        kind: ClientKind,
        redirect_uris: &[String],
    ) -> Result<RegisteredClient, RegisterError> {
        let name = ClientName::parse(name)?;
        let redirect_uris = redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        OAuthClient::check_registration(kind, &redirect_uris)?;
        let id = ClientId::from_random_bytes(
            self.ports
                .random
                .bytes()
                .map_err(|e| RegisterError::Internal(Self::internal(e)))?,
        );
        let (secret, secret_hash) = self
            .ports
            .tokens
            .mint()
            .map_err(|e| RegisterError::Internal(Self::internal(e)))?;
        let client = OAuthClient {
            id,
            name,
            kind,
            secret_hash: Some(secret_hash),
            redirect_uris,
            created_at: self.ports.clock.now(),
        };
        self.ports.store.create_client(&client).await?;
        tracing::info!(client_id = %client.id, kind = client.kind.as_str(), "OAuth client registered");
        Ok(RegisteredClient { client, secret })
    }

    /// Dynamic registration (RFC 7591) of a public client (an MCP client on the user's
    /// machine): no secret, PKCE on every request, redirect URIs https or loopback and matched
    /// exactly (others asked for are left out: [`OAuthClient::self_registered_redirect_uris`]); at most [`REGISTRATIONS_PER_HOUR`] registrations an hour in all. A client that
    /// is never used is purged a day later.
    #[instrument(skip_all)]
    pub async fn register_public_client(
        &self,
        name: Option<&str>,
        redirect_uris: &[String],
    ) -> Result<OAuthClient, SelfRegisterError> {
        let name = ClientName::parse(name.unwrap_or("MCP client"))
            .map_err(|e| SelfRegisterError::InvalidMetadata(e.to_string()))?;
        let asked = redirect_uris.len();
        let redirect_uris = OAuthClient::self_registered_redirect_uris(redirect_uris)
            .map_err(|e| SelfRegisterError::InvalidRedirectUri(e.to_string()))?;
        if redirect_uris.len() < asked {
            tracing::info!(
                asked,
                kept = redirect_uris.len(),
                "a registering client's redirect URIs other than https and loopback ones were left out"
            );
        }
        let now = self.ports.clock.now();
        let policy = BudgetPolicy::hourly(REGISTRATIONS_PER_HOUR);
        let mut refused = None;
        self.ports
            .budgets
            .update_budget(
                "oauth-register",
                &mut |window| match policy.take(window, now) {
                    Ok(next) => {
                        refused = None;
                        Some(next)
                    }
                    Err(retry_after) => {
                        refused = Some(retry_after);
                        None
                    }
                },
            )
            .await?;
        if let Some(retry_after) = refused {
            tracing::warn!("dynamic client registrations this hour are spent");
            return Err(SelfRegisterError::TooMany { retry_after });
        }
        let id = ClientId::from_random_bytes(
            self.ports
                .random
                .bytes()
                .map_err(|e| SelfRegisterError::Internal(Self::internal(e)))?,
        );
        let client = OAuthClient {
            id,
            name,
            kind: ClientKind::Public,
            secret_hash: None,
            redirect_uris,
            created_at: now,
        };
        self.ports.store.create_client(&client).await?;
        tracing::info!(client_id = %client.id, "a public OAuth client registered itself");
        Ok(client)
    }

    pub async fn clients(&self) -> Result<Vec<OAuthClient>, StorageError> {
        self.ports.store.list_clients().await
    }

    /// Removes a client with everything issued to it. Returns whether it existed.
    #[instrument(skip_all, fields(client_id = %id))]
    pub async fn remove_client(&self, id: ClientId) -> Result<bool, StorageError> {
        self.ports.store.delete_client(id).await
    }

    /// The client of an authorization request, if `redirect_uri` is one it may be sent to.
    /// Checked before anything else of the request: until this passes, errors are shown, never
    /// redirected.
    pub async fn check_request(
        &self,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<OAuthClient, AuthorizeError> {
        let id: ClientId = client_id
            .parse()
            .map_err(|_| AuthorizeError::UnknownClient)?;
        let client = self
            .ports
            .store
            .find_client(id)
            .await?
            .ok_or(AuthorizeError::UnknownClient)?;
        if !client.accepts_redirect(redirect_uri) {
            return Err(AuthorizeError::UnregisteredRedirectUri);
        }
        Ok(client)
    }

    /// A code (single use, [`OAuthPolicy::code_ttl`]) for `user`, who allowed `client`, bound
    /// to the request's redirect URI and PKCE challenge.
    #[instrument(skip_all, fields(client_id = %client.id, %user))]
    pub async fn issue_code(
        &self,
        client: &OAuthClient,
        user: UserId,
        redirect_uri: &str,
        challenge: Option<CodeChallenge>,
        audience: Audience,
    ) -> Result<SecretString, AuthorizeError> {
        if !client.accepts_redirect(redirect_uri) {
            return Err(AuthorizeError::UnregisteredRedirectUri);
        }
        if client.audience_for(Some(audience)) != Some(audience) {
            return Err(AuthorizeError::AudienceNotAllowed);
        }
        let now = self.ports.clock.now();
        let (code, hash) = self.ports.tokens.mint().map_err(Self::internal)?;
        let grant_id =
            GrantId::from_random_bytes(self.ports.random.bytes().map_err(Self::internal)?);
        self.ports
            .store
            .start_grant(grant_id, client.id, user, audience, now)
            .await?;
        self.ports
            .store
            .create_code(&AuthorizationCode {
                hash,
                client_id: client.id,
                user_id: user,
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                grant_id,
                audience,
                expires_at: now + self.policy.code_ttl,
                created_at: now,
            })
            .await?;
        tracing::info!("authorization code issued");
        Ok(code)
    }

    /// The registered client these credentials prove, or `InvalidClient`.
    async fn authenticate(
        &self,
        credentials: &ClientCredentials<'_>,
    ) -> Result<OAuthClient, TokenError> {
        let id: ClientId = credentials
            .id
            .parse()
            .map_err(|_| TokenError::InvalidClient)?;
        let client = self
            .ports
            .store
            .find_client(id)
            .await?
            .ok_or(TokenError::InvalidClient)?;
        // Both sides are SHA-256 digests of 256-bit secrets: comparing them reveals nothing. A
        // public client has no secret and must present none (RFC 6749 2.1: its code is bound
        // by PKCE instead).
        let proven = match (&client.secret_hash, credentials.secret) {
            (Some(hash), Some(secret)) => self.ports.tokens.hash(secret) == *hash,
            (None, None) => true,
            _ => false,
        };
        if !proven {
            tracing::info!(client_id = %client.id, "OAuth client authentication failed");
            return Err(TokenError::InvalidClient);
        }
        Ok(client)
    }

    /// The `authorization_code` grant (RFC 6749 4.1.3, RFC 7636 4.6): the code, once, by the
    /// client it was issued to, with the same redirect URI and the PKCE verifier of its
    /// challenge. A replayed code revokes everything issued from it.
    #[instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        credentials: &ClientCredentials<'_>,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        resource: Option<Audience>,
    ) -> Result<IssuedTokens, TokenError> {
        let client = self.authenticate(credentials).await?;
        let now = self.ports.clock.now();
        let code = match self
            .ports
            .store
            .take_code(&self.ports.tokens.hash(code), now)
            .await?
        {
            CodeTaken::Taken(code) => code,
            CodeTaken::Replayed { grant_id } => {
                tracing::warn!(client_id = %client.id, "an authorization code was replayed; its grant is revoked");
                self.ports.store.revoke_grant(grant_id, now).await?;
                return Err(TokenError::InvalidGrant);
            }
            CodeTaken::NotFound => return Err(TokenError::InvalidGrant),
        };
        // A code for a face its client may not have (made before the rule, or by a bug) is
        // worth nothing.
        if code.client_id != client.id
            || redirect_uri != Some(code.redirect_uri.as_str())
            || client.audience_for(Some(code.audience)) != Some(code.audience)
        {
            return Err(TokenError::InvalidGrant);
        }
        let verified = match (&code.challenge, verifier) {
            (Some(challenge), Some(verifier)) => {
                is_pkce_verifier(verifier)
                    && self.ports.tokens.hash(verifier).as_bytes() == challenge.as_bytes()
            }
            (None, None) => true,
            // A verifier without a challenge is refused too (RFC 9700 2.1.1: no downgrade).
            _ => false,
        };
        if !verified {
            return Err(TokenError::InvalidGrant);
        }
        if resource.is_some_and(|r| r != code.audience) {
            return Err(TokenError::InvalidTarget);
        }
        let refresh = self.mint_refresh(
            code.grant_id,
            client.id,
            code.user_id,
            code.created_at,
            code.audience,
        )?;
        if !self.ports.store.create_refresh_token(&refresh.1).await? {
            // The grant was revoked meanwhile (a replay of this very code).
            return Err(TokenError::InvalidGrant);
        }
        let issued = self
            .access_token(
                client.id,
                code.grant_id,
                code.user_id,
                code.audience,
                refresh.0,
            )
            .await?;
        tracing::info!(client_id = %client.id, "authorization code exchanged");
        Ok(issued)
    }

    /// The `refresh_token` grant (RFC 6749 6): the token, by its client, once; a new pair in
    /// its place. A rotated token presented after [`OAuthPolicy::reuse_grace`] means it was
    /// stolen: the whole grant is revoked.
    #[instrument(skip_all)]
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials<'_>,
        refresh_token: &str,
        resource: Option<Audience>,
    ) -> Result<IssuedTokens, TokenError> {
        let client = self.authenticate(credentials).await?;
        let now = self.ports.clock.now();
        let hash = self.ports.tokens.hash(refresh_token);
        let token = self
            .ports
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or(TokenError::InvalidGrant)?;
        if token.client_id != client.id {
            return Err(TokenError::InvalidGrant);
        }
        if client.audience_for(Some(token.audience)) != Some(token.audience) {
            // A grant its client may not have (a self-registered client's for the GPT API,
            // started before the rule): ended, not renewed.
            tracing::warn!(client_id = %client.id, "a grant for a face its client may not have was ended");
            self.ports.store.revoke_grant(token.grant_id, now).await?;
            return Err(TokenError::InvalidGrant);
        }
        if resource.is_some_and(|r| r != token.audience) {
            return Err(TokenError::InvalidTarget);
        }
        match token.use_at(now, &self.policy) {
            RefreshUse::Rotate => {}
            RefreshUse::SpentWithinGrace | RefreshUse::Dead => {
                return Err(TokenError::InvalidGrant)
            }
            RefreshUse::Replayed => {
                tracing::warn!(client_id = %client.id, "a rotated refresh token was presented again; its grant is revoked");
                self.ports.store.revoke_grant(token.grant_id, now).await?;
                return Err(TokenError::InvalidGrant);
            }
        }
        let (secret, next) = self.mint_refresh(
            token.grant_id,
            client.id,
            token.user_id,
            token.grant_started_at,
            token.audience,
        )?;
        if !self
            .ports
            .store
            .rotate_refresh_token(&hash, &next, now)
            .await?
        {
            // A concurrent refresh with the same token won.
            return Err(TokenError::InvalidGrant);
        }
        self.access_token(
            client.id,
            token.grant_id,
            token.user_id,
            token.audience,
            secret,
        )
        .await
    }

    /// Revocation (RFC 7009): a refresh token or an access token of this client ends its
    /// grant. Unknown tokens, and other clients' tokens, are ignored (the answer is the same).
    #[instrument(skip_all)]
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials<'_>,
        token: &str,
    ) -> Result<(), TokenError> {
        let client = self.authenticate(credentials).await?;
        let now = self.ports.clock.now();
        let grant = match self
            .ports
            .store
            .find_refresh_token(&self.ports.tokens.hash(token))
            .await?
        {
            Some(refresh) => (refresh.client_id == client.id).then_some(refresh.grant_id),
            None => match self.ports.session_tokens.verify(token, now) {
                Ok(claims) => self
                    .ports
                    .sessions
                    .find_session(claims.session_id)
                    .await?
                    .and_then(|s| s.grant)
                    .filter(|(c, _)| *c == client.id)
                    .map(|(_, g)| g),
                Err(_) => None,
            },
        };
        if let Some(grant) = grant {
            self.ports.store.revoke_grant(grant, now).await?;
            tracing::info!(client_id = %client.id, "grant revoked by its client");
        }
        Ok(())
    }

    /// The apps with access to `user`'s account.
    pub async fn grants_of(&self, user: UserId) -> Result<Vec<GrantSummary>, StorageError> {
        let now = self.ports.clock.now();
        let mut grants = self.ports.store.grants_of(user, now).await?;
        // Past its year a grant can no longer be refreshed: it no longer counts as access.
        grants.retain(|g| now - g.started_at < self.policy.grant_lifetime);
        Ok(grants)
    }

    /// Ends `user`'s grant `grant` (the app loses its access at once). Returns whether it was
    /// one of theirs.
    #[instrument(skip_all, fields(%user))]
    pub async fn revoke_for_user(
        &self,
        user: UserId,
        grant: GrantId,
    ) -> Result<bool, StorageError> {
        if !self.grants_of(user).await?.iter().any(|g| g.id == grant) {
            return Ok(false);
        }
        self.ports
            .store
            .revoke_grant(grant, self.ports.clock.now())
            .await?;
        tracing::info!("grant revoked by its user");
        Ok(true)
    }

    fn mint_refresh(
        &self,
        grant: GrantId,
        client: ClientId,
        user: UserId,
        grant_started_at: time::OffsetDateTime,
        audience: Audience,
    ) -> Result<(SecretString, RefreshToken), TokenError> {
        let now = self.ports.clock.now();
        let (secret, hash) = self.ports.tokens.mint().map_err(Self::internal)?;
        Ok((
            secret,
            RefreshToken {
                hash,
                grant_id: grant,
                client_id: client,
                user_id: user,
                expires_at: now + self.policy.refresh_ttl,
                created_at: now,
                rotated_at: None,
                revoked_at: None,
                grant_started_at,
                audience,
            },
        ))
    }

    /// A new session of the grant, as an access token, with `refresh_token`.
    async fn access_token(
        &self,
        client: ClientId,
        grant: GrantId,
        user: UserId,
        audience: Audience,
        refresh_token: SecretString,
    ) -> Result<IssuedTokens, TokenError> {
        let now = self.ports.clock.now();
        let session_id = self.ports.random.session_id().map_err(Self::internal)?;
        let session = self
            .sessions
            .open_for_grant(session_id, user, client, grant, now);
        self.ports.sessions.create_session(&session).await?;
        // Not stored if the grant was revoked meanwhile: say so rather than hand out a token
        // that is dead on arrival.
        if self
            .ports
            .sessions
            .find_session(session_id)
            .await?
            .is_none_or(|s| !s.is_active(now))
        {
            return Err(TokenError::InvalidGrant);
        }
        let token = self
            .ports
            .session_tokens
            .sign(&SessionClaims {
                user_id: user,
                session_id,
                issued_at: now,
                expires_at: session.expires_at,
                audience,
            })
            .map_err(Self::internal)?;
        Ok(IssuedTokens {
            access_token: SecretString::from(token),
            expires_in: (session.expires_at - now).whole_seconds(),
            refresh_token,
        })
    }
}
