//! OAuth provider adapters behind the `OAuthProvider` port, one module per provider: the
//! `oauth2` crate for the standard authorization-code flows (Gmail, Linear, Mercury; PKCE S256),
//! and Slack's and Zoho's own token calls with `reqwest`, since both answer errors as HTTP 200
//! and Zoho routes each user to a data centre.
//!
//! Every URL comes from [`ProviderConfig`], so sandboxes and tests can point a provider
//! anywhere. Provider calls time out after 10 seconds and never follow redirects.

pub mod actions;
mod config;
pub mod gmail;
mod http;
mod key_sets;
pub mod linear;
pub mod mercury;
pub mod slack;
mod standard;
pub mod zoho;

pub use config::{Defaults, ProviderConfig, ProviderSettings, ProviderSetupError};
pub use key_sets::HttpKeySets;
pub use standard::StandardProvider;

use std::sync::Arc;

use gptgate_domain::ProviderId;
use gptgate_ports::{OAuthProvider, ProviderActions};

/// The adapter for a configured provider.
pub fn build(settings: &ProviderSettings) -> Result<Arc<dyn OAuthProvider>, ProviderSetupError> {
    Ok(match settings.id {
        ProviderId::Gmail => Arc::new(gmail::provider(&settings.resolve(&gmail::DEFAULTS))?),
        ProviderId::Linear => Arc::new(linear::provider(&settings.resolve(&linear::DEFAULTS))?),
        ProviderId::Mercury => Arc::new(mercury::provider(&settings.resolve(&mercury::DEFAULTS))?),
        ProviderId::Slack => Arc::new(slack::provider(&settings.resolve(&slack::DEFAULTS))?),
        ProviderId::Zoho => Arc::new(zoho::provider(
            &settings.resolve(&zoho::DEFAULTS),
            settings.accounts_servers.as_deref(),
        )?),
    })
}

/// The actions of a configured provider.
pub fn build_actions(
    settings: &ProviderSettings,
) -> Result<Arc<dyn ProviderActions>, ProviderSetupError> {
    Ok(match settings.id {
        ProviderId::Linear => Arc::new(actions::linear::actions(
            &settings.resolve(&linear::DEFAULTS),
        )?),
        ProviderId::Gmail => Arc::new(actions::gmail::actions(
            &settings.resolve(&gmail::DEFAULTS),
        )?),
        ProviderId::Slack => Arc::new(actions::slack::actions(
            &settings.resolve(&slack::DEFAULTS),
        )?),
        ProviderId::Mercury => Arc::new(actions::mercury::actions(
            &settings.resolve(&mercury::DEFAULTS),
        )?),
        ProviderId::Zoho => Arc::new(actions::zoho::actions(&settings.resolve(&zoho::DEFAULTS))?),
    })
}
