//! The OAuth provider port: one implementation per provider (Gmail, Slack, Linear, Zoho,
//! Mercury) in `gptgate-adapters-oauth`, a scripted fake in `gptgate-testkit`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::Duration;

use crate::BoxError;

/// The longest a revocation may take, connection included.
pub const REVOKE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Where to send the user, and the PKCE verifier to keep (sealed) until the callback.
pub struct Authorization {
    pub url: String,
    /// `None` for providers without PKCE.
    pub pkce_verifier: Option<SecretString>,
}

/// What the provider returned for a code (or a refresh).
pub struct TokenSet {
    pub access_token: SecretString,
    /// `None` when the provider sent none; the caller then keeps the one it has.
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
    pub scopes: Vec<String>,
    /// Non-secret facts from the token response worth keeping (Zoho's `api_domain`, Slack's
    /// team), merged into the account's metadata.
    pub metadata: Map<String, Value>,
}

/// What a revocation may use: the account's tokens (opened) and its metadata (Zoho keeps its
/// data centre there).
pub struct Revocation {
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    pub metadata: Map<String, Value>,
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The provider confirmed it.
    Confirmed,
    /// Nothing was sent: the provider has no revocation endpoint, or the token it revokes is
    /// missing.
    NotAttempted,
}

/// A provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused (an OAuth error such as `invalid_grant`, or Slack's
    /// `{"ok": false}`); `code` is the provider's error code, safe to show.
    #[error("the provider refused: {code}")]
    Rejected { code: String },
    /// The provider no longer honours the account's grant (`invalid_grant`, Slack's
    /// `invalid_refresh_token`, Zoho's `invalid_code` on a refresh): the user must connect again.
    #[error("the provider no longer accepts this connection: {code}")]
    GrantRevoked { code: String },
    /// The provider could not be reached, timed out, or answered something unreadable.
    #[error("the provider could not be reached or answered unexpectedly")]
    Unavailable(#[source] BoxError),
}

/// One OAuth provider, configured with this server's client credentials.
#[async_trait]
pub trait OAuthProvider: Send + Sync {
    fn id(&self) -> ProviderId;

    /// The authorization URL for `state` (with PKCE S256 where the provider supports it).
    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization;

    /// Exchanges an authorization code. `callback` holds every other query parameter of the
    /// callback (Zoho sends `accounts-server` there; implementations MUST only use values they
    /// can validate).
    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&SecretString>,
        redirect_uri: &str,
        callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError>;

    /// Who the account is (email, workspace, ...), for the account's metadata. MUST NOT return
    /// any token.
    async fn identify(&self, tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError>;

    /// Trades the account's refresh token for fresh tokens (RFC 6749 section 6). `metadata` is
    /// the account's (Zoho sends the request to the data centre it names). A provider that
    /// rotates refresh tokens returns the new one, which replaces the old at once (the old one
    /// may already be spent); `None` keeps the one the account has. A refusal meaning the
    /// grant is gone is [`ProviderError::GrantRevoked`]; any other is `Rejected` or
    /// `Unavailable`, and leaves the account as it is for a later try.
    async fn refresh(
        &self,
        refresh_token: &SecretString,
        metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError>;

    /// Revokes the account's grant at the provider. The implementation picks the token its
    /// provider revokes; [`Revoked::NotAttempted`] when it has no revocation endpoint or none
    /// of the tokens it needs, so callers never report a revocation that did not happen. It
    /// MUST give up
    /// within [`REVOKE_TIME_LIMIT`]: revocations run while a user waits for a deletion, which
    /// a slow provider must never prevent.
    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError>;
}
