//! OAuth provider adapters behind the `OAuthProvider` port: the `oauth2` crate for the
//! authorization-code flow (PKCE S256 where supported) and `reqwest` for identity calls.
//!
//! Every URL comes from [`ProviderConfig`], so sandboxes and tests can point a provider
//! anywhere. Provider calls time out after 10 seconds and never follow redirects.

mod config;
mod http;
pub mod linear;
mod standard;

pub use config::{InvalidProviderUrl, ProviderConfig, ProviderSettings};
pub use standard::StandardProvider;

use std::sync::Arc;

use gptgate_domain::ProviderId;
use gptgate_ports::OAuthProvider;

/// The providers this version can connect to.
pub const SUPPORTED: [ProviderId; 1] = [ProviderId::Linear];

/// Builds the adapter for configured `settings`; `Ok(None)` for a provider this version does
/// not support yet.
pub fn build(
    settings: &ProviderSettings,
) -> Result<Option<Arc<dyn OAuthProvider>>, InvalidProviderUrl> {
    Ok(match settings.id {
        ProviderId::Linear => {
            let config = settings.resolve(
                linear::AUTHORIZE_URL,
                linear::TOKEN_URL,
                Some(linear::REVOKE_URL),
                linear::API_BASE_URL,
            );
            Some(Arc::new(linear::provider(&config)?))
        }
        ProviderId::Gmail | ProviderId::Slack | ProviderId::Zoho | ProviderId::Mercury => None,
    })
}
