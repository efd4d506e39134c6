//! Sign-in by emailed one-time code.

use std::sync::Arc;

use gptgate_domain::{
    AttemptVerdict, Audience, BudgetPolicy, ClientId, CodePolicy, Email, Identity, SendRefused,
    SessionGuard, SessionId, SessionPolicy, UserId, VerificationCode,
};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::{
    BudgetRepository, Clock, CodeHasher, CodeSignIn, InternalError, MailError, Mailer, Random,
    SessionClaims, SessionRepository, SessionTokens, SignInRepository, StorageError, TokenError,
    UserRepository, VerificationCodeRepository,
};

/// The ports sign-in needs.
#[derive(Clone)]
pub struct SignInPorts {
    pub codes: Arc<dyn VerificationCodeRepository>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    /// The code's use, the user and the session of a sign-in, in one step where it can.
    pub sign_ins: Arc<dyn SignInRepository>,
    pub mailer: Arc<dyn Mailer>,
    /// The sign-in emails each sender (API key) may still cause in the current hour.
    pub budgets: Arc<dyn BudgetRepository>,
    pub hasher: Arc<dyn CodeHasher>,
    pub tokens: Arc<dyn SessionTokens>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

/// The sign-in use cases: send a code, verify it for a session token, authenticate a token,
/// log out.
#[derive(Clone)]
pub struct SignIn {
    ports: SignInPorts,
    codes: CodePolicy,
    sessions: SessionPolicy,
    mail_budget: BudgetPolicy,
}

/// Why no code was sent.
#[derive(Debug, thiserror::Error)]
pub enum SendCodeError {
    #[error("a code was sent moments ago; try again in {} s", retry_after.whole_seconds())]
    CoolingDown { retry_after: Duration },
    #[error("too many codes were sent to this address; try again in {} s", retry_after.whole_seconds())]
    TooManyCodes { retry_after: Duration },
    /// The sender (an API key) has caused as many sign-in emails as it may this hour.
    #[error("the hourly budget of sign-in emails is spent; try again in {} s", retry_after.whole_seconds())]
    BudgetExhausted { retry_after: Duration },
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A new session.
#[derive(Debug)]
pub struct SignedIn {
    /// The session token; give it to the caller only.
    pub token: SecretString,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub expires_at: OffsetDateTime,
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Wrong, expired, used or never sent: one answer for all, so none can be told apart.
    #[error("the code is invalid or has expired")]
    InvalidCode,
    #[error("too many attempts; request a new code")]
    TooManyAttempts { retry_after: Duration },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Who a valid session token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The client of gptgate's authorization server the token was issued to, if it is an
    /// OAuth access token (then it is the client's credential too).
    pub client: Option<ClientId>,
}

/// Whose data a GPT read returns: a user already resolved (a header identity, an OAuth access
/// token), or a session token's claims, its session checked by the read itself (in the
/// statement that reads: see [`SessionGuard`]). A read for a `Session` that the session does not
/// admit answers `None`, which the caller answers like [`AuthenticateError::InvalidToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    User(UserId),
    Session(SessionGuard),
}

/// Why a session token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Bad signature or claims, expired, revoked, or its user is gone.
    #[error("the session token is invalid or expired")]
    InvalidToken,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl SignIn {
    pub fn new(ports: SignInPorts, codes: CodePolicy, sessions: SessionPolicy) -> Self {
        Self {
            ports,
            codes,
            sessions,
            mail_budget: BudgetPolicy::hourly(500),
        }
    }

    /// Caps the sign-in emails each sender may cause (500 an hour unless set).
    pub fn with_mail_budget(self, mail_budget: BudgetPolicy) -> Self {
        Self {
            mail_budget,
            ..self
        }
    }

    /// How long codes stay valid.
    pub fn code_policy(&self) -> &CodePolicy {
        &self.codes
    }

    /// Sends a new code to `email`, replacing any earlier one, on the mail budget of `sender`
    /// (the API key's id): each email sent spends one of its hourly budget, and a request the
    /// per-address rules refuse spends nothing. Works the same for addresses that have never
    /// signed in: nothing here reveals whether an account exists.
    #[instrument(skip_all)]
    pub async fn send_code(&self, email: &Email, sender: &str) -> Result<(), SendCodeError> {
        let code = self
            .ports
            .random
            .verification_code()
            .map_err(InternalError::from)?;
        let hash = self.ports.hasher.hash(email, &code);
        let now = self.ports.clock.now();
        let mut spent = None;
        // The common case in one statement: a current window with room takes one more use.
        let taken = self
            .ports
            .budgets
            .spend_if_room(
                sender,
                self.mail_budget.current_after(now),
                self.mail_budget.limit,
            )
            .await?;
        if !taken {
            self.ports
                .budgets
                .update_budget(
                    sender,
                    &mut |window| match self.mail_budget.take(window, now) {
                        Ok(next) => {
                            spent = None;
                            Some(next)
                        }
                        Err(retry_after) => {
                            spent = Some(retry_after);
                            None
                        }
                    },
                )
                .await?;
        }
        if let Some(retry_after) = spent {
            tracing::warn!("hourly sign-in email budget of an API key spent");
            return Err(SendCodeError::BudgetExhausted { retry_after });
        }
        let mut refused = None;
        self.ports
            .codes
            .update_code(email, &mut |previous| match self.codes.issue(
                previous,
                email,
                hash.clone(),
                now,
            ) {
                Ok(record) => {
                    refused = None;
                    Some(record)
                }
                Err(why) => {
                    refused = Some(why);
                    None
                }
            })
            .await?;
        if refused.is_some() {
            // Nothing is sent: the use goes back to the sender's budget.
            self.ports
                .budgets
                .update_budget(sender, &mut |window| {
                    self.mail_budget.give_back(window, now)
                })
                .await?;
        }
        match refused {
            Some(SendRefused::CoolingDown { retry_after }) => {
                return Err(SendCodeError::CoolingDown { retry_after })
            }
            Some(SendRefused::TooManyCodes { retry_after }) => {
                tracing::warn!("hourly code budget of an address spent");
                return Err(SendCodeError::TooManyCodes { retry_after });
            }
            None => {}
        }
        self.ports
            .mailer
            .send_sign_in_code(email, &code, self.codes.ttl)
            .await?;
        tracing::info!("sign-in code sent");
        Ok(())
    }

    /// Checks `code` for `email`. The attempt is counted before the code is compared; the code is
    /// then consumed atomically, so of concurrent right submissions exactly one gets a session.
    #[instrument(skip_all)]
    pub async fn verify(
        &self,
        email: &Email,
        code: &VerificationCode,
    ) -> Result<SignedIn, VerifyError> {
        let matched = self.check_code(email, code).await?;
        let now = self.ports.clock.now();
        let new_user = self.ports.random.user_id().map_err(InternalError::from)?;
        let session_id = self
            .ports
            .random
            .session_id()
            .map_err(InternalError::from)?;
        // The code's use, the user and the session: one step where the store can.
        let session = self
            .ports
            .sign_ins
            .sign_in_with_code(CodeSignIn {
                email,
                matched: &matched,
                new_user,
                session_id,
                sessions: &self.sessions,
                now,
            })
            .await?
            .ok_or_else(|| self.rejected())?;
        let user = session.user_id;
        let token = self
            .ports
            .tokens
            .sign(&SessionClaims {
                user_id: user,
                session_id,
                issued_at: now,
                expires_at: session.expires_at,
                audience: Audience::Api,
            })
            .map_err(InternalError::new)?;
        tracing::info!(user_id = %user, "signed in by email code");
        Ok(SignedIn {
            token: SecretString::from(token),
            user_id: user,
            session_id,
            expires_at: session.expires_at,
        })
    }

    /// The user of `email`, once `code` is right: the same checks, limits and single use as
    /// [`verify`](Self::verify), without opening an API session (a browser page that signs
    /// its user in keeps its own).
    #[instrument(skip_all)]
    pub async fn verify_user(
        &self,
        email: &Email,
        code: &VerificationCode,
    ) -> Result<UserId, VerifyError> {
        let matched = self.check_code(email, code).await?;
        // One conditional write: the code used up only if it is still the one compared.
        if !self.ports.codes.use_code(email, &matched).await? {
            return Err(self.rejected());
        }
        let now = self.ports.clock.now();
        let user = self
            .ports
            .users
            .find_or_create_user(
                &Identity::email(email),
                self.ports.random.user_id().map_err(InternalError::from)?,
                now,
            )
            .await?;
        Ok(user.id)
    }

    /// Counts an attempt at `email`'s code, then compares `code` with it: the hash of the live
    /// code it matched, to be used up by the caller.
    async fn check_code(
        &self,
        email: &Email,
        code: &VerificationCode,
    ) -> Result<gptgate_domain::CodeHash, VerifyError> {
        let now = self.ports.clock.now();
        let mut verdict = AttemptVerdict::NoLiveCode;
        self.ports
            .codes
            .update_code(email, &mut |record| {
                // Each call concludes afresh: a store may call again after a lost race, and
                // only the last call's conclusion holds (it may see no record at all).
                verdict = AttemptVerdict::NoLiveCode;
                let (next, v) = self.codes.register_attempt(record?, now);
                verdict = v;
                Some(next)
            })
            .await?;
        let stored_hash = match verdict {
            AttemptVerdict::Compare(hash) => hash,
            AttemptVerdict::NoLiveCode => return Err(self.rejected()),
            AttemptVerdict::TooManyAttempts { retry_after } => {
                tracing::warn!("code attempt budget spent");
                return Err(VerifyError::TooManyAttempts { retry_after });
            }
        };
        if !self.ports.hasher.matches(email, code, &stored_hash) {
            return Err(self.rejected());
        }
        Ok(stored_hash)
    }

    fn rejected(&self) -> VerifyError {
        tracing::info!("sign-in code rejected");
        VerifyError::InvalidCode
    }

    /// The user and session of a session token: the signature and claims must hold AND the
    /// session must still be active in storage (so logout and user deletion take effect at once).
    #[instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthenticateError> {
        self.authenticate_for(token, Audience::Api).await
    }

