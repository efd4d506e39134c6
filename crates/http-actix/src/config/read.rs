//! Parsing: every variable read and checked for its own format, whatever the mode. What a mode
//! requires is `policy.rs`; secrets missing in development are `dev_secrets.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use gptgate_adapters_oauth::ProviderSettings;
use gptgate_domain::ProviderId;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use super::{LogFormat, MailSettings, Mode, OperatorSettings, SecretSource, Vars};
use crate::provider_names::ProviderNames;

/// Every setting as read, before the mode's requirements and the development secrets.
pub(super) struct Settings {
    pub mode: Mode,
    pub public_url: Option<String>,
    pub bind: SocketAddr,
    pub database_url: SecretString,
    /// Whether `DATABASE_URL` names a database gptgate can use.
    pub database_ok: bool,
    pub api_keys: Vec<SecretString>,
    pub jwt_secret: Option<SecretString>,
    pub token_encryption_key: Option<SecretString>,
    pub providers: Vec<ProviderSettings>,
    pub session_ttl: Duration,
    pub body_limit: usize,
    pub mail: MailSettings,
    /// Whether `SMTP_URL` is set (`mail` is the outbox when `MAIL_FROM` is missing with it).
    pub smtp_url_set: bool,
    pub log_format: LogFormat,
    pub trust_gpt_user_id_header: bool,
    pub mail_hourly_limit: u32,
    pub operator: OperatorSettings,
    pub admin_password_hash: Option<gptgate_domain::PasswordHash>,
    pub llm: Option<super::LlmSettings>,
    pub chat_limits: super::ChatLimits,
    pub metrics_token: Option<SecretString>,
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    pub rate_limits: gptgate_ports::services::RateLimitSettings,
    pub database_statement_cache: bool,
}

