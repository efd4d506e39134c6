//! Visitors sent to the chat by a learning platform through LTI 1.3 (IMS Security Framework
//! 1.0 section 5.1): the operator registers the platform (issuer, client id, its login URL and
//! key set, its deployments, the origins that embed the chat); the platform starts a login,
//! gptgate answers with an authentication request whose `state` and `nonce` the browser keeps
//! in a cookie (the nonce is a hash of the state and of what the cookie holds, so only that
//! browser can finish the login, within 5 minutes, for that registration); the platform posts
//! back an `id_token` signed with a key of its key set, which is verified (RS256 only, the key
//! found by `kid`), judged ([`LtiPolicy`]), and spent (its nonce, and with it the state, used
//! once) before a chat session opens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gptgate_domain::{
    AdminAction, AdminAuditEntry, ChatPolicy, DeploymentId, Issuer, LaunchPlatform, LoginBinding,
    LoginInitiation, LoginRefused, LtiClientId, LtiPlatform, LtiPlatformError, LtiPolicy,
    LtiRefused, PlatformError, PlatformId, PlatformKey, PlatformName, PlatformUrl,
};
use secrecy::ExposeSecret;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use super::launch::{Launched, LAUNCHES_PER_ADDRESS};
use crate::{
    ChatAccessRepository, Clock, InternalError, KeySetError, KeySets, LaunchTokenError, LtiTokens,
    OpaqueTokens, PlatformRepository, Random, StorageError, UsedIdRepository,
};

/// Where the platform posts its id_token: the `redirect_uri` of every authentication request.
pub const LTI_LAUNCH_PATH: &str = "/lti/launch";

/// How long a fetched key set is used before it is fetched again.
pub const KEY_SET_TTL: Duration = Duration::hours(1);

/// The least time between two fetches of one platform's key set: a token naming a key the
/// set lacks fetches it again (the platform may have rotated), but no more often than this,
/// so made-up key ids cannot turn gptgate against the platform.
pub const KEY_SET_REFETCH: Duration = Duration::seconds(30);

/// What LTI launches need.
pub struct LtiPorts {
    pub budgets: Arc<dyn crate::BudgetRepository>,
    pub platforms: Arc<dyn PlatformRepository>,
    pub used: Arc<dyn UsedIdRepository>,
    pub sessions: Arc<dyn ChatAccessRepository>,
    pub tokens: Arc<dyn LtiTokens>,
    pub key_sets: Arc<dyn KeySets>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub random: Arc<dyn Random>,
    pub clock: Arc<dyn Clock>,
}

/// An LTI 1.3 registration as the operator types it.
#[derive(Debug, Clone, Default)]
pub struct LtiRegistration {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub login_url: String,
    pub key_set_url: String,
    pub deployments: Vec<String>,
    pub origins: Vec<String>,
}

/// Why an LTI registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterLtiError {
    #[error(transparent)]
    Invalid(#[from] PlatformError),
    #[error(transparent)]
    Lti(#[from] LtiPlatformError),
    #[error("this platform's client ID is registered already")]
    Taken,
    /// The key set could not be read now: a wrong address is caught here, not at the first
    /// visitor's launch.
    #[error("{0}")]
    KeySet(KeySetError),
    #[error(
        "the platform's key set holds no RS256 signing key (RSA, 2,048 bits or more, with a kid)"
    )]
    NoKeys,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The answer to a login initiation: where to send the browser, the login's `state`, and what
/// the browser must keep (in a cookie named after the state) to finish the launch.
#[derive(Debug)]
pub struct LtiLogin {
    pub redirect_to: String,
    pub state: String,
    /// The cookie's value ([`LoginBinding::encode`]): only this browser can finish the login.
    pub binding: String,
}

