//! The one rule set of every browser page that changes something (DESIGN.md section 3): forms
//! carry a CSRF token bound to the browser's own cookie, POSTs come from our own origin, and
//! cookies are HttpOnly, SameSite, and `__Host-` + Secure when the public URL is https.
//!
//! CSRF tokens follow OWASP's signed double-submit pattern: a random pre-session value in an
//! HttpOnly cookie, and in the form the HMAC (a key derived from `JWT_SECRET`) of that value and
//! the form's purpose. A token fetched by an attacker in their own browser is worthless in the
//! victim's, whose cookie differs; a forged cross-site POST fails the `Origin` check as well.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gptgate_ports::Random;
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

/// The browser's pre-session cookie, to which form tokens are bound.
const CSRF_COOKIE: &str = "gptgate-csrf";
/// The cookie of one connect flow: `gptgate-connect-<flow id>` holds the flow's nonce.
const CONNECT_COOKIE: &str = "gptgate-connect-";
/// The browser's signed-in session on the pages (today: the integrations page's management
/// token, so the session ends when the token does).
const SESSION_COOKIE: &str = "gptgate-session";
/// The admin console's session: SameSite=Strict, so no other site's link or form carries it.
const ADMIN_COOKIE: &str = "gptgate-admin";
/// The hosted assistant's chat session.
const CHAT_COOKIE: &str = "gptgate-chat";
/// A launched visitor's chat session: a cookie of its own, since over https it is partitioned
/// (kept apart per embedding site) and must never be mistaken for, or clash with, the team's.
const LAUNCH_COOKIE: &str = "gptgate-launch";
/// The cookie of one LTI login: `gptgate-lti-<state>` holds what this browser keeps of it
/// (`gptgate_domain::LoginBinding`), so two launches racing in one page (two activities of a
/// course) each keep their own.
const LTI_COOKIE: &str = "gptgate-lti-";

/// Why a form POST was refused. Deliberately without detail for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("the request came from another site")]
    CrossOrigin,
    #[error("the form's token is missing or does not match this browser")]
    BadToken,
}

/// Cookies and CSRF checks for the pages, configured once from the public URL.
pub struct Browser {
    key: hmac::Key,
    /// `scheme://host[:port]` of the public URL: the only `Origin` a form POST may come from.
    origin: String,
    /// Public URL on https: cookies are `__Host-` prefixed and Secure.
    secure: bool,
}

impl Browser {
    pub fn new(key: hmac::Key, public_url: &str) -> Self {
        let origin = url_origin(public_url);
        Self {
            key,
            secure: origin.starts_with("https://"),
            origin,
        }
    }

    fn cookie_name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    fn cookie<'c>(&self, name: String, value: String) -> Cookie<'c> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The browser's pre-session value, and the cookie to set when it has none yet (or a
    /// malformed one).
    pub fn pre_session(
        &self,
        req: &HttpRequest,
        random: &dyn Random,
    ) -> Result<(String, Option<Cookie<'static>>), gptgate_ports::RandomError> {
        if let Some(value) = self.pre_session_of(req) {
            return Ok((value, None));
        }
        let value = URL_SAFE_NO_PAD.encode(random.bytes::<32>()?);
        let cookie = self.cookie(self.cookie_name(CSRF_COOKIE), value.clone());
        Ok((value, Some(cookie)))
    }

    fn pre_session_of(&self, req: &HttpRequest) -> Option<String> {
        self.read_cookie(req, CSRF_COOKIE)
            .filter(|v| v.len() == 43 && URL_SAFE_NO_PAD.decode(v).is_ok())
    }

    /// What a token signs: the purpose and the pre-session value, each delimited.
    fn message(pre_session: &str, purpose: &str) -> Vec<u8> {
        let mut message = Vec::with_capacity(64 + purpose.len() + pre_session.len());
        for part in ["gptgate csrf v1", purpose, pre_session] {
            message.extend_from_slice(part.as_bytes());
            message.push(0);
        }
        message
    }

