//! Wiring: which adapter serves which port, decided once here, and the server itself.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use base64::Engine;
use gptgate_adapters_mail::{MailConfigError, MessageBuilder, OutboxMailer, SmtpMailer};
use gptgate_adapters_oauth::ProviderSetupError;
use gptgate_adapters_postgres::{PoolSettings, PostgresStore};
use gptgate_adapters_sqlite::SqliteStore;
use gptgate_adapters_system::{
    AesGcmSecretBox, HmacCodeHasher, InProcessBudgets, JwtSessionTokens, KeyError, KeyRingError,
    OsRandom, ServerKeys, Sha256OpaqueTokens, SystemClock, TokioTimer,
};
use gptgate_domain::{
    BudgetPolicy, CodePolicy, LinkPolicy, OAuthPolicy, ProviderId, SessionPolicy,
};
use gptgate_ports::services::{
    Actions, Authorization, AuthorizationPorts, Connections, ConnectionsPorts, Conversations,
    ExportPorts, Exports, Maintenance, RefreshPorts, Refresher, SignIn, SignInPorts, Users,
};
use gptgate_ports::{
    Clock, Mailer, OAuthProvider, ProviderActions, Random, RandomError, StorageError, Store, Timer,
};
use secrecy::{ExposeSecret, SecretString};

