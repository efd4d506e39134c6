//! gptgate as the OAuth 2.1 server a GPT signs users in with, over HTTP, the way ChatGPT
//! drives it: the authorize page (sign-in by emailed code, consent), the code exchanged at the
//! token endpoint (form and Basic client authentication), API calls with the bearer alone,
//! refresh with rotation and reuse detection, revocation; and every refusal: RFC 6749 5.2
//! errors, redirects only to registered URIs, CSRF on the forms, PKCE.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use gptgate_domain::{ClientId, ClientKind, ClientName, OAuthClient, RedirectUri, TokenHash};
use gptgate_ports::AuthorizationRepository;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{
    error_code, spawn_app_with_options, Browser, ServeOptions, TestApp, PUBLIC_URL,
};

const CALLBACK: &str = "https://chatgpt.com/aip/g-6a3f/oauth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const SECRET: &str = "client-secret-0123456789-abcdefghijklmnopqrstuv";

fn sha256(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
    out
}

pub(crate) struct Server {
    pub(crate) app: TestApp,
    pub(crate) client: OAuthClient,
    pub(crate) browser: Browser,
}

async fn server() -> Server {
    server_with(&[]).await
}

/// The server with more settings (a provider's, say), and a confidential ChatGPT client.
pub(crate) async fn server_with(extra: &[(&str, String)]) -> Server {
    server_with_options(extra, ServeOptions::default()).await
}