    /// The token a form for `purpose` carries in this browser.
    pub fn csrf_token(&self, pre_session: &str, purpose: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, &Self::message(pre_session, purpose)))
    }

    /// Checks a form POST: it comes from our origin, and `presented` is the token for `purpose`
    /// bound to this browser's pre-session cookie (compared in constant time by `ring`).
    pub fn check_form(
        &self,
        req: &HttpRequest,
        presented: Option<&str>,
        purpose: &str,
    ) -> Result<(), Forbidden> {
        if !self.same_origin(req) {
            return Err(Forbidden::CrossOrigin);
        }
        let pre_session = self.pre_session_of(req).ok_or(Forbidden::BadToken)?;
        self.verify(presented, &pre_session, purpose)
    }

    /// Checks a request of a signed-in page's script: it comes from our origin, and
    /// `presented` is the token for `purpose` bound to `session` (the value of the page's
    /// HttpOnly session cookie, which no other site can read).
    pub fn check_bound(
        &self,
        req: &HttpRequest,
        presented: Option<&str>,
        session: &str,
        purpose: &str,
    ) -> Result<(), Forbidden> {
        if !self.same_origin(req) {
            return Err(Forbidden::CrossOrigin);
        }
        self.verify(presented, session, purpose)
    }

    /// Whether `presented` is the token for `purpose` bound to `value` (constant time).
    fn verify(&self, presented: Option<&str>, value: &str, purpose: &str) -> Result<(), Forbidden> {
        let presented = presented
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .ok_or(Forbidden::BadToken)?;
        hmac::verify(&self.key, &Self::message(value, purpose), &presented)
            .map_err(|_| Forbidden::BadToken)
    }

    /// `Origin` is ours; without `Origin`, `Sec-Fetch-Site` (if sent) says same-origin. A
    /// request with neither comes from no browser (curl, a script) and still needs the token.
    fn same_origin(&self, req: &HttpRequest) -> bool {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        match header(header::ORIGIN.as_str()) {
            Some(origin) => origin == self.origin,
            None => header("sec-fetch-site").is_none_or(|site| site == "same-origin"),
        }
    }

    /// The cookie holding the nonce of connect flow `flow_id`, for `lifetime` (the life of the
    /// flow's OAuth state).
    pub fn connect_cookie(
        &self,
        flow_id: &str,
        nonce: &SecretString,
        lifetime: CookieDuration,
    ) -> Cookie<'static> {
        let mut cookie = self.cookie(
            self.cookie_name(&format!("{CONNECT_COOKIE}{flow_id}")),
            nonce.expose_secret().to_owned(),
        );
        cookie.set_max_age(lifetime);
        cookie
    }

    /// The nonce this browser holds for connect flow `flow_id`, if any.
    pub fn connect_nonce(&self, req: &HttpRequest, flow_id: &str) -> Option<String> {
        self.read_cookie(req, &format!("{CONNECT_COOKIE}{flow_id}"))
    }

    /// The value of our cookie `base`, its name compared byte for byte as the browser sent it.
    ///
    /// Not actix's lookup: it percent-decodes names, and both it and the `cookie` crate trim
    /// Unicode white space, so a cookie that a sibling subdomain (or anyone, over plain http)
    /// sets as `%5F%5FHost-...` or `\u{2000}__Host-...` is stored by the browser without the
    /// `__Host-` protections yet would read as ours. Pairs are split on `;` and trimmed of
    /// spaces and tabs only (RFC 6265 5.4); if our name appears twice, or another cookie's name
    /// merely decodes, trims or case-folds to it, the cookie counts as absent.
    fn read_cookie(&self, req: &HttpRequest, base: &str) -> Option<String> {
        let name = self.cookie_name(base);
        let mut found = None;
        let mut planted = false;
        for header in req.headers().get_all(header::COOKIE) {
            let Ok(text) = std::str::from_utf8(header.as_bytes()) else {
                return None;
            };
            for pair in text.split(';') {
                let pair = pair.trim_matches([' ', '\t']);
                let (raw_name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if raw_name == name {
                    planted |= found.is_some();
                    found = Some(value.to_owned());
                } else {
                    let lookalike = raw_name.trim() == name
                        || raw_name.eq_ignore_ascii_case(&name)
                        || Cookie::parse_encoded(pair).is_ok_and(|c| c.name() == name);
                    planted |= lookalike;
                }
            }
        }
        if planted {
            tracing::warn!("a cookie that imitates one of ours was sent; ignored");
            return None;
        }
        found
    }

    /// The session cookie holding `value` for `lifetime`.
    pub fn session_cookie(&self, value: &str, lifetime: CookieDuration) -> Cookie<'static> {
        let mut cookie = self.cookie(self.cookie_name(SESSION_COOKIE), value.to_owned());
        cookie.set_max_age(lifetime);
        cookie
    }

    /// The browser's session value, if it sent one (only ours: see [`Self::read_cookie`]).
    pub fn session(&self, req: &HttpRequest) -> Option<String> {
        self.read_cookie(req, SESSION_COOKIE)
            .filter(|v| !v.is_empty() && v.len() <= 128)
    }

    /// A cookie that removes the session.
    pub fn clear_session_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.cookie(self.cookie_name(SESSION_COOKIE), String::new());
        cookie.make_removal();
        cookie
    }

    /// The admin console's session cookie holding `value` for `lifetime` (SameSite=Strict).
    pub fn admin_cookie(&self, value: &str, lifetime: CookieDuration) -> Cookie<'static> {
        let mut cookie = self.cookie(self.cookie_name(ADMIN_COOKIE), value.to_owned());
        cookie.set_same_site(SameSite::Strict);
        cookie.set_max_age(lifetime);
        cookie
    }

    /// The browser's admin session token, if it sent one (only ours: see [`Self::read_cookie`]).
    pub fn admin_session(&self, req: &HttpRequest) -> Option<String> {
        self.read_cookie(req, ADMIN_COOKIE)
            .filter(|v| !v.is_empty() && v.len() <= 128)
    }

    /// A cookie that removes the admin session.
    pub fn clear_admin_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.admin_cookie("", CookieDuration::ZERO);
        cookie.make_removal();
        cookie
    }

    /// The chat's session cookie holding `value` for `lifetime`.
    pub fn chat_cookie(&self, value: &str, lifetime: CookieDuration) -> Cookie<'static> {
        let mut cookie = self.cookie(self.cookie_name(CHAT_COOKIE), value.to_owned());
        cookie.set_max_age(lifetime);
        cookie
    }

    /// The `Set-Cookie` value of a launched visitor's chat session holding `value` for
    /// `lifetime`: over https `SameSite=None; Secure; Partitioned` (CHIPS), so the chat works
    /// inside the platform's page (the cookie is kept apart per embedding site); over plain
    /// http (development) the Lax cookie of [`Self::chat_cookie`], which works at the top level
    /// only.
    pub fn launched_chat_cookie(&self, value: &str, lifetime: CookieDuration) -> String {
        self.cross_site_cookie(LAUNCH_COOKIE, value, lifetime)
    }

    /// The `Set-Cookie` value that removes a launched visitor's session (with the attributes
    /// it was set with: a partitioned cookie is removed only by a partitioned removal).
    pub fn clear_launched_chat_cookie(&self) -> String {
        self.launched_chat_cookie("", CookieDuration::ZERO)
    }

    /// The cookie of a cross-site flow (a launch from a platform's page): over https
    /// `SameSite=None; Secure; Partitioned` (CHIPS), so it is sent inside the platform's frame
    /// and kept apart per embedding site; over plain http (development) Lax, which works at the
    /// top level only.
    fn cross_site_cookie(&self, base: &str, value: &str, lifetime: CookieDuration) -> String {
        let mut cookie = self.cookie(self.cookie_name(base), value.to_owned());
        cookie.set_max_age(lifetime);
        if !self.secure {
            return cookie.to_string();
        }
        cookie.set_same_site(SameSite::None);
        // The cookie crate of actix-web 4 predates the Partitioned attribute.
        format!("{cookie}; Partitioned")
    }

    /// Whether `state` can name an LTI login's cookie (what gptgate mints: base64url, 43
    /// characters).
    fn lti_state_ok(state: &str) -> bool {
        state.len() == 43
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// The `Set-Cookie` value keeping LTI login `state`'s `binding` for `lifetime`; `None`
    /// for a state gptgate would not mint.
    pub fn lti_cookie(
        &self,
        state: &str,
        binding: &str,
        lifetime: CookieDuration,
    ) -> Option<String> {
        Self::lti_state_ok(state)
            .then(|| self.cross_site_cookie(&format!("{LTI_COOKIE}{state}"), binding, lifetime))
    }

    /// What this browser keeps of LTI login `state`, if anything.
    pub fn lti_binding(&self, req: &HttpRequest, state: &str) -> Option<String> {
        if !Self::lti_state_ok(state) {
            return None;
        }
        self.read_cookie(req, &format!("{LTI_COOKIE}{state}"))
            .filter(|v| !v.is_empty() && v.len() <= 128)
    }

    /// The browser's chat session token, if it sent one (only ours: see [`Self::read_cookie`]):
    /// the team's cookie, else a launched visitor's.
    pub fn chat_session(&self, req: &HttpRequest) -> Option<String> {
        [CHAT_COOKIE, LAUNCH_COOKIE].into_iter().find_map(|name| {
            self.read_cookie(req, name)
                .filter(|v| !v.is_empty() && v.len() <= 128)
        })
    }

    /// A cookie that removes the chat session.
    pub fn clear_chat_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.chat_cookie("", CookieDuration::ZERO);
        cookie.make_removal();
        cookie
    }

    /// A cookie that removes connect flow `flow_id`'s nonce: a flow is finished once.
    pub fn clear_connect_cookie(&self, flow_id: &str) -> Cookie<'static> {
        let mut cookie = self.cookie(
            self.cookie_name(&format!("{CONNECT_COOKIE}{flow_id}")),
            String::new(),
        );
        cookie.make_removal();
        cookie
    }
}

