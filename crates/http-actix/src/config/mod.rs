//! Configuration, read once at start-up from the environment (and a `.env` file, loaded by
//! `main`). Every secret also accepts `NAME_FILE`, a path to a file holding it.
//!
//! Development mode (the default when `PUBLIC_URL` is local) generates missing secrets once and
//! keeps them in `gptgate.dev-secrets.env` next to the SQLite database. Production mode refuses to
//! start while any setting is missing or weak, naming every one in a single message.
//!
//! Loading has three steps, one file each: `read.rs` parses every variable and checks its
//! format; `dev_secrets.rs` fills, in development, the secrets that are not set; `policy.rs`
//! adds what the mode requires (production's required settings, published secrets refused).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use gptgate_adapters_oauth::ProviderSettings;
use gptgate_ports::Random;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use read::{Reader, Settings};

mod dev_secrets;
mod policy;
mod read;
#[cfg(test)]
mod tests;

/// The file development secrets are kept in.
pub const DEV_SECRETS_FILE: &str = "gptgate.dev-secrets.env";

/// Shortest API key accepted in production: 32 characters (at least 128 bits when random).
pub const MIN_API_KEY_CHARS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// A real SMTP server.
    Smtp { url: SecretString, from: String },
    /// `.eml` files in a folder (development).
    Outbox { dir: PathBuf, from: String },
}

/// Who runs this instance, for the privacy policy.
#[derive(Debug, Clone, Default)]
pub struct OperatorSettings {
    pub name: Option<String>,
    pub contact: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// The URL the GPT reaches this server at, without a trailing slash; `None` means
    /// `http://localhost:<bound port>`.
    pub public_url: Option<String>,
    pub bind: SocketAddr,
    pub database_url: SecretString,
    pub api_keys: Vec<SecretString>,
    pub jwt_secret: SecretString,
    pub session_ttl: Duration,
    pub mail: MailSettings,
    pub body_limit: usize,
    pub operator: OperatorSettings,
    pub log_format: LogFormat,
    /// Set when secrets were read from or written to the development secrets file.
    pub dev_secrets: Option<DevSecrets>,
    /// Providers with client credentials.
    pub providers: Vec<ProviderSettings>,
    /// The AES-256-GCM key ring for provider tokens (`TOKEN_ENCRYPTION_KEY`).
    pub token_encryption_key: Option<SecretString>,
    /// Whether `x-gpt-user-id` names the caller (`TRUST_GPT_USER_ID_HEADER`): only for a
    /// trusted caller that sets the header itself, never for a value the model fills in.
    pub trust_gpt_user_id_header: bool,
    /// Sign-in emails each API key may cause per hour (`MAIL_HOURLY_LIMIT`).
    pub mail_hourly_limit: u32,
    /// Where each secret that is set came from, by variable name.
    pub secret_sources: BTreeMap<String, SecretSource>,
    /// The admin console's password (`ADMIN_PASSWORD_HASH`); `None`: the console is off.
    pub admin_password_hash: Option<gptgate_domain::PasswordHash>,
    /// The hosted assistant's model API (`LLM_BASE_URL`, `LLM_API_KEY`); `None`: the chat
    /// answers 503 `no_model_configured`.
    pub llm: Option<LlmSettings>,
    /// Questions a minute the chat takes per session, per address and in all.
    pub chat_limits: ChatLimits,
    /// `METRICS_TOKEN`: `/metrics` asks for it as a bearer token; none: `/metrics` is open.
    pub metrics_token: Option<SecretString>,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// `RATE_LIMIT_{API_KEY,USER,ADDRESS}_{PER_MINUTE,BURST}`: the GPT API's calls per API key
    /// and per user, the pages' views per address.
    pub rate_limits: gptgate_ports::services::RateLimitSettings,
    /// `DATABASE_STATEMENT_CACHE` (default on): off behind a transaction pooler that does not
    /// keep prepared statements (PostgreSQL only).
    pub database_statement_cache: bool,
}

/// `CHAT_SESSION_QUESTIONS_PER_MINUTE`, `CHAT_ADDRESS_QUESTIONS_PER_MINUTE`,
/// `CHAT_TOTAL_QUESTIONS_PER_MINUTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    pub per_session: u32,
    pub per_address: u32,
    pub overall: u32,
}

impl ChatLimits {
    /// The chat policy with these limits.
    pub fn policy(&self) -> gptgate_domain::ChatPolicy {
        let minute = |limit| gptgate_domain::BudgetPolicy {
            limit,
            window: time::Duration::minutes(1),
        };
        gptgate_domain::ChatPolicy {
            per_session: minute(self.per_session),
            per_address: minute(self.per_address),
            overall: minute(self.overall),
            ..gptgate_domain::ChatPolicy::default()
        }
    }
}

