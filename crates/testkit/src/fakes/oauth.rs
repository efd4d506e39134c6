use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use gptgate_domain::ProviderId;
use gptgate_ports::{Authorization, OAuthProvider, ProviderError, Revocation, Revoked, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use time::Duration;

/// A provider that answers from a script and records what it was asked.
pub struct FakeOAuthProvider {
    id: ProviderId,
    pkce: bool,
    /// Refresh token sent on the next exchanges; `None` to send none.
    refresh_token: Mutex<Option<String>>,
    failing: Mutex<Option<String>>,
    revoke_fails: std::sync::atomic::AtomicBool,
    identify_fails: std::sync::atomic::AtomicBool,
    revokes_nothing: std::sync::atomic::AtomicBool,
    exchanges: Mutex<Vec<(String, Option<String>, String)>>,
    revoked: Mutex<Vec<String>>,
    counter: AtomicUsize,
    expires_in: Mutex<Option<Duration>>,
    /// The refresh token the provider honours now (the last one it handed out).
    valid_refresh: Mutex<Option<String>>,
    rotates: std::sync::atomic::AtomicBool,
    refresh_failure: Mutex<Option<ProviderFailure>>,
    refresh_delay: Mutex<Option<std::time::Duration>>,
    refreshes: Mutex<Vec<String>>,
}

/// How the fake's refreshes fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderFailure {
    /// The grant is gone (`invalid_grant`): the user must connect again.
    GrantRevoked,
    /// Another refusal, with this code.
    Rejected(String),
    /// Down or timing out.
    Unavailable,
}

impl FakeOAuthProvider {
    pub fn new(id: ProviderId, pkce: bool) -> Self {
        Self {
            id,
            pkce,
            refresh_token: Mutex::new(Some("refresh-1".into())),
            failing: Mutex::new(None),
            revoke_fails: false.into(),
            identify_fails: false.into(),
            revokes_nothing: false.into(),
            exchanges: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
            expires_in: Mutex::new(Some(Duration::hours(1))),
            valid_refresh: Mutex::new(None),
            rotates: false.into(),
            refresh_failure: Mutex::new(None),
            refresh_delay: Mutex::new(None),
            refreshes: Mutex::new(Vec::new()),
        }
    }

    /// Refreshes hand out a new refresh token each time, and honour only the last one handed
    /// out (as Slack, Linear and Mercury do): a spent one is `invalid_grant`.
    pub fn rotate_refresh_tokens(&self) {
        self.rotates.store(true, Ordering::SeqCst);
    }

    /// The next refreshes fail this way (`None`: they work again).
    pub fn fail_refresh(&self, failure: Option<ProviderFailure>) {
        *self
            .refresh_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = failure;
    }

    /// Each refresh takes this long (to let concurrent callers pile up).
    pub fn delay_refresh(&self, delay: std::time::Duration) {
        *self.refresh_delay.lock().unwrap_or_else(|e| e.into_inner()) = Some(delay);
    }

    /// The refresh token of every refresh that reached the provider, in order.
    pub fn refreshes(&self) -> Vec<String> {
        self.refreshes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The `expires_in` of the next token responses (one hour unless set).
    pub fn send_expires_in(&self, lifetime: Option<Duration>) {
        *self.expires_in.lock().unwrap_or_else(|e| e.into_inner()) = lifetime;
    }

    /// The next exchanges send this refresh token (or none).
    pub fn send_refresh_token(&self, token: Option<&str>) {
        *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = token.map(str::to_owned);
    }

    /// The next exchanges fail with this OAuth error code.
    pub fn reject_with(&self, code: &str) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = Some(code.to_owned());
    }

    pub fn fail_revocation(&self) {
        self.revoke_fails.store(true, Ordering::SeqCst);
    }

    /// Revocations answer that nothing was sent (like a provider without an endpoint).
    pub fn revoke_nothing(&self) {
        self.revokes_nothing.store(true, Ordering::SeqCst);
    }

    /// Identity calls fail from now on (after a successful code exchange).
    pub fn fail_identify(&self) {
        self.identify_fails.store(true, Ordering::SeqCst);
    }

