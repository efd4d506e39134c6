//! gptgate as an OAuth 2.1 authorization server (RFC 6749 as tightened by RFC 9700): its
//! registered clients, their redirect URIs, authorization codes and refresh-token families,
//! and the rules on them. Pure: times come in as arguments, hashes are computed by ports.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::{ClientId, GrantId, TokenHash, UserId};

/// Lifetimes and limits of the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthPolicy {
    /// An authorization code is exchanged within this (RFC 9700 recommends short; 60 s).
    pub code_ttl: Duration,
    /// A refresh token lives this long from its issue; each use issues a new one (sliding).
    pub refresh_ttl: Duration,
    /// A rotated refresh token presented again within this is refused without consequence
    /// (a client that retried a refresh whose answer it lost); after it, the reuse means the
    /// token was stolen, and the whole grant is revoked.
    pub reuse_grace: Duration,
    /// However often it is refreshed, a grant ends this long after the user allowed it: then
    /// the user signs in again.
    pub grant_lifetime: Duration,
}

impl Default for OAuthPolicy {
    fn default() -> Self {
        Self {
            code_ttl: Duration::seconds(60),
            refresh_ttl: Duration::days(90),
            reuse_grace: Duration::seconds(10),
            grant_lifetime: Duration::days(365),
        }
    }
}

/// What kind of client: ChatGPT's GPT Actions, whose callback URL changes when the GPT's schema
/// is edited; any other client the operator registered (confidential, its redirect URIs matched
/// exactly); or a public client that registered itself (RFC 7591: an MCP client on the user's
/// machine), which holds no secret and must use PKCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    ChatGpt,
    Web,
    Public,
}

impl ClientKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ChatGpt => "chatgpt",
            Self::Web => "web",
            Self::Public => "public",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "chatgpt" => Some(Self::ChatGpt),
            "web" => Some(Self::Web),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// Which face of gptgate a token is for (RFC 8707 resource indicators): the GPT Actions API
/// (the default, and every email sign-in) or the MCP endpoint. A token for one is refused by
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Api,
    Mcp,
}

impl Audience {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Mcp => "mcp",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "api" => Some(Self::Api),
            "mcp" => Some(Self::Mcp),
            _ => None,
        }
    }

    /// The audience a `resource` parameter names, for the server at `issuer` (its public URL):
    /// the server itself (or its `/api`) is the API, `/mcp` the MCP endpoint; compared exactly,
    /// a trailing slash allowed. Anything else is not a resource of this server.
    pub fn of_resource(issuer: &str, resource: &str) -> Option<Self> {
        let issuer = issuer.trim_end_matches('/');
        match resource.trim_end_matches('/').strip_prefix(issuer)? {
            "" | "/api" => Some(Self::Api),
            "/mcp" => Some(Self::Mcp),
            _ => None,
        }
    }
}

/// A client's name, shown on the consent page: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

/// Why a client's name or redirect URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("a client's name must be 1 to 100 characters, without control characters")]
    InvalidName,
    #[error("a redirect URI must be https (or http on localhost), without a fragment, user info or white space, at most 2,000 characters: {0}")]
    InvalidRedirectUri(String),
    #[error("a client other than a ChatGPT one needs at least one redirect URI")]
    NoRedirectUri,
    #[error("at most {0} redirect URIs")]
    TooManyRedirectUris(usize),
    /// Client metadata a self-registered client may not have (RFC 7591 `invalid_client_metadata`).
    #[error("{0}")]
    UnsupportedMetadata(&'static str),
}

/// Unicode format characters (category Cf) that change how the text around them shows
/// without showing themselves: direction overrides and isolates, zero-width characters, the
/// soft hyphen, the byte-order mark. A name with one could reverse the consent page's sentence.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

