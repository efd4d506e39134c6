//! LTI 1.3 (IMS Security Framework 1.0 section 5.1, LTI Core 1.3): how a learning platform
//! that registers gptgate as a tool sends its users to the chat. The platform starts an OIDC
//! third-party login ([`LoginInitiation`]); gptgate answers with an authentication request
//! carrying a `state` and a `nonce` bound to the browser; the platform posts back an `id_token`
//! it signed (RS256, a key of its published key set), whose claims [`LtiPolicy::check`] judges
//! against the operator's registration ([`LtiPlatform`]).

use time::{Duration, OffsetDateTime};

use crate::{EmbeddingOrigin, Issuer, PlatformId, PlatformName};

/// Why an LTI registration is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LtiPlatformError {
    #[error("the client ID must be 1 to 255 characters without spaces (the platform shows it when the tool is registered)")]
    ClientId,
    #[error("the {0} must be an https:// address (http only for localhost or 127.0.0.1) of at most 2,048 characters, without a #fragment")]
    Url(&'static str),
    #[error("list 1 to 20 deployment IDs, one per line, each 1 to 255 characters")]
    Deployment,
}

/// Whether `value` is an id of 1 to 255 characters without control characters (and without
/// white space when `spaces` is false).
fn id_ok(value: &str, spaces: bool) -> bool {
    let chars = value.chars().count();
    chars > 0
        && chars <= 255
        && !value
            .chars()
            .any(|c| c.is_control() || (!spaces && c.is_whitespace()))
}

/// The `client_id` the platform gave gptgate (the `aud` of its id_tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtiClientId(String);