/// Why a login or a launch was refused. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum LtiError {
    #[error(transparent)]
    Login(#[from] LoginRefused),
    /// The browser holds no open login for this state and registration: another browser's
    /// launch (login CSRF), a login older than [`LoginBinding::LIFETIME`], or cookies blocked.
    #[error("this browser did not start the login the launch answers, or it is over")]
    NotThisBrowser,
    #[error("the launch carries no id_token")]
    Malformed,
    #[error("no registration matches the id_token's issuer and audience")]
    UnknownPlatform,
    #[error("the platform's key set has no key for the id_token")]
    UnknownKey,
    #[error("{0}")]
    KeySet(KeySetError),
    #[error(transparent)]
    Token(#[from] LaunchTokenError),
    #[error(transparent)]
    Refused(#[from] LtiRefused),
    #[error("the launch's nonce (and state) was used before")]
    Replayed,
    #[error("too many launches; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: time::Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A key set as last fetched.
#[derive(Default)]
struct CachedKeys {
    keys: Vec<PlatformKey>,
    fetched_at: Option<OffsetDateTime>,
    tried_at: Option<OffsetDateTime>,
}

/// LTI 1.3 registrations, logins and launches.
pub struct LtiLaunches {
    ports: LtiPorts,
    policy: LtiPolicy,
    chat: ChatPolicy,
    /// gptgate's public URL, without a trailing slash.
    public_url: String,
    /// The key sets, by address (registrations may share one: Canvas's cloud).
    key_sets: Mutex<HashMap<String, CachedKeys>>,
    /// One lock per key set address, held only while it is fetched: launches that need a
    /// fetch wait for one fetch; launches whose key is cached never wait.
    fetching: Mutex<HashMap<String, Arc<futures::lock::Mutex<()>>>>,
}

impl LtiLaunches {
    pub fn new(ports: LtiPorts, policy: LtiPolicy, chat: ChatPolicy, public_url: &str) -> Self {
        Self {
            ports,
            policy,
            chat,
            public_url: public_url.trim_end_matches('/').to_owned(),
            key_sets: Mutex::default(),
            fetching: Mutex::default(),
        }
    }

    /// The `redirect_uri` the platform must have registered.
    pub fn redirect_uri(&self) -> String {
        format!("{}{LTI_LAUNCH_PATH}", self.public_url)
    }

    /// Registers an LTI 1.3 platform, from `address` (the audit log says so). Its key set is
    /// fetched once to catch a wrong address now.
    #[instrument(skip_all)]
    pub async fn register(
        &self,
        input: &LtiRegistration,
        address: &str,
    ) -> Result<LtiPlatform, RegisterLtiError> {
        let platform = LtiPlatform {
            id: PlatformId::from_random_bytes(
                self.ports
                    .random
                    .bytes::<16>()
                    .map_err(InternalError::new)?,
            ),
            name: PlatformName::parse(&input.name)?,
            issuer: Issuer::parse(&input.issuer)?,
            client_id: LtiClientId::parse(&input.client_id)?,
            login_url: PlatformUrl::parse(&input.login_url, "login URL")?,
            key_set_url: PlatformUrl::parse(&input.key_set_url, "key set URL")?,
            deployments: DeploymentId::parse_lines(&input.deployments)?,
            origins: LaunchPlatform::parse_origins(&input.origins)?,
            created_at: self.ports.clock.now(),
        };
        // Plain http (this machine only) is for development: a server on https talks to
        // platforms over https only.
        if self.public_url.starts_with("https://") {
            for (url, field) in [
                (&platform.login_url, "login URL"),
                (&platform.key_set_url, "key set URL"),
            ] {
                if url.as_url().scheme() != "https" {
                    return Err(LtiPlatformError::Url(field).into());
                }
            }
        }
        let taken = self
            .ports
            .platforms
            .lti_platforms_of(&platform.issuer)
            .await?
            .iter()
            .any(|p| p.client_id == platform.client_id);
        if taken {
            return Err(RegisterLtiError::Taken);
        }
        let keys = self
            .ports
            .key_sets
            .fetch(&platform.key_set_url)
            .await
            .map_err(RegisterLtiError::KeySet)?;
        if keys.is_empty() {
            return Err(RegisterLtiError::NoKeys);
        }
        let now = platform.created_at;
        self.ports
            .platforms
            .create_lti_platform(
                &platform,
                &AdminAuditEntry::new(now, AdminAction::PlatformAdded, address),
            )
            .await?;
        self.key_sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                platform.key_set_url.as_str().to_owned(),
                CachedKeys {
                    keys,
                    fetched_at: Some(now),
                    tried_at: Some(now),
                },
            );
        tracing::info!(platform = %platform.id, "LTI platform registered");
        Ok(platform)
    }

    /// Every LTI registration, oldest first.
    pub async fn platforms(&self) -> Result<Vec<LtiPlatform>, StorageError> {
        self.ports.platforms.lti_platforms().await
    }

    /// Spends one try of `address`'s launch budget.
    async fn take_try(&self, address: &str) -> Result<(), LtiError> {
        let key = format!("lti:address:{}", gptgate_domain::guess_bucket(address));
        super::guesses::take(
            self.ports.budgets.as_ref(),
            &key,
            LAUNCHES_PER_ADDRESS,
            self.ports.clock.now(),
        )
        .await?
        .map_err(|retry_after| LtiError::TooMany { retry_after })
    }

    /// Answers a platform's third-party login initiation from `address`: the registration it
    /// names, and the authentication request to send the browser to, with a fresh `state` and
    /// a nonce bound to what the browser keeps. Nothing is stored. Only refused logins spend
    /// the address's budget (a good one costs one indexed read), so pages that make browsers
    /// open logins cannot use up a class's launches.
    #[instrument(skip_all)]
    pub async fn login(
        &self,
        initiation: &LoginInitiation,
        address: &str,
    ) -> Result<LtiLogin, LtiError> {
        let platform = match self.registration_for(initiation).await {
            Ok(platform) => platform,
            Err(LtiError::Login(why)) => {
                self.take_try(address).await?;
                return Err(LtiError::Login(why));
            }
            Err(e) => return Err(e),
        };
        let mint = || -> Result<String, LtiError> {
            let (token, _) = self.ports.opaque.mint().map_err(InternalError::new)?;
            Ok(token.expose_secret().to_owned())
        };
        let state = mint()?;
        let binding = LoginBinding {
            secret: mint()?,
            platform: platform.id,
            issued_at: self.ports.clock.now(),
        };
        let nonce = self.nonce(&binding, &state);
        Ok(LtiLogin {
            redirect_to: platform.authentication_request(
                &self.redirect_uri(),
                initiation,
                &state,
                &nonce,
            ),
            state,
            binding: binding.encode(),
        })
    }

    async fn registration_for(
        &self,
        initiation: &LoginInitiation,
    ) -> Result<LtiPlatform, LtiError> {
        let issuer = initiation
            .iss
            .as_deref()
            .and_then(|iss| Issuer::parse(iss).ok())
            .ok_or(LoginRefused::Issuer)?;
        let candidates = self.ports.platforms.lti_platforms_of(&issuer).await?;
        Ok(initiation.check(&candidates, &self.public_url)?.clone())
    }

    /// The nonce of login `state` bound to `binding`: the hex SHA-256 of both.
    fn nonce(&self, binding: &LoginBinding, state: &str) -> String {
        self.ports
            .opaque
            .hash(&binding.nonce_input(state))
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Verifies the `id_token` a platform posted with `state`, the browser holding `binding`
    /// for that state (`None`: it holds none), from `address`, and opens a chat session for
    /// the user it names. The login must be open, for the registration the token is for; the
    /// nonce and the state are each used once.
    #[instrument(skip_all)]
    pub async fn launch(
        &self,
        id_token: &str,
        state: &str,
        binding: Option<&str>,
        address: &str,
    ) -> Result<Launched, LtiError> {
        self.take_try(address).await?;
        let now = self.ports.clock.now();
        let binding = binding
            .and_then(LoginBinding::parse)
            .filter(|b| !state.is_empty() && b.is_open(now, self.policy.leeway))
            .ok_or(LtiError::NotThisBrowser)?;
        let peek = self
            .ports
            .tokens
            .peek(id_token)
            .ok_or(LtiError::Malformed)?;
        let issuer = Issuer::parse(&peek.iss).map_err(|_| LtiError::UnknownPlatform)?;
        let candidates = self.ports.platforms.lti_platforms_of(&issuer).await?;
        let mut ours = candidates.into_iter().filter(|p| {
            let client = p.client_id.as_str();
            peek.aud.iter().any(|a| a == client)
                && peek.azp.as_deref().is_none_or(|azp| azp == client)
        });
        let platform = ours.next().ok_or(LtiError::UnknownPlatform)?;
        if ours.next().is_some() {
            return Err(LtiError::UnknownPlatform);
        }
        // A login started for another registration (of the same issuer) is not this one's.
        if platform.id != binding.platform {
            return Err(LtiError::NotThisBrowser);
        }
        let kid = peek.kid.as_deref().ok_or(LtiError::UnknownKey)?;
        let key = self.key(&platform, kid).await?;
        let claims = self.ports.tokens.verify(id_token, &key)?;
        let nonce = self.nonce(&binding, state);
        let launch = self.policy.check(&claims, &platform, &nonce, now)?;
        // Kept until the token expires or the login closes, whichever is first, and the
        // leeway past it, so no replay slips through.
        let until = launch
            .expires_at
            .min(binding.issued_at + LoginBinding::LIFETIME)
            + self.policy.leeway;
        // The nonce is a hash of the state (and of the binding), so the state is spent with it.
        if !self.ports.used.use_once("lti:nonce", &nonce, until).await? {
            tracing::warn!(platform = %platform.id, "an LTI launch was replayed");
            return Err(LtiError::Replayed);
        }
        let launched = super::launch::open_session::<LtiError>(
            self.ports.opaque.as_ref(),
            self.ports.sessions.as_ref(),
            &self.chat,
            platform.id,
            launch.subject,
            now,
        )
        .await?;
        tracing::info!(platform = %platform.id, "a visitor was launched into the chat over LTI");
        Ok(launched)
    }

    fn cached_key(&self, url: &str, kid: &str, now: OffsetDateTime) -> Lookup {
        let sets = self.key_sets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(cached) = sets.get(url) else {
            return Lookup::Fetch;
        };
        let within =
            |at: Option<OffsetDateTime>, span: Duration| at.is_some_and(|t| now - t < span);
        let tried_lately = within(cached.tried_at, KEY_SET_REFETCH);
        let key = cached.keys.iter().find(|k| k.kid == kid).cloned();
        match key {
            Some(key) if within(cached.fetched_at, KEY_SET_TTL) || tried_lately => {
                Lookup::Found(key)
            }
            Some(key) => Lookup::Stale(key),
            None if tried_lately => Lookup::Unknown,
            None => Lookup::Fetch,
        }
    }

    /// Platform's key `kid`: from its key set as fetched within [`KEY_SET_TTL`], else fetched
    /// again (at most once per [`KEY_SET_REFETCH`] per key set, one fetch at a time; a launch
    /// whose key is in the set, however old, does not wait for another launch's fetch).
    async fn key(&self, platform: &LtiPlatform, kid: &str) -> Result<PlatformKey, LtiError> {
        let url = platform.key_set_url.as_str();
        let stale = match self.cached_key(url, kid, self.ports.clock.now()) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Unknown => return Err(LtiError::UnknownKey),
            Lookup::Stale(key) => Some(key),
            Lookup::Fetch => None,
        };
        let lock = self
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(url.to_owned())
            .or_default()
            .clone();
        // A key of the set, older than its hour, while another launch fetches the set again:
        // this launch does not wait for it.
        let _fetching = match (stale, lock.try_lock()) {
            (_, Some(guard)) => guard,
            (Some(key), None) => return Ok(key),
            (None, None) => lock.lock().await,
        };
        // Another launch may have fetched it meanwhile.
        let now = self.ports.clock.now();
        match self.cached_key(url, kid, now) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Unknown => return Err(LtiError::UnknownKey),
            Lookup::Stale(_) | Lookup::Fetch => {}
        }
        let fetched = self.ports.key_sets.fetch(&platform.key_set_url).await;
        let now = self.ports.clock.now();
        let mut sets = self.key_sets.lock().unwrap_or_else(|e| e.into_inner());
        let cached = sets.entry(url.to_owned()).or_default();
        // Marked when done, so launches waiting for this fetch read its result.
        cached.tried_at = Some(now);
        let find = |keys: &[PlatformKey]| keys.iter().find(|k| k.kid == kid).cloned();
        // A set with no usable key is a failure: the keys fetched before are kept.
        let fetched = fetched.and_then(|keys| {
            if keys.is_empty() {
                Err(KeySetError::Malformed)
            } else {
                Ok(keys)
            }
        });
        match fetched {
            Ok(keys) => {
                cached.keys = keys;
                cached.fetched_at = Some(now);
                find(&cached.keys).ok_or(LtiError::UnknownKey)
            }
            Err(e) => {
                tracing::warn!(platform = %platform.id, error = %e, "an LTI platform's key set could not be fetched");
                // A key of the set fetched before still verifies while the platform is away.
                find(&cached.keys).ok_or(LtiError::KeySet(e))
            }
        }
    }
}

/// What the cache says of a key.
enum Lookup {
    Found(PlatformKey),
    /// Not in the set, fetched too lately to fetch again.
    Unknown,
    /// In the set, but the set is older than [`KEY_SET_TTL`]: to fetch again, unless a fetch
    /// is under way, when the key is used meanwhile.
    Stale(PlatformKey),
    Fetch,
}