    /// `(code, pkce verifier, redirect uri)` of every exchange.
    pub fn exchanges(&self) -> Vec<(String, Option<String>, String)> {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn revoked(&self) -> Vec<String> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl OAuthProvider for FakeOAuthProvider {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn authorize(&self, state: &str, redirect_uri: &str) -> Authorization {
        let verifier = self
            .pkce
            .then(|| SecretString::from(format!("verifier-for-{state}")));
        Authorization {
            url: format!(
                "https://{}.provider.test/authorize?state={state}&redirect_uri={redirect_uri}",
                self.id
            ),
            pkce_verifier: verifier,
        }
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&SecretString>,
        redirect_uri: &str,
        _callback: &BTreeMap<String, String>,
    ) -> Result<TokenSet, ProviderError> {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                code.to_owned(),
                pkce_verifier.map(|v| v.expose_secret().to_owned()),
                redirect_uri.to_owned(),
            ));
        if let Some(code) = self
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(ProviderError::Rejected { code });
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut metadata = Map::new();
        metadata.insert("team".into(), json!("Acme"));
        let refresh = self
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if refresh.is_some() {
            *self.valid_refresh.lock().unwrap_or_else(|e| e.into_inner()) = refresh.clone();
        }
        Ok(TokenSet {
            access_token: SecretString::from(format!("access-{n}")),
            refresh_token: refresh.map(SecretString::from),
            expires_in: *self.expires_in.lock().unwrap_or_else(|e| e.into_inner()),
            scopes: vec!["read".into()],
            metadata,
        })
    }

    async fn identify(&self, _tokens: &TokenSet) -> Result<Map<String, Value>, ProviderError> {
        if self.identify_fails.load(Ordering::SeqCst) {
            return Err(ProviderError::Unavailable("identity endpoint down".into()));
        }
        let mut m = Map::new();
        m.insert("email".into(), json!("ann@acme.test"));
        Ok(m)
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        _metadata: &Map<String, Value>,
    ) -> Result<TokenSet, ProviderError> {
        let presented = refresh_token.expose_secret().to_owned();
        self.refreshes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(presented.clone());
        let delay = *self.refresh_delay.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let failure = self
            .refresh_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match failure {
            Some(ProviderFailure::GrantRevoked) => {
                return Err(ProviderError::GrantRevoked {
                    code: "invalid_grant".into(),
                })
            }
            Some(ProviderFailure::Rejected(code)) => return Err(ProviderError::Rejected { code }),
            Some(ProviderFailure::Unavailable) => {
                return Err(ProviderError::Unavailable("token endpoint down".into()))
            }
            None => {}
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let rotated = if self.rotates.load(Ordering::SeqCst) {
            let mut valid = self.valid_refresh.lock().unwrap_or_else(|e| e.into_inner());
            if valid.as_deref().is_some_and(|v| v != presented) {
                return Err(ProviderError::GrantRevoked {
                    code: "invalid_grant".into(),
                });
            }
            let next = format!("refresh-r{n}");
            *valid = Some(next.clone());
            Some(SecretString::from(next))
        } else {
            None
        };
        Ok(TokenSet {
            access_token: SecretString::from(format!("access-{n}")),
            refresh_token: rotated,
            expires_in: *self.expires_in.lock().unwrap_or_else(|e| e.into_inner()),
            scopes: vec!["read".into()],
            metadata: Map::new(),
        })
    }

    async fn revoke(&self, account: &Revocation) -> Result<Revoked, ProviderError> {
        if self.revokes_nothing.load(Ordering::SeqCst) {
            return Ok(Revoked::NotAttempted);
        }
        let token = account
            .refresh_token
            .as_ref()
            .or(account.access_token.as_ref());
        self.revoked.lock().unwrap_or_else(|e| e.into_inner()).push(
            token
                .map(|t| t.expose_secret().to_owned())
                .unwrap_or_default(),
        );
        if self.revoke_fails.load(Ordering::SeqCst) {
            return Err(ProviderError::Unavailable(
                "revocation endpoint down".into(),
            ));
        }
        Ok(Revoked::Confirmed)
    }
}