/// The origin of a URL as browsers send it in `Origin` (`scheme://host[:port]`, default
/// ports left out).
fn url_origin(public_url: &str) -> String {
    url::Url::parse(public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| public_url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn browser(url: &str) -> Browser {
        Browser::new(hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]), url)
    }

    #[test]
    fn a_launched_visitors_cookie_works_inside_the_platforms_page_over_https_only() {
        let cookie = browser("https://gpt.example.com")
            .launched_chat_cookie("tok", CookieDuration::hours(2));
        for part in [
            "__Host-gptgate-launch=tok",
            "HttpOnly",
            "Secure",
            "SameSite=None",
            "Partitioned",
            "Path=/",
            "Max-Age=7200",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        let dev =
            browser("http://localhost:8080").launched_chat_cookie("tok", CookieDuration::hours(2));
        assert!(
            dev.starts_with("gptgate-launch=tok") && dev.contains("SameSite=Lax"),
            "{dev}"
        );
        assert!(!dev.contains("Partitioned") && !dev.contains("Secure"));
        let cleared = browser("https://gpt.example.com").clear_launched_chat_cookie();
        assert!(
            cleared.contains("Max-Age=0") && cleared.contains("Partitioned"),
            "{cleared}"
        );
    }

    fn with_pre_session(req: TestRequest, value: &str) -> TestRequest {
        req.cookie(Cookie::new("gptgate-csrf", value.to_owned()))
    }

    const PRE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const OTHER: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn origins_are_compared_as_browsers_send_them() {
        assert_eq!(
            url_origin("https://GPT.example.com:443/x"),
            "https://gpt.example.com"
        );
        assert_eq!(url_origin("http://localhost:8080"), "http://localhost:8080");
    }

    #[test]
    fn a_token_works_only_in_its_browser_for_its_purpose_from_our_origin() {
        let b = browser("http://localhost:8080");
        let token = b.csrf_token(PRE, "connect");
        let post = |pre: &str, origin: Option<&str>, site: Option<&str>| {
            let mut req = with_pre_session(TestRequest::post(), pre);
            if let Some(o) = origin {
                req = req.insert_header(("origin", o));
            }
            if let Some(s) = site {
                req = req.insert_header(("sec-fetch-site", s));
            }
            req.to_http_request()
        };
        let ours = Some("http://localhost:8080");
        assert_eq!(
            b.check_form(&post(PRE, ours, None), Some(&token), "connect"),
            Ok(())
        );
        assert_eq!(
            b.check_form(&post(PRE, None, None), Some(&token), "connect"),
            Ok(()),
            "no browser headers at all: the token decides"
        );
        assert_eq!(
            b.check_form(
                &post(PRE, None, Some("same-origin")),
                Some(&token),
                "connect"
            ),
            Ok(())
        );
        let cases = [
            (
                post(OTHER, ours, None),
                Some(token.as_str()),
                "connect",
                Forbidden::BadToken,
            ),
            (post(PRE, ours, None), None, "connect", Forbidden::BadToken),
            (
                post(PRE, ours, None),
                Some("garbage!"),
                "connect",
                Forbidden::BadToken,
            ),
            (
                post(PRE, ours, None),
                Some(token.as_str()),
                "other",
                Forbidden::BadToken,
            ),
            (
                post(PRE, Some("https://evil.example"), None),
                Some(token.as_str()),
                "connect",
                Forbidden::CrossOrigin,
            ),
            (
                post(PRE, Some("null"), None),
                Some(token.as_str()),
                "connect",
                Forbidden::CrossOrigin,
            ),
            (
                post(PRE, Some("http://localhost:8081"), None),
                Some(token.as_str()),
                "connect",
                Forbidden::CrossOrigin,
            ),
            (
                post(PRE, None, Some("cross-site")),
                Some(token.as_str()),
                "connect",
                Forbidden::CrossOrigin,
            ),
            (
                TestRequest::post()
                    .insert_header(("origin", "http://localhost:8080"))
                    .to_http_request(),
                Some(token.as_str()),
                "connect",
                Forbidden::BadToken,
            ),
        ];
        for (i, (req, presented, purpose, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                b.check_form(&req, presented, purpose),
                Err(expected),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_cookie_whose_name_only_decodes_to_ours_is_not_ours() {
        let b = browser("https://gpt.example.com");
        let forged = TestRequest::get()
            .insert_header(("cookie", "%5F%5FHost-gptgate-connect-0123=planted"))
            .to_http_request();
        assert_eq!(b.connect_nonce(&forged, "0123"), None);
        let forged = TestRequest::get()
            .insert_header(("cookie", format!("%5F%5FHost-gptgate-csrf={PRE}")))
            .to_http_request();
        assert_eq!(b.pre_session_of(&forged), None);
        let ours = TestRequest::get()
            .insert_header(("cookie", "a=1; __Host-gptgate-connect-0123=real;b=2"))
            .to_http_request();
        assert_eq!(b.connect_nonce(&ours, "0123").as_deref(), Some("real"));
        for planted in [
            "\u{2000}__Host-gptgate-connect-0123=planted; __Host-gptgate-connect-0123=real",
            "__host-gptgate-connect-0123=planted; __Host-gptgate-connect-0123=real",
            "%5F%5FHost-gptgate-connect-0123=planted; __Host-gptgate-connect-0123=real",
            "__Host-gptgate-connect-0123=planted; __Host-gptgate-connect-0123=real",
            "\u{2000}__Host-gptgate-connect-0123=planted",
        ] {
            let req = TestRequest::get()
                .insert_header(("cookie", planted))
                .to_http_request();
            assert!(req.headers().contains_key("cookie"), "sent: {planted:?}");
            assert_eq!(b.connect_nonce(&req, "0123"), None, "{planted:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_ours_only_and_lasts_as_long_as_asked() {
        let b = browser("https://gpt.example.com");
        let cookie = b.session_cookie("tok", CookieDuration::minutes(59));
        assert_eq!(cookie.name(), "__Host-gptgate-session");
        assert_eq!(cookie.max_age(), Some(CookieDuration::minutes(59)));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        let read = |header: &str| {
            b.session(
                &TestRequest::get()
                    .insert_header(("cookie", header))
                    .to_http_request(),
            )
        };
        assert_eq!(read("__Host-gptgate-session=tok").as_deref(), Some("tok"));
        assert_eq!(read("gptgate-session=tok"), None, "unprefixed over https");
        assert_eq!(read("%5F%5FHost-gptgate-session=tok"), None);
        assert_eq!(read("__Host-gptgate-session="), None);
        assert_eq!(
            read(&format!("__Host-gptgate-session={}", "a".repeat(129))),
            None
        );
        let removal = b.clear_session_cookie();
        assert_eq!(removal.name(), "__Host-gptgate-session");
        assert_eq!(removal.max_age(), Some(CookieDuration::ZERO));
    }

    #[test]
    fn cookies_are_host_prefixed_and_secure_only_over_https() {
        let nonce = SecretString::from("n".to_owned());
        let ten_minutes = CookieDuration::minutes(10);
        let plain = browser("http://localhost:8080").connect_cookie("0123", &nonce, ten_minutes);
        assert_eq!(plain.name(), "gptgate-connect-0123");
        assert_eq!(plain.secure(), Some(false));
        let https = browser("https://gpt.example.com").connect_cookie("0123", &nonce, ten_minutes);
        assert_eq!(https.name(), "__Host-gptgate-connect-0123");
        assert_eq!(https.secure(), Some(true));
        for c in [&plain, &https] {
            assert_eq!(c.http_only(), Some(true));
            assert_eq!(c.same_site(), Some(SameSite::Lax));
            assert_eq!(c.path(), Some("/"));
            assert_eq!(c.max_age(), Some(CookieDuration::seconds(600)));
        }
    }

    #[test]
    fn the_admin_cookie_is_strict_host_prefixed_and_lasts_its_session() {
        let b = browser("https://gpt.example.com");
        let cookie = b.admin_cookie("tok", CookieDuration::hours(8));
        assert_eq!(cookie.name(), "__Host-gptgate-admin");
        assert_eq!(cookie.max_age(), Some(CookieDuration::hours(8)));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        let read = |header: &str| {
            b.admin_session(
                &TestRequest::get()
                    .insert_header(("cookie", header))
                    .to_http_request(),
            )
        };
        assert_eq!(read("__Host-gptgate-admin=tok").as_deref(), Some("tok"));
        assert_eq!(read("gptgate-admin=tok"), None, "unprefixed over https");
        assert_eq!(read("__Host-gptgate-session=tok"), None, "another cookie");
        let removal = b.clear_admin_cookie();
        assert_eq!(removal.name(), "__Host-gptgate-admin");
        assert_eq!(removal.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(removal.same_site(), Some(SameSite::Strict));
        assert_eq!(
            browser("http://localhost:8080")
                .admin_cookie("tok", CookieDuration::hours(8))
                .name(),
            "gptgate-admin"
        );
    }

    #[test]
    fn an_lti_login_cookie_is_named_by_its_state_partitioned_and_short_lived() {
        let state = "A".repeat(42) + "_";
        let b = browser("https://gpt.example.com");
        let set = b
            .lti_cookie(&state, "the-nonce", CookieDuration::minutes(10))
            .unwrap();
        assert!(
            set.starts_with(&format!("__Host-gptgate-lti-{state}=the-nonce;")),
            "{set}"
        );
        for part in [
            "HttpOnly",
            "SameSite=None",
            "Secure",
            "Path=/",
            "Max-Age=600",
            "Partitioned",
        ] {
            assert!(set.contains(part), "{part} in {set}");
        }
        let read = |header: &str, state: &str| {
            b.lti_binding(
                &TestRequest::post()
                    .insert_header(("cookie", header))
                    .to_http_request(),
                state,
            )
        };
        let mine = format!("__Host-gptgate-lti-{state}=the-nonce");
        assert_eq!(read(&mine, &state).as_deref(), Some("the-nonce"));
        assert_eq!(read(&mine, &("B".repeat(42) + "_")), None, "another login");
        assert_eq!(read(&format!("gptgate-lti-{state}=n"), &state), None);
        // States gptgate never mints name no cookie, read or set.
        for bad in ["", "short", &"A".repeat(44), &("A".repeat(42) + ";")] {
            assert_eq!(read(&mine, bad), None, "{bad}");
            assert!(b
                .lti_cookie(bad, "n", CookieDuration::minutes(10))
                .is_none());
        }
        let dev = browser("http://localhost:8080")
            .lti_cookie(&state, "n", CookieDuration::minutes(10))
            .unwrap();
        assert!(dev.starts_with(&format!("gptgate-lti-{state}=n;")), "{dev}");
        assert!(
            dev.contains("SameSite=Lax") && !dev.contains("Partitioned"),
            "{dev}"
        );
    }
}
