//! The `gptgate` command line: `serve` (the default), `migrate`, `openapi`, `check-config`,
//! `rotate-key`, `oauth-client`, `hash-password`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gptgate_adapters_system::OsRandom;
use gptgate_domain::ClientKind;
use gptgate_ports::services::RegisterError;
use secrecy::ExposeSecret;

use crate::config::{Config, MailSettings};
use crate::startup::{connect_store, rotate_key, Application};
use crate::{openapi, telemetry};

#[derive(Parser)]
#[command(
    name = "gptgate",
    version,
    about = "Sign-in and memory backend for ChatGPT Custom GPTs",
    long_about = "Sign-in and memory backend for ChatGPT Custom GPTs.\n\nConfiguration comes from environment variables (and a .env file); see the README."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document to paste into the GPT editor.
    Openapi {
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// apikey (the x-api-key header) or oauth (users sign in with gptgate's OAuth server).
        #[arg(long, value_enum, default_value_t = Auth::Apikey)]
        auth: Auth,
    },
    /// Check the configuration and print a summary (no secrets), then exit.
    CheckConfig,
    /// Re-encrypt every stored provider token with the first key of TOKEN_ENCRYPTION_KEY,
    /// so older keys can then be removed.
    RotateKey,
    /// Register, list and remove the clients of gptgate's OAuth server (a GPT whose Actions
    /// sign users in with OAuth is one).
    OauthClient {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// Read a password from standard input (12 to 128 characters; one trailing newline is
    /// dropped) and print its argon2id hash for ADMIN_PASSWORD_HASH. Needs no configuration.
    HashPassword,
}

#[derive(Subcommand)]
enum ClientAction {
    /// Register a client; prints its client_id and client_secret (the secret only now).
    Add {
        /// The name users see on the consent page ("Let <name> use your gptgate account").
        #[arg(long)]
        name: String,
        /// A redirect URI, matched exactly (repeat for several). A chatgpt client also
        /// accepts ChatGPT's own callbacks without any.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// chatgpt (a GPT's Actions) or web (any other client).
        #[arg(long, value_enum, default_value_t = Kind::Chatgpt)]
        kind: Kind,
    },
    /// List the registered clients (never their secrets).
    List,
    /// Remove a client; every token issued to it stops working.
    Remove {
        /// The client_id.
        client_id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Chatgpt,
    Web,
}

#[derive(Clone, Copy, ValueEnum)]
enum Auth {
    Apikey,
    Oauth,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

/// Runs the command line; the exit code is 0 on success, 1 on a runtime failure, 2 on bad
/// configuration.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { format, auth }) = cli.command {
        return print_openapi(format, auth);
    }
    if let Some(Command::HashPassword) = cli.command {
        return hash_password(std::io::stdin().lock());
    }
    // check-config changes nothing on disk: it says what a start would generate.
    let load = if matches!(cli.command, Some(Command::CheckConfig)) {
        Config::dry_run
    } else {
        Config::load
    };
    let config = match load(&Config::environment(), &OsRandom::new()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&config).await,
        Command::Migrate => migrate(&config).await,
        Command::CheckConfig => check_config(&config),
        Command::RotateKey => rotate(&config).await,
        Command::OauthClient { action } => oauth_client(&config, action).await,
        Command::Openapi { .. } | Command::HashPassword => unreachable!("handled above"),
    }
}

