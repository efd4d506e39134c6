//! The configuration as a whole: parsing, mode policy and development secrets together.

use super::policy::*;
use super::read::*;
use super::*;
use base64::Engine;
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
    assert!(secrets.api_key_generated);
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
    for name in [
        "GPT_API_KEY",
        "JWT_SECRET",
        "SMTP_URL",
        "OPERATOR_NAME",
        "OPERATOR_CONTACT",
    ] {
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
        (
            &[("TRUST_GPT_USER_ID_HEADER", "maybe")],
            "TRUST_GPT_USER_ID_HEADER",
        ),
        (&[("MAIL_HOURLY_LIMIT", "0")], "MAIL_HOURLY_LIMIT"),
        (
            &[("OPERATOR_CONTACT", "call us")],
            "OPERATOR_CONTACT must be",
        ),
        (
            &[("OPERATOR_CONTACT", "http://example.com/privacy")],
            "OPERATOR_CONTACT must be",
        ),
        (&[("MAIL_HOURLY_LIMIT", "1000001")], "MAIL_HOURLY_LIMIT"),
        (
            &[("ADMIN_PASSWORD_HASH", "hunter2")],
            "ADMIN_PASSWORD_HASH: it is not an argon2id PHC string",
        ),
        (
            &[(
                "ADMIN_PASSWORD_HASH",
                "$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$YWJj",
            )],
            "gptgate hash-password",
        ),
        (
            &[("LLM_API_KEY", "sk-test")],
            "LLM_API_KEY is set but LLM_BASE_URL is not",
        ),
        (
            &[("LLM_BASE_URL", "api.openai.com/v1")],
            "LLM_BASE_URL must be",
        ),
        (
            &[("LLM_BASE_URL", "ftp://models.example.com")],
            "LLM_BASE_URL must be",
        ),
        (
            &[("LLM_BASE_URL", "https://user:pw@models.example.com/v1")],
            "LLM_BASE_URL must be",
        ),
        (
            &[("LLM_BASE_URL", "https://models.example.com/v1?key=1")],
            "LLM_BASE_URL must be",
        ),
        (
            &[("DATABASE_STATEMENT_CACHE", "disabled")],
            "DATABASE_STATEMENT_CACHE must be on or off (got \"disabled\")",
        ),
        (
            &[("METRICS_TOKEN", "0123456789abcdef0123456789abcde")],
            "METRICS_TOKEN must be at least 32 characters",
        ),
        (
            &[("TRUSTED_PROXIES", "10.0.0.0/8, lb.internal")],
            "TRUSTED_PROXIES must list addresses or networks, such as 10.0.0.0/8,::1 (cannot read: lb.internal)",
        ),
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
        ("OPERATOR_NAME", "Acme Learning Ltd"),
        ("OPERATOR_CONTACT", "privacy@acme.example"),
    ]);
    let config = Config::load(&v, &OsRandom::new()).unwrap();
    assert_eq!(config.mode, Mode::Production);
    assert_eq!(
        smtp_host(match &config.mail {
            MailSettings::Smtp { url, .. } => url,
            MailSettings::Outbox { .. } => panic!("SMTP"),
        }),
        "smtp.example.com",
        "no credentials"
    );
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

fn production(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let key = "k".repeat(40);
    let mut pairs = vec![
        ("PUBLIC_URL", "https://gpt.example.com"),
        ("GPT_API_KEY", key.as_str()),
        ("JWT_SECRET", "ssssssssssssssssssssssssssssssss"),
        ("SMTP_URL", "smtps://user:pw@smtp.example.com"),
        ("MAIL_FROM", "no-reply@example.com"),
        ("OPERATOR_NAME", "Acme Learning Ltd"),
        ("OPERATOR_CONTACT", "privacy@acme.example"),
    ];
    pairs.extend_from_slice(extra);
    let (_dir, v) = in_temp_dir(&pairs);
    Config::load(&v, &OsRandom::new())
}

