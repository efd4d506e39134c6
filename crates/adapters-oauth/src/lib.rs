//! OAuth provider adapters behind the `OAuthProvider` port: the `oauth2` crate for the
//! authorization-code flow (PKCE S256 where supported) and `reqwest` for identity calls.
//!
//! Every URL comes from [`ProviderConfig`], so sandboxes and tests can point a provider
//! anywhere. Provider calls time out after 10 seconds and never follow redirects.

mod config;
mod http;
pub mod linear;
mod standard;

pub use config::{InvalidProviderUrl, ProviderConfig};
pub use standard::StandardProvider;
