//! The privacy policy page, rendered once at start-up from the operator's settings.

use serde::Serialize;
use tera::Context;

use crate::pages::Pages;

#[derive(Serialize)]
pub struct PrivacyFacts<'a> {
    /// The service name shown, e.g. the public host.
    pub service: &'a str,
    pub operator: &'a str,
    pub contact: Option<&'a str>,
    pub code_minutes: i64,
    pub session_hours: i64,
    /// The providers users can connect (display names); empty when none is configured.
    pub providers: Vec<&'a str>,
}

pub fn render(pages: &Pages, facts: &PrivacyFacts<'_>) -> Result<String, tera::Error> {
    pages.render("privacy.html", &Context::from_serialize(facts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(providers: Vec<&'static str>) -> PrivacyFacts<'static> {
        PrivacyFacts {
            service: "gpt.example.com",
            operator: "Ann <Lee> & Co",
            contact: Some("privacy@example.com"),
            code_minutes: 10,
            session_hours: 12,
            providers,
        }
    }

    #[test]
    fn the_policy_states_the_operators_facts_and_escapes_them() {
        let html = render(&Pages::load().unwrap(), &facts(vec![])).unwrap();
        assert!(html.contains("Ann &lt;Lee&gt; &amp; Co"));
        assert!(html.contains("mailto:privacy@example.com"));
        assert!(html.contains("after 10 minutes"));
        assert!(!html.contains("{{"), "no placeholder is left");
        assert!(
            !html.contains("Accounts you connect"),
            "no provider, no word of them"
        );
    }

    #[test]
    fn the_policy_names_the_providers_users_can_connect() {
        let html = render(&Pages::load().unwrap(), &facts(vec!["Gmail", "Slack"])).unwrap();
        assert!(
            html.contains("Accounts you connect</strong> (Gmail, Slack)"),
            "{html}"
        );
        assert!(html.contains("revoked at each service first"));
    }
}