use crate::api_key::ApiKeys;
use crate::browser::Browser;
use crate::config::{Config, MailSettings};
use crate::error::rewrite_foreign_errors;
use crate::middleware::{
    request_span, security_headers, time_limit, ACTION_TIMEOUT_MESSAGE, TIMEOUT_MESSAGE,
};
use crate::pages::Pages;
use crate::privacy::{self, PrivacyFacts};
use crate::state::{AppState, Documents};
use crate::{openapi, routes};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[source] StorageError),
    #[error("cannot set up mail: {0}")]
    Mail(#[from] MailConfigError),
    #[error("cannot use the outbox folder: {0}")]
    Outbox(#[source] std::io::Error),
    #[error("cannot listen on {address}: {source}{hint}", hint = if source.kind() == std::io::ErrorKind::AddrInUse { " (another program uses it: stop it, or set BIND to another address and port, e.g. BIND=127.0.0.1:8081)" } else { " (check BIND)" })]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("JWT_SECRET is unusable: {0}")]
    Keys(#[from] KeyError),
    #[error("the random number generator failed")]
    Random(#[from] RandomError),
    #[error("cannot render a built-in document: {0}")]
    Document(String),
    #[error("TOKEN_ENCRYPTION_KEY is unusable: {0}")]
    TokenKey(#[from] KeyRingError),
    #[error("provider configuration: {0}")]
    Provider(#[from] ProviderSetupError),
    #[error("key rotation failed: {0}")]
    Rotation(#[source] gptgate_ports::services::ConnectError),
    #[error("cannot set up the HTTP client for LTI key sets: {0}")]
    KeySets(String),
}

/// The store `DATABASE_URL` names (SQLite or PostgreSQL), connected and migrated.
pub async fn connect_store(config: &Config) -> Result<Arc<dyn Store>, StorageError> {
    let url = config.database_url.expose_secret();
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await?)
    } else {
        let settings = PoolSettings {
            statement_cache: config.database_statement_cache,
            ..PoolSettings::default()
        };
        Arc::new(PostgresStore::connect(url, settings).await?)
    };
    store.migrate().await?;
    Ok(store)
}

/// The ports that differ between production and tests.
pub struct Environment {
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub timer: Arc<dyn Timer>,
    pub random: Arc<dyn Random>,
    /// argon2id for the admin console's password (tests use a fast stand-in).
    pub passwords: Arc<dyn gptgate_ports::PasswordHasher>,
    /// The hosted assistant's model (`LLM_BASE_URL`); `None`: not configured.
    pub chat_model: Option<Arc<dyn gptgate_ports::ChatModel>>,
}

/// The chat model the configuration names, if any.
pub fn chat_model(
    config: &Config,
) -> Result<Option<Arc<dyn gptgate_ports::ChatModel>>, StartupError> {
    let Some(llm) = &config.llm else {
        return Ok(None);
    };
    let model = gptgate_adapters_llm::OpenAiCompatible::new(&llm.base_url, llm.api_key.clone())
        .map_err(|e| StartupError::Document(format!("the chat model's HTTP client: {e}")))?;
    Ok(Some(Arc::new(model)))
}

/// The mailer the configuration asks for.
pub fn mailer(config: &Config) -> Result<Arc<dyn Mailer>, StartupError> {
    Ok(match &config.mail {
        MailSettings::Smtp { url, from } => {
            Arc::new(SmtpMailer::new(url, MessageBuilder::new(from, "gptgate")?)?)
        }
        MailSettings::Outbox { dir, from } => Arc::new(
            OutboxMailer::new(dir, MessageBuilder::new(from, "gptgate")?)
                .map_err(StartupError::Outbox)?,
        ),
    })
}

/// Builds the application state on `store`, and the hourly maintenance over the same
/// services.
fn state(
    config: &Config,
    public_url: &str,
    store: Arc<dyn Store>,
    env: Environment,
) -> Result<(AppState, Maintenance), StartupError> {
    let keys = ServerKeys::derive(&config.jwt_secret)?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    // On PostgreSQL, where several instances may share the database, the budgets are kept in
    // it so they count together; SQLite serves one instance, which counts in memory for free.
    let budgets: Arc<dyn gptgate_ports::BudgetRepository> =
        if config.database_url.expose_secret().starts_with("sqlite:") {
            Arc::new(InProcessBudgets::new())
        } else {
            store.clone()
        };
    // The rate limits' buckets, kept the same way.
    let buckets: Arc<dyn gptgate_ports::BucketRepository> =
        if config.database_url.expose_secret().starts_with("sqlite:") {
            Arc::new(gptgate_adapters_system::InProcessBuckets::new(
                env.clock.clone(),
            ))
        } else {
            store.clone()
        };
    let code_policy = CodePolicy::default();
    let session_policy = SessionPolicy {
        ttl: config.session_ttl,
    };
    let sign_in = SignIn::new(
        SignInPorts {
            codes: store.clone(),
            users: store.clone(),
            sessions: store.clone(),
            sign_ins: store.clone(),
            mailer: Arc::new(crate::metrics::MeteredMailer {
                inner: env.mailer,
                metrics: metrics.clone(),
            }),
            budgets: budgets.clone(),
            hasher: Arc::new(HmacCodeHasher::new(&keys)),
            tokens: Arc::new(JwtSessionTokens::new(&keys, public_url)),
            clock: env.clock.clone(),
            random: env.random.clone(),
        },
        code_policy,
        session_policy,
    )
    .with_mail_budget(BudgetPolicy::hourly(config.mail_hourly_limit));
    let host = public_url.split_once("://").map_or(public_url, |(_, h)| h);
    let providers: Vec<Arc<dyn OAuthProvider>> = providers(config)?
        .into_iter()
        .map(|inner| -> Arc<dyn OAuthProvider> {
            Arc::new(crate::metrics::MeteredProvider {
                inner,
                metrics: metrics.clone(),
            })
        })
        .collect();
    let pages = Pages::load().map_err(|e| StartupError::Document(e.to_string()))?;
    let privacy = privacy::PrivacyPage::new(&PrivacyFacts {
        service: host,
        operator: config.operator.name.as_deref(),
        contact: config.operator.contact.as_deref(),
        contact_href: config.operator.contact.as_deref().map(|c| {
            if c.starts_with("https://") {
                c.to_owned()
            } else {
                format!("mailto:{c}")
            }
        }),
        mail_via: match &config.mail {
            MailSettings::Smtp { url, .. } => Some(crate::config::smtp_host(url)),
            MailSettings::Outbox { .. } => None,
        },
        code_minutes: code_policy.ttl.whole_minutes(),
        session_hours: session_policy.ttl.whole_hours(),
        providers: ProviderId::ALL
            .iter()
            .filter(|id| providers.iter().any(|p| p.id() == **id))
            .map(|id| id.display_name())
            .collect(),
    })
    .map_err(|e| StartupError::Document(e.to_string()))?;
    // It renders, or the server does not start.
    privacy
        .html(&pages, gptgate_domain::PrivacySettings::default())
        .map_err(|e| StartupError::Document(e.to_string()))?;
    let secrets: Arc<dyn gptgate_ports::SecretBox> =
        Arc::new(secret_box(config, env.random.clone())?);
    let connections = Arc::new(connections(
        public_url,
        &store,
        providers.clone(),
        secrets.clone(),
        env.clock.clone(),
        env.random.clone(),
    ));
    let refresher = Arc::new(Refresher::new(
        RefreshPorts {
            accounts: store.clone(),
            secrets: secrets.clone(),
            clock: env.clock.clone(),
            timer: env.timer.clone(),
        },
        providers,
    ));
    let maintenance = Maintenance::new(store.clone(), env.clock.clone())
        .with_refresher(refresher.clone())
        .with_retention(store.clone());
    let actions = Actions::new(
        store.clone(),
        refresher,
        connections.clone(),
        provider_actions(config)?,
    );
    let document_error = |e: serde_json::Error| StartupError::Document(e.to_string());
    let doc = openapi::document(public_url, &actions.catalog()).map_err(document_error)?;
    let oauth_doc = openapi::with_oauth(&doc, public_url).map_err(document_error)?;
    let authorization = authorization(
        config,
        public_url,
        &store,
        env.clock.clone(),
        env.random.clone(),
        budgets.clone(),
    )?;
    let admin = Arc::new(gptgate_ports::services::AdminConsole::new(
        gptgate_ports::services::AdminPorts {
            store: store.clone(),
            passwords: env.passwords.clone(),
            tokens: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
            budgets: budgets.clone(),
            clock: env.clock.clone(),
        },
        gptgate_domain::AdminPolicy::default(),
        config.admin_password_hash.clone(),
    ));
    let assistant = gptgate_ports::services::Assistant::new(
        gptgate_ports::services::AssistantPorts {
            store: store.clone(),
            profiles: store.clone(),
            passwords: env.passwords,
            tokens: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
            budgets: budgets.clone(),
            clock: env.clock.clone(),
            model: env.chat_model,
        },
        config.chat_limits.policy(),
        gptgate_domain::AdminPolicy::default(),
        admin.clone(),
    );
    let profiles =
        gptgate_ports::services::Profiles::new(store.clone(), store.clone(), env.clock.clone());
    let launches = gptgate_ports::services::Launches::new(
        gptgate_ports::services::LaunchPorts {
            budgets: budgets.clone(),
            platforms: store.clone(),
            used: store.clone(),
            sessions: store.clone(),
            tokens: Arc::new(gptgate_adapters_system::JwtLaunchTokens),
            secrets: secrets.clone(),
            opaque: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
            random: env.random.clone(),
            clock: env.clock.clone(),
        },
        gptgate_domain::LaunchPolicy::default(),
        config.chat_limits.policy(),
        public_url,
    );
    let launches = if config.token_encryption_key.is_some() {
        launches
    } else {
        launches.without_lasting_seal()
    };
    let lti = gptgate_ports::services::LtiLaunches::new(
        gptgate_ports::services::LtiPorts {
            budgets: budgets.clone(),
            platforms: store.clone(),
            used: store.clone(),
            sessions: store.clone(),
            tokens: Arc::new(gptgate_adapters_system::JwtLtiTokens),
            key_sets: Arc::new(
                gptgate_adapters_oauth::HttpKeySets::new()
                    .map_err(|e| StartupError::KeySets(e.to_string()))?,
            ),
            opaque: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
            random: env.random.clone(),
            clock: env.clock.clone(),
        },
        gptgate_domain::LtiPolicy::default(),
        config.chat_limits.policy(),
        public_url,
    );
    let console_keys = Arc::new(gptgate_ports::services::ApiKeys::new(
        gptgate_ports::services::ApiKeyPorts {
            store: store.clone(),
            tokens: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
            random: env.random.clone(),
            clock: env.clock.clone(),
        },
    ));
    let state = AppState {
        sign_in,
        admin,
        assistant,
        launches,
        lti,
        profiles,
        authorization,
        issuer: public_url.trim_end_matches('/').to_owned(),
        connections,
        actions,
        users: Users::new(store.clone(), env.clock.clone(), env.random.clone()),
        exports: Exports::new(
            ExportPorts {
                users: store.clone(),
                sessions: store.clone(),
                conversations: store.clone(),
                accounts: store.clone(),
                links: store.clone(),
                tokens: Arc::new(Sha256OpaqueTokens::new(env.random.clone())),
                clock: env.clock.clone(),
                budgets: budgets.clone(),
            },
            public_url,
        ),
        conversations: Conversations::new(store.clone(), env.clock.clone(), env.random.clone())
            .with_privacy(store.clone()),
        api_keys: ApiKeys::new(&config.api_keys, env.random.as_ref(), console_keys.clone())?,
        console_keys,
        trust_gpt_user_id_header: config.trust_gpt_user_id_header,
        store,
        documents: Documents {
            openapi_json: doc
                .to_pretty_json()
                .map_err(|e| StartupError::Document(e.to_string()))?
                .into(),
            openapi_yaml: doc
                .to_yaml()
                .map_err(|e| StartupError::Document(e.to_string()))?
                .into(),
            openapi_oauth_json: oauth_doc.to_pretty_json().map_err(document_error)?.into(),
            openapi_oauth_yaml: oauth_doc
                .to_yaml()
                .map_err(|e| StartupError::Document(e.to_string()))?
                .into(),
            privacy,
            oauth_metadata: serde_json::to_vec(&routes::oauth::metadata(public_url))
                .map_err(|e| StartupError::Document(e.to_string()))?
                .into(),
            protected_resource: serde_json::to_vec(&routes::oauth::protected_resource(public_url))
                .map_err(|e| StartupError::Document(e.to_string()))?
                .into(),
            pages,
        },
        browser: Browser::new(keys.browser_key().clone(), public_url),
        metrics_token: match &config.metrics_token {
            Some(token) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &env.random.bytes::<32>()?);
                let tag = ring::hmac::sign(&key, token.expose_secret().as_bytes());
                Some((key, tag))
            }
            None => None,
        },
        random: env.random,
        chat_heartbeat: CHAT_HEARTBEAT,
        metrics,
        trusted_proxies: config.trusted_proxies.clone(),
        rate_limits: gptgate_ports::services::RateLimits::new(
            buckets,
            env.clock.clone(),
            config.rate_limits,
        ),
    };
    Ok((state, maintenance))
}

/// The connection use cases on `store`, for `providers`.
fn connections(
    public_url: &str,
    store: &Arc<dyn Store>,
    providers: Vec<Arc<dyn OAuthProvider>>,
    secrets: Arc<dyn gptgate_ports::SecretBox>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Connections {
    Connections::new(
        ConnectionsPorts {
            accounts: store.clone(),
            users: store.clone(),
            links: store.clone(),
            secrets,
            tokens: Arc::new(Sha256OpaqueTokens::new(random.clone())),
            clock,
            random,
        },
        providers,
        LinkPolicy::default(),
        public_url,
    )
}

/// The AES-256-GCM box for provider tokens. Without `TOKEN_ENCRYPTION_KEY` (production with
/// no provider configured) nothing is ever sealed; a throw-away key keeps the type simple.
fn secret_box(config: &Config, random: Arc<dyn Random>) -> Result<AesGcmSecretBox, StartupError> {
    let key = match &config.token_encryption_key {
        Some(key) => key.clone(),
        None => SecretString::from(format!(
            "unused:{}",
            base64::engine::general_purpose::STANDARD.encode(random.bytes::<32>()?)
        )),
    };
    Ok(AesGcmSecretBox::from_config(&key, random)?)
}

/// The actions of every provider with client credentials.
pub fn provider_actions(config: &Config) -> Result<Vec<Arc<dyn ProviderActions>>, StartupError> {
    Ok(config
        .providers
        .iter()
        .map(gptgate_adapters_oauth::build_actions)
        .collect::<Result<_, _>>()?)
}

/// An adapter for every provider with client credentials.
fn providers(config: &Config) -> Result<Vec<Arc<dyn OAuthProvider>>, StartupError> {
    Ok(config
        .providers
        .iter()
        .map(gptgate_adapters_oauth::build)
        .collect::<Result<_, _>>()?)
}

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone, Copy)]
struct HttpSettings {
    body_limit: usize,
    hsts: bool,
    /// The longest a request may take before it is answered 503 `timeout`.
    time_limit: StdDuration,
    /// The same, for provider actions.
    action_time_limit: StdDuration,
}

/// The MCP face's Streamable HTTP service.
type McpEndpoint = rmcp_actix_web::transport::StreamableHttpService<
    gptgate_mcp::GateMcp,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
>;

/// The MCP endpoint on the state's services, accepting the public URL's host (and loopback
/// ones in development, where the server is reached as 127.0.0.1). Its tools stop an action
/// at the action time limit, before the HTTP layer's limit for `/mcp` ([`MCP_TIME_MARGIN`]
/// later) would cut the answer.
fn mcp_endpoint(state: &AppState, public_url: &str, settings: HttpSettings) -> McpEndpoint {
    let mut hosts = Vec::new();
    // A browser's Origin must be the public URL's (MCP transport: validate Origin); requests
    // from programs carry none.
    let mut origins = Vec::new();
    if let Ok(url) = url::Url::parse(public_url) {
        if let Some(host) = url.host_str() {
            hosts.push(host.to_owned());
            if let Some(port) = url.port() {
                hosts.push(format!("{host}:{port}"));
            }
            if let Some(port) = url.port_or_known_default() {
                origins.push(format!("{}://{host}:{port}", url.scheme()));
            }
        }
        if url.scheme() == "http" {
            hosts.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
            origins.extend(
                ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"].map(str::to_owned),
            );
        }
    }
    if hosts.is_empty() {
        hosts.push("localhost".to_owned());
    }
    if origins.is_empty() {
        origins.push("http://localhost:*".to_owned());
    }
    gptgate_mcp::service(
        std::sync::Arc::new(gptgate_mcp::McpServices {
            conversations: state.conversations.clone(),
            connections: state.connections.clone(),
            actions: state.actions.clone(),
        }),
        gptgate_mcp::McpSettings {
            allowed_hosts: hosts,
            allowed_origins: origins,
            max_body_bytes: settings.body_limit,
            action_time_limit: settings.action_time_limit,
        },
    )
}

/// How much longer than an action the HTTP layer lets an MCP request run, so a tool's own
/// `timeout` answer reaches the client.
pub const MCP_TIME_MARGIN: StdDuration = StdDuration::from_secs(2);

/// The longest a provider action may take, its refresh and one retry included: under the
/// 45 seconds after which ChatGPT gives up on a call.
pub const ACTION_REQUEST_TIME_LIMIT: StdDuration = StdDuration::from_secs(40);

/// The longest a request may take (ASVS: bound every handler).
pub const REQUEST_TIME_LIMIT: StdDuration = StdDuration::from_secs(10);

/// The actix application: middleware, limits and every route.
fn app(
    state: web::Data<AppState>,
    settings: HttpSettings,
    mcp: McpEndpoint,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(crate::error::BodyLimit(settings.body_limit))
        .wrap(from_fn(crate::middleware::page_address_limit))
        .wrap(from_fn(move |req: ServiceRequest, next| {
            // An action may refresh a token and call its provider twice (20 s each at most):
            // it gets longer, still inside ChatGPT's 45 s.
            let path = req.path();
            let (limit, message) = if path.starts_with("/api/gpt/actions/") {
                (settings.action_time_limit, ACTION_TIMEOUT_MESSAGE)
            } else if path == "/api/chat" {
                // A model may take long to start its answer (loading it, a long prompt); the
                // answer's stream is bounded by the model adapter, not by this limit.
                (settings.action_time_limit, TIMEOUT_MESSAGE)
            } else if path == "/mcp" || path.starts_with("/mcp/") {
                // A tool may run a provider action; it stops it itself at the action limit.
                (
                    settings.action_time_limit + MCP_TIME_MARGIN,
                    ACTION_TIMEOUT_MESSAGE,
                )
            } else {
                (settings.time_limit, TIMEOUT_MESSAGE)
            };
            time_limit(limit, message, settings.hsts, req, next)
        }))
        .wrap(ErrorHandlers::new().default_handler(rewrite_foreign_errors))
        .wrap(security_headers(settings.hsts))
        .wrap(from_fn(request_span))
        .configure(routes::configure)
        .service(
            mcp.scope_with_path("/mcp")
                .wrap(from_fn(routes::mcp::bearer)),
        )
        .default_service(web::to(routes::unmatched))
}

/// How long an access token of the authorization server lives (a session of its grant).
pub const OAUTH_ACCESS_TOKEN_TTL: time::Duration = time::Duration::hours(24);

/// The authorization server's use cases on `store`.
pub fn authorization(
    config: &Config,
    public_url: &str,
    store: &Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    budgets: Arc<dyn gptgate_ports::BudgetRepository>,
) -> Result<Authorization, StartupError> {
    let keys = ServerKeys::derive(&config.jwt_secret)?;
    Ok(Authorization::new(
        AuthorizationPorts {
            store: store.clone(),
            sessions: store.clone(),
            tokens: Arc::new(Sha256OpaqueTokens::new(random.clone())),
            session_tokens: Arc::new(JwtSessionTokens::new(&keys, public_url)),
            clock,
            random,
            budgets,
        },
        OAuthPolicy::default(),
        SessionPolicy {
            ttl: OAUTH_ACCESS_TOKEN_TTL,
        },
    ))
}

/// The authorization server's use cases, for the command line (`gptgate oauth-client`).
pub async fn authorization_for_cli(config: &Config) -> Result<Authorization, StartupError> {
    let store = connect_store(config)
        .await
        .map_err(StartupError::Database)?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", config.bind.port()));
    authorization(
        config,
        &public_url,
        &store,
        Arc::new(SystemClock),
        Arc::new(OsRandom::new()),
        Arc::new(InProcessBudgets::new()),
    )
}

/// Re-seals every account's provider tokens with the first key of `TOKEN_ENCRYPTION_KEY`. It
/// builds the connection use cases only: no mailer, no HTTP state.
pub async fn rotate_key(
    config: &Config,
) -> Result<gptgate_ports::services::RotationReport, StartupError> {
    let store = connect_store(config)
        .await
        .map_err(StartupError::Database)?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", config.bind.port()));
    let random: Arc<dyn Random> = Arc::new(OsRandom::new());
    let secrets = Arc::new(secret_box(config, random.clone())?);
    connections(
        &public_url,
        &store,
        providers(config)?,
        secrets,
        Arc::new(SystemClock),
        random,
    )
    .rotate_key()
    .await
    .map_err(StartupError::Rotation)
}

/// Runs the hourly maintenance (purge, then keeping grants alive), starting a minute after
/// start-up; with several instances on one database, one of them runs it each hour.
fn spawn_hourly(maintenance: Maintenance) {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + StdDuration::from_secs(60);
        let mut every_hour = tokio::time::interval_at(start, StdDuration::from_secs(3600));
        loop {
            every_hour.tick().await;
            if let Err(e) = maintenance.hourly().await {
                tracing::warn!(error = %e, "maintenance failed; trying again in an hour");
            }
        }
    });
}

