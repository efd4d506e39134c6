//! Visitors sent to the chat by a learning platform without LTI: the operator registers the
//! platform (its issuer, its key with the algorithm pinned, the origins that may embed the chat),
//! and the platform sends each visitor with a short-lived token it signs. A launch verifies the
//! token with that platform's key, judges its claims ([`LaunchPolicy`]), uses its id once, and
//! opens a chat session for the visitor.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, AdminAuditEntry, ChatPolicy, ChatSession, ChatVisitor, Issuer, LaunchKey,
    LaunchPlatform, LaunchPolicy, LaunchRefused, PlatformError, PlatformId, PlatformName,
    StoredLaunchKey,
};
use secrecy::{ExposeSecret, SecretString};
use tracing::instrument;

use crate::{
    ChatAccessRepository, Clock, InternalError, LaunchTokenError, LaunchTokens, OpaqueTokens,
    PlatformRepository, Random, SecretBox, StorageError, UsedIdRepository,
};

/// What launches need.
pub struct LaunchPorts {
    pub budgets: Arc<dyn crate::BudgetRepository>,
    pub platforms: Arc<dyn PlatformRepository>,
    pub used: Arc<dyn UsedIdRepository>,
    pub sessions: Arc<dyn ChatAccessRepository>,
    pub tokens: Arc<dyn LaunchTokens>,
    pub secrets: Arc<dyn SecretBox>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub random: Arc<dyn Random>,
    pub clock: Arc<dyn Clock>,
}

/// A platform's key as the operator gives it.
pub enum KeyInput {
    EdDsa { public_pem: String },
    Rs256 { public_pem: String },
    Hs256 { secret: SecretString },
}