impl ClientName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let name = raw.trim();
        let n = name.chars().count();
        if n == 0
            || n > Self::MAX_CHARS
            || name.chars().any(|c| c.is_control() || is_format_char(c))
        {
            return Err(ClientError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered redirect URI. Compared with what an authorization request sends by exact
/// string equality (RFC 9700 2.1): no normalisation, so nothing can be smuggled past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub const MAX_CHARS: usize = 2_000;

    /// A URI fit to register: `https://host/...`, or `http://` on a loopback host
    /// (`localhost`, `127.0.0.1`, `[::1]`) for development; no fragment, no user info, no
    /// white space or control characters.
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let refuse = || ClientError::InvalidRedirectUri(raw.chars().take(100).collect());
        if raw.is_empty()
            || raw.chars().count() > Self::MAX_CHARS
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
            || raw.contains('#')
        {
            return Err(refuse());
        }
        let (scheme, rest) = raw.split_once("://").ok_or_else(refuse)?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
            return Err(refuse());
        }
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                // A port a URL can have (browsers and the redirect refuse others).
                if !port.is_empty() && port.parse::<u16>().is_err() {
                    return Err(refuse());
                }
                host
            }
            _ => authority,
        };
        // A host name of letters, digits, `-`, `.`, `_`, or a bracketed IPv6 address: nothing
        // that decodes or normalises into another host (`%2F`, non-ASCII, `[` alone).
        let name = |h: &str| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        let ipv6 = |h: &str| {
            h.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|a| {
                    !a.is_empty()
                        && a.bytes()
                            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
                })
        };
        if !(name(host) || ipv6(host)) {
            return Err(refuse());
        }
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
        match scheme {
            "https" => Ok(Self(raw.to_owned())),
            "http" if loopback => Ok(Self(raw.to_owned())),
            _ => Err(refuse()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `uri` is one of ChatGPT's GPT Actions callbacks, exactly:
/// `https://chat.openai.com/aip/<id>/oauth/callback` or
/// `https://chatgpt.com/aip/<id>/oauth/callback`, with `<id>` 1 to 100 letters, digits, `-`
/// or `_`. Compared as a string: no other host, port, user info, path, query or fragment.
pub fn is_chatgpt_callback(uri: &str) -> bool {
    ["https://chat.openai.com/aip/", "https://chatgpt.com/aip/"]
        .iter()
        .filter_map(|prefix| uri.strip_prefix(prefix))
        .filter_map(|rest| rest.strip_suffix("/oauth/callback"))
        .any(|id| {
            (1..=100).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A client registered by the operator (`gptgate oauth-client add`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: ClientId,
    pub name: ClientName,
    pub kind: ClientKind,
    /// The SHA-256 of its secret (256 random bits): the secret itself is shown once. A public
    /// client has none.
    pub secret_hash: Option<TokenHash>,
    pub redirect_uris: Vec<RedirectUri>,
    pub created_at: OffsetDateTime,
}

/// An `http://` URI on a loopback host as (host, what follows the authority), its port left
/// out; `None` for any other URI.
fn loopback_without_port(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]").then_some((host, tail))
}

impl OAuthClient {
    /// Whether an authorization request may send the user back to `uri`: one of the
    /// registered URIs exactly, or one on a loopback host differing only in its port (RFC 8252
    /// 7.3, OAuth 2.1: a native app listens on whatever port is free), or, for a ChatGPT
    /// client, one of ChatGPT's callbacks.
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.as_str() == uri)
            || loopback_without_port(uri).is_some_and(|asked| {
                RedirectUri::parse(uri).is_ok()
                    && self
                        .redirect_uris
                        .iter()
                        .any(|r| loopback_without_port(r.as_str()) == Some(asked))
            })
            || (self.kind == ClientKind::ChatGpt && is_chatgpt_callback(uri))
    }

    /// Checks that a client of `kind` with `redirect_uris` can be used at all.
    pub fn check_registration(
        kind: ClientKind,
        redirect_uris: &[RedirectUri],
    ) -> Result<(), ClientError> {
        if kind != ClientKind::ChatGpt && redirect_uris.is_empty() {
            return Err(ClientError::NoRedirectUri);
        }
        if redirect_uris.len() > Self::MAX_REDIRECT_URIS {
            return Err(ClientError::TooManyRedirectUris(Self::MAX_REDIRECT_URIS));
        }
        Ok(())
    }

    /// The most redirect URIs a client may register.
    pub const MAX_REDIRECT_URIS: usize = 10;

    /// The rest of a self-registration's metadata (RFC 7591 2): such a client is public (no
    /// secret: `token_endpoint_auth_method` absent or `none`), uses the authorization code with
    /// refresh tokens only, and asks for codes only.
    pub fn check_self_registered_metadata(
        token_endpoint_auth_method: Option<&str>,
        grant_types: Option<&[String]>,
        response_types: Option<&[String]>,
    ) -> Result<(), ClientError> {
        if !matches!(token_endpoint_auth_method, None | Some("none")) {
            return Err(ClientError::UnsupportedMetadata(
                "token_endpoint_auth_method must be none: clients that register themselves are public and use PKCE.",
            ));
        }
        if grant_types.is_some_and(|g| {
            g.iter()
                .any(|t| t != "authorization_code" && t != "refresh_token")
        }) {
            return Err(ClientError::UnsupportedMetadata(
                "grant_types may be authorization_code and refresh_token only.",
            ));
        }
        if response_types.is_some_and(|r| r.iter().any(|t| t != "code")) {
            return Err(ClientError::UnsupportedMetadata(
                "response_types may be code only.",
            ));
        }
        Ok(())
    }

    /// The redirect URIs a client registering itself (RFC 7591) gets: of the at most
    /// [`MAX_REDIRECT_URIS`](Self::MAX_REDIRECT_URIS) it asks for, the https and loopback ones,
    /// each once. Others (a desktop app's own scheme, `cursor://...`, sent beside its https
    /// and loopback callbacks) are left out rather than failing the registration, as RFC 7591
    /// section 2 lets a server replace requested metadata; the response names what was
    /// registered. None acceptable: the first one's refusal.
    pub fn self_registered_redirect_uris(raw: &[String]) -> Result<Vec<RedirectUri>, ClientError> {
        if raw.len() > Self::MAX_REDIRECT_URIS {
            return Err(ClientError::TooManyRedirectUris(Self::MAX_REDIRECT_URIS));
        }
        let mut kept: Vec<RedirectUri> = Vec::new();
        let mut first_refusal = None;
        for uri in raw {
            match RedirectUri::parse(uri) {
                Ok(uri) if !kept.contains(&uri) => kept.push(uri),
                Ok(_) => {}
                Err(e) => {
                    first_refusal.get_or_insert(e);
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(ClientError::NoRedirectUri),
            (false, _) => Ok(kept),
        }
    }

    /// The face a grant of this client is for, given the one its request named (`resource`,
    /// RFC 8707), or `None` if it may not have it. A client that registered itself is an MCP
    /// client: its grants are for the MCP endpoint, named or not, never for the GPT API (whose
    /// OAuth tokens skip the API key, and which can erase the user). Others get what they name,
    /// the API by default.
    pub fn audience_for(&self, named: Option<Audience>) -> Option<Audience> {
        match (self.kind, named) {
            (ClientKind::Public, None | Some(Audience::Mcp)) => Some(Audience::Mcp),
            (ClientKind::Public, Some(Audience::Api)) => None,
            (_, named) => Some(named.unwrap_or(Audience::Api)),
        }
    }

    /// Whether its authorization requests must carry a PKCE challenge: every client but
    /// ChatGPT's Actions (confidential, exact callbacks, and it does not send one).
    pub fn requires_pkce(&self) -> bool {
        self.kind != ClientKind::ChatGpt
    }
}

/// The PKCE S256 challenge of an authorization request (RFC 7636): the SHA-256 of the
/// client's verifier, decoded from its base64url form.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge([u8; 32]);

impl CodeChallenge {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeChallenge(..)")
    }
}

/// Whether `verifier` has the form RFC 7636 4.1 requires: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`.
pub fn is_pkce_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An authorization code, stored by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub hash: TokenHash,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The redirect URI of the request, which the token request must repeat.
    pub redirect_uri: String,
    pub challenge: Option<CodeChallenge>,
    /// The grant its exchange starts; a replay of the code revokes it.
    pub grant_id: GrantId,
    /// What its tokens are for.
    pub audience: Audience,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// A refresh token, stored by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub hash: TokenHash,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// When it was exchanged for a new one (it is then spent).
    pub rotated_at: Option<OffsetDateTime>,
    /// When its grant was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// When its grant started (the user allowed the app).
    pub grant_started_at: OffsetDateTime,
    /// What its grant's tokens are for.
    pub audience: Audience,
}

/// A grant as its user sees it: which app has access, since its last renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    pub id: GrantId,
    pub client_id: ClientId,
    pub client_name: ClientName,
    /// When its current refresh token was issued (the app's last sign-in or renewal).
    pub renewed_at: OffsetDateTime,
    /// When the user allowed the app.
    pub started_at: OffsetDateTime,
}

/// What presenting a refresh token at `now` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unspent, unexpired, unrevoked: rotate it.
    Rotate,
    /// Spent within the grace: refuse, and nothing more.
    SpentWithinGrace,
    /// Spent before the grace: someone replays a stolen token; revoke the grant.
    Replayed,
    /// Expired or revoked: refuse.
    Dead,
}