/// Writes the console keys' uses counted in memory once a minute (so "last used" is true to
/// the minute without a write per request).
fn spawn_key_use_writer(keys: Arc<gptgate_ports::services::ApiKeys>) {
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(StdDuration::from_secs(60));
        loop {
            every_minute.tick().await;
            if let Err(e) = keys.flush_uses().await {
                tracing::warn!(error = %e, "API key uses could not be written; trying again in a minute");
            }
        }
    });
}

/// What a server is made of besides its configuration: where it listens, its store, and the
/// ports that differ between production and tests. [`Application::build`] makes the
/// production ones from the configuration; tests (and embedders) bring their own to
/// [`Application::build_from`], so both run the same wiring.
pub struct Parts {
    pub listener: TcpListener,
    pub store: Arc<dyn Store>,
    pub env: Environment,
}

/// How the HTTP server runs, beyond what the environment configures.
#[derive(Debug, Clone, Copy)]
pub struct ServeSettings {
    /// The longest a request may take before it is answered 503 `timeout`.
    pub time_limit: StdDuration,
    /// The same for provider actions ([`ACTION_REQUEST_TIME_LIMIT`]).
    pub action_time_limit: StdDuration,
    /// Worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// [`CHAT_HEARTBEAT`] (shorter in tests).
    pub chat_heartbeat: StdDuration,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            time_limit: REQUEST_TIME_LIMIT,
            action_time_limit: ACTION_REQUEST_TIME_LIMIT,
            workers: None,
            chat_heartbeat: CHAT_HEARTBEAT,
        }
    }
}