/// Why a platform was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterPlatformError {
    #[error(transparent)]
    Invalid(#[from] PlatformError),
    #[error("the key cannot be used: paste the platform's public key in PEM (EdDSA, or RS256 of 2,048 to 4,096 bits), or a random shared secret of at least 43 characters (HS256; openssl rand -base64 32 makes one)")]
    UnusableKey,
    #[error("a platform with that issuer is registered already")]
    IssuerTaken,
    /// No key seals secrets for good (`TOKEN_ENCRYPTION_KEY` is not set): a shared secret
    /// would be unreadable after a restart.
    #[error("a shared secret needs TOKEN_ENCRYPTION_KEY to be kept; set it, or register the platform's public key instead")]
    NoEncryptionKey,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Why a launch was refused. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("no registered platform issues this token")]
    UnknownIssuer,
    #[error(transparent)]
    Token(#[from] LaunchTokenError),
    #[error(transparent)]
    Refused(#[from] LaunchRefused),
    #[error("the token was used before")]
    Replayed,
    /// Too many launches from this address in a short time.
    #[error("too many launches; try again in {} s", retry_after.whole_seconds())]
    TooMany { retry_after: time::Duration },
    /// The request came from a page the platform did not list as embedding the chat (or
    /// named none: the `Origin` header is required, the Referer alone is never trusted).
    #[error("the launch came from an origin the platform did not list")]
    OriginNotAllowed,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A launch that opened a session.
#[derive(Debug)]
pub struct Launched {
    /// The session's token, for the cookie.
    pub token: SecretString,
    pub session: ChatSession,
    /// The platform that sent the visitor.
    pub platform: PlatformId,
}

/// The platform-signed launch.
pub struct Launches {
    ports: LaunchPorts,
    /// Whether the secret box keeps what it seals across restarts.
    can_seal: bool,
    policy: LaunchPolicy,
    chat: ChatPolicy,
    /// What tokens must name in `aud`: gptgate's public URL.
    audience: String,
}

/// Launches one client address may make (a class behind one school address included).
pub const LAUNCHES_PER_ADDRESS: gptgate_domain::BudgetPolicy = gptgate_domain::BudgetPolicy {
    limit: 300,
    window: time::Duration::minutes(1),
};

/// The context a platform's shared secret is sealed under.
fn secret_context(id: PlatformId) -> String {
    format!("launch_platforms/{id}/secret")
}

impl Launches {
    pub fn new(ports: LaunchPorts, policy: LaunchPolicy, chat: ChatPolicy, audience: &str) -> Self {
        Self {
            ports,
            can_seal: true,
            policy,
            chat,
            audience: audience.trim_end_matches('/').to_owned(),
        }
    }

    /// Shared secrets are refused: the secret box's key does not outlive the process.
    pub fn without_lasting_seal(mut self) -> Self {
        self.can_seal = false;
        self
    }

    /// What tokens must name in `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Registers a platform, from `address` (the audit log says so).
    #[instrument(skip_all)]
    pub async fn register(
        &self,
        name: &str,
        issuer: &str,
        key: KeyInput,
        origins: &[String],
        address: &str,
    ) -> Result<LaunchPlatform, RegisterPlatformError> {
        let name = PlatformName::parse(name)?;
        let issuer = Issuer::parse(issuer)?;
        let origins = LaunchPlatform::parse_origins(origins)?;
        let checkable = match &key {
            KeyInput::EdDsa { public_pem } => LaunchKey::EdDsa {
                public_pem: public_pem.trim().to_owned(),
            },
            KeyInput::Rs256 { public_pem } => LaunchKey::Rs256 {
                public_pem: public_pem.trim().to_owned(),
            },
            KeyInput::Hs256 { secret } => {
                let secret = secret.expose_secret().trim();
                // A PEM pasted as a "secret" would make a public key the HMAC secret.
                if secret.starts_with("-----BEGIN") {
                    return Err(RegisterPlatformError::UnusableKey);
                }
                LaunchKey::Hs256 {
                    secret: secret.as_bytes().to_vec(),
                }
            }
        };
        if !self.ports.tokens.usable(&checkable) {
            return Err(RegisterPlatformError::UnusableKey);
        }
        if matches!(checkable, LaunchKey::Hs256 { .. }) && !self.can_seal {
            return Err(RegisterPlatformError::NoEncryptionKey);
        }
        if self
            .ports
            .platforms
            .platform_by_issuer(&issuer)
            .await?
            .is_some()
        {
            return Err(RegisterPlatformError::IssuerTaken);
        }
        let id = PlatformId::from_random_bytes(
            self.ports
                .random
                .bytes::<16>()
                .map_err(InternalError::new)?,
        );
        let stored = match checkable {
            LaunchKey::EdDsa { public_pem } => StoredLaunchKey::EdDsa { public_pem },
            LaunchKey::Rs256 { public_pem } => StoredLaunchKey::Rs256 { public_pem },
            LaunchKey::Hs256 { secret } => StoredLaunchKey::Hs256 {
                sealed: self
                    .ports
                    .secrets
                    .seal(
                        &SecretString::from(String::from_utf8_lossy(&secret).into_owned()),
                        &secret_context(id),
                    )
                    .map_err(InternalError::new)?,
            },
        };
        let now = self.ports.clock.now();
        let platform = LaunchPlatform {
            id,
            name,
            issuer,
            key: stored,
            origins,
            created_at: now,
        };
        self.ports
            .platforms
            .create_platform(
                &platform,
                &AdminAuditEntry::new(now, AdminAction::PlatformAdded, address),
            )
            .await?;
        tracing::info!(platform = %id, "learning platform registered");
        Ok(platform)
    }

    /// Every registered platform, oldest first.
    pub async fn platforms(&self) -> Result<Vec<LaunchPlatform>, StorageError> {
        self.ports.platforms.platforms().await
    }

    /// The origins that may frame the chat of a visitor platform `id` sent (none if it is gone).
    pub async fn embedding_origins(
        &self,
        id: PlatformId,
    ) -> Result<Vec<gptgate_domain::EmbeddingOrigin>, StorageError> {
        self.ports.platforms.embedding_origins(id).await
    }

    /// Removes platform `id`, of either kind (its visitors' sessions end), from `address`; `false` if there is
    /// no such platform.
    pub async fn remove(&self, id: PlatformId, address: &str) -> Result<bool, StorageError> {
        let now = self.ports.clock.now();
        self.ports
            .platforms
            .delete_platform(
                id,
                &AdminAuditEntry::new(now, AdminAction::PlatformRemoved, address),
            )
            .await
    }

    /// Verifies `token`, posted from a page of `origin` (the request's `Origin` header) by
    /// `address`, and opens a chat session for the visitor it names. The origin must be one the
    /// platform listed; it is checked before the token's id is spent. At most
    /// [`LAUNCHES_PER_ADDRESS`] tries a minute per address, spent before any work.
    #[instrument(skip_all)]
    pub async fn launch(
        &self,
        token: &str,
        origin: Option<&str>,
        address: &str,
    ) -> Result<Launched, LaunchError> {
        let key = format!("launch:address:{}", gptgate_domain::guess_bucket(address));
        if let Err(retry_after) = super::guesses::take(
            self.ports.budgets.as_ref(),
            &key,
            LAUNCHES_PER_ADDRESS,
            self.ports.clock.now(),
        )
        .await?
        {
            return Err(LaunchError::TooMany { retry_after });
        }
        let issuer = self
            .ports
            .tokens
            .issuer(token)
            .and_then(|iss| Issuer::parse(&iss).ok())
            .ok_or(LaunchError::Token(LaunchTokenError::Malformed))?;
        let platform = self
            .ports
            .platforms
            .platform_by_issuer(&issuer)
            .await?
            .ok_or(LaunchError::UnknownIssuer)?;
        let key = match &platform.key {
            StoredLaunchKey::EdDsa { public_pem } => LaunchKey::EdDsa {
                public_pem: public_pem.clone(),
            },
            StoredLaunchKey::Rs256 { public_pem } => LaunchKey::Rs256 {
                public_pem: public_pem.clone(),
            },
            StoredLaunchKey::Hs256 { sealed } => LaunchKey::Hs256 {
                secret: self
                    .ports
                    .secrets
                    .open(sealed, &secret_context(platform.id))
                    .map_err(InternalError::new)?
                    .expose_secret()
                    .as_bytes()
                    .to_vec(),
            },
        };
        let claims = self.ports.tokens.verify(token, &key).inspect_err(|e| {
            if matches!(e, crate::LaunchTokenError::UnusableKey) {
                // The operator's to fix (a key registered before a rule tightened): say so.
                tracing::warn!(
                    platform = %platform.id,
                    "a launch refused: the platform's registered key is no longer usable; register its key again"
                );
            }
        })?;
        let listed = origin
            .and_then(|o| gptgate_domain::EmbeddingOrigin::parse(o).ok())
            .is_some_and(|o| platform.origins.contains(&o));
        if !listed {
            tracing::warn!(platform = %platform.id, "a launch from an origin the platform did not list");
            return Err(LaunchError::OriginNotAllowed);
        }
        let now = self.ports.clock.now();
        let launch = self
            .policy
            .check(&claims, platform.issuer.as_str(), &self.audience, now)?;
        // Kept past the token's expiry by the leeway, so no replay slips through.
        let until = launch.expires_at + self.policy.leeway;
        if !self
            .ports
            .used
            .use_once(
                &format!("launch:{}", platform.issuer.as_str()),
                &launch.token_id,
                until,
            )
            .await?
        {
            tracing::warn!(platform = %platform.id, "a launch token was replayed");
            return Err(LaunchError::Replayed);
        }
        let launched = open_session::<LaunchError>(
            self.ports.opaque.as_ref(),
            self.ports.sessions.as_ref(),
            &self.chat,
            platform.id,
            launch.subject,
            now,
        )
        .await?;
        tracing::info!(platform = %platform.id, "a visitor was launched into the chat");
        Ok(launched)
    }
}

/// Opens the chat session of `subject`, a visitor platform `platform` launched at `now`.
pub(super) async fn open_session<E: From<StorageError> + From<InternalError>>(
    opaque: &dyn OpaqueTokens,
    sessions: &dyn ChatAccessRepository,
    chat: &ChatPolicy,
    platform: PlatformId,
    subject: String,
    now: time::OffsetDateTime,
) -> Result<Launched, E> {
    let (token, hash) = opaque.mint().map_err(InternalError::new)?;
    let session = chat.open(ChatVisitor::Launched { platform, subject }, hash, now);
    sessions.create_chat_session(&session).await?;
    Ok(Launched {
        token,
        session,
        platform,
    })
}