/// An OpenAI-compatible chat completions API.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `https://api.openai.com/v1`, `http://localhost:11434/v1`...: without a trailing slash.
    pub base_url: String,
    /// Sent as a bearer token; a local server may need none.
    pub api_key: Option<SecretString>,
}

/// Secrets taken from the development secrets file.
#[derive(Debug, Clone)]
pub struct DevSecrets {
    pub path: PathBuf,
    /// Whether the file was created by this start.
    pub created: bool,
    /// Whether the API key in use was generated by this start (the banner shows it once).
    pub api_key_generated: bool,
    /// Whether the API keys in use come from this file (not from `GPT_API_KEY`).
    pub api_keys_from_file: bool,
}

/// Everything wrong with the configuration, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("gptgate cannot start; fix these settings:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// The environment as a map, so loading is a pure function of it (tests pass their own).
pub type Vars = BTreeMap<String, String>;

/// Where a secret's value came from, for `gptgate check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The variable itself.
    Environment,
    /// The file named by `NAME_FILE`.
    File(String),
    /// The development secrets file, as it was.
    DevSecretsFile(PathBuf),
    /// Generated by this start into the development secrets file.
    Generated(PathBuf),
    /// Would be generated into the development secrets file by the first start (a dry run).
    WouldBeGenerated(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Environment => f.write_str("environment"),
            Self::File(path) => write!(f, "file {path} (NAME_FILE)"),
            Self::DevSecretsFile(path) => write!(f, "development secrets file {}", path.display()),
            Self::Generated(path) => write!(f, "generated now into {}", path.display()),
            Self::WouldBeGenerated(path) => write!(
                f,
                "not set: the server would generate it into {} at its first start",
                path.display()
            ),
        }
    }
}

impl Config {
    /// Reads the configuration from `vars`. In development mode, missing secrets come from (or
    /// are generated into) the development secrets file, using `random`.
    pub fn load(vars: &Vars, random: &dyn Random) -> Result<Self, ConfigError> {
        Self::load_with(vars, random, true)
    }

    /// [`Config::load`] that changes nothing on disk: secrets missing in development are made
    /// up in memory and reported as [`SecretSource::WouldBeGenerated`] (`gptgate check-config`).
    pub fn dry_run(vars: &Vars, random: &dyn Random) -> Result<Self, ConfigError> {
        Self::load_with(vars, random, false)
    }

    /// Parsing (`read.rs`), then development secrets for what is missing (`dev_secrets.rs`),
    /// then what the mode requires (`policy.rs`); every problem is reported at once.
    fn load_with(vars: &Vars, random: &dyn Random, persist: bool) -> Result<Self, ConfigError> {
        let mut r = Reader::new(vars);
        let mut settings = Settings::read(&mut r);
        let dev_secrets = match settings.mode {
            Mode::Development => dev_secrets::fill(&mut settings, &mut r, random, persist),
            Mode::Production => None,
        };
        policy::check(&settings, &mut r);
        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        let s = settings;
        Ok(Self {
            mode: s.mode,
            public_url: s.public_url,
            bind: s.bind,
            database_url: s.database_url,
            api_keys: s.api_keys,
            jwt_secret: s
                .jwt_secret
                .unwrap_or_else(|| SecretString::from(String::new())),
            session_ttl: s.session_ttl,
            mail: s.mail,
            body_limit: s.body_limit,
            operator: s.operator,
            log_format: s.log_format,
            dev_secrets,
            providers: s.providers,
            token_encryption_key: s.token_encryption_key,
            trust_gpt_user_id_header: s.trust_gpt_user_id_header,
            mail_hourly_limit: s.mail_hourly_limit,
            secret_sources: r.sources,
            admin_password_hash: s.admin_password_hash,
            llm: s.llm,
            chat_limits: s.chat_limits,
            metrics_token: s.metrics_token,
            trusted_proxies: s.trusted_proxies,
            rate_limits: s.rate_limits,
            database_statement_cache: s.database_statement_cache,
        })
    }

    /// The process environment, for [`Config::load`].
    pub fn environment() -> Vars {
        std::env::vars().collect()
    }

    /// The database URL without credentials, for banners and logs.
    pub fn database_display(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

/// The host (and port) of an SMTP URL, without credentials: what the privacy policy names.
pub fn smtp_host(url: &SecretString) -> String {
    let shown = redact_url(url.expose_secret());
    shown
        .split_once("://")
        .map_or(shown.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned()
}

/// `scheme://host[:port]/db` with any user and password removed, and no query string.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split('?').next().unwrap_or_default().to_owned();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{}", rest.split('?').next().unwrap_or_default())
}