impl Settings {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let public_url = r
            .plain("PUBLIC_URL")
            .or_else(|| r.plain("NEXT_PUBLIC_APP_URL"))
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            if !valid_base_url(url) {
                r.problem(format!(
                    "PUBLIC_URL must be an http:// or https:// origin such as https://gpt.example.com (got {url:?})"
                ));
            }
        }
        let mode = match r.plain("GPTGATE_ENV").as_deref() {
            Some("production") => Mode::Production,
            Some("development") => Mode::Development,
            Some(other) => {
                r.problem(format!(
                    "GPTGATE_ENV must be development or production (got {other:?})"
                ));
                Mode::Production
            }
            None if public_url.as_deref().is_some_and(|u| !is_local_host(u)) => Mode::Production,
            None => Mode::Development,
        };

        let bind_raw = r
            .plain("BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind = bind_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            r.problem(format!(
                "BIND must be an address and port such as 0.0.0.0:8080 (got {bind_raw:?})"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });

        let database_url = r
            .secret("DATABASE_URL")
            .unwrap_or_else(|| SecretString::from("sqlite://gptgate.db".to_owned()));
        let db = database_url.expose_secret();
        let database_ok = db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://");
        if !database_ok {
            r.problem("DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
        }

        let api_keys: Vec<SecretString> = r
            .secret("GPT_API_KEY")
            .map(|keys| {
                keys.expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| SecretString::from(k.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let jwt_secret = r.secret("JWT_SECRET");
        let token_encryption_key = r.secret("TOKEN_ENCRYPTION_KEY");
        let providers = read_providers(r);

        let session_ttl_seconds: i64 =
            r.number("SESSION_TTL_SECONDS", 12 * 3600, 60..=30 * 24 * 3600);
        let body_limit: usize = r.number("BODY_LIMIT_BYTES", 1024 * 1024, 1024..=16 * 1024 * 1024);

        let (mail, smtp_url_set) = read_mail(r);

        let log_format = match r.plain("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                r.problem(format!("LOG_FORMAT must be text or json (got {other:?})"));
                LogFormat::Text
            }
        };
        let trust_gpt_user_id_header = match r.plain("TRUST_GPT_USER_ID_HEADER").as_deref() {
            None => false,
            Some(v) if ["true", "1", "yes"].contains(&v.to_ascii_lowercase().as_str()) => true,
            Some(v) if ["false", "0", "no"].contains(&v.to_ascii_lowercase().as_str()) => false,
            Some(other) => {
                r.problem(format!(
                    "TRUST_GPT_USER_ID_HEADER must be true or false (got {other:?})"
                ));
                false
            }
        };
        let mail_hourly_limit: u32 = r.number("MAIL_HOURLY_LIMIT", 500, 1..=1_000_000);
        let operator = read_operator(r);
        let admin_password_hash = r.secret("ADMIN_PASSWORD_HASH").and_then(|raw| {
            gptgate_domain::PasswordHash::parse(raw.expose_secret())
                .map_err(|e| {
                    r.problem(format!(
                        "ADMIN_PASSWORD_HASH: {e}; make one with: echo -n 'your password' | gptgate hash-password"
                    ))
                })
                .ok()
        });

        let metrics_token = r.secret("METRICS_TOKEN").filter(|token| {
            let long_enough = token.expose_secret().len() >= 32;
            if !long_enough {
                r.problem(
                    "METRICS_TOKEN must be at least 32 characters (openssl rand -hex 16 makes one)",
                );
            }
            long_enough
        });
        let trusted_proxies = r
            .plain("TRUSTED_PROXIES")
            .map(|raw| {
                crate::client_ip::TrustedProxies::parse(&raw).unwrap_or_else(|bad| {
                    r.problem(format!(
                        "TRUSTED_PROXIES must list addresses or networks, such as 10.0.0.0/8,::1 (cannot read: {})",
                        bad.join(", ")
                    ));
                    crate::client_ip::TrustedProxies::default()
                })
            })
            .unwrap_or_default();
        let llm = read_llm(r);
        let chat_limits = super::ChatLimits {
            per_session: r.number("CHAT_SESSION_QUESTIONS_PER_MINUTE", 20, 1..=100_000),
            per_address: r.number("CHAT_ADDRESS_QUESTIONS_PER_MINUTE", 60, 1..=1_000_000),
            overall: r.number("CHAT_TOTAL_QUESTIONS_PER_MINUTE", 600, 1..=10_000_000),
        };

        let database_statement_cache = match r.plain("DATABASE_STATEMENT_CACHE").as_deref() {
            None => true,
            Some(v) if ["on", "true", "1"].contains(&v.to_ascii_lowercase().as_str()) => true,
            Some(v) if ["off", "false", "0"].contains(&v.to_ascii_lowercase().as_str()) => false,
            Some(other) => {
                r.problem(format!(
                    "DATABASE_STATEMENT_CACHE must be on or off (got {other:?}); off behind a transaction pooler that does not keep prepared statements"
                ));
                true
            }
        };
        let rate_limits = gptgate_ports::services::RateLimitSettings {
            per_api_key: read_bucket(r, "RATE_LIMIT_API_KEY", 6_000, 600),
            per_user: read_bucket(r, "RATE_LIMIT_USER", 120, 60),
            per_address: read_bucket(r, "RATE_LIMIT_ADDRESS", 120, 60),
        };

        Self {
            mode,
            public_url,
            bind,
            database_url,
            database_ok,
            api_keys,
            jwt_secret,
            token_encryption_key,
            providers,
            session_ttl: Duration::seconds(session_ttl_seconds),
            body_limit,
            mail,
            smtp_url_set,
            log_format,
            trust_gpt_user_id_header,
            mail_hourly_limit,
            operator,
            admin_password_hash,
            llm,
            chat_limits,
            metrics_token,
            trusted_proxies,
            rate_limits,
            database_statement_cache,
        }
    }
}

/// A rate limit's bucket from `{name}_PER_MINUTE` (`off`: no limit) and `{name}_BURST`.
fn read_bucket(
    r: &mut Reader<'_>,
    name: &str,
    per_minute: u32,
    burst: u32,
) -> Option<gptgate_domain::TokenBucket> {
    let rate_name = format!("{name}_PER_MINUTE");
    let burst = r.number(
        &format!("{name}_BURST"),
        burst,
        1..=gptgate_domain::TokenBucket::MAX,
    );
    let per_minute = match r.plain(&rate_name) {
        Some(v) if v.eq_ignore_ascii_case("off") => return None,
        Some(_) => r.number(
            &rate_name,
            per_minute,
            1..=60 * gptgate_domain::TokenBucket::MAX,
        ),
        None => per_minute,
    };
    gptgate_domain::TokenBucket::per_minute(per_minute, burst).ok()
}

/// The chat model's API (`LLM_BASE_URL`, `LLM_API_KEY`): none without a base URL.
fn read_llm(r: &mut Reader<'_>) -> Option<super::LlmSettings> {
    let api_key = r.secret("LLM_API_KEY");
    let Some(base_url) = r.plain("LLM_BASE_URL") else {
        if api_key.is_some() {
            r.problem("LLM_API_KEY is set but LLM_BASE_URL is not; set LLM_BASE_URL to the API's base, such as https://api.openai.com/v1");
        }
        return None;
    };
    let usable = url::Url::parse(&base_url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.username().is_empty()
            && u.password().is_none()
            && u.query().is_none()
            && u.fragment().is_none()
    });
    if !usable {
        r.problem(format!(
            "LLM_BASE_URL must be the http:// or https:// base of an OpenAI-compatible API, such as https://api.openai.com/v1 or http://localhost:11434/v1, without credentials or query (got {base_url:?})"
        ));
        return None;
    }
    Some(super::LlmSettings {
        base_url: base_url.trim_end_matches('/').to_owned(),
        api_key,
    })
}

