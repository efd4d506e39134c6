//! Configuration, read once at start-up from the environment (and a `.env` file, loaded by
//! `main`). Every secret also accepts `NAME_FILE`, a path to a file holding it.
//!
//! Development mode (the default when `PUBLIC_URL` is local) generates missing secrets once and
//! keeps them in `gptgate.dev-secrets.env` next to the SQLite database. Production mode refuses to
//! start while any setting is missing or weak, naming every one in a single message.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use gptgate_adapters_oauth::ProviderSettings;
use gptgate_adapters_system::MIN_SECRET_BYTES;
use gptgate_domain::ProviderId;
use gptgate_ports::Random;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

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
}

/// Secrets taken from the development secrets file.
#[derive(Debug, Clone)]
pub struct DevSecrets {
    pub path: PathBuf,
    /// Whether the file was created by this start.
    pub created: bool,
}

/// Everything wrong with the configuration, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("gptgate cannot start; fix these settings:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// The environment as a map, so loading is a pure function of it (tests pass their own).
pub type Vars = BTreeMap<String, String>;

struct Reader<'a> {
    vars: &'a Vars,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn plain(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE`.
    fn secret(&mut self, name: &str) -> Option<SecretString> {
        if let Some(value) = self.plain(name) {
            return Some(SecretString::from(value));
        }
        let path = self.plain(&format!("{name}_FILE"))?;
        match std::fs::read_to_string(&path) {
            Ok(content) if !content.trim().is_empty() => {
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

    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
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

fn is_local_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default().to_owned()
    };
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

fn valid_public_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['?', '#', ' '])
        && !rest.starts_with('/')
}

/// Where the development secrets file lives: next to the SQLite database file, else here.
fn dev_secrets_path(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|path| !path.is_empty() && !path.starts_with(":memory:"));
    match file.and_then(|f| Path::new(f).parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEV_SECRETS_FILE),
        _ => PathBuf::from(DEV_SECRETS_FILE),
    }
}

fn read_dev_secrets(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn write_dev_secrets(path: &Path, values: &BTreeMap<String, String>) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = options.open(path)?;
    writeln!(
        file,
        "# Generated by gptgate in development mode. Keep private; delete to regenerate."
    )?;
    for (k, v) in values {
        writeln!(file, "{k}={v}")?;
    }
    Ok(())
}

