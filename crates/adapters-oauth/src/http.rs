use std::time::Duration;

/// The HTTP client for provider calls: bounded in time, and never following redirects (an
/// OAuth token endpoint that redirects is a misconfiguration or an attack, RFC 9700 4.11).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}
