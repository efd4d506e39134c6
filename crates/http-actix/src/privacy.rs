//! The privacy policy page, from the operator's settings at start-up and the privacy settings
//! of the admin console (retention, zero retention), rendered again only when those change.

use serde::Serialize;
use tera::Context;

use crate::pages::Pages;

#[derive(Serialize)]
pub struct PrivacyFacts<'a> {
    /// The service name shown, e.g. the public host.
    pub service: &'a str,
    /// Who runs the instance (`OPERATOR_NAME`; required in production).
    pub operator: Option<&'a str>,
    pub contact: Option<&'a str>,
    /// Where the contact link points: `mailto:` an address, or the https page itself.
    pub contact_href: Option<String>,
    /// The SMTP host sign-in emails go through; `None` for the development outbox.
    pub mail_via: Option<String>,
    pub code_minutes: i64,
    pub session_hours: i64,
    /// The providers users can connect (display names); empty when none is configured.
    pub providers: Vec<&'a str>,
}

/// The page's facts, kept from start-up, and its last rendering with the settings it had.
pub struct PrivacyPage {
    context: Context,
    last: std::sync::Mutex<Option<(gptgate_domain::PrivacySettings, actix_web::web::Bytes)>>,
}

impl PrivacyPage {
    pub fn new(facts: &PrivacyFacts<'_>) -> Result<Self, tera::Error> {
        Ok(Self {
            context: Context::from_serialize(facts)?,
            last: std::sync::Mutex::new(None),
        })
    }

    fn render(
        &self,
        pages: &Pages,
        settings: gptgate_domain::PrivacySettings,
    ) -> Result<String, tera::Error> {
        let mut context = self.context.clone();
        context.insert("retention_days", &settings.retention_days);
        context.insert("zero_retention", &settings.zero_retention);
        pages.render("privacy.html", &context)
    }

    /// The page under `settings`: the last rendering if they have not changed since.
    pub fn html(
        &self,
        pages: &Pages,
        settings: gptgate_domain::PrivacySettings,
    ) -> Result<actix_web::web::Bytes, tera::Error> {
        if let Ok(last) = self.last.lock() {
            if let Some((for_settings, html)) = last.as_ref() {
                if *for_settings == settings {
                    return Ok(html.clone());
                }
            }
        }
        let html = actix_web::web::Bytes::from(self.render(pages, settings)?);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((settings, html.clone()));
        }
        Ok(html)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(providers: Vec<&'static str>) -> PrivacyFacts<'static> {
        PrivacyFacts {
            service: "gpt.example.com",
            operator: Some("Ann <Lee> & Co"),
            contact: Some("privacy@example.com"),
            contact_href: Some("mailto:privacy@example.com".into()),
            mail_via: Some("smtp.postmarkapp.com".into()),
            code_minutes: 10,
            session_hours: 12,
            providers,
        }
    }

    /// The page with the default settings (keep conversations until deleted).
    fn render(pages: &Pages, facts: &PrivacyFacts<'_>) -> Result<String, tera::Error> {
        policy(pages, facts, gptgate_domain::PrivacySettings::default())
    }

    fn policy(
        pages: &Pages,
        facts: &PrivacyFacts<'_>,
        settings: gptgate_domain::PrivacySettings,
    ) -> Result<String, tera::Error> {
        let html = PrivacyPage::new(facts)?.html(pages, settings)?;
        Ok(String::from_utf8(html.to_vec()).unwrap())
    }

    #[test]
    fn the_policy_says_what_the_privacy_settings_keep() {
        use gptgate_domain::PrivacySettings;
        let pages = Pages::load().unwrap();
        let page = |days, zero| {
            text(
                &policy(
                    &pages,
                    &facts(vec![]),
                    PrivacySettings::new(days, zero).unwrap(),
                )
                .unwrap(),
            )
        };
        assert!(page(0, false).contains("kept until you delete them or all your data"));
        assert!(page(30, false).contains("kept 30 days after they were last saved"));
        assert!(page(0, true).contains("stay until you delete them or all your data"));
        assert!(page(7, true).contains("deleted 7 days after they were last saved"));
        // One page object keeps its last rendering per settings, and renders again on a change.
        let cached = PrivacyPage::new(&facts(vec![])).unwrap();
        let a = cached.html(&pages, PrivacySettings::default()).unwrap();
        let b = cached
            .html(&pages, PrivacySettings::new(30, false).unwrap())
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(cached.html(&pages, PrivacySettings::default()).unwrap(), a);
    }

    fn text(html: &str) -> String {
        html.split(['<', '>'])
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, t)| t)
            .collect::<String>()
    }

    #[test]
    fn the_policy_states_the_operators_facts_and_escapes_them() {
        let html = render(&Pages::load().unwrap(), &facts(vec![])).unwrap();
        assert!(html.contains("Ann &lt;Lee&gt; &amp; Co"));
        assert!(html.contains("mailto:privacy@example.com"));
        let text = text(&html);
        for fact in [
            "expires after 10 minutes",
            "at most 12 hours",
            "the email service at smtp.postmarkapp.com",
            "never contain sign-in codes, tokens, keys, email addresses or conversation text",
            "delete all your data",
            "export your data",
        ] {
            assert!(text.contains(fact), "{fact:?} in:\n{text}");
        }
        assert!(
            !html.contains("{{") && !html.contains("{%"),
            "no placeholder is left"
        );
        assert!(
            !text.contains("Accounts you connect"),
            "no provider, no word of them"
        );
    }

    #[test]
    fn the_policy_names_the_providers_users_can_connect_and_what_goes_to_them() {
        let text = text(&render(&Pages::load().unwrap(), &facts(vec!["Gmail", "Slack"])).unwrap());
        assert!(
            text.contains("Accounts you connect (Gmail, Slack)"),
            "{text}"
        );
        assert!(
            text.contains("The services you connect (Gmail, Slack)"),
            "{text}"
        );
        assert!(text.contains("revoked at each service first"));
    }

    #[test]
    fn a_development_instance_says_nobody_operates_it_rather_than_inventing_someone() {
        let html = render(
            &Pages::load().unwrap(),
            &PrivacyFacts {
                operator: None,
                contact: None,
                contact_href: None,
                mail_via: None,
                service: "localhost:8080",
                ..facts(vec![])
            },
        )
        .unwrap();
        let text = text(&html);
        assert!(!text.contains("operated by localhost"), "{text}");
        assert!(text.contains("nobody has declared themselves its operator (OPERATOR_NAME"));
        assert!(text.contains("no contact set (OPERATOR_CONTACT)"));
        assert!(text.contains("writes emails to files on its own disk"));
    }
}
