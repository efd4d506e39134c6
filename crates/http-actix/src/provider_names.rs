//! How the server names providers in its settings: configuration, kept out of the domain
//! (the name people know a provider by is the domain's `ProviderId::display_name`).

use gptgate_domain::ProviderId;

/// A provider's names outside the domain.
pub trait ProviderNames {
    /// The prefix of its environment variables (`GOOGLE_CLIENT_ID`, ...).
    fn env_prefix(&self) -> &'static str;
}

impl ProviderNames for ProviderId {
    fn env_prefix(&self) -> &'static str {
        match self {
            Self::Gmail => "GOOGLE",
            Self::Slack => "SLACK",
            Self::Linear => "LINEAR",
            Self::Zoho => "ZOHO",
            Self::Mercury => "MERCURY",
        }
    }
}