/// How long a streamed chat answer may stay silent before a comment line is sent: it keeps
/// proxies from closing the stream, and a browser that went away is noticed (the write fails)
/// and its model call stopped.
pub const CHAT_HEARTBEAT: StdDuration = StdDuration::from_secs(10);

/// A bound, configured server, ready to run.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    public_url: String,
    signals: Option<StopSignals>,
    /// The console keys, whose last uses are written once more at shutdown.
    console_keys: Arc<gptgate_ports::services::ApiKeys>,
}

impl Application {
    /// Connects the database (migrating it), builds every adapter, binds `BIND`, and listens
    /// for SIGTERM and SIGINT from now on.
    pub async fn build(config: &Config) -> Result<Self, StartupError> {
        let store = connect_store(config)
            .await
            .map_err(StartupError::Database)?;
        let listener = TcpListener::bind(config.bind).map_err(|source| StartupError::Bind {
            address: config.bind,
            source,
        })?;
        let env = Environment {
            mailer: mailer(config)?,
            clock: Arc::new(SystemClock),
            timer: Arc::new(TokioTimer),
            random: Arc::new(OsRandom::new()),
            passwords: Arc::new(gptgate_adapters_system::Argon2Passwords),
            chat_model: chat_model(config)?,
        };
        let parts = Parts {
            listener,
            store,
            env,
        };
        let mut app = Self::build_from(config, parts, ServeSettings::default())?;
        app.signals = Some(StopSignals::install());
        Ok(app)
    }