/// Where mail goes: SMTP when `SMTP_URL` is set (with `MAIL_FROM`), else the outbox folder.
/// Also whether `SMTP_URL` was set.
fn read_mail(r: &mut Reader<'_>) -> (MailSettings, bool) {
    let smtp_url = r.secret("SMTP_URL");
    let smtp_url_set = smtp_url.is_some();
    let mail_from = r.plain("MAIL_FROM");
    let mail = match (smtp_url, mail_from) {
        (Some(url), Some(from)) => MailSettings::Smtp { url, from },
        (Some(_), None) => {
            r.problem("MAIL_FROM is required when SMTP_URL is set");
            MailSettings::Outbox {
                dir: "outbox".into(),
                from: String::new(),
            }
        }
        (None, from) => MailSettings::Outbox {
            dir: r
                .plain("MAIL_OUTBOX_DIR")
                .unwrap_or_else(|| "./outbox".to_owned())
                .into(),
            from: from.unwrap_or_else(|| "gptgate <no-reply@localhost>".to_owned()),
        },
    };
    (mail, smtp_url_set)
}

/// Who runs this instance (`OPERATOR_NAME`, `OPERATOR_CONTACT`: an email or an https page).
fn read_operator(r: &mut Reader<'_>) -> OperatorSettings {
    let operator = OperatorSettings {
        name: r.plain("OPERATOR_NAME"),
        contact: r.plain("OPERATOR_CONTACT"),
    };
    if let Some(contact) = &operator.contact {
        let email = gptgate_domain::Email::parse(contact).is_ok();
        let https = url::Url::parse(contact).is_ok_and(|u| u.scheme() == "https");
        if !email && !https {
            r.problem(format!(
                "OPERATOR_CONTACT must be an email address or an https:// page (got {contact:?})"
            ));
        }
    }
    operator
}