impl RefreshToken {
    pub fn use_at(&self, now: OffsetDateTime, policy: &OAuthPolicy) -> RefreshUse {
        if self.revoked_at.is_some()
            || now >= self.expires_at
            || now - self.grant_started_at >= policy.grant_lifetime
        {
            return RefreshUse::Dead;
        }
        match self.rotated_at {
            None => RefreshUse::Rotate,
            Some(at) if now - at <= policy.reuse_grace => RefreshUse::SpentWithinGrace,
            Some(_) => RefreshUse::Replayed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-27 10:00 UTC);

    fn client(kind: ClientKind, uris: &[&str]) -> OAuthClient {
        OAuthClient {
            id: ClientId::from_random_bytes([1; 16]),
            name: ClientName::parse("Spanish tutor GPT").unwrap(),
            kind,
            secret_hash: Some(TokenHash::from_bytes([2; 32])),
            redirect_uris: uris
                .iter()
                .map(|u| RedirectUri::parse(u).unwrap())
                .collect(),
            created_at: T0,
        }
    }

    #[test]
    fn chatgpt_callbacks_are_matched_exactly() {
        for ok in [
            "https://chat.openai.com/aip/g-6a3f/oauth/callback",
            "https://chatgpt.com/aip/g-6a3fB_9/oauth/callback",
            &format!("https://chatgpt.com/aip/{}/oauth/callback", "a".repeat(100)),
        ] {
            assert!(is_chatgpt_callback(ok), "{ok}");
        }
        for hostile in [
            "https://chatgpt.com.evil.example/aip/g-1/oauth/callback",
            "https://evil.example/aip/g-1/oauth/callback#https://chatgpt.com/aip/g-1/oauth/callback",
            "https://chatgpt.com@evil.example/aip/g-1/oauth/callback",
            "https://chatgpt.com:443/aip/g-1/oauth/callback",
            "http://chatgpt.com/aip/g-1/oauth/callback",
            "https://CHATGPT.com/aip/g-1/oauth/callback",
            "https://chatgpt.com/aip/g-1/oauth/callback?x=1",
            "https://chatgpt.com/aip/g-1/oauth/callback#frag",
            "https://chatgpt.com/aip/g-1/oauth/callback/",
            "https://chatgpt.com/aip//oauth/callback",
            "https://chatgpt.com/aip/../evil/oauth/callback",
            "https://chatgpt.com/aip/g%2F1/oauth/callback",
            "https://chatgpt.com/aip/g/1/oauth/callback",
            "https://chatgpt.com/aip/g-1/oauth/callback\n",
            &format!("https://chatgpt.com/aip/{}/oauth/callback", "a".repeat(101)),
            "https://chat.openai.com.evil.example/aip/g-1/oauth/callback",
            "",
        ] {
            assert!(!is_chatgpt_callback(hostile), "{hostile}");
        }
    }

    #[test]
    fn a_client_sends_users_only_where_it_registered() {
        let web = client(ClientKind::Web, &["https://app.example.com/callback"]);
        assert!(web.accepts_redirect("https://app.example.com/callback"));
        for other in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/Callback",
            "https://app.example.com:443/callback",
            "https://app.example.com/callback#x",
            "https://app.example.com.evil.example/callback",
            "https://app.example.com%2Fcallback",
            "https://chatgpt.com/aip/g-1/oauth/callback",
        ] {
            assert!(!web.accepts_redirect(other), "{other}");
        }
        let gpt = client(ClientKind::ChatGpt, &[]);
        assert!(gpt.accepts_redirect("https://chatgpt.com/aip/g-1/oauth/callback"));
        assert!(gpt.accepts_redirect("https://chat.openai.com/aip/g-2/oauth/callback"));
        assert!(!gpt.accepts_redirect("https://app.example.com/callback"));
    }