    /// The server of `config` on `parts`: the application state, the hourly purge, the HTTP
    /// server with its limits. Runs on a tokio runtime; handles no signals.
    pub fn build_from(
        config: &Config,
        parts: Parts,
        serve: ServeSettings,
    ) -> Result<Self, StartupError> {
        let Parts {
            listener,
            store,
            env,
        } = parts;
        let bind_error = |source| StartupError::Bind {
            address: config.bind,
            source,
        };
        let addr = listener.local_addr().map_err(bind_error)?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
        let (mut state, maintenance) = state(config, &public_url, store, env)?;
        state.chat_heartbeat = serve.chat_heartbeat;
        spawn_hourly(maintenance);
        let console_keys = state.console_keys.clone();
        spawn_key_use_writer(console_keys.clone());
        let settings = HttpSettings {
            body_limit: config.body_limit,
            hsts: public_url.starts_with("https://"),
            time_limit: serve.time_limit,
            action_time_limit: serve.action_time_limit,
        };
        let mcp = mcp_endpoint(&state, &public_url, settings);
        let state = web::Data::new(state);
        let mut server = HttpServer::new(move || app(state.clone(), settings, mcp.clone()))
            .client_request_timeout(StdDuration::from_secs(5))
            .client_disconnect_timeout(StdDuration::from_secs(2))
            .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
            // Signals are handled in `run_until_stopped`, which logs the shutdown.
            .disable_signals();
        if let Some(workers) = serve.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(bind_error)?.run();
        Ok(Self {
            server,
            addr,
            public_url,
            signals: None,
            console_keys,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Serves until the process is told to stop (SIGTERM or SIGINT, when built by
    /// [`Application::build`]), then stops accepting, lets requests in flight finish (at most
    /// [`SHUTDOWN_GRACE`]) and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        if let Some(signals) = self.signals {
            actix_web::rt::spawn(async move {
                let signal = signals.recv().await;
                tracing::info!(
                    signal,
                    grace_seconds = SHUTDOWN_GRACE.as_secs(),
                    "shutting down: no new connections; finishing requests in flight"
                );
                handle.stop(true).await;
            });
        }
        let result = self.server.await;
        // The uses counted since the last minute's write.
        if let Err(e) = self.console_keys.flush_uses().await {
            tracing::warn!(error = %e, "the API keys' last uses could not be written at shutdown");
        }
        tracing::info!("shutdown complete");
        result
    }
}

/// How long requests in flight may take to finish once a stop is asked for.
pub const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(10);

/// SIGTERM and SIGINT, listened to from start-up on (before the banner), so a stop asked for
/// at any moment is handled, never the default of dying mid-request.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for one and names it.
    async fn recv(self) -> &'static str {
        #[cfg(unix)]
        match (self.term, self.int) {
            (Some(mut term), Some(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            (Some(mut term), None) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            (None, _) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