impl LtiClientId {
    pub fn parse(raw: &str) -> Result<Self, LtiPlatformError> {
        let id = raw.trim();
        if !id_ok(id, false) {
            return Err(LtiPlatformError::ClientId);
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One of the platform's addresses (its authentication endpoint, its key set): https, or http
/// for this machine only (localhost, 127.0.0.1: development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUrl(url::Url);

impl PlatformUrl {
    /// The longest address accepted.
    pub const MAX: usize = 2048;

    /// `field` names the address in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, LtiPlatformError> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).map_err(|_| LtiPlatformError::Url(field))?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
        let ok = raw.len() <= Self::MAX
            && (url.scheme() == "https" || (url.scheme() == "http" && local))
            && url.host_str().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none();
        if !ok {
            return Err(LtiPlatformError::Url(field));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// A deployment of the tool in the platform (`https://purl.imsglobal.org/spec/lti/claim/deployment_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// The most deployments one registration lists.
    pub const MAX: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, LtiPlatformError> {
        let id = raw.trim();
        if !id_ok(id, true) {
            return Err(LtiPlatformError::Deployment);
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The deployment IDs typed one per line (1 to [`DeploymentId::MAX`]), duplicates dropped.
    pub fn parse_lines(lines: &[String]) -> Result<Vec<Self>, LtiPlatformError> {
        let mut ids: Vec<Self> = Vec::new();
        for line in lines.iter().filter(|l| !l.trim().is_empty()) {
            let id = Self::parse(line)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() || ids.len() > Self::MAX {
            return Err(LtiPlatformError::Deployment);
        }
        Ok(ids)
    }
}

/// A learning platform registered for LTI 1.3 launches. One platform (`issuer`) may hold
/// several registrations, told apart by `client_id` (Canvas's cloud, for one, has one issuer
/// for every school).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtiPlatform {
    pub id: PlatformId,
    pub name: PlatformName,
    pub issuer: Issuer,
    pub client_id: LtiClientId,
    /// Where the authentication request goes (the platform's "OIDC auth" / "authentication
    /// request URL").
    pub login_url: PlatformUrl,
    /// The platform's public key set (JWKS), its id_tokens' keys.
    pub key_set_url: PlatformUrl,
    pub deployments: Vec<DeploymentId>,
    /// The origins that may frame the chat (the platform's pages).
    pub origins: Vec<EmbeddingOrigin>,
    pub created_at: OffsetDateTime,
}

impl LtiPlatform {
    /// The OIDC authentication request (IMS Security Framework 5.1.1.2) answering a login for
    /// this registration: to the platform's login URL, an implicit-flow `id_token` request
    /// posted back to `redirect_uri`, silently (`prompt=none`), with the login's hints and the
    /// browser-bound `state` and `nonce`.
    pub fn authentication_request(
        &self,
        redirect_uri: &str,
        login: &LoginInitiation,
        state: &str,
        nonce: &str,
    ) -> String {
        let mut url = self.login_url.as_url().clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("scope", "openid")
                .append_pair("response_type", "id_token")
                .append_pair("response_mode", "form_post")
                .append_pair("prompt", "none")
                .append_pair("client_id", self.client_id.as_str())
                .append_pair("redirect_uri", redirect_uri)
                .append_pair(
                    "login_hint",
                    login.login_hint.as_deref().unwrap_or_default().trim(),
                )
                .append_pair("state", state)
                .append_pair("nonce", nonce);
            if let Some(hint) = login.lti_message_hint.as_deref() {
                query.append_pair("lti_message_hint", hint);
            }
        }
        url.into()
    }
}

/// One of a platform's public signing keys, from its key set: an RSA key (RS256) named by
/// `kid`, its modulus and exponent base64url-encoded as in the JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformKey {
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// The third-party login initiation a platform sends (GET or POST), as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginInitiation {
    pub iss: Option<String>,
    pub login_hint: Option<String>,
    pub target_link_uri: Option<String>,
    pub lti_message_hint: Option<String>,
    pub client_id: Option<String>,
    pub lti_deployment_id: Option<String>,
}

/// Why a login initiation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("the login names no issuer (iss), or one of more than 255 characters")]
    Issuer,
    #[error("the login has no login_hint, or one longer than 4,096 characters")]
    LoginHint,
    #[error("the login's lti_message_hint is longer than 4,096 characters")]
    MessageHint,
    #[error("the login's target_link_uri is missing or is not an address of this server")]
    Target,
    #[error("no registration of this platform matches the login (issuer, client_id)")]
    UnknownPlatform,
    #[error("the platform has several registrations: the login must name its client_id")]
    Ambiguous,
    #[error("the login names a deployment that is not registered")]
    Deployment,
}

impl LoginInitiation {
    /// The longest hint kept (they travel back to the platform in a redirect).
    pub const MAX_HINT: usize = 4096;

    /// The registration among `candidates` (those of the login's issuer) this login is for,
    /// once its parameters keep the rules: a login hint, a target on `public_url`, the named
    /// client and deployment registered. `public_url` has no trailing slash.
    pub fn check<'p>(
        &self,
        candidates: &'p [LtiPlatform],
        public_url: &str,
    ) -> Result<&'p LtiPlatform, LoginRefused> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let issuer = given(&self.iss).ok_or(LoginRefused::Issuer)?;
        let hint = given(&self.login_hint).ok_or(LoginRefused::LoginHint)?;
        if hint.len() > Self::MAX_HINT {
            return Err(LoginRefused::LoginHint);
        }
        if self
            .lti_message_hint
            .as_deref()
            .is_some_and(|h| h.len() > Self::MAX_HINT)
        {
            return Err(LoginRefused::MessageHint);
        }
        let target = given(&self.target_link_uri).ok_or(LoginRefused::Target)?;
        let ours = target == public_url
            || target
                .strip_prefix(public_url)
                .is_some_and(|rest| rest.starts_with('/'));
        if !ours {
            return Err(LoginRefused::Target);
        }
        let mut matching = candidates.iter().filter(|p| {
            p.issuer.as_str() == issuer
                && given(&self.client_id).is_none_or(|c| c == p.client_id.as_str())
        });
        let platform = matching.next().ok_or(LoginRefused::UnknownPlatform)?;
        if matching.next().is_some() {
            return Err(LoginRefused::Ambiguous);
        }
        if let Some(deployment) = given(&self.lti_deployment_id) {
            if !platform
                .deployments
                .iter()
                .any(|d| d.as_str() == deployment)
            {
                return Err(LoginRefused::Deployment);
            }
        }
        Ok(platform)
    }
}

/// What the browser keeps of a login it started (in a cookie named after the login's state): a
/// secret, the registration, the time. The nonce sent to the platform is a hash of these and
/// the state ([`LoginBinding::nonce_input`]), so whoever holds only the id_token, which carries
/// the nonce, cannot make the cookie that finishes the launch, nor finish it for another
/// registration or after the login's lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginBinding {
    /// 256 random bits, base64url (43 characters).
    pub secret: String,
    pub platform: PlatformId,
    pub issued_at: OffsetDateTime,
}