    #[test]
    fn a_loopback_redirect_may_name_any_port_but_nothing_else_may_differ() {
        let client = OAuthClient {
            id: ClientId::from_random_bytes([1; 16]),
            name: ClientName::parse("app").unwrap(),
            kind: ClientKind::Public,
            secret_hash: None,
            redirect_uris: vec![
                RedirectUri::parse("http://127.0.0.1/callback").unwrap(),
                RedirectUri::parse("http://[::1]:9000/cb?x=1").unwrap(),
                RedirectUri::parse("https://app.example/cb").unwrap(),
            ],
            created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        };
        for accepted in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback",
            "http://[::1]/cb?x=1",
            "http://[::1]:1/cb?x=1",
            "https://app.example/cb",
        ] {
            assert!(client.accepts_redirect(accepted), "{accepted}");
        }
        for refused in [
            "http://127.0.0.1:51234/other",
            "http://127.0.0.1:51234/callback?more",
            "http://localhost:51234/callback",
            "http://127.0.0.1:5x/callback",
            "http://127.0.0.1:80@evil.example/callback",
            "https://app.example:8443/cb",
            "http://app.example/cb",
            "http://[::1]:9000/cb?x=2",
        ] {
            assert!(!client.accepts_redirect(refused), "{refused}");
        }
    }

    #[test]
    fn a_self_registered_client_is_public_and_uses_codes_only() {
        let list = |items: &[&str]| items.iter().map(|i| (*i).to_owned()).collect::<Vec<_>>();
        let check = OAuthClient::check_self_registered_metadata;
        assert!(check(None, None, None).is_ok());
        let grants = list(&["authorization_code", "refresh_token"]);
        let codes = list(&["code"]);
        assert!(check(Some("none"), Some(&grants), Some(&codes)).is_ok());
        for (method, grants, responses) in [
            (Some("client_secret_basic"), None, None),
            (Some("private_key_jwt"), None, None),
            (None, Some(list(&["implicit"])), None),
            (
                None,
                Some(list(&["authorization_code", "client_credentials"])),
                None,
            ),
            (None, None, Some(list(&["token"]))),
            (None, None, Some(list(&["code", "id_token"]))),
        ] {
            assert!(
                matches!(
                    check(method, grants.as_deref(), responses.as_deref()),
                    Err(ClientError::UnsupportedMetadata(_))
                ),
                "{method:?} {grants:?} {responses:?}"
            );
        }
    }

    #[test]
    fn a_self_registered_client_is_for_the_mcp_endpoint_only() {
        let client = |kind| OAuthClient {
            id: ClientId::from_random_bytes([1; 16]),
            name: ClientName::parse("app").unwrap(),
            kind,
            secret_hash: None,
            redirect_uris: vec![],
            created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        };
        let public = client(ClientKind::Public);
        assert_eq!(public.audience_for(None), Some(Audience::Mcp));
        assert_eq!(
            public.audience_for(Some(Audience::Mcp)),
            Some(Audience::Mcp)
        );
        assert_eq!(public.audience_for(Some(Audience::Api)), None);
        for kind in [ClientKind::ChatGpt, ClientKind::Web] {
            assert_eq!(client(kind).audience_for(None), Some(Audience::Api));
            assert_eq!(
                client(kind).audience_for(Some(Audience::Api)),
                Some(Audience::Api)
            );
            assert_eq!(
                client(kind).audience_for(Some(Audience::Mcp)),
                Some(Audience::Mcp)
            );
        }
    }

    #[test]
    fn a_self_registered_client_keeps_its_https_and_loopback_uris_and_no_other() {
        let raw = |uris: &[&str]| uris.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>();
        // Cursor's registration: its own scheme beside an https and a loopback callback.
        let kept = OAuthClient::self_registered_redirect_uris(&raw(&[
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://localhost:8787/callback",
            "http://localhost:8787/callback",
        ]))
        .unwrap();
        let kept: Vec<&str> = kept.iter().map(RedirectUri::as_str).collect();
        assert_eq!(
            kept,
            [
                "https://www.cursor.com/agents/mcp/oauth/callback",
                "http://localhost:8787/callback"
            ]
        );
        assert_eq!(
            OAuthClient::self_registered_redirect_uris(&raw(&[
                "cursor://x/cb",
                "http://evil.example/cb"
            ])),
            Err(ClientError::InvalidRedirectUri("cursor://x/cb".into())),
            "none acceptable: the first refusal"
        );
        assert_eq!(
            OAuthClient::self_registered_redirect_uris(&[]),
            Err(ClientError::NoRedirectUri)
        );
        let ten = vec!["cursor://x/cb".to_owned(); 9]
            .into_iter()
            .chain(["https://a.example/cb".to_owned()])
            .collect::<Vec<_>>();
        assert_eq!(
            OAuthClient::self_registered_redirect_uris(&ten)
                .unwrap()
                .len(),
            1
        );
        let eleven = [ten, vec!["https://b.example/cb".to_owned()]].concat();
        assert_eq!(
            OAuthClient::self_registered_redirect_uris(&eleven),
            Err(ClientError::TooManyRedirectUris(10)),
            "counted as asked, before any is left out"
        );
    }

    #[test]
    fn only_https_or_loopback_uris_without_fragments_or_user_info_register() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?tenant=1",
            "http://localhost:3000/callback",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/callback",
            "http://localhost.evil.example/cb",
            "https://app.example.com/cb#frag",
            "https://user@app.example.com/cb",
            "https://app.example.com@evil.example/cb",
            "https://app.example.com/c b",
            "https://app.example.com/cb\n",
            "https:///cb",
            "javascript:alert(1)",
            "app.example.com/cb",
            "https://app.example.com\\@evil.example/",
            "http://localhost:x/cb",
            "http://127.0.0.1:65536/cb",
            "https://a%2Fb.example/cb",
            "https://exämple.com/cb",
            "https://[::1/cb",
            "https://[]/cb",
            "https://a.example:99999/cb",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "http://127.0.0.1:65535/cb",
            "https://my_app.example/cb",
            "https://[2001:db8::1]:8443/cb",
            "https://app.example:/cb",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        let longest = format!("https://a.example/{}", "x".repeat(2_000 - 18));
        assert_eq!(longest.len(), 2_000);
        assert!(RedirectUri::parse(&longest).is_ok());
        assert!(RedirectUri::parse(&format!("{longest}x")).is_err());
    }

    #[test]
    fn names_are_one_to_a_hundred_printable_characters() {
        assert_eq!(ClientName::parse("  Tutor ").unwrap().as_str(), "Tutor");
        assert_eq!(ClientName::parse("Tutor").unwrap().to_string(), "Tutor");
        assert!(ClientName::parse(&"é".repeat(100)).is_ok());
        assert!(ClientName::parse(&"é".repeat(101)).is_err());
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse("a\nb").is_err());
        for sneaky in [
            "Claude\u{202E}ppa live",
            "Clau\u{200B}de",
            "\u{2066}Claude\u{2069}",
            "Claude\u{FEFF}",
            "Cl\u{00AD}aude",
        ] {
            assert_eq!(
                ClientName::parse(sneaky),
                Err(ClientError::InvalidName),
                "{sneaky:?}"
            );
        }
        assert!(
            ClientName::parse("Claudé – 日本語 ✓").is_ok(),
            "visible text is fine"
        );
    }

    #[test]
    fn a_web_client_needs_a_redirect_uri_and_a_chatgpt_client_does_not() {
        assert_eq!(
            OAuthClient::check_registration(ClientKind::Web, &[]),
            Err(ClientError::NoRedirectUri)
        );
        assert!(OAuthClient::check_registration(ClientKind::ChatGpt, &[]).is_ok());
        assert_eq!(
            OAuthClient::check_registration(ClientKind::Public, &[]),
            Err(ClientError::NoRedirectUri)
        );
        let uri = RedirectUri::parse("http://127.0.0.1:5000/cb").unwrap();
        assert!(
            OAuthClient::check_registration(ClientKind::Public, &vec![uri.clone(); 10]).is_ok()
        );
        assert_eq!(
            OAuthClient::check_registration(ClientKind::Public, &vec![uri; 11]),
            Err(ClientError::TooManyRedirectUris(10))
        );
        assert_eq!(ClientKind::parse("public"), Some(ClientKind::Public));
        assert!(client(ClientKind::Web, &["https://a.example/cb"]).requires_pkce());
        assert!(client(ClientKind::Public, &["https://a.example/cb"]).requires_pkce());
        assert!(!client(ClientKind::ChatGpt, &[]).requires_pkce());
        assert_eq!(ClientKind::parse("chatgpt"), Some(ClientKind::ChatGpt));
        assert_eq!(
            ClientKind::parse(ClientKind::Web.as_str()),
            Some(ClientKind::Web)
        );
        assert_eq!(ClientKind::parse("Web"), None);
    }

    #[test]
    fn a_challenge_keeps_its_bytes_and_shows_none() {
        let challenge = CodeChallenge::from_bytes([7; 32]);
        assert_eq!(challenge.as_bytes(), &[7; 32]);
        assert_eq!(format!("{challenge:?}"), "CodeChallenge(..)");
    }

    #[test]
    fn pkce_verifiers_are_43_to_128_unreserved_characters() {
        assert!(is_pkce_verifier(&"a".repeat(43)));
        assert!(is_pkce_verifier(&"-._~Az09".repeat(16)));
        assert!(!is_pkce_verifier(&"a".repeat(42)));
        assert!(!is_pkce_verifier(&"a".repeat(129)));
        assert!(!is_pkce_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!is_pkce_verifier(&format!("{}é", "a".repeat(43))));
    }

    #[test]
    fn a_refresh_token_is_rotated_once_and_a_late_replay_is_theft() {
        let policy = OAuthPolicy::default();
        let mut token = RefreshToken {
            hash: TokenHash::from_bytes([3; 32]),
            grant_id: GrantId::from_random_bytes([4; 16]),
            client_id: ClientId::from_random_bytes([1; 16]),
            user_id: UserId::from_random_bytes([5; 16]),
            expires_at: T0 + Duration::days(90),
            created_at: T0,
            rotated_at: None,
            revoked_at: None,
            grant_started_at: T0 - Duration::days(300),
            audience: Audience::Api,
        };
        assert_eq!(token.use_at(T0, &policy), RefreshUse::Rotate);
        // The grant's year ends the token, however fresh it is.
        let year = token.grant_started_at + Duration::days(365);
        assert_eq!(
            token.use_at(year - Duration::microseconds(1), &policy),
            RefreshUse::Rotate
        );
        assert_eq!(token.use_at(year, &policy), RefreshUse::Dead);
        token.grant_started_at = T0;
        let last = T0 + Duration::days(90) - Duration::microseconds(1);
        assert_eq!(token.use_at(last, &policy), RefreshUse::Rotate);
        assert_eq!(
            token.use_at(T0 + Duration::days(90), &policy),
            RefreshUse::Dead
        );
        token.rotated_at = Some(T0);
        assert_eq!(
            token.use_at(T0 + Duration::seconds(10), &policy),
            RefreshUse::SpentWithinGrace
        );
        assert_eq!(
            token.use_at(
                T0 + Duration::seconds(10) + Duration::microseconds(1),
                &policy
            ),
            RefreshUse::Replayed
        );
        token.revoked_at = Some(T0);
        assert_eq!(token.use_at(T0, &policy), RefreshUse::Dead);
    }

    #[test]
    fn a_resource_names_the_api_or_the_mcp_endpoint_of_this_server_only() {
        let at = |r: &str| Audience::of_resource("https://gpt.example.com/", r);
        assert_eq!(at("https://gpt.example.com"), Some(Audience::Api));
        assert_eq!(at("https://gpt.example.com/"), Some(Audience::Api));
        assert_eq!(at("https://gpt.example.com/api"), Some(Audience::Api));
        assert_eq!(at("https://gpt.example.com/mcp"), Some(Audience::Mcp));
        assert_eq!(at("https://gpt.example.com/mcp/"), Some(Audience::Mcp));
        for other in [
            "https://gpt.example.com/mcpx",
            "https://gpt.example.com.evil.example/mcp",
            "https://gpt.example.comx",
            "http://gpt.example.com/mcp",
            "https://other.example/mcp",
            "",
        ] {
            assert_eq!(at(other), None, "{other}");
        }
        for a in [Audience::Api, Audience::Mcp] {
            assert_eq!(Audience::parse(a.as_str()), Some(a));
        }
        assert_eq!(Audience::parse("API"), None);
    }

    #[test]
    fn the_policy_has_the_issues_numbers() {
        let p = OAuthPolicy::default();
        assert_eq!(p.code_ttl, Duration::seconds(60));
        assert_eq!(p.refresh_ttl, Duration::days(90));
        assert_eq!(p.reuse_grace, Duration::seconds(10));
        assert_eq!(p.grant_lifetime, Duration::days(365));
    }
}
