//! OAuth provider adapters behind the `OAuthProvider` port: the `oauth2` crate for the
//! authorization-code flow (PKCE S256 where supported) and `reqwest` for identity calls.
//!
//! Every URL comes from [`ProviderConfig`], so sandboxes and tests can point a provider
//! anywhere. Provider calls time out after 10 seconds and never follow redirects.

mod config;
pub mod gmail;
mod http;
pub mod linear;
pub mod mercury;
mod standard;

pub use config::{Defaults, InvalidProviderUrl, ProviderConfig, ProviderSettings};
pub use standard::StandardProvider;

use std::sync::Arc;

use gptgate_domain::ProviderId;
use gptgate_ports::OAuthProvider;

/// The providers this version can connect to.
pub const SUPPORTED: [ProviderId; 3] = [ProviderId::Gmail, ProviderId::Linear, ProviderId::Mercury];

/// Builds the adapter for configured `settings`; `Ok(None)` for a provider this version does
/// not support yet.
pub fn build(
    settings: &ProviderSettings,
) -> Result<Option<Arc<dyn OAuthProvider>>, InvalidProviderUrl> {
    Ok(match settings.id {
        ProviderId::Linear => Some(Arc::new(linear::provider(
            &settings.resolve(&linear::DEFAULTS),
        )?)),
        ProviderId::Gmail => Some(Arc::new(gmail::provider(
            &settings.resolve(&gmail::DEFAULTS),
        )?)),
        ProviderId::Mercury => Some(Arc::new(mercury::provider(
            &settings.resolve(&mercury::DEFAULTS),
        )?)),
        ProviderId::Slack | ProviderId::Zoho => None,
    })
}