impl LoginBinding {
    /// How long a login may take: the platform answers at once.
    pub const LIFETIME: Duration = Duration::minutes(5);

    /// The cookie value: `<secret>.<platform>.<unix seconds>`.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.secret,
            self.platform,
            self.issued_at.unix_timestamp()
        )
    }

    /// A cookie value [`Self::encode`] made, or `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (secret, platform, at) = (parts.next()?, parts.next()?, parts.next()?);
        let secret_ok = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if parts.next().is_some() || !secret_ok || !at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            secret: secret.to_owned(),
            platform: platform.parse().ok()?,
            issued_at: OffsetDateTime::from_unix_timestamp(at.parse().ok()?).ok()?,
        })
    }

    /// What the login's nonce is the hash of, for login `state`.
    pub fn nonce_input(&self, state: &str) -> String {
        format!(
            "gptgate lti nonce v1\0{state}\0{}\0{}\0{}",
            self.secret,
            self.platform,
            self.issued_at.unix_timestamp()
        )
    }

    /// Whether the login is still open at `now` (started at most [`Self::LIFETIME`] ago, and
    /// not later than `now` + `leeway`).
    pub fn is_open(&self, now: OffsetDateTime, leeway: Duration) -> bool {
        self.issued_at <= now + leeway && now - self.issued_at < Self::LIFETIME
    }
}

/// The claims of a verified id_token, as the adapter read them (`aud` as a list; times in
/// seconds since the epoch; the LTI claims by their short names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LtiClaims {
    pub iss: String,
    pub aud: Vec<String>,
    pub azp: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub nonce: Option<String>,
    pub message_type: Option<String>,
    pub version: Option<String>,
    pub deployment_id: Option<String>,
    pub resource_link_id: Option<String>,
}

/// Why an id_token is refused. Says which rule, never the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LtiRefused {
    #[error("the id_token was issued by another platform")]
    Issuer,
    #[error("the id_token is not meant for this tool's client_id alone")]
    Audience,
    #[error("the id_token's authorized party (azp) is not this tool")]
    AuthorizedParty,
    #[error("the id_token's nonce is not the one this browser's login asked for")]
    Nonce,
    #[error("the id_token has no expiry (exp)")]
    NoExpiry,
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token lives longer than a day")]
    TooLong,
    #[error("the id_token has no issue time (iat)")]
    NoIssuedAt,
    #[error("the id_token is not valid yet")]
    NotYet,
    #[error("the launch is not a resource link launch (LtiResourceLinkRequest)")]
    MessageType,
    #[error("the launch is not LTI 1.3.0")]
    Version,
    #[error("the launch's deployment is not registered")]
    Deployment,
    #[error("the launch names no resource link")]
    ResourceLink,
    #[error("the launch names no user (sub) of 1 to 255 characters; anonymous launches are not accepted")]
    Subject,
}