/// A random secret: 32 bytes, base64url (43 characters).
fn generate_secret(random: &dyn Random, prefix: &str) -> Result<String, String> {
    let bytes = random
        .bytes::<32>()
        .map_err(|_| "the random number generator failed".to_owned())?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// An AES-256 key for `TOKEN_ENCRYPTION_KEY`: `k1:` and 32 random bytes in standard base64.
fn generate_key(random: &dyn Random) -> Result<String, String> {
    let bytes = random
        .bytes::<32>()
        .map_err(|_| "the random number generator failed".to_owned())?;
    Ok(format!(
        "k1:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
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
            if valid_public_url(value.trim_end_matches('/')) || value.starts_with("http") {
                Some(value)
            } else {
                r.problems.push(format!("{name} must be an http(s) URL"));
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
            (Some(_), None) => r.problems.push(format!(
                "{prefix}_CLIENT_SECRET is required with {prefix}_CLIENT_ID"
            )),
            (None, Some(_)) => r.problems.push(format!(
                "{prefix}_CLIENT_ID is required with {prefix}_CLIENT_SECRET"
            )),
            (None, None) => {}
        }
    }
    out
}

impl Config {
    /// Reads the configuration from `vars`. In development mode, missing secrets come from (or
    /// are generated into) the development secrets file, using `random`.
    pub fn load(vars: &Vars, random: &dyn Random) -> Result<Self, ConfigError> {
        let mut r = Reader {
            vars,
            problems: Vec::new(),
        };

        let public_url = r
            .plain("PUBLIC_URL")
            .or_else(|| r.plain("NEXT_PUBLIC_APP_URL"))
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            if !valid_public_url(url) {
                r.problems.push(format!(
                    "PUBLIC_URL must be an http:// or https:// origin such as https://gpt.example.com (got {url:?})"
                ));
            }
        }
        let mode = match r.plain("GPTGATE_ENV").as_deref() {
            Some("production") => Mode::Production,
            Some("development") => Mode::Development,
            Some(other) => {
                r.problems.push(format!(
                    "GPTGATE_ENV must be development or production (got {other:?})"
                ));
                Mode::Production
            }
            None if public_url.as_deref().is_some_and(|u| !is_local_host(u)) => Mode::Production,
            None => Mode::Development,
        };
        let production = mode == Mode::Production;
        if production && public_url.is_none() {
            r.problems
                .push("PUBLIC_URL is required in production".to_owned());
        }
        if production
            && public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://") && !is_local_host(u))
        {
            r.problems.push(
                "PUBLIC_URL must use https:// in production (ChatGPT Actions require it)"
                    .to_owned(),
            );
        }

        let bind_raw = r
            .plain("BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind = bind_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            r.problems.push(format!(
                "BIND must be an address and port such as 0.0.0.0:8080 (got {bind_raw:?})"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });

        let database_url = r
            .secret("DATABASE_URL")
            .unwrap_or_else(|| SecretString::from("sqlite://gptgate.db".to_owned()));
        let db = database_url.expose_secret();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            r.problems.push(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://".to_owned(),
            );
        }

        let mut api_keys: Vec<SecretString> = r
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
        let mut jwt_secret = r.secret("JWT_SECRET");
        let mut token_encryption_key = r.secret("TOKEN_ENCRYPTION_KEY");
        let providers = read_providers(&mut r);

        let mut dev_secrets = None;
        if production {
            if api_keys.is_empty() {
                r.problems
                    .push("GPT_API_KEY is required in production".to_owned());
            }
            if api_keys
                .iter()
                .any(|k| k.expose_secret().chars().count() < MIN_API_KEY_CHARS)
            {
                r.problems.push(format!(
                    "GPT_API_KEY: every key must be at least {MIN_API_KEY_CHARS} random characters"
                ));
            }
            if jwt_secret.is_none() {
                r.problems
                    .push("JWT_SECRET is required in production".to_owned());
            }
        } else if api_keys.is_empty() || jwt_secret.is_none() {
            let path = dev_secrets_path(db);
            let mut stored = read_dev_secrets(&path);
            let mut created = false;
            for (name, prefix) in [
                ("GPT_API_KEY", "gpk_"),
                ("JWT_SECRET", ""),
                ("TOKEN_ENCRYPTION_KEY", ""),
            ] {
                if !stored.contains_key(name) {
                    let generated = if name == "TOKEN_ENCRYPTION_KEY" {
                        generate_key(random)
                    } else {
                        generate_secret(random, prefix)
                    };
                    match generated {
                        Ok(secret) => {
                            stored.insert(name.to_owned(), secret);
                            created = true;
                        }
                        Err(e) => r.problems.push(e),
                    }
                }
            }
            if created {
                if let Err(e) = write_dev_secrets(&path, &stored) {
                    r.problems
                        .push(format!("cannot write {}: {e}", path.display()));
                }
            }
            if api_keys.is_empty() {
                api_keys = stored
                    .get("GPT_API_KEY")
                    .map(|k| vec![SecretString::from(k.clone())])
                    .unwrap_or_default();
            }
            if jwt_secret.is_none() {
                jwt_secret = stored
                    .get("JWT_SECRET")
                    .map(|s| SecretString::from(s.clone()));
            }
            if token_encryption_key.is_none() {
                token_encryption_key = stored
                    .get("TOKEN_ENCRYPTION_KEY")
                    .map(|s| SecretString::from(s.clone()));
            }
            dev_secrets = Some(DevSecrets { path, created });
        }
        if jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < MIN_SECRET_BYTES)
        {
            r.problems.push(format!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes of random data (e.g. openssl rand -base64 32)"
            ));
        }

        let session_ttl_seconds: i64 =
            r.number("SESSION_TTL_SECONDS", 12 * 3600, 60..=30 * 24 * 3600);
        let body_limit: usize = r.number("BODY_LIMIT_BYTES", 1024 * 1024, 1024..=16 * 1024 * 1024);

        let smtp_url = r.secret("SMTP_URL");
        let mail_from = r.plain("MAIL_FROM");
        let mail = match (smtp_url, mail_from) {
            (Some(url), Some(from)) => MailSettings::Smtp { url, from },
            (Some(_), None) => {
                r.problems
                    .push("MAIL_FROM is required when SMTP_URL is set".to_owned());
                MailSettings::Outbox {
                    dir: "outbox".into(),
                    from: String::new(),
                }
            }
            (None, from) => {
                if production {
                    r.problems.push(
                        "SMTP_URL and MAIL_FROM are required in production (the outbox mailer only writes files)".to_owned(),
                    );
                }
                MailSettings::Outbox {
                    dir: r
                        .plain("MAIL_OUTBOX_DIR")
                        .unwrap_or_else(|| "./outbox".to_owned())
                        .into(),
                    from: from.unwrap_or_else(|| "gptgate <no-reply@localhost>".to_owned()),
                }
            }
        };

        let log_format = match r.plain("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                r.problems
                    .push(format!("LOG_FORMAT must be text or json (got {other:?})"));
                LogFormat::Text
            }
        };
        let operator = OperatorSettings {
            name: r.plain("OPERATOR_NAME"),
            contact: r.plain("OPERATOR_CONTACT"),
        };

        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        Ok(Self {
            mode,
            public_url,
            bind,
            database_url,
            api_keys,
            jwt_secret: jwt_secret.unwrap_or_else(|| SecretString::from(String::new())),
            session_ttl: Duration::seconds(session_ttl_seconds),
            mail,
            body_limit,
            operator,
            log_format,
            dev_secrets,
            providers,
            token_encryption_key,
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

/// `scheme://host[:port]/db` with any user and password removed, and no query string.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split('?').next().unwrap_or_default().to_owned();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{}", rest.split('?').next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptgate_adapters_system::OsRandom;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn in_temp_dir(pairs: &[(&str, &str)]) -> (tempfile::TempDir, Vars) {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("gptgate.db").display());
        let mut v = vars(pairs);
        v.entry("DATABASE_URL".into()).or_insert(db);
        (dir, v)
    }

    #[test]
    fn development_generates_secrets_once_and_reuses_them() {
        let (dir, v) = in_temp_dir(&[]);
        let first = Config::load(&v, &OsRandom::new()).unwrap();
        assert_eq!(first.mode, Mode::Development);
        let secrets = first.dev_secrets.clone().unwrap();
        assert!(secrets.created);
        assert_eq!(secrets.path, dir.path().join(DEV_SECRETS_FILE));
        let again = Config::load(&v, &OsRandom::new()).unwrap();
        assert!(!again.dev_secrets.unwrap().created);
        assert_eq!(
            again.api_keys[0].expose_secret(),
            first.api_keys[0].expose_secret(),
            "the key pasted into the GPT editor survives restarts"
        );
        assert_eq!(
            again.jwt_secret.expose_secret(),
            first.jwt_secret.expose_secret()
        );
        assert!(first.api_keys[0].expose_secret().starts_with("gpk_"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secrets.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn production_names_every_missing_setting_at_once() {
        let err = Config::load(
            &vars(&[("PUBLIC_URL", "https://gpt.example.com")]),
            &OsRandom::new(),
        )
        .unwrap_err();
        let all = err.to_string();
        for name in ["GPT_API_KEY", "JWT_SECRET", "SMTP_URL"] {
            assert!(all.contains(name), "{name} missing from:\n{all}");
        }
    }

    #[test]
    fn weak_or_malformed_settings_are_refused() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("JWT_SECRET", "short"), ("GPT_API_KEY", "k")],
                "JWT_SECRET must be at least 32",
            ),
            (&[("PUBLIC_URL", "gpt.example.com")], "PUBLIC_URL must be"),
            (&[("BIND", "nope")], "BIND must be"),
            (&[("SESSION_TTL_SECONDS", "0")], "SESSION_TTL_SECONDS"),
            (&[("BODY_LIMIT_BYTES", "big")], "BODY_LIMIT_BYTES"),
            (&[("SMTP_URL", "smtp://localhost")], "MAIL_FROM is required"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL must start"),
            (&[("GPTGATE_ENV", "staging")], "GPTGATE_ENV"),
            (&[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        ];
        for (pairs, expected) in cases {
            let (_dir, v) = in_temp_dir(pairs);
            let err = Config::load(&v, &OsRandom::new())
                .expect_err(expected)
                .to_string();
            assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
        }
        let (_dir, v) = in_temp_dir(&[
            ("GPTGATE_ENV", "production"),
            ("PUBLIC_URL", "https://gpt.example.com"),
            ("GPT_API_KEY", "too-short"),
            ("JWT_SECRET", &"s".repeat(32)),
            ("SMTP_URL", "smtp://localhost"),
            ("MAIL_FROM", "a@example.com"),
        ]);
        let err = Config::load(&v, &OsRandom::new()).unwrap_err().to_string();
        assert!(err.contains("at least 32 random characters"), "{err}");
    }

    #[test]
    fn a_complete_production_configuration_loads() {
        let key = "k".repeat(40);
        let (_dir, v) = in_temp_dir(&[
            ("PUBLIC_URL", "https://gpt.example.com/"),
            ("GPT_API_KEY", &format!("{key}, {key}2")),
            ("JWT_SECRET", &"s".repeat(32)),
            ("SMTP_URL", "smtps://user:pw@smtp.example.com"),
            ("MAIL_FROM", "gptgate <no-reply@example.com>"),
        ]);
        let config = Config::load(&v, &OsRandom::new()).unwrap();
        assert_eq!(config.mode, Mode::Production);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://gpt.example.com")
        );
        assert_eq!(
            config.api_keys.len(),
            2,
            "comma-separated keys allow rotation"
        );
        assert_eq!(config.session_ttl, Duration::hours(12));
        assert_eq!(config.body_limit, 1024 * 1024);
        assert!(config.dev_secrets.is_none());
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt");
        std::fs::write(&file, format!("{}\n", "f".repeat(40))).unwrap();
        let (_d, v) = in_temp_dir(&[
            ("JWT_SECRET_FILE", file.to_str().unwrap()),
            ("GPT_API_KEY", "dev"),
        ]);
        let config = Config::load(&v, &OsRandom::new()).unwrap();
        assert_eq!(config.jwt_secret.expose_secret(), &"f".repeat(40));
        let (_d, v) = in_temp_dir(&[("JWT_SECRET_FILE", "/nonexistent/jwt")]);
        assert!(Config::load(&v, &OsRandom::new())
            .unwrap_err()
            .to_string()
            .contains("JWT_SECRET_FILE"));
    }

    #[test]
    fn database_urls_are_shown_without_credentials() {
        assert_eq!(
            redact_url("postgres://user:secret@db.example.com:5432/app?sslmode=require"),
            "postgres://db.example.com:5432/app"
        );
        assert_eq!(redact_url("sqlite://gptgate.db"), "sqlite://gptgate.db");
    }

    #[test]
    fn local_hosts_are_recognized() {
        for url in [
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:9000",
        ] {
            assert!(is_local_host(url), "{url}");
        }
        for url in ["https://gpt.example.com", "https://localhost.example.com"] {
            assert!(!is_local_host(url), "{url}");
        }
    }
}
