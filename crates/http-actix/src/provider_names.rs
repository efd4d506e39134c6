//! How the server names providers to people and in its settings: presentation and
//! configuration, kept out of the domain.

use gptgate_domain::ProviderId;

/// A provider's names outside the domain.
pub trait ProviderNames {
    /// The prefix of its environment variables (`GOOGLE_CLIENT_ID`, ...).
    fn env_prefix(&self) -> &'static str;
    /// The name people know it by.
    fn display_name(&self) -> &'static str;
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

    fn display_name(&self) -> &'static str {
        match self {
            Self::Gmail => "Gmail",
            Self::Slack => "Slack",
            Self::Linear => "Linear",
            Self::Zoho => "Zoho",
            Self::Mercury => "Mercury",
        }
    }
}