/// Reads variables, collecting every problem (one line each) and where each secret came from.
pub(super) struct Reader<'a> {
    vars: &'a Vars,
    pub(super) problems: Vec<String>,
    pub(super) sources: BTreeMap<String, SecretSource>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(vars: &'a Vars) -> Self {
        Self {
            vars,
            problems: Vec::new(),
            sources: BTreeMap::new(),
        }
    }

    pub(super) fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    pub(super) fn plain(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE`.
    pub(super) fn secret(&mut self, name: &str) -> Option<SecretString> {
        if let Some(value) = self.plain(name) {
            self.sources
                .insert(name.to_owned(), SecretSource::Environment);
            return Some(SecretString::from(value));
        }
        let path = self.plain(&format!("{name}_FILE"))?;
        match std::fs::read_to_string(&path) {
            Ok(content) if !content.trim().is_empty() => {
                self.sources
                    .insert(name.to_owned(), SecretSource::File(path));
                Some(SecretString::from(content.trim().to_owned()))
            }
            Ok(_) => {
                self.problems.push(format!("{name}_FILE: {path} is empty"));
                None
            }
            Err(e) => {
                self.problems
                    .push(format!("{name}_FILE: cannot read {path}: {e}"));
                None
            }
        }
    }

    pub(super) fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> T {
        let Some(raw) = self.plain(name) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.problems.push(format!(
                    "{name} must be a whole number from {} to {} (got {raw:?})",
                    range.start(),
                    range.end()
                ));
                default
            }
        }
    }
}

/// Whether `url` names this machine (`localhost`, `127.0.0.1`, `[::1]`): development.
pub(super) fn is_local_host(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        matches!(
            u.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        )
    })
}

/// An http(s) URL with a host and no credentials: a provider endpoint (a query is allowed).
pub(super) fn valid_endpoint_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.username().is_empty()
            && u.password().is_none()
    })
}

/// An http(s) URL with a host and nothing a base URL cannot have (credentials, a query or a
/// fragment).
pub(super) fn valid_base_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.username().is_empty()
            && u.password().is_none()
            && u.query().is_none()
            && u.fragment().is_none()
    })
}

/// Every provider with `{PREFIX}_CLIENT_ID` or `{PREFIX}_CLIENT_SECRET` set; both are needed.
fn read_providers(r: &mut Reader<'_>) -> Vec<ProviderSettings> {
    let mut out = Vec::new();
    for id in ProviderId::ALL {
        let prefix = id.env_prefix();
        let client_id = r.plain(&format!("{prefix}_CLIENT_ID"));
        let client_secret = r.secret(&format!("{prefix}_CLIENT_SECRET"));
        let url = |r: &mut Reader<'_>, suffix: &str| {
            let name = format!("{prefix}_{suffix}");
            let value = r.plain(&name)?;
            if valid_endpoint_url(&value) {
                Some(value)
            } else {
                r.problem(format!("{name} must be an http(s) URL"));
                None
            }
        };
        match (client_id, client_secret) {
            (Some(client_id), Some(client_secret)) => out.push(ProviderSettings {
                id,
                client_id,
                client_secret,
                authorize_url: url(r, "AUTHORIZE_URL"),
                token_url: url(r, "TOKEN_URL"),
                revoke_url: url(r, "REVOKE_URL"),
                api_base_url: url(r, "API_BASE_URL"),
                userinfo_url: url(r, "USERINFO_URL"),
                scopes: r.plain(&format!("{prefix}_SCOPES")),
                accounts_servers: r.plain(&format!("{prefix}_ACCOUNTS_SERVERS")).map(|list| {
                    list.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                }),
            }),
            (Some(_), None) => r.problem(format!(
                "{prefix}_CLIENT_SECRET is required with {prefix}_CLIENT_ID"
            )),
            (None, Some(_)) => r.problem(format!(
                "{prefix}_CLIENT_ID is required with {prefix}_CLIENT_SECRET"
            )),
            (None, None) => {}
        }
    }
    out
}