/// `gptgate hash-password`: the password from `input`, its hash on standard output.
fn hash_password(mut input: impl std::io::Read) -> ExitCode {
    let mut text = String::new();
    if let Err(e) = input.read_to_string(&mut text) {
        eprintln!("could not read the password from standard input: {e}");
        return ExitCode::from(2);
    }
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    let password = match gptgate_domain::NewPassword::parse(password) {
        Ok(password) => password,
        Err(e) => {
            eprintln!("{e}; type it on standard input (echo -n '...' | gptgate hash-password)");
            return ExitCode::from(2);
        }
    };
    match gptgate_adapters_system::Argon2Passwords::hash_now(&password) {
        Ok(hash) => print_quietly(&format!("{}\n", hash.as_str())),
        Err(e) => {
            eprintln!("the password could not be hashed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_openapi(format: Format, auth: Auth) -> ExitCode {
    let vars = Config::environment();
    let public_url = vars
        .get("PUBLIC_URL")
        .or_else(|| vars.get("NEXT_PUBLIC_APP_URL"))
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "http://localhost:8080".to_owned());
    // The actions of the configured providers are operations too; they need the provider
    // settings, read without touching anything (a configuration that does not load yet
    // still gets the rest of the document).
    let actions = match Config::dry_run(&vars, &gptgate_adapters_system::OsRandom::new())
        .map_err(|e| e.to_string())
        .and_then(|config| crate::startup::provider_actions(&config).map_err(|e| e.to_string()))
    {
        Ok(actions) => actions,
        Err(e) => {
            eprintln!("(provider actions left out: {e})");
            Vec::new()
        }
    };
    let catalog: Vec<_> = actions
        .iter()
        .map(|a| (a.provider(), a.catalog()))
        .collect();
    let doc = match openapi::document(&public_url, &catalog).and_then(|doc| match auth {
        Auth::Apikey => Ok(doc),
        Auth::Oauth => openapi::with_oauth(&doc, &public_url),
    }) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("cannot render the OpenAPI document: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match format {
        Format::Json => doc.to_pretty_json().map_err(|e| e.to_string()),
        Format::Yaml => doc.to_yaml().map_err(|e| e.to_string()),
    };
    match text {
        Ok(text) => print_quietly(&text),
        Err(e) => {
            eprintln!("cannot render the OpenAPI document: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `text` to stdout; a reader that stops early (`gptgate openapi | head`) ends the
/// program quietly instead of with a panic about a broken pipe.
fn print_quietly(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the document: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &Config) -> ExitCode {
    // Connecting migrates.
    match connect_store(config).await.map(drop) {
        Ok(()) => {
            println!("migrations applied to {}", config.database_display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migration failed on {}: {e}", config.database_display());
            ExitCode::FAILURE
        }
    }
}

async fn oauth_client(config: &Config, action: ClientAction) -> ExitCode {
    let server = match crate::startup::authorization_for_cli(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match action {
        ClientAction::Add {
            name,
            redirect_uris,
            kind,
        } => {
            let kind = match kind {
                Kind::Chatgpt => ClientKind::ChatGpt,
                Kind::Web => ClientKind::Web,
            };
            match server.register_client(&name, kind, &redirect_uris).await {
                Ok(registered) => {
                    println!("client_id: {}", registered.client.id);
                    println!("client_secret: {}", registered.secret.expose_secret());
                    eprintln!(
                        "Keep the secret now: gptgate stores only its hash and cannot show it again."
                    );
                    ExitCode::SUCCESS
                }
                Err(RegisterError::Invalid(e)) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("cannot register the client: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ClientAction::List => match server.clients().await {
            Ok(clients) if clients.is_empty() => {
                println!("no OAuth clients (add one with gptgate oauth-client add)");
                ExitCode::SUCCESS
            }
            Ok(clients) => {
                for c in clients {
                    let uris: Vec<&str> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
                    println!(
                        "{}  {}  {:?}  created {}  redirect URIs: {}",
                        c.id,
                        c.kind.as_str(),
                        c.name.as_str(),
                        c.created_at.date(),
                        if uris.is_empty() {
                            "ChatGPT's callbacks".to_owned()
                        } else {
                            uris.join(" ")
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot list the clients: {e}");
                ExitCode::FAILURE
            }
        },
        ClientAction::Remove { client_id } => {
            let Ok(id) = client_id.parse() else {
                eprintln!(
                    "{client_id:?} is not a client_id (gptgate oauth-client list shows them)"
                );
                return ExitCode::from(2);
            };
            match server.remove_client(id).await {
                Ok(true) => {
                    println!("removed {client_id}; its tokens no longer work");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("no client {client_id}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("cannot remove the client: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn rotate(config: &Config) -> ExitCode {
    match rotate_key(config).await {
        Ok(report) => {
            println!(
                "re-encrypted {} account(s) with the current key",
                report.resealed
            );
            if report.failed > 0 {
                eprintln!(
                    "{} account(s) could not be opened with any configured key and were left as they are",
                    report.failed
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(config: &Config) -> ExitCode {
    if let Err(e) = check_mail(&config.mail) {
        eprintln!("gptgate cannot start: {e}");
        return ExitCode::from(2);
    }
    let mut lines = vec![
        "configuration is valid".to_owned(),
        format!("  mode         {:?}", config.mode),
        match &config.public_url {
            Some(url) => format!("  public URL   {url}"),
            None => format!(
                "  public URL   http://localhost:{} (PUBLIC_URL unset: this machine, at BIND's port)",
                config.bind.port()
            ),
        },
        format!("  bind         {}", config.bind),
        format!("  database     {}", config.database_display()),
        format!("  mail         {}", mail_display(&config.mail)),
        format!("  API keys     {} configured", config.api_keys.len()),
        format!("  session TTL  {} s", config.session_ttl.whole_seconds()),
        format!("  body limit   {} bytes", config.body_limit),
    ];
    let limits = &config.rate_limits;
    lines.push(format!(
        "  rate limits  per API key {}, per user {}, per address {}",
        bucket_display(limits.per_api_key),
        bucket_display(limits.per_user),
        bucket_display(limits.per_address)
    ));
    if !config.database_url.expose_secret().starts_with("sqlite:") {
        lines.push(format!(
            "  statements   {}",
            if config.database_statement_cache {
                "prepared and cached (DATABASE_STATEMENT_CACHE=on)"
            } else {
                "unnamed, each in a transaction (DATABASE_STATEMENT_CACHE=off: behind a transaction pooler)"
            }
        ));
    }
    let providers: Vec<&str> = config.providers.iter().map(|p| p.id.as_str()).collect();
    lines.push(format!(
        "  providers    {}",
        if providers.is_empty() {
            "none".to_owned()
        } else {
            providers.join(", ")
        }
    ));
    lines.push("  secrets, and where each comes from:".to_owned());
    for (name, source) in &config.secret_sources {
        lines.push(format!("    {name:<22} {source}"));
    }
    print_quietly(&lines.join("\n"))
}

/// A rate limit as the operator set it: `120/min, 60 at once`, or `off`.
fn bucket_display(bucket: Option<gptgate_domain::TokenBucket>) -> String {
    match bucket {
        Some(b) => {
            let per_minute = 60_000_000_000 / b.refill_every().whole_nanoseconds().max(1);
            format!("{per_minute}/min, {} at once", b.burst())
        }
        None => "off".to_owned(),
    }
}

/// The mail settings are usable (checked without creating the outbox folder).
fn check_mail(mail: &MailSettings) -> Result<(), crate::startup::StartupError> {
    use gptgate_adapters_mail::{MessageBuilder, SmtpMailer};
    match mail {
        MailSettings::Smtp { url, from } => {
            SmtpMailer::new(url, MessageBuilder::new(from, "gptgate")?)?;
        }
        MailSettings::Outbox { from, .. } => {
            MessageBuilder::new(from, "gptgate")?;
        }
    }
    Ok(())
}

fn mail_display(mail: &MailSettings) -> String {
    match mail {
        MailSettings::Smtp { url, from } => {
            format!(
                "SMTP {} as {from}",
                crate::config::redact_url(url.expose_secret())
            )
        }
        MailSettings::Outbox { dir, .. } => {
            format!("outbox {} (each email is an .eml file)", dir.display())
        }
    }
}

async fn serve(config: &Config) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("gptgate cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_banner(config, &app);
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_banner(config: &Config, app: &Application) {
    let url = app.public_url();
    let mut lines = vec![
        format!(
            "gptgate {} ({:?} mode)",
            env!("CARGO_PKG_VERSION"),
            config.mode
        ),
        format!("  Listening on   http://{}", app.local_addr()),
        format!("  Public URL     {url}"),
        format!("  Database       {}", config.database_display()),
        format!("  Mail           {}", mail_display(&config.mail)),
        format!("  OpenAPI        {url}/openapi.json  (GPT editor: Actions > Import from URL)"),
        format!("  Privacy        {url}/privacy-policy"),
        if config.admin_password_hash.is_some() {
            format!("  Admin          {url}/admin  (password from ADMIN_PASSWORD_HASH)")
        } else {
            "  Admin          off (set ADMIN_PASSWORD_HASH: gptgate hash-password makes one)"
                .to_owned()
        },
        match &config.llm {
            Some(llm) => format!(
                "  Chat           {url}/chat  (model API {})",
                crate::config::redact_url(&llm.base_url)
            ),
            None => format!("  Chat           {url}/chat  (no model: set LLM_BASE_URL)"),
        },
        if config.metrics_token.is_some() {
            format!("  Metrics        {url}/metrics  (bearer METRICS_TOKEN)")
        } else {
            format!("  Metrics        {url}/metrics  (open: set METRICS_TOKEN to close it)")
        },
    ];
    let first_key = config
        .api_keys
        .first()
        .map(|k| k.expose_secret())
        .unwrap_or_default();
    match &config.dev_secrets {
        Some(secrets) if secrets.api_key_generated => {
            // Shown in full once, when it was just generated: the key the builder pastes into
            // the GPT editor. Afterwards it is read from the secrets file.
            lines.push(format!(
                "  API key        {first_key}  (GPT editor: Authentication > API Key > Custom header x-api-key)"
            ));
        }
        Some(secrets) if secrets.api_keys_from_file => lines.push(format!(
            "  API key        {}  (the full key is in {})",
            mask_key(first_key),
            secrets.path.display()
        )),
        _ => lines.push(format!(
            "  API keys       {} from GPT_API_KEY ({})",
            config.api_keys.len(),
            config
                .api_keys
                .iter()
                .map(|k| mask_key(k.expose_secret()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    if let Some(secrets) = &config.dev_secrets {
        lines.push(format!(
            "  Dev secrets    {} ({}; keep it private)",
            secrets.path.display(),
            if secrets.created {
                "generated now"
            } else {
                "reused"
            }
        ));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// A key as the banner may show it: its `gpk_` prefix, if any, and its last four characters;
/// keys too short to hide anything are not shown at all.
pub fn mask_key(key: &str) -> String {
    let prefix = if key.starts_with("gpk_") { "gpk_" } else { "" };
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 16 {
        return format!("{prefix}...");
    }
    let last4: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}...{last4}")
}

#[cfg(test)]
mod tests {
    use super::mask_key;

    #[test]
    fn keys_are_masked_to_their_prefix_and_last_four_characters() {
        assert_eq!(
            mask_key("gpk_kvQwgwr_LpMYBsKZCHW9Eu5HfoZBo7kLJJ4Pcc4XbMo"),
            "gpk_...XbMo"
        );
        assert_eq!(mask_key("0123456789abcdefXYZW"), "...XYZW");
        assert_eq!(mask_key("short-key"), "...", "nothing of a short key");
        assert_eq!(
            mask_key("gpk_1234567890ab"),
            "gpk_...90ab",
            "16 characters: shown"
        );
        assert_eq!(
            mask_key("gpk_1234567890a"),
            "gpk_...",
            "15 characters: hidden"
        );
    }
}
