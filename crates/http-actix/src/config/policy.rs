//! What each mode requires of the settings once they are read: production refuses to start
//! while anything is missing or weak; every mode refuses secrets that were published.

use base64::Engine;
use gptgate_adapters_system::MIN_SECRET_BYTES;
use secrecy::ExposeSecret;

use super::read::{is_local_host, Reader, Settings};
use super::{MailSettings, Mode, MIN_API_KEY_CHARS};

/// Adds to `r` every problem of `settings` for their mode.
pub(super) fn check(settings: &Settings, r: &mut Reader<'_>) {
    if settings.mode == Mode::Production {
        production(settings, r);
    }
    published_secrets(settings, r);
    if settings
        .jwt_secret
        .as_ref()
        .is_some_and(|s| s.expose_secret().len() < MIN_SECRET_BYTES)
    {
        r.problem(format!(
            "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes of random data (e.g. openssl rand -base64 32)"
        ));
    }
}

fn production(s: &Settings, r: &mut Reader<'_>) {
    match s.public_url.as_deref() {
        None => r.problem("PUBLIC_URL is required in production"),
        Some(u) if u.starts_with("http://") && !is_local_host(u) => {
            r.problem("PUBLIC_URL must use https:// in production (ChatGPT Actions require it)")
        }
        Some(_) => {}
    }
    if s.api_keys.is_empty() {
        r.problem("GPT_API_KEY is required in production");
    }
    if s.api_keys
        .iter()
        .any(|k| k.expose_secret().chars().count() < MIN_API_KEY_CHARS)
    {
        r.problem(format!(
            "GPT_API_KEY: every key must be at least {MIN_API_KEY_CHARS} random characters"
        ));
    }
    if s.jwt_secret.is_none() {
        r.problem("JWT_SECRET is required in production");
    }
    if s.token_encryption_key.is_none() && !s.providers.is_empty() {
        // A per-process key would make every stored token unreadable after a restart, and two
        // instances could not open each other's in-flight connect flows.
        r.problem(format!(
            "TOKEN_ENCRYPTION_KEY is required in production when a provider is configured ({}); e.g. k1:$(openssl rand -base64 32)",
            s.providers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if matches!(s.mail, MailSettings::Outbox { .. }) && !s.smtp_url_set {
        r.problem(
            "SMTP_URL and MAIL_FROM are required in production (the outbox mailer only writes files)",
        );
    }
    // The privacy policy must say who runs the service and how to reach them.
    for (name, value) in [
        ("OPERATOR_NAME", &s.operator.name),
        ("OPERATOR_CONTACT", &s.operator.contact),
    ] {
        if value.is_none() {
            r.problem(format!(
                "{name} is required in production: the privacy policy names who operates this service and how to reach them"
            ));
        }
    }
}

/// Secrets whose values were published refuse to start, in every mode.
fn published_secrets(s: &Settings, r: &mut Reader<'_>) {
    let burned = [
        (
            "GPT_API_KEY",
            s.api_keys
                .iter()
                .any(|k| is_burned(k.expose_secret(), BURNED_SECRETS)),
        ),
        (
            "JWT_SECRET",
            s.jwt_secret
                .as_ref()
                .is_some_and(|k| is_burned(k.expose_secret(), BURNED_SECRETS)),
        ),
        (
            "TOKEN_ENCRYPTION_KEY",
            s.token_encryption_key
                .as_ref()
                .is_some_and(|k| seals_with_burned_key(k.expose_secret(), BURNED_TOKEN_KEYS)),
        ),
    ];
    for (name, _) in burned.iter().filter(|(_, burned)| *burned) {
        r.problem(format!(
            "{name} holds a value that was published in gptgate's repository history (a development secrets file committed by mistake); generate a new one{}",
            if s.mode == Mode::Production {
                ""
            } else {
                " (delete gptgate.dev-secrets.env to have new ones generated)"
            }
        ));
    }
}

/// SHA-256 (hex) of secrets that were once committed to the repository by mistake (a
/// development secrets file, removed in commit 14eaa4c). Anyone can read them in the history,
/// so no server may use them. Only their hashes are kept here: of the API key and JWT secret
/// as written, and of the token key's 32 bytes (however its base64 is spelled).
pub(super) const BURNED_SECRETS: &[&str] = &[
    "9a65d50f614b9cd2fb67657d7613c0c8a81a598d5bdbd9ea8b6838e5b6f59a60",
    "c3ae737b1339d6898a6b94d22d49ce405326dd9aeee7dd64beb030b854463d41",
];
pub(super) const BURNED_TOKEN_KEYS: &[&str] =
    &["a1947654c9f2f573ab3843667bbb63030ab89b4784d09bc556fc627fd4ddfb8c"];

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the secret `value` is one of `burned`.
pub(super) fn is_burned(value: &str, burned: &[&str]) -> bool {
    burned.contains(&sha256_hex(value.trim().as_bytes()).as_str())
}

/// Whether the sealing (first) key of a `TOKEN_ENCRYPTION_KEY` ring is one of `burned`. Older
/// keys only open: a burned one may stay there while `gptgate rotate-key` moves off it.
pub(super) fn seals_with_burned_key(ring: &str, burned: &[&str]) -> bool {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let first = ring.split(',').map(str::trim).find(|e| !e.is_empty());
    let Some(first) = first else { return false };
    let text = first.split_once(':').map_or(first, |(_, key)| key).trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .filter_map(|engine| engine.decode(text).ok())
        .any(|bytes| burned.contains(&sha256_hex(&bytes).as_str()))
}
