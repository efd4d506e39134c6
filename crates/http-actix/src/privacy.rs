//! The privacy policy page, rendered once at start-up from the operator's settings.

use serde::Serialize;
use tera::{Context, Tera};

#[derive(Serialize)]
pub struct PrivacyFacts<'a> {
    /// The service name shown, e.g. the public host.
    pub service: &'a str,
    pub operator: &'a str,
    pub contact: Option<&'a str>,
    pub code_minutes: i64,
    pub session_hours: i64,
}

pub fn render(facts: &PrivacyFacts<'_>) -> Result<String, tera::Error> {
    let mut tera = Tera::new();
    tera.add_raw_template("privacy.html", include_str!("../templates/privacy.html"))?;
    tera.render("privacy.html", &Context::from_serialize(facts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_states_the_operators_facts_and_escapes_them() {
        let html = render(&PrivacyFacts {
            service: "gpt.example.com",
            operator: "Ann <Lee> & Co",
            contact: Some("privacy@example.com"),
            code_minutes: 10,
            session_hours: 12,
        })
        .unwrap();
        assert!(html.contains("Ann &lt;Lee&gt; &amp; Co"));
        assert!(html.contains("mailto:privacy@example.com"));
        assert!(html.contains("after 10 minutes"));
        assert!(!html.contains("{{"), "no placeholder is left");
    }
}