#[test]
fn production_with_a_provider_needs_a_token_encryption_key() {
    let err = production(&[("LINEAR_CLIENT_ID", "id"), ("LINEAR_CLIENT_SECRET", "s")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TOKEN_ENCRYPTION_KEY is required in production") && err.contains("linear"),
        "{err}"
    );
    let config = production(&[
        ("LINEAR_CLIENT_ID", "id"),
        ("LINEAR_CLIENT_SECRET", "s"),
        (
            "TOKEN_ENCRYPTION_KEY",
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ])
    .unwrap();
    assert_eq!(config.providers.len(), 1);
    let config = production(&[]).expect("no provider, no key needed");
    assert!(config.token_encryption_key.is_none());
}

#[test]
fn development_keeps_a_token_key_even_when_the_other_secrets_are_set() {
    let (dir, v) = in_temp_dir(&[
        ("GPT_API_KEY", "dev-key"),
        ("JWT_SECRET", "ssssssssssssssssssssssssssssssss"),
    ]);
    let first = Config::load(&v, &OsRandom::new()).unwrap();
    let again = Config::load(&v, &OsRandom::new()).unwrap();
    let key = |c: &Config| {
        c.token_encryption_key
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned()
    };
    assert_eq!(key(&first), key(&again), "the same key after a restart");
    assert!(dir.path().join(DEV_SECRETS_FILE).exists());
    assert_eq!(first.api_keys[0].expose_secret(), "dev-key");
    let secrets = first.dev_secrets.unwrap();
    assert!(
        !secrets.api_key_generated,
        "the key came from the environment"
    );
}

#[test]
fn the_identity_header_is_trusted_only_on_request_and_the_mail_budget_has_a_default() {
    let config = production(&[]).unwrap();
    assert!(!config.trust_gpt_user_id_header);
    assert_eq!(config.mail_hourly_limit, 500);
    let config = production(&[
        ("TRUST_GPT_USER_ID_HEADER", "true"),
        ("MAIL_HOURLY_LIMIT", "1000000"),
    ])
    .unwrap();
    assert!(config.trust_gpt_user_id_header);
    assert_eq!(config.mail_hourly_limit, 1_000_000);
    assert_eq!(
        production(&[("MAIL_HOURLY_LIMIT", "1")])
            .unwrap()
            .mail_hourly_limit,
        1
    );
}

#[test]
fn a_published_secret_is_recognised_however_it_is_written() {
    // The real lists hold hashes of the real published values; these, of made-up ones.
    let text = sha256_hex(b"leaked-value");
    assert!(is_burned("leaked-value", &[&text]));
    assert!(is_burned(" leaked-value ", &[&text]));
    assert!(!is_burned("fresh-value", &[&text]));

    let key = [7u8; 32];
    let hash = sha256_hex(&key);
    let burned = [hash.as_str()];
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    for ring in [
        format!("k1:{}", STANDARD.encode(key)),
        format!("k1:{}", URL_SAFE_NO_PAD.encode(key)),
        STANDARD.encode(key),
        format!(
            " k9:{} ,k1:{}",
            STANDARD.encode(key),
            STANDARD.encode([1u8; 32])
        ),
    ] {
        assert!(seals_with_burned_key(&ring, &burned), "{ring}");
    }
    let rotating_off = format!(
        "k2:{},k1:{}",
        STANDARD.encode([1u8; 32]),
        STANDARD.encode(key)
    );
    assert!(
        !seals_with_burned_key(&rotating_off, &burned),
        "an old key that only opens may stay while rotate-key moves off it"
    );
    assert!(!seals_with_burned_key("", &burned));
    assert_eq!(BURNED_SECRETS.len() + BURNED_TOKEN_KEYS.len(), 3);
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
fn base_urls_are_checked_by_a_url_parser() {
    for ok in [
        "https://gpt.example.com",
        "http://localhost:8080",
        "https://gpt.example.com/prefix",
        "http://[::1]:9000",
    ] {
        assert!(valid_base_url(ok), "{ok}");
    }
    assert!(valid_endpoint_url(
        "https://accounts.example.com/authorize?prompt=consent"
    ));
    assert!(!valid_endpoint_url(
        "https://user:pw@accounts.example.com/token"
    ));
    assert!(!valid_endpoint_url("accounts.example.com/token"));
    for bad in [
        "gpt.example.com",
        "ftp://gpt.example.com",
        "https://user:pw@gpt.example.com",
        "https://gpt.example.com/?a=1",
        "https://gpt.example.com/#x",
        "https://",
    ] {
        assert!(!valid_base_url(bad), "{bad}");
    }
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
    for url in [
        "https://gpt.example.com",
        "https://localhost.example.com",
        "http://127.0.0.2",
        "not a url",
    ] {
        assert!(!is_local_host(url), "{url}");
    }
}

#[test]
fn the_admin_console_is_on_only_with_a_strong_enough_password_hash() {
    let (_dir, v) = in_temp_dir(&[]);
    assert_eq!(
        Config::load(&v, &OsRandom::new())
            .unwrap()
            .admin_password_hash,
        None
    );
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$YWJjZGVmZ2hpamtsbW5vcA";
    let (_dir, v) = in_temp_dir(&[("ADMIN_PASSWORD_HASH", hash)]);
    let config = Config::load(&v, &OsRandom::new()).unwrap();
    assert_eq!(
        config.admin_password_hash.map(|h| h.as_str().to_owned()),
        Some(hash.to_owned())
    );
    assert!(matches!(
        config.secret_sources.get("ADMIN_PASSWORD_HASH"),
        Some(SecretSource::Environment)
    ));
}

#[test]
fn the_chat_model_is_configured_by_its_base_url_and_optional_key() {
    let (_dir, v) = in_temp_dir(&[]);
    assert!(Config::load(&v, &OsRandom::new()).unwrap().llm.is_none());
    let (_dir, v) = in_temp_dir(&[("LLM_BASE_URL", "http://localhost:11434/v1/")]);
    let llm = Config::load(&v, &OsRandom::new()).unwrap().llm.unwrap();
    assert_eq!(llm.base_url, "http://localhost:11434/v1");
    assert!(llm.api_key.is_none());
    let (_dir, v) = in_temp_dir(&[
        ("LLM_BASE_URL", "https://api.openai.com/v1"),
        ("LLM_API_KEY", "sk-test-123"),
    ]);
    let config = Config::load(&v, &OsRandom::new()).unwrap();
    let llm = config.llm.unwrap();
    assert_eq!(llm.api_key.unwrap().expose_secret(), "sk-test-123");
    assert!(!format!("{:?}", config.secret_sources).contains("sk-test-123"));
}

#[test]
fn the_chat_limits_default_to_the_documented_ones_and_can_be_raised() {
    let (_dir, v) = in_temp_dir(&[]);
    let policy = Config::load(&v, &OsRandom::new())
        .unwrap()
        .chat_limits
        .policy();
    assert_eq!(policy, gptgate_domain::ChatPolicy::default());
    let (_dir, v) = in_temp_dir(&[
        ("CHAT_SESSION_QUESTIONS_PER_MINUTE", "100000"),
        ("CHAT_ADDRESS_QUESTIONS_PER_MINUTE", "1000000"),
        ("CHAT_TOTAL_QUESTIONS_PER_MINUTE", "10000000"),
    ]);
    let policy = Config::load(&v, &OsRandom::new())
        .unwrap()
        .chat_limits
        .policy();
    assert_eq!(policy.per_session.limit, 100_000);
    assert_eq!(policy.per_address.limit, 1_000_000);
    assert_eq!(policy.overall.limit, 10_000_000);
    for (name, over) in [
        ("CHAT_SESSION_QUESTIONS_PER_MINUTE", "100001"),
        ("CHAT_ADDRESS_QUESTIONS_PER_MINUTE", "1000001"),
        ("CHAT_TOTAL_QUESTIONS_PER_MINUTE", "10000001"),
    ] {
        let (_dir, v) = in_temp_dir(&[(name, over)]);
        let err = Config::load(&v, &OsRandom::new()).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn the_rate_limits_default_to_the_documented_ones_and_each_can_be_set_or_turned_off() {
    use gptgate_domain::TokenBucket;
    let (_dir, v) = in_temp_dir(&[]);
    let limits = Config::load(&v, &OsRandom::new()).unwrap().rate_limits;
    assert_eq!(
        limits,
        gptgate_ports::services::RateLimitSettings::defaults()
    );
    let (_dir, v) = in_temp_dir(&[
        ("RATE_LIMIT_API_KEY_PER_MINUTE", "60000000"),
        ("RATE_LIMIT_API_KEY_BURST", "1000000"),
        ("RATE_LIMIT_USER_PER_MINUTE", "Off"),
        ("RATE_LIMIT_USER_BURST", "5"),
        ("RATE_LIMIT_ADDRESS_PER_MINUTE", "1"),
        ("RATE_LIMIT_ADDRESS_BURST", "1"),
    ]);
    let limits = Config::load(&v, &OsRandom::new()).unwrap().rate_limits;
    assert_eq!(
        limits.per_api_key,
        Some(TokenBucket::per_minute(60_000_000, 1_000_000).unwrap())
    );
    assert_eq!(limits.per_user, None);
    assert_eq!(
        limits.per_address,
        Some(TokenBucket::per_minute(1, 1).unwrap())
    );
    for (name, bad, range) in [
        (
            "RATE_LIMIT_API_KEY_PER_MINUTE",
            "60000001",
            "from 1 to 60000000",
        ),
        ("RATE_LIMIT_USER_PER_MINUTE", "0", "from 1 to 60000000"),
        (
            "RATE_LIMIT_ADDRESS_PER_MINUTE",
            "none",
            "from 1 to 60000000",
        ),
        ("RATE_LIMIT_API_KEY_BURST", "1000001", "from 1 to 1000000"),
        ("RATE_LIMIT_USER_BURST", "0", "from 1 to 1000000"),
        ("RATE_LIMIT_ADDRESS_BURST", "off", "from 1 to 1000000"),
    ] {
        let (_dir, v) = in_temp_dir(&[(name, bad)]);
        let err = Config::load(&v, &OsRandom::new()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{name} must be a whole number {range}")),
            "{err}"
        );
    }
}

#[test]
fn the_statement_cache_is_on_unless_turned_off() {
    for (value, on) in [
        (None, true),
        (Some("off"), false),
        (Some("OFF"), false),
        (Some("0"), false),
        (Some("on"), true),
    ] {
        let pairs: Vec<(&str, &str)> = value
            .map(|v| ("DATABASE_STATEMENT_CACHE", v))
            .into_iter()
            .collect();
        let (_dir, v) = in_temp_dir(&pairs);
        assert_eq!(
            Config::load(&v, &OsRandom::new())
                .unwrap()
                .database_statement_cache,
            on,
            "{value:?}"
        );
    }
}