/// Who an LTI launch admits: the platform's user, and when its id_token (and so its nonce)
/// expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtiLaunch {
    pub subject: String,
    pub expires_at: OffsetDateTime,
}

/// How id_tokens are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LtiPolicy {
    /// Tolerated difference between the platform's clock and ours.
    pub leeway: Duration,
}

impl Default for LtiPolicy {
    /// 30 seconds of clock difference.
    fn default() -> Self {
        Self {
            leeway: Duration::seconds(30),
        }
    }
}

impl LtiPolicy {
    /// The furthest an id_token's expiry may lie ahead (its nonce is kept used that long).
    pub const MAX_LIFETIME: Duration = Duration::days(1);
    pub const MESSAGE_TYPE: &'static str = "LtiResourceLinkRequest";
    pub const VERSION: &'static str = "1.3.0";

    /// The launch `claims` admit at `now` for `platform`, the login having asked for `nonce`,
    /// or the first rule they break (OIDC Core 3.1.3.7, IMS Security Framework 5.1.3, LTI Core
    /// 5.3 and 5.4).
    pub fn check(
        &self,
        claims: &LtiClaims,
        platform: &LtiPlatform,
        nonce: &str,
        now: OffsetDateTime,
    ) -> Result<LtiLaunch, LtiRefused> {
        if claims.iss != platform.issuer.as_str() {
            return Err(LtiRefused::Issuer);
        }
        let client = platform.client_id.as_str();
        // Us, and no audience we do not trust (OIDC Core 3.1.3.7 item 3): no other.
        if claims.aud.is_empty() || claims.aud.iter().any(|a| a != client) {
            return Err(LtiRefused::Audience);
        }
        // An authorized party, if named, must be us.
        if claims.azp.as_deref().is_some_and(|azp| azp != client) {
            return Err(LtiRefused::AuthorizedParty);
        }
        if nonce.is_empty() || claims.nonce.as_deref() != Some(nonce) {
            return Err(LtiRefused::Nonce);
        }
        let at = |seconds: i64| OffsetDateTime::from_unix_timestamp(seconds).ok();
        let expires_at = claims
            .exp
            .map(|exp| at(exp).ok_or(LtiRefused::TooLong))
            .ok_or(LtiRefused::NoExpiry)??;
        if expires_at
            .checked_add(self.leeway)
            .is_some_and(|with_leeway| with_leeway <= now)
        {
            return Err(LtiRefused::Expired);
        }
        if expires_at > now + Self::MAX_LIFETIME + self.leeway {
            return Err(LtiRefused::TooLong);
        }
        let issued = claims.iat.ok_or(LtiRefused::NoIssuedAt)?;
        for start in [Some(issued), claims.nbf].into_iter().flatten() {
            let start = at(start).ok_or(LtiRefused::NotYet)?;
            if start > now + self.leeway {
                return Err(LtiRefused::NotYet);
            }
        }
        if claims.message_type.as_deref() != Some(Self::MESSAGE_TYPE) {
            return Err(LtiRefused::MessageType);
        }
        if claims.version.as_deref() != Some(Self::VERSION) {
            return Err(LtiRefused::Version);
        }
        let deployment = claims.deployment_id.as_deref();
        if !platform
            .deployments
            .iter()
            .any(|d| Some(d.as_str()) == deployment)
        {
            return Err(LtiRefused::Deployment);
        }
        if !claims
            .resource_link_id
            .as_deref()
            .is_some_and(|id| id_ok(id, true))
        {
            return Err(LtiRefused::ResourceLink);
        }
        let subject = claims
            .sub
            .as_deref()
            .filter(|s| id_ok(s, true))
            .ok_or(LtiRefused::Subject)?;
        Ok(LtiLaunch {
            subject: subject.to_owned(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 09:00 UTC);
    const PUBLIC: &str = "https://gpt.example.com";

    fn platform(client: &str) -> LtiPlatform {
        LtiPlatform {
            id: PlatformId::from_random_bytes([7; 16]),
            name: PlatformName::parse("Moodle").unwrap(),
            issuer: Issuer::parse("https://lms.example.edu").unwrap(),
            client_id: LtiClientId::parse(client).unwrap(),
            login_url: PlatformUrl::parse("https://lms.example.edu/mod/lti/auth.php", "x").unwrap(),
            key_set_url: PlatformUrl::parse("https://lms.example.edu/mod/lti/certs.php", "x")
                .unwrap(),
            deployments: vec![DeploymentId::parse("1").unwrap()],
            origins: vec![EmbeddingOrigin::parse("https://lms.example.edu").unwrap()],
            created_at: NOW,
        }
    }

    fn claims() -> LtiClaims {
        let now = NOW.unix_timestamp();
        LtiClaims {
            iss: "https://lms.example.edu".into(),
            aud: vec!["client-1".into()],
            azp: None,
            sub: Some("student-42".into()),
            exp: Some(now + 60),
            iat: Some(now),
            nbf: None,
            nonce: Some("n-1".into()),
            message_type: Some("LtiResourceLinkRequest".into()),
            version: Some("1.3.0".into()),
            deployment_id: Some("1".into()),
            resource_link_id: Some("link-9".into()),
        }
    }

    fn check(claims: &LtiClaims) -> Result<LtiLaunch, LtiRefused> {
        LtiPolicy::default().check(claims, &platform("client-1"), "n-1", NOW)
    }

    #[test]
    fn a_resource_link_launch_admits_its_user() {
        let launch = check(&claims()).unwrap();
        assert_eq!(launch.subject, "student-42");
        assert_eq!(launch.expires_at, NOW + Duration::seconds(60));
    }

    #[test]
    fn issuer_audience_and_authorized_party_are_checked() {
        let mut c = claims();
        c.iss = "https://lms.example.edu/".into();
        assert_eq!(check(&c), Err(LtiRefused::Issuer));
        for aud in [
            vec![],
            vec!["client-2"],
            vec!["client-1", "client-2"],
            vec!["client-2", "client-1"],
        ] {
            let mut c = claims();
            c.aud = aud.iter().map(|a| (*a).to_owned()).collect();
            c.azp = Some("client-1".into());
            assert_eq!(check(&c), Err(LtiRefused::Audience), "{aud:?}");
        }
        let mut c = claims();
        c.aud = vec!["client-1".into(), "client-1".into()];
        assert!(check(&c).is_ok(), "us twice is still only us");
        // azp optional, but if present it is us.
        let mut c = claims();
        c.azp = Some("client-2".into());
        assert_eq!(check(&c), Err(LtiRefused::AuthorizedParty));
        c.azp = Some("client-1".into());
        assert!(check(&c).is_ok());
    }

    #[test]
    fn a_login_binding_round_trips_and_closes_after_five_minutes() {
        let binding = LoginBinding {
            secret: "s".repeat(43),
            platform: PlatformId::from_random_bytes([7; 16]),
            issued_at: NOW,
        };
        let encoded = binding.encode();
        assert_eq!(LoginBinding::parse(&encoded), Some(binding.clone()));
        // Every base64url character is a secret's.
        let url_safe = LoginBinding {
            secret: format!("aZ09-_{}", "x".repeat(37)),
            ..binding.clone()
        };
        assert_eq!(LoginBinding::parse(&url_safe.encode()), Some(url_safe));
        for bad in [
            String::new(),
            format!("{}.{}", "s".repeat(43), binding.platform),
            format!(
                "{}.{}.{}",
                "s".repeat(42),
                binding.platform,
                NOW.unix_timestamp()
            ),
            format!(
                "{}.{}.{}",
                "s;".repeat(21) + "s",
                binding.platform,
                NOW.unix_timestamp()
            ),
            format!("{}.not-a-uuid.{}", "s".repeat(43), NOW.unix_timestamp()),
            format!("{}.{}.-5", "s".repeat(43), binding.platform),
            format!(
                "{}.{}.99999999999999999999",
                "s".repeat(43),
                binding.platform
            ),
            format!("{encoded}.x"),
        ] {
            assert_eq!(LoginBinding::parse(&bad), None, "{bad}");
        }
        let leeway = Duration::seconds(30);
        assert!(binding.is_open(NOW, leeway));
        assert!(binding.is_open(NOW + Duration::minutes(5) - Duration::seconds(1), leeway));
        assert!(!binding.is_open(NOW + Duration::minutes(5), leeway));
        assert!(binding.is_open(NOW - Duration::seconds(30), leeway));
        assert!(!binding.is_open(NOW - Duration::seconds(31), leeway));
        // The nonce input names every part, and the state.
        let input = binding.nonce_input("the-state");
        for part in [
            "the-state",
            &binding.secret,
            &binding.platform.to_string(),
            &NOW.unix_timestamp().to_string(),
        ] {
            assert!(input.contains(part), "{part}");
        }
        assert_ne!(input, binding.nonce_input("another-state"));
    }

    #[test]
    fn the_nonce_must_be_the_logins() {
        let mut c = claims();
        c.nonce = Some("n-2".into());
        assert_eq!(check(&c), Err(LtiRefused::Nonce));
        c.nonce = None;
        assert_eq!(check(&c), Err(LtiRefused::Nonce));
        // An empty expected nonce never matches, not even an empty claim.
        c.nonce = Some(String::new());
        assert_eq!(
            LtiPolicy::default().check(&c, &platform("client-1"), "", NOW),
            Err(LtiRefused::Nonce)
        );
    }

    #[test]
    fn expiry_is_judged_at_its_edges() {
        let now = NOW.unix_timestamp();
        let with_exp = |exp| {
            let mut c = claims();
            c.exp = exp;
            c.iat = Some(now - 3600);
            check(&c)
        };
        assert_eq!(with_exp(None), Err(LtiRefused::NoExpiry));
        // Expired once exp + 30 s is now; one second before, still good.
        assert_eq!(with_exp(Some(now - 30)), Err(LtiRefused::Expired));
        assert!(with_exp(Some(now - 29)).is_ok());
        // At most a day (+ leeway) ahead.
        let day = 24 * 3600;
        assert!(with_exp(Some(now + day + 30)).is_ok());
        assert_eq!(with_exp(Some(now + day + 31)), Err(LtiRefused::TooLong));
        assert_eq!(with_exp(Some(i64::MAX)), Err(LtiRefused::TooLong));
    }

    #[test]
    fn issue_time_is_required_and_not_in_the_future() {
        let now = NOW.unix_timestamp();
        let mut c = claims();
        c.iat = None;
        assert_eq!(check(&c), Err(LtiRefused::NoIssuedAt));
        c.iat = Some(now + 30);
        assert!(check(&c).is_ok());
        c.iat = Some(now + 31);
        assert_eq!(check(&c), Err(LtiRefused::NotYet));
        c.iat = Some(i64::MAX);
        assert_eq!(check(&c), Err(LtiRefused::NotYet));
        let mut c = claims();
        c.nbf = Some(now + 31);
        assert_eq!(check(&c), Err(LtiRefused::NotYet));
        c.nbf = Some(now + 30);
        assert!(check(&c).is_ok());
    }

    #[test]
    fn lti_claims_are_checked() {
        let mut c = claims();
        c.message_type = Some("LtiDeepLinkingRequest".into());
        assert_eq!(check(&c), Err(LtiRefused::MessageType));
        c.message_type = None;
        assert_eq!(check(&c), Err(LtiRefused::MessageType));
        let mut c = claims();
        c.version = Some("1.1".into());
        assert_eq!(check(&c), Err(LtiRefused::Version));
        let mut c = claims();
        c.deployment_id = Some("2".into());
        assert_eq!(check(&c), Err(LtiRefused::Deployment));
        c.deployment_id = None;
        assert_eq!(check(&c), Err(LtiRefused::Deployment));
        let mut c = claims();
        c.resource_link_id = None;
        assert_eq!(check(&c), Err(LtiRefused::ResourceLink));
        c.resource_link_id = Some("r".repeat(256));
        assert_eq!(check(&c), Err(LtiRefused::ResourceLink));
        c.resource_link_id = Some("r".repeat(255));
        assert!(check(&c).is_ok());
    }

    #[test]
    fn the_subject_is_required_and_bounded() {
        let mut c = claims();
        c.sub = None;
        assert_eq!(check(&c), Err(LtiRefused::Subject));
        for bad in [String::new(), "s".repeat(256), "a\nb".into()] {
            c.sub = Some(bad);
            assert_eq!(check(&c), Err(LtiRefused::Subject));
        }
        c.sub = Some("s".repeat(255));
        assert_eq!(check(&c).unwrap().subject, "s".repeat(255));
    }

    fn login() -> LoginInitiation {
        LoginInitiation {
            iss: Some("https://lms.example.edu".into()),
            login_hint: Some("42".into()),
            target_link_uri: Some(format!("{PUBLIC}/chat")),
            lti_message_hint: Some("ctx".into()),
            client_id: None,
            lti_deployment_id: None,
        }
    }

    #[test]
    fn a_login_finds_its_registration() {
        let one = [platform("client-1")];
        assert_eq!(
            login().check(&one, PUBLIC).unwrap().client_id.as_str(),
            "client-1"
        );
        let two = [platform("client-1"), platform("client-2")];
        assert_eq!(login().check(&two, PUBLIC), Err(LoginRefused::Ambiguous));
        let mut named = login();
        named.client_id = Some("client-2".into());
        assert_eq!(
            named.check(&two, PUBLIC).unwrap().client_id.as_str(),
            "client-2"
        );
        named.client_id = Some("client-3".into());
        assert_eq!(
            named.check(&two, PUBLIC),
            Err(LoginRefused::UnknownPlatform)
        );
        assert_eq!(
            login().check(&[], PUBLIC),
            Err(LoginRefused::UnknownPlatform)
        );
        let mut other = login();
        other.iss = Some("https://other.example.edu".into());
        assert_eq!(
            other.check(&one, PUBLIC),
            Err(LoginRefused::UnknownPlatform)
        );
        let mut deployed = login();
        deployed.lti_deployment_id = Some("1".into());
        assert!(deployed.check(&one, PUBLIC).is_ok());
        deployed.lti_deployment_id = Some("2".into());
        assert_eq!(deployed.check(&one, PUBLIC), Err(LoginRefused::Deployment));
    }

    #[test]
    fn the_authentication_request_carries_the_login() {
        let mut p = platform("client-1&x=y");
        p.login_url = PlatformUrl::parse("https://lms.example.edu/auth.php?site=2", "x").unwrap();
        let url = p.authentication_request(
            "https://gpt.example.com/lti/launch",
            &login(),
            "the-state",
            "the-nonce",
        );
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.host_str(), Some("lms.example.edu"));
        assert_eq!(parsed.path(), "/auth.php");
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let expected = [
            ("site", "2"),
            ("scope", "openid"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("prompt", "none"),
            ("client_id", "client-1&x=y"),
            ("redirect_uri", "https://gpt.example.com/lti/launch"),
            ("login_hint", "42"),
            ("state", "the-state"),
            ("nonce", "the-nonce"),
            ("lti_message_hint", "ctx"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(pairs, expected);
        let mut no_hint = login();
        no_hint.lti_message_hint = None;
        let url = p.authentication_request("r", &no_hint, "s", "n");
        assert!(!url.contains("lti_message_hint"), "{url}");
    }

    #[test]
    fn a_login_keeps_its_parameters_rules() {
        let one = [platform("client-1")];
        let mut l = login();
        l.iss = None;
        assert_eq!(l.check(&one, PUBLIC), Err(LoginRefused::Issuer));
        let mut l = login();
        l.login_hint = Some(" ".into());
        assert_eq!(l.check(&one, PUBLIC), Err(LoginRefused::LoginHint));
        l.login_hint = Some("h".repeat(4097));
        assert_eq!(l.check(&one, PUBLIC), Err(LoginRefused::LoginHint));
        l.login_hint = Some("h".repeat(4096));
        assert!(l.check(&one, PUBLIC).is_ok());
        l.lti_message_hint = Some("m".repeat(4097));
        assert_eq!(l.check(&one, PUBLIC), Err(LoginRefused::MessageHint));
        l.lti_message_hint = Some("m".repeat(4096));
        assert!(l.check(&one, PUBLIC).is_ok());
        for (target, ok) in [
            (None, false),
            (Some(PUBLIC.to_owned()), true),
            (Some(format!("{PUBLIC}/lti/launch")), true),
            (Some(format!("{PUBLIC}.evil.example/chat")), false),
            (Some(format!("{PUBLIC}@evil.example/chat")), false),
            (Some("https://evil.example/chat".to_owned()), false),
        ] {
            let mut l = login();
            l.target_link_uri = target.clone();
            assert_eq!(l.check(&one, PUBLIC).is_ok(), ok, "{target:?}");
            if !ok {
                assert_eq!(l.check(&one, PUBLIC), Err(LoginRefused::Target));
            }
        }
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        assert!(LtiClientId::parse(&"c".repeat(255)).is_ok());
        for bad in [String::new(), "c".repeat(256), "a b".into()] {
            assert_eq!(LtiClientId::parse(&bad), Err(LtiPlatformError::ClientId));
        }
        for good in [
            "https://lms.example.edu/mod/lti/auth.php",
            "https://sso.canvaslms.com/api/lti/authorize_redirect",
            "http://localhost:9000/auth?x=1",
            "http://127.0.0.1:9000/auth",
        ] {
            assert_eq!(PlatformUrl::parse(good, "f").unwrap().as_str(), good);
        }
        let long = format!("https://lms.example.edu/{}", "p".repeat(2048 - 24));
        assert_eq!(long.len(), 2048);
        assert!(PlatformUrl::parse(&long, "f").is_ok());
        for bad in [
            "lms.example.edu/auth".to_owned(),
            "http://lms.example.edu/auth".into(),
            "http://127.0.0.2/auth".into(),
            "http://localhost.example.edu/auth".into(),
            "https://lms.example.edu/auth#x".into(),
            "https://user:pw@lms.example.edu/auth".into(),
            "javascript:alert(1)".into(),
            format!("{long}p"),
        ] {
            assert_eq!(
                PlatformUrl::parse(&bad, "key set URL"),
                Err(LtiPlatformError::Url("key set URL")),
                "{bad}"
            );
        }
        let lines = |n: usize| (0..n).map(|i| format!("dep {i}")).collect::<Vec<_>>();
        assert_eq!(DeploymentId::parse_lines(&lines(20)).unwrap().len(), 20);
        assert_eq!(
            DeploymentId::parse_lines(&lines(21)),
            Err(LtiPlatformError::Deployment)
        );
        assert_eq!(
            DeploymentId::parse_lines(&["".into(), " ".into()]),
            Err(LtiPlatformError::Deployment)
        );
        assert_eq!(
            DeploymentId::parse_lines(&["1".into(), " 1 ".into(), "2".into()])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            DeploymentId::parse_lines(&["d".repeat(256)]),
            Err(LtiPlatformError::Deployment)
        );
    }
}