    /// The same, for the face `audience`: a token for another face is refused (RFC 8707).
    #[instrument(skip_all)]
    pub async fn authenticate_for(
        &self,
        token: &str,
        audience: Audience,
    ) -> Result<Authenticated, AuthenticateError> {
        let guard = self.claim_for(token, audience)?;
        self.confirm(&guard).await
    }

    /// What an API session token claims, checked without the store (signature, expiry,
    /// audience): the guard of a read that checks the session itself ([`Reader::Session`]).
    /// The session is NOT checked yet: only a guarded read or [`SignIn::confirm`] does.
    pub fn claim(&self, token: &str) -> Result<SessionGuard, AuthenticateError> {
        self.claim_for(token, Audience::Api)
    }

    fn claim_for(
        &self,
        token: &str,
        audience: Audience,
    ) -> Result<SessionGuard, AuthenticateError> {
        let now = self.ports.clock.now();
        let claims = self.ports.tokens.verify(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::Signing => AuthenticateError::InvalidToken,
        })?;
        if claims.audience != audience {
            return Err(AuthenticateError::InvalidToken);
        }
        Ok(SessionGuard {
            user_id: claims.user_id,
            session_id: claims.session_id,
            now,
        })
    }

    /// The user and session a guard's claims stand for, if its session admits them (found,
    /// the claimed user's, active at the guard's instant).
    #[instrument(skip_all)]
    pub async fn confirm(&self, guard: &SessionGuard) -> Result<Authenticated, AuthenticateError> {
        let session = self
            .ports
            .sessions
            .find_session(guard.session_id)
            .await?
            .ok_or(AuthenticateError::InvalidToken)?;
        if !guard.admits(&session) {
            return Err(AuthenticateError::InvalidToken);
        }
        Ok(Authenticated {
            user_id: session.user_id,
            session_id: session.id,
            client: session.grant.map(|(client, _)| client),
        })
    }

    /// Ends a session; its token is refused from now on.
    #[instrument(skip_all)]
    pub async fn logout(&self, session_id: SessionId) -> Result<(), StorageError> {
        self.ports
            .sessions
            .revoke_session(session_id, self.ports.clock.now())
            .await?;
        Ok(())
    }
}