/// The same with other serving options (the public URL at the server's own address, for a
/// client that follows the metadata's URLs).
pub(crate) async fn server_with_options(extra: &[(&str, String)], options: ServeOptions) -> Server {
    let own_address = options.public_url_is_own_address;
    let app = spawn_app_with_options(extra, options).await;
    let client = OAuthClient {
        id: ClientId::from_random_bytes([7; 16]),
        name: ClientName::parse("Spanish tutor GPT").unwrap(),
        kind: ClientKind::ChatGpt,
        secret_hash: Some(TokenHash::from_bytes(sha256(SECRET))),
        redirect_uris: vec![RedirectUri::parse("https://tutor.example.com/cb").unwrap()],
        created_at: app.clock.now_for_tests(),
    };
    app.store.create_client(&client).await.unwrap();
    let browser = if own_address {
        Browser::at_own_address(&app.address)
    } else {
        Browser::new(&app.address)
    };
    Server {
        app,
        client,
        browser,
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> time::OffsetDateTime;
}

impl NowForTests for gptgate_testkit::FakeClock {
    fn now_for_tests(&self) -> time::OffsetDateTime {
        gptgate_ports::Clock::now(self)
    }
}

impl Server {
    pub(crate) fn authorize_query(&self, extra: &[(&str, &str)]) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(sha256(VERIFIER));
        let client_id = self.client.id.to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("state", "xyz-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "gptgate"),
        ];
        for (k, v) in extra {
            pairs.retain(|(n, _)| n != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        serde_urlencoded::to_string(pairs).unwrap()
    }

    /// Every hidden field of the page's form, as the browser would post it.
    pub(crate) fn form_of(html: &str) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let mut rest = html;
        let marker = "type=\"hidden\" name=\"";
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            let name = rest.split('"').next().unwrap().to_owned();
            let value = rest
                .split_once("value=\"")
                .map(|(_, v)| v.split('"').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            fields.push((name, value.replace("&amp;", "&").replace("&#x2F;", "/")));
        }
        fields
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(String, String)]) -> reqwest::Response {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.browser.post_form_to(path, &pairs).await
    }

    /// Signs `email` in on the authorize page; returns the consent page.
    pub(crate) async fn sign_in_on_the_page(&self, email: &str) -> String {
        let (status, html) = self
            .browser
            .open(&format!("/oauth/authorize?{}", self.authorize_query(&[])))
            .await;
        assert_eq!(status, 200, "{html}");
        if html.contains("id=\"allow\"") {
            return html; // this browser is signed in already
        }
        assert!(html.contains("Sign in to continue"), "{html}");
        let mut fields = Self::form_of(&html);
        fields.push(("email".into(), email.into()));
        let res = self.post("/oauth/authorize/email", &fields).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("The code sent to"), "{html}");
        let code = self.app.mailer.last_code_for(email).unwrap();
        let mut fields = Self::form_of(&html);
        fields.push(("code".into(), code));
        let res = self.post("/oauth/authorize/code", &fields).await;
        assert_eq!(res.status(), 303);
        let next = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(next.starts_with("/oauth/authorize?"), "{next}");
        let (status, html) = self.browser.open(&next).await;
        assert_eq!(status, 200);
        html
    }

    /// Follows an authorization URL (any client's) in this browser: signs `email` in with the
    /// emailed code if asked, allows on the consent page, and returns where the browser is
    /// sent back (the client's redirect URI with `code` and `state`).
    pub(crate) async fn authorize_in_browser(&self, url: &str, email: &str) -> reqwest::Url {
        let (status, mut html) = self.browser.open(url).await;
        assert_eq!(status, 200, "{html}");
        if html.contains("Sign in to continue") {
            let mut fields = Self::form_of(&html);
            fields.push(("email".into(), email.into()));
            let html_code = self.post("/oauth/authorize/email", &fields).await;
            let html_code = html_code.text().await.unwrap();
            let mut fields = Self::form_of(&html_code);
            fields.push(("code".into(), self.app.mailer.last_code_for(email).unwrap()));
            let res = self.post("/oauth/authorize/code", &fields).await;
            assert_eq!(res.status(), 303);
            let next = res.headers()["location"].to_str().unwrap().to_owned();
            let (status, consent) = self.browser.open(&next).await;
            assert_eq!(status, 200);
            html = consent;
        }
        self.decide(&html, "allow").await
    }

    /// Presses `decision` on the consent page; returns where the browser is sent.
    pub(crate) async fn decide(&self, consent: &str, decision: &str) -> reqwest::Url {
        let mut fields = Self::form_of(consent);
        fields.push(("decision".into(), decision.into()));
        let res = self.post("/oauth/authorize", &fields).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
    }

    pub(crate) async fn code(&self, email: &str) -> String {
        let consent = self.sign_in_on_the_page(email).await;
        let back = self.decide(&consent, "allow").await;
        param(&back, "code")
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)], basic: bool) -> reqwest::Response {
        let id = self.client.id.to_string();
        let mut req = self
            .app
            .client
            .post(format!("{}/oauth/token", self.app.address));
        let mut all: Vec<(&str, &str)> = form.to_vec();
        if basic {
            req = req.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{SECRET}"))),
            );
        } else {
            all.push(("client_id", &id));
            all.push(("client_secret", SECRET));
        }
        req.form(&all).send().await.unwrap()
    }

    pub(crate) async fn exchange(&self, code: &str, basic: bool) -> reqwest::Response {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
            basic,
        )
        .await
    }

    /// An access token for the MCP endpoint (resource `{PUBLIC_URL}/mcp`), and its refresh
    /// token, for `email` signed in on the authorize page.
    pub(crate) async fn mcp_tokens(&self, email: &str) -> (String, String) {
        let mcp = format!("{PUBLIC_URL}/mcp");
        let _ = self.sign_in_on_the_page(email).await;
        let (_, consent) = self
            .browser
            .open(&format!(
                "/oauth/authorize?{}",
                self.authorize_query(&[("resource", &mcp)])
            ))
            .await;
        let code = param(&self.decide(&consent, "allow").await, "code");
        let res = self.exchange(&code, false).await;
        assert_eq!(res.status(), 200);
        let tokens: Value = res.json().await.unwrap();
        (
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// The same, in a browser of its own (a second person on this server).
    pub(crate) async fn mcp_tokens_in_new_browser(&self, email: &str) -> (String, String) {
        let other = Server {
            app: self.app.clone(),
            client: self.client.clone(),
            browser: Browser::new(&self.app.address),
        };
        other.mcp_tokens(email).await
    }

    /// An API call with the bearer alone (no x-api-key), as a GPT on OAuth makes it.
    pub(crate) async fn api(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.address))
            .header("authorization", format!("Bearer {bearer}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }
}

pub(crate) fn param(url: &reqwest::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub(crate) async fn oauth_error(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_metadata_names_every_endpoint_and_what_is_supported() {
    let s = server().await;
    let res = s
        .app
        .request(Method::GET, "/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["issuer"], PUBLIC_URL);
    assert_eq!(
        m["authorization_endpoint"],
        format!("{PUBLIC_URL}/oauth/authorize")
    );
    assert_eq!(m["token_endpoint"], format!("{PUBLIC_URL}/oauth/token"));
    assert_eq!(
        m["revocation_endpoint"],
        format!("{PUBLIC_URL}/oauth/revoke")
    );
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[tokio::test]
async fn chatgpt_signs_a_user_in_and_calls_the_api_with_the_bearer_alone() {
    let s = server().await;
    // The user first saved something through email sign-in on the API.
    let api_token = s.app.sign_in("ann.lee@example.com").await;
    let res = s
        .app
        .post(
            "/conversations",
            &json!({ "token": api_token, "summary": "Ser and estar", "messages": [] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    s.app.clock.advance(Duration::seconds(61)); // past the resend cooldown

    let consent = s.sign_in_on_the_page("ann.lee@example.com").await;
    assert!(
        consent.contains("Let <strong id=\"client\">Spanish tutor GPT</strong> use your gptgate account: your saved conversations and connected accounts, acting with them as you, and your gptgate account itself"),
        "{consent}"
    );
    assert!(
        consent.contains("Your answer goes to <strong>chatgpt.com</strong>"),
        "{consent}"
    );
    assert!(
        !consent.contains("id=\"unverified\""),
        "registered by the operator"
    );
    let back = s.decide(&consent, "allow").await;
    assert_eq!(
        format!(
            "{}://{}{}",
            back.scheme(),
            back.host_str().unwrap(),
            back.path()
        ),
        CALLBACK
    );
    assert_eq!(param(&back, "state"), "xyz-state");
    assert_eq!(param(&back, "iss"), PUBLIC_URL);
    let code = param(&back, "code");
    assert!(code.len() >= 43);

    let res = s.exchange(&code, false).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 24 * 3600);
    let access = tokens["access_token"].as_str().unwrap();
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);

    // The same person: the conversation saved by email sign-in is there.
    let res = s
        .api(Method::POST, "/conversations/list", access, Some(json!({})))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["conversations"][0]["summary"], "Ser and estar");
    let res = s.api(Method::GET, "/api/gpt/accounts", access, None).await;
    assert_eq!(res.status(), 200);
    let res = s.api(Method::GET, "/api/gpt/actions", access, None).await;
    assert_eq!(res.status(), 200, "the catalog needs no API key either");

    // An email sign-in's token is not enough without the API key, and says no more than a
    // made-up one.
    let res = s
        .api(Method::GET, "/api/gpt/accounts", &api_token, None)
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    let res = s
        .api(Method::GET, "/api/gpt/accounts", "made-up", None)
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn basic_authentication_works_and_a_replayed_code_revokes_its_tokens() {
    let s = server().await;
    let code = s.code("ann@example.com").await;
    let res = s.exchange(&code, true).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        s.api(Method::GET, "/api/gpt/accounts", access, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        oauth_error(s.exchange(&code, true).await, 400).await,
        "invalid_grant"
    );
    let res = s.api(Method::GET, "/api/gpt/accounts", access, None).await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
}

#[tokio::test]
async fn refresh_rotates_and_a_late_reuse_ends_the_family_then_revoke_ends_a_grant() {
    let s = server().await;
    let code = s.code("ann@example.com").await;
    let first: Value = s.exchange(&code, false).await.json().await.unwrap();
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let res = s
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", old_refresh),
            ],
            true,
        )
        .await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let access = second["access_token"].as_str().unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        s.api(Method::GET, "/api/gpt/accounts", access, None)
            .await
            .status(),
        200
    );

    s.app.clock.advance(Duration::seconds(11));
    let res = s
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", old_refresh),
            ],
            true,
        )
        .await;
    assert_eq!(oauth_error(res, 400).await, "invalid_grant");
    assert_eq!(
        s.api(Method::GET, "/api/gpt/accounts", access, None)
            .await
            .status(),
        401
    );

    // A new grant, revoked by its refresh token (RFC 7009).
    let code = s.code("ann@example.com").await;
    let third: Value = s.exchange(&code, false).await.json().await.unwrap();
    let res = s
        .token(
            &[("token", third["refresh_token"].as_str().unwrap())],
            false,
        )
        .await;
    assert_eq!(res.status(), 400, "the token endpoint needs a grant_type");
    let id = s.client.id.to_string();
    let res = s
        .app
        .client
        .post(format!("{}/oauth/revoke", s.app.address))
        .form(&[
            ("token", third["refresh_token"].as_str().unwrap()),
            ("client_id", &id),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let access = third["access_token"].as_str().unwrap();
    assert_eq!(
        s.api(Method::GET, "/api/gpt/accounts", access, None)
            .await
            .status(),
        401
    );
    let res = s
        .app
        .client
        .post(format!("{}/oauth/revoke", s.app.address))
        .form(&[
            ("token", "never-issued"),
            ("client_id", &id),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "unknown tokens are no error (RFC 7009 2.2)"
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_each_rfc_error() {
    let s = server().await;
    let code = s.code("ann@example.com").await;
    let id = s.client.id.to_string();
    let post = |form: Vec<(&'static str, String)>, auth: Option<String>| {
        let mut req = s.app.client.post(format!("{}/oauth/token", s.app.address));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.form(&form).send()
    };
    // Wrong secret: 401 with WWW-Authenticate.
    let res = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", CALLBACK.into()),
            ("client_id", id.clone()),
            ("client_secret", "wrong".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(oauth_error(res, 401).await, "invalid_client");
    let res = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
        ],
        Some(format!("Basic {}", STANDARD.encode(format!("{id}:wrong")))),
    )
    .await
    .unwrap();
    assert_eq!(oauth_error(res, 401).await, "invalid_client");
    let res = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(oauth_error(res, 401).await, "invalid_client");
    // Both methods at once.
    let res = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("client_secret", SECRET.into()),
        ],
        Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{SECRET}"))
        )),
    )
    .await
    .unwrap();
    assert_eq!(oauth_error(res, 400).await, "invalid_request");
    // Unknown grant type, missing parameters, a parameter twice, not a form.
    let res = s.token(&[("grant_type", "password")], false).await;
    assert_eq!(oauth_error(res, 400).await, "unsupported_grant_type");
    let res = s
        .token(&[("grant_type", "authorization_code")], false)
        .await;
    assert_eq!(oauth_error(res, 400).await, "invalid_request");
    let res = s.token(&[], false).await;
    assert_eq!(oauth_error(res, 400).await, "invalid_request");
    let res = s
        .app
        .client
        .post(format!("{}/oauth/token", s.app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={code}&code=other&client_id={id}&client_secret={SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res, 400).await, "invalid_request");
    let res = s
        .app
        .client
        .post(format!("{}/oauth/token", s.app.address))
        .json(&json!({ "grant_type": "authorization_code" }))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res, 400).await, "invalid_request");
    // Wrong redirect URI or verifier: invalid_grant (and the code is spent).
    let res = s
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                (
                    "redirect_uri",
                    "https://chatgpt.com/aip/g-other/oauth/callback",
                ),
                ("code_verifier", VERIFIER),
            ],
            false,
        )
        .await;
    assert_eq!(oauth_error(res, 400).await, "invalid_grant");
    let code = s.code("ann@example.com").await;
    let res = s
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &"x".repeat(43)),
            ],
            false,
        )
        .await;
    assert_eq!(oauth_error(res, 400).await, "invalid_grant");
    // A code expires after 60 s.
    let code = s.code("ann@example.com").await;
    s.app.clock.advance(Duration::seconds(60));
    assert_eq!(
        oauth_error(s.exchange(&code, false).await, 400).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_return_address_gets_a_page_never_a_redirect() {
    let s = server().await;
    let bad = ClientId::from_random_bytes([9; 16]).to_string();
    for query in [
        s.authorize_query(&[("client_id", "not-a-client")]),
        s.authorize_query(&[("client_id", &bad)]),
        s.authorize_query(&[("client_id", "")]),
        s.authorize_query(&[("redirect_uri", "")]),
        s.authorize_query(&[("redirect_uri", "https://evil.example/cb")]),
        s.authorize_query(&[(
            "redirect_uri",
            "https://chatgpt.com.evil.example/aip/g-1/oauth/callback",
        )]),
        s.authorize_query(&[(
            "redirect_uri",
            "https://chatgpt.com@evil.example/aip/g-1/oauth/callback",
        )]),
        s.authorize_query(&[(
            "redirect_uri",
            "https://chatgpt.com/aip/g-1%2F..%2Fx/oauth/callback",
        )]),
        s.authorize_query(&[(
            "redirect_uri",
            "https://chatgpt.com/aip/g-1/oauth/callback#https://evil.example",
        )]),
        s.authorize_query(&[("redirect_uri", "https://tutor.example.com/cb/../evil")]),
    ] {
        let res = s.browser.get(&format!("/oauth/authorize?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.headers().get("location").is_none(), "{query}");
        let html = res.text().await.unwrap();
        assert!(html.contains("This sign-in request is not valid"), "{html}");
    }
    // The client's own registered URI works.
    let res = s
        .browser
        .get(&format!(
            "/oauth/authorize?{}",
            s.authorize_query(&[("redirect_uri", "https://tutor.example.com/cb")])
        ))
        .await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn other_request_errors_go_back_to_the_client_with_its_state() {
    let s = server().await;
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "unsupported_response_type"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "too-short")], "invalid_request"),
    ] {
        let res = s
            .browser
            .get(&format!("/oauth/authorize?{}", s.authorize_query(&extra)))
            .await;
        assert_eq!(res.status(), 303, "{extra:?}");
        let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        assert!(to.as_str().starts_with(CALLBACK), "{to}");
        assert_eq!(param(&to, "error"), error, "{extra:?}");
        assert_eq!(param(&to, "state"), "xyz-state");
    }
    // Without PKCE at all: accepted (a confidential client), and then no verifier either.
    let res = s
        .browser
        .get(&format!(
            "/oauth/authorize?{}",
            s.authorize_query(&[("code_challenge", ""), ("code_challenge_method", "")])
        ))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn deny_goes_back_with_access_denied_and_the_forms_need_their_tokens() {
    let s = server().await;
    let consent = s.sign_in_on_the_page("ann@example.com").await;
    // Forged consent: no token, or from another site.
    let mut fields = Server::form_of(&consent);
    fields.retain(|(k, _)| k != "csrf");
    fields.push(("decision".into(), "allow".into()));
    let res = s.post("/oauth/authorize", &fields).await;
    assert_eq!(res.status(), 403);
    let mut fields = Server::form_of(&consent);
    fields.push(("decision".into(), "allow".into()));
    let res = s
        .browser
        .client
        .post(s.browser.local("/oauth/authorize"))
        .header("origin", "https://evil.example")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Another browser with the page's token: no session there.
    let other = Browser::new(&s.app.address);
    let res = other
        .post_form_to(
            "/oauth/authorize",
            &fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(res.status(), 403);
    let back = s.decide(&consent, "deny").await;
    assert_eq!(param(&back, "error"), "access_denied");
    assert_eq!(param(&back, "state"), "xyz-state");
    assert_eq!(param(&back, "code"), "");
}

/// Posts `fields` to `path` from `browser` with an `Origin` header.
async fn post_from(
    browser: &Browser,
    origin: &str,
    path: &str,
    fields: &[(String, String)],
) -> reqwest::Response {
    browser
        .client
        .post(browser.local(path))
        .header("origin", origin)
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The form's fields without its CSRF token.
fn without_csrf(fields: &[(String, String)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(k, _)| k != "csrf")
        .cloned()
        .collect()
}

/// A sign-in form posted without its token, from another site, and from another browser: each
/// refused.
async fn forgeries_are_refused(
    s: &Server,
    other: &Browser,
    path: &str,
    fields: &[(String, String)],
    tokenless: &[(String, String)],
) {
    for res in [
        s.post(path, tokenless).await,
        post_from(&s.browser, "https://evil.example", path, fields).await,
        post_from(other, &s.app.address, path, fields).await,
    ] {
        assert_eq!(res.status(), 403, "{path}");
    }
}

#[tokio::test]
async fn the_sign_in_forms_need_their_token_this_origin_and_this_browser() {
    let s = server().await;
    let (_, html) = s
        .browser
        .open(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    let mut fields = Server::form_of(&html);
    fields.push(("email".into(), "ann@example.com".into()));
    let tokenless = without_csrf(&fields);
    let other = Browser::new(&s.app.address);
    forgeries_are_refused(&s, &other, "/oauth/authorize/email", &fields, &tokenless).await;
    assert!(s.app.mailer.last_code_for("ann@example.com").is_none());

    // The code form: forged ones fail, and a code typed in another browser signs nobody in.
    let res = s.post("/oauth/authorize/email", &fields).await;
    let html = res.text().await.unwrap();
    let code = s.app.mailer.last_code_for("ann@example.com").unwrap();
    let mut fields = Server::form_of(&html);
    fields.push(("code".into(), code));
    let tokenless = without_csrf(&fields);
    forgeries_are_refused(&s, &other, "/oauth/authorize/code", &fields, &tokenless).await;
    let (_, page) = other
        .open(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    assert!(page.contains("Sign in to continue"), "{page}");
    // The code was not spent by the forgeries: this browser still signs in with it.
    let res = s.post("/oauth/authorize/code", &fields).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_wrong_code_on_the_page_says_so_and_a_session_skips_the_sign_in() {
    let s = server().await;
    let (_, html) = s
        .browser
        .open(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    let mut fields = Server::form_of(&html);
    fields.push(("email".into(), "ann@example.com".into()));
    let html = s
        .post("/oauth/authorize/email", &fields)
        .await
        .text()
        .await
        .unwrap();
    let right = s.app.mailer.last_code_for("ann@example.com").unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut fields = Server::form_of(&html);
    fields.push(("code".into(), wrong.into()));
    let res = s.post("/oauth/authorize/code", &fields).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("That code is not right"));
    let mut fields = Server::form_of(&html);
    fields.push(("code".into(), right));
    assert_eq!(s.post("/oauth/authorize/code", &fields).await.status(), 303);
    // Signed in: the next request goes straight to consent, and the integrations page opens.
    let (_, html) = s
        .browser
        .open(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    assert!(html.contains("Allow Spanish tutor GPT?"), "{html}");
    assert_eq!(s.browser.open("/integrations").await.0, 200);
}

#[tokio::test]
async fn the_openapi_document_for_oauth_asks_for_oauth_and_leaves_email_sign_in_out() {
    let s = server().await;
    let doc: Value = s.app.get_json("/openapi.json?auth=oauth").await;
    let flow = &doc["components"]["securitySchemes"]["oauth"]["flows"]["authorizationCode"];
    assert_eq!(
        flow["authorizationUrl"],
        format!("{PUBLIC_URL}/oauth/authorize")
    );
    assert_eq!(flow["tokenUrl"], format!("{PUBLIC_URL}/oauth/token"));
    assert!(doc["paths"].get("/auth/send-link").is_none());
    assert_eq!(
        doc["paths"]["/conversations"]["post"]["security"],
        json!([{ "oauth": ["gptgate"] }])
    );
    let yaml = s
        .app
        .request(Method::GET, "/openapi.yaml?auth=oauth")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(yaml.contains("authorizationCode"), "{yaml}");
    let plain: Value = s.app.get_json("/openapi.json?auth=apikey").await;
    assert!(plain["components"]["securitySchemes"]["apiKey"].is_object());
    let res = s
        .app
        .request(Method::GET, "/openapi.json?auth=saml")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "invalid_auth");
}

#[tokio::test]
async fn the_integrations_page_lists_apps_with_access_and_takes_one_back() {
    let s = server().await;
    let code = s.code("ann@example.com").await;
    let tokens: Value = s.exchange(&code, false).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    // The authorize page's sign-in opened this browser's integrations page too.
    let (status, html) = s.browser.open("/integrations").await;
    assert_eq!(status, 200);
    assert!(html.contains("Apps with access"), "{html}");
    assert!(
        html.contains("<strong>Spanish tutor GPT</strong>"),
        "{html}"
    );
    let marker = "action=\"/integrations/apps/";
    let start = html.find(marker).unwrap() + marker.len();
    let grant = html[start..].split('/').next().unwrap().to_owned();
    let csrf = crate::helpers::field(&html, "csrf");
    let res = s
        .browser
        .post_form_to(
            &format!("/integrations/apps/{grant}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/integrations?done=app-revoked");
    assert_eq!(
        s.api(Method::GET, "/api/gpt/accounts", access, None)
            .await
            .status(),
        401
    );
    let res = s
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            false,
        )
        .await;
    assert_eq!(oauth_error(res, 400).await, "invalid_grant");
    let (_, html) = s.browser.open("/integrations?done=app-revoked").await;
    assert!(html.contains("The app no longer has access"), "{html}");
    assert!(!html.contains("Apps with access"));
    // Without the page's token, nothing is revoked.
    let res = s
        .browser
        .post_form_to(&format!("/integrations/apps/{grant}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_management_link_opens_the_integrations_page_but_never_grants_an_app_access() {
    let s = server().await;
    let ann = s.app.sign_in("ann@example.com").await;
    let link: Value = s
        .app
        .post("/api/gpt/create-management-link", &json!({ "token": ann }))
        .await
        .json()
        .await
        .unwrap();
    let link = link["managementUrl"].as_str().unwrap();
    let (_, open) = s.browser.open(link).await;
    let res = s
        .browser
        .post_form_to(
            "/integrations",
            &[
                ("token", &crate::helpers::field(&open, "token")),
                ("csrf", &crate::helpers::field(&open, "csrf")),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(s.browser.open("/integrations").await.0, 200);
    // The authorize page still asks this browser to sign in with a code.
    let (status, html) = s
        .browser
        .open(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("Sign in to continue"), "{html}");
    assert!(!html.contains("id=\"allow\""), "{html}");
    // And a forged consent with the link's session is refused.
    let res = s
        .browser
        .post_form_to("/oauth/authorize", &[("decision", "allow")])
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_web_client_must_use_pkce() {
    let s = server().await;
    let web = OAuthClient {
        id: ClientId::from_random_bytes([8; 16]),
        kind: ClientKind::Web,
        ..s.client.clone()
    };
    s.app.store.create_client(&web).await.unwrap();
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", &web.id.to_string()),
        ("redirect_uri", "https://tutor.example.com/cb"),
        ("state", "s"),
    ])
    .unwrap();
    let res = s.browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(res.status(), 303);
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&to, "error"), "invalid_request");
    assert!(param(&to, "error_description").contains("PKCE"));
}

#[tokio::test]
async fn an_mcp_client_registers_itself_and_signs_a_user_in_with_pkce_and_no_secret() {
    let s = server().await;
    let register = |body: Value| {
        s.app
            .client
            .post(format!("{}/oauth/register", s.app.address))
            .json(&body)
            .send()
    };
    let callback = "http://127.0.0.1:33418/callback";
    let res = register(json!({
        "client_name": "Claude", "redirect_uris": [callback],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "scope": "gptgate", "logo_uri": "https://claude.ai/logo.png"
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let client: Value = res.json().await.unwrap();
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert!(client.get("client_secret").is_none());
    assert_eq!(client["redirect_uris"], json!([callback]));
    let id = client["client_id"].as_str().unwrap().to_owned();

    // The dance, as a public client: PKCE, and its id alone at the token endpoint.
    let challenge = URL_SAFE_NO_PAD.encode(sha256(VERIFIER));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", callback),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let (_, html) = s.browser.open(&format!("/oauth/authorize?{query}")).await;
    assert!(html.contains("Sign in to continue to Claude"), "{html}");
    let mut fields = Server::form_of(&html);
    fields.push(("email".into(), "ann@example.com".into()));
    let html = s
        .post("/oauth/authorize/email", &fields)
        .await
        .text()
        .await
        .unwrap();
    let mut fields = Server::form_of(&html);
    fields.push((
        "code".into(),
        s.app.mailer.last_code_for("ann@example.com").unwrap(),
    ));
    let next = s.post("/oauth/authorize/code", &fields).await;
    let next = next.headers()["location"].to_str().unwrap().to_owned();
    let (_, consent) = s.browser.open(&next).await;
    // It chose its own name: the page says so, where the answer goes, and what it may do.
    assert!(consent.contains("id=\"unverified\""), "{consent}");
    assert!(consent.contains("an app on this computer"), "{consent}");
    assert!(consent.contains("sending email"), "{consent}");
    let back = s.decide(&consent, "allow").await;
    let code = param(&back, "code");
    let res = s
        .app
        .client
        .post(format!("{}/oauth/token", s.app.address))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback),
            ("code_verifier", VERIFIER),
            ("client_id", id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    // It named no resource: a client that registered itself gets the MCP endpoint, never the
    // GPT API (whose OAuth tokens need no API key and can erase the user).
    let access = tokens["access_token"].as_str().unwrap();
    let res = s.api(Method::GET, "/api/gpt/accounts", access, None).await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    let res = s
        .app
        .client
        .post(format!("{}/mcp", s.app.address))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(access)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Naming the API is refused, back at the client.
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", callback),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", PUBLIC_URL),
    ])
    .unwrap();
    let res = s.browser.get(&format!("/oauth/authorize?{query}")).await;
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&to, "error"), "invalid_target");
    // Without PKCE its requests are refused.
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", callback),
    ])
    .unwrap();
    let res = s.browser.get(&format!("/oauth/authorize?{query}")).await;
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&to, "error"), "invalid_request");
}

#[tokio::test]
async fn self_registration_is_bounded() {
    let s = server().await;
    let register = |body: Value| {
        s.app
            .client
            .post(format!("{}/oauth/register", s.app.address))
            .json(&body)
            .send()
    };
    let ok = "https://client.example/cb";
    for (body, error) in [
        (
            json!({ "redirect_uris": ["http://client.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({ "redirect_uris": vec![ok; 11] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://client.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [ok], "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [ok], "grant_types": ["implicit"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [ok], "response_types": ["token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [ok], "client_name": "x".repeat(101) }),
            "invalid_client_metadata",
        ),
        (json!("not an object"), "invalid_client_metadata"),
    ] {
        let res = register(body.clone()).await.unwrap();
        assert_eq!(oauth_error(res, 400).await, error, "{body}");
    }
    let res = register(json!({ "redirect_uris": vec![ok; 10] }))
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "ten redirect URIs are allowed");
    // Cursor's registration, as it sends it: its own scheme is left out, the rest registered.
    let res = register(json!({
        "client_name": "Cursor", "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "redirect_uris": [
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://localhost:8787/callback"
        ]
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let cursor: Value = res.json().await.unwrap();
    assert_eq!(
        cursor["redirect_uris"],
        json!([
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://localhost:8787/callback"
        ])
    );
    for _ in 2..gptgate_ports::services::REGISTRATIONS_PER_HOUR {
        assert_eq!(
            register(json!({ "redirect_uris": [ok] }))
                .await
                .unwrap()
                .status(),
            201
        );
    }
    let res = register(json!({ "redirect_uris": [ok] })).await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(oauth_error(res, 429).await, "temporarily_unavailable");
    let metadata: Value = s
        .app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{PUBLIC_URL}/oauth/register")
    );
}

#[tokio::test]
async fn a_token_for_the_mcp_endpoint_is_refused_by_the_api() {
    let s = server().await;
    let mcp = format!("{PUBLIC_URL}/mcp");
    // Signed in once (consent), then a request for the MCP resource.
    let _ = s.code("ann@example.com").await;
    let (_, consent) = s
        .browser
        .open(&format!(
            "/oauth/authorize?{}",
            s.authorize_query(&[("resource", &mcp)])
        ))
        .await;
    assert!(
        consent.contains("name=\"resource\""),
        "carried through: {consent}"
    );
    let back = s.decide(&consent, "allow").await;
    let code = param(&back, "code");
    let res = s
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
                ("resource", &mcp),
            ],
            false,
        )
        .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let res = s
        .api(
            Method::GET,
            "/api/gpt/accounts",
            tokens["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(error_code(res, 401).await, "invalid_token");
    // Asking for the API with an MCP grant's refresh token, or for a resource elsewhere.
    for resource in [PUBLIC_URL.to_owned(), "https://evil.example/mcp".to_owned()] {
        let res = s
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                    ("resource", &resource),
                ],
                false,
            )
            .await;
        assert_eq!(oauth_error(res, 400).await, "invalid_target", "{resource}");
    }
    let res = s
        .browser
        .get(&format!(
            "/oauth/authorize?{}",
            s.authorize_query(&[("resource", "https://evil.example/mcp")])
        ))
        .await;
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&to, "error"), "invalid_target");
}

#[tokio::test]
async fn the_mcp_endpoints_protected_resource_metadata_names_this_server() {
    let s = server().await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let res = s.app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let m: Value = res.json().await.unwrap();
        assert_eq!(m["resource"], format!("{PUBLIC_URL}/mcp"));
        assert_eq!(m["authorization_servers"], json!([PUBLIC_URL]));
        assert_eq!(m["bearer_methods_supported"], json!(["header"]));
    }
    let res = s
        .app
        .request(Method::GET, "/.well-known/oauth-protected-resource/other")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "not_found");
}
