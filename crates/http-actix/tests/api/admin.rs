//! The admin console's sign-in over HTTP: off (404) without ADMIN_PASSWORD_HASH; the sign-in
//! form with its CSRF token (login CSRF refused), one generic answer for a wrong password, 429
//! after ten, the session cookie's attributes, its 8 hours, sign-out, and the password change
//! that ends every session.

use gptgate_testkit::FakePasswords;
use reqwest::Method;
use time::Duration;

use crate::helpers::{error_code, field, spawn_app, spawn_app_with, Browser, TestApp, PUBLIC_URL};

const PASSWORD: &str = "correct horse battery staple";

async fn console() -> TestApp {
    spawn_app_with(&[(
        "ADMIN_PASSWORD_HASH",
        FakePasswords::hash_of(PASSWORD).as_str().to_owned(),
    )])
    .await
}

/// Opens the sign-in page and posts `password` with its token; the answer.
async fn sign_in(browser: &Browser, password: &str) -> reqwest::Response {
    let (status, html) = browser.open("/admin/login").await;
    assert_eq!(status, 200, "{html}");
    let csrf = field(&html, "csrf");
    browser
        .post_form_to("/admin/login", &[("csrf", &csrf), ("password", password)])
        .await
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gptgate-admin="))
        .unwrap_or_default()
}

#[tokio::test]
async fn without_an_admin_password_the_console_does_not_exist() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/admin"),
        (Method::GET, "/admin/login"),
        (Method::POST, "/admin/login"),
        (Method::GET, "/admin/password"),
        (Method::POST, "/admin/logout"),
    ] {
        let res = app.request(method, path).send().await.unwrap();
        assert_eq!(error_code(res, 404).await, "not_found", "{path}");
    }
}

#[tokio::test]
async fn the_right_password_opens_the_console_with_a_strict_cookie_for_eight_hours() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    let res = browser.get("/admin").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login");

    let res = sign_in(&browser, PASSWORD).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/admin");
    let cookie = set_cookie(&res);
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let res = browser.get("/admin").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let page = res.text().await.unwrap();
    assert!(page.contains("Signed in until"), "{page}");
    assert!(!page.contains(PASSWORD));
    // Already signed in: the sign-in page leads to the console.
    assert_eq!(location(&browser.get("/admin/login").await), "/admin");

    // Eight hours later, to the second, it has ended.
    app.clock.advance(Duration::hours(8) - Duration::seconds(1));
    assert_eq!(browser.get("/admin").await.status(), 200);
    app.clock.advance(Duration::seconds(1));
    let res = browser.get("/admin").await;
    assert_eq!(location(&res), "/admin/login");
    assert!(
        set_cookie(&res).contains("Max-Age=0"),
        "the cookie is cleared"
    );
}

#[tokio::test]
async fn a_wrong_password_gets_one_answer_and_ten_lock_the_address() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    for _ in 0..10 {
        let res = sign_in(&browser, "hunter2hunter2").await;
        assert_eq!(res.status(), 401);
        assert!(set_cookie(&res).is_empty());
        let page = res.text().await.unwrap();
        assert!(page.contains("That password is not right."), "{page}");
    }
    let res = sign_in(&browser, PASSWORD).await;
    assert_eq!(
        res.status(),
        429,
        "even the right password, until the window ends"
    );
    assert_eq!(res.headers()["retry-after"], "900");
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many wrong passwords. Try again in 15 minutes."));
    app.clock.advance(Duration::minutes(15));
    assert_eq!(sign_in(&browser, PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn the_sign_in_form_needs_its_token_this_origin_and_this_browser() {
    let app = console().await;
    let victim = Browser::new(&app.address);
    let attacker = Browser::new(&app.address);
    let (_, html) = attacker.open("/admin/login").await;
    let attackers_token = field(&html, "csrf");
    let _ = victim.open("/admin/login").await;
    // Login CSRF: the attacker's token in the victim's browser; no token; a foreign origin.
    for (csrf, origin) in [
        (Some(attackers_token.as_str()), PUBLIC_URL),
        (None, PUBLIC_URL),
    ] {
        let mut form = vec![("password", PASSWORD)];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let res = victim
            .client
            .post(format!("{}/admin/login", app.address))
            .header("origin", origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(set_cookie(&res).is_empty());
    }
    let (_, html) = victim.open("/admin/login").await;
    let res = victim
        .client
        .post(format!("{}/admin/login", app.address))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Refused posts spent no guess: ten wrong passwords are still allowed after them.
    for _ in 0..10 {
        assert_eq!(sign_in(&victim, "wrong wrong wrong").await.status(), 401);
    }
}

#[tokio::test]
async fn signing_out_ends_the_session_wherever_its_cookie_was_copied() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    let res = sign_in(&browser, PASSWORD).await;
    let cookie = set_cookie(&res);
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gptgate-admin=")
        .to_owned();
    let (_, home) = browser.open("/admin").await;
    // Another session's form token does not sign this one out.
    let other = Browser::new(&app.address);
    assert_eq!(sign_in(&other, PASSWORD).await.status(), 303);
    let (_, other_home) = other.open("/admin").await;
    let res = browser
        .post_form_to("/admin/logout", &[("csrf", &field(&other_home, "csrf"))])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(browser.get("/admin").await.status(), 200);

    let res = browser
        .post_form_to("/admin/logout", &[("csrf", &field(&home, "csrf"))])
        .await;
    assert_eq!(location(&res), "/admin/login");
    assert!(set_cookie(&res).contains("Max-Age=0"));
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/admin", app.address))
        .header("cookie", format!("gptgate-admin={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&res),
        "/admin/login",
        "the copied cookie is worth nothing"
    );
    assert_eq!(
        other.get("/admin").await.status(),
        200,
        "other sessions stay"
    );
}

#[tokio::test]
async fn changing_the_password_ends_every_session() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    let other = Browser::new(&app.address);
    let _ = sign_in(&browser, PASSWORD).await;
    let _ = sign_in(&other, PASSWORD).await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let browser = &browser;
        async move {
            let (status, html) = browser.open("/admin/password").await;
            assert_eq!(status, 200, "{html}");
            browser
                .post_form_to(
                    "/admin/password",
                    &[
                        ("csrf", &field(&html, "csrf")),
                        ("current", current),
                        ("new", new),
                        ("again", again),
                    ],
                )
                .await
        }
    };
    let better = "a much better passphrase";
    let res = change("not it at all", better, better).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Nothing was changed"));
    assert_eq!(
        change(PASSWORD, better, "something else").await.status(),
        422
    );
    let res = change(PASSWORD, "elevenchars", "elevenchars").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 12 characters"));
    let twelve = "twelve chars";
    assert_eq!(twelve.chars().count(), 12);
    let res = change(PASSWORD, twelve, twelve).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/login?changed=1");
    for b in [&browser, &other] {
        assert_eq!(location(&b.get("/admin").await), "/admin/login");
    }
    let (_, page) = browser.open("/admin/login?changed=1").await;
    assert!(page.contains("Sign in with the new one"), "{page}");
    assert_eq!(sign_in(&browser, PASSWORD).await.status(), 401);
    assert_eq!(sign_in(&browser, twelve).await.status(), 303);
}

#[tokio::test]
async fn the_audit_log_page_lists_what_was_done_from_where_and_no_password() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    assert_eq!(location(&browser.get("/admin/audit").await), "/admin/login");
    assert_eq!(
        sign_in(&browser, "hunter2 hunter2 hunter2").await.status(),
        401
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(sign_in(&browser, PASSWORD).await.status(), 303);
    let (status, page) = browser.open("/admin/audit").await;
    assert_eq!(status, 200, "{page}");
    let signed_in = page.find("Signed in").expect("a sign-in line");
    let wrong = page.find("Wrong password").expect("a wrong-password line");
    assert!(signed_in < wrong, "newest first: {page}");
    assert!(page.contains("127.0.0.1"), "from where: {page}");
    assert!(page.contains("2026-01-01 12:00:01"), "when: {page}");
    for secret in [PASSWORD, "hunter2"] {
        assert!(!page.contains(secret), "{secret} in {page}");
    }
}

#[tokio::test]
async fn the_console_shows_what_the_server_holds() {
    let app = console().await;
    let token = app.sign_in("ann@example.com").await;
    app.post(
        "/conversations",
        &serde_json::json!({ "token": token, "summary": "Ser and estar" }),
    )
    .await;
    let browser = Browser::new(&app.address);
    let _ = sign_in(&browser, PASSWORD).await;
    let (status, page) = browser.open("/admin").await;
    assert_eq!(status, 200);
    for (id, value) in [
        ("users", "1"),
        ("conversations", "1"),
        ("codes", "1 address"),
    ] {
        assert!(
            page.contains(&format!("<dd id=\"{id}\">{value}</dd>")),
            "{id} = {value}: {page}"
        );
    }
    assert!(page.contains("id=\"no-accounts\""), "{page}");
    assert!(
        !page.contains("ann@example.com"),
        "no personal data on the overview"
    );
}

#[tokio::test]
async fn privacy_settings_change_what_is_kept_and_what_the_policy_says() {
    let app = console().await;
    let token = app.sign_in("ann@example.com").await;
    let save = |summary: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post(
                "/conversations",
                &serde_json::json!({ "token": token, "summary": summary }),
            )
            .await
        }
    };
    assert_eq!(save("before").await.status(), 200);
    let policy = |app: &TestApp| {
        let url = format!("{}/privacy-policy", app.address);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(policy(&app)
        .await
        .contains("kept until you delete them or all your data"));

    let browser = Browser::new(&app.address);
    let _ = sign_in(&browser, PASSWORD).await;
    let set = |days: &'static str, zero: bool| {
        let browser = &browser;
        async move {
            let (status, html) = browser.open("/admin/privacy").await;
            assert_eq!(status, 200, "{html}");
            let csrf = field(&html, "csrf");
            let mut form = vec![("csrf", csrf.as_str()), ("retention_days", days)];
            if zero {
                form.push(("zero_retention", "on"));
            }
            browser.post_form_to("/admin/privacy", &form).await
        }
    };
    // Bounds: 3650 days is the most; 3651, a negative or a word change nothing.
    for refused in ["3651", "-1", "thirty"] {
        let res = set(refused, true).await;
        assert_eq!(res.status(), 422, "{refused}");
        assert!(res.text().await.unwrap().contains("Nothing was changed"));
    }
    assert_eq!(save("still saved").await.status(), 200);
    let res = set("3650", false).await;
    assert_eq!(res.status(), 200);
    assert!(policy(&app)
        .await
        .contains("kept 3650 days after they were last saved"));

    // Zero retention: every save refused, in the error shape; the policy says so at once.
    assert_eq!(set("30", true).await.status(), 200);
    let res = save("after").await;
    assert_eq!(error_code(res, 403).await, "conversation_storage_disabled");
    let text = policy(&app).await;
    assert!(text.contains("turned saving them off"), "{text}");
    assert!(text.contains("deleted 30 days after"), "{text}");
    let (_, home) = browser.open("/admin").await;
    assert!(
        home.contains("Zero retention: no conversation is saved."),
        "{home}"
    );
    let (_, audit) = browser.open("/admin/audit").await;
    assert!(audit.contains("Changed the privacy settings"), "{audit}");
    // Back to keeping: saves are taken again.
    assert_eq!(set("0", false).await.status(), 200);
    assert_eq!(save("again").await.status(), 200);
}

#[tokio::test]
async fn the_operator_saves_profile_versions_publishes_one_and_rolls_back() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    let _ = sign_in(&browser, PASSWORD).await;
    let (status, page) = browser.open("/admin/profile").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No version is published yet."));
    let save = |name: &'static str, model: &'static str, temperature: &'static str| {
        let browser = &browser;
        async move {
            let (_, page) = browser.open("/admin/profile").await;
            browser
                .post_form_to(
                    "/admin/profile",
                    &[
                        ("csrf", &field(&page, "csrf")),
                        ("name", name),
                        ("instructions", "You are a patient <b>Spanish</b> tutor."),
                        ("allowed_models", "gpt-4o-mini\nllama3.1:8b"),
                        ("model", model),
                        ("temperature", temperature),
                        ("max_output_tokens", "800"),
                        ("starters", "Quiz me\nPractise ser and estar"),
                    ],
                )
                .await
        }
    };
    let res = save("Tutor", "gpt-4o-mini", "0.7").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Saved as version 1. It is not published yet."),
        "{page}"
    );
    assert!(page.contains("&lt;b&gt;Spanish&lt;"), "escaped: {page}");
    // Refused with what was typed kept, and no version taken: a model not allowed, a
    // temperature over 2.
    for (model, temperature, says) in [
        ("gpt-5", "0.7", "model must be one of the allowed models"),
        ("gpt-4o-mini", "2.1", "temperature must be from 0 to 2"),
        ("gpt-4o-mini", "warm", "temperature must be from 0 to 2"),
    ] {
        let res = save("Tutor x", model, temperature).await;
        assert_eq!(res.status(), 422);
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{says}: {page}");
        assert!(page.contains("value=\"Tutor x\""), "kept: {page}");
    }
    assert!(save("Tutor v2", "llama3.1:8b", "2").await.status() == 200);

    let publish = |version: &'static str| {
        let browser = &browser;
        async move {
            let (_, page) = browser.open("/admin/profile").await;
            browser
                .post_form_to(
                    "/admin/profile/publish",
                    &[("csrf", &field(&page, "csrf")), ("version", version)],
                )
                .await
        }
    };
    let res = publish("2").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Published: version 2."));
    let res = publish("1").await;
    assert!(
        res.text().await.unwrap().contains("Published: version 1."),
        "rollback"
    );
    assert_eq!(publish("3").await.status(), 404);
    assert_eq!(publish("nope").await.status(), 404);
    let (_, home) = browser.open("/admin").await;
    assert!(home.contains("Published profile: version 1."), "{home}");
    let (_, audit) = browser.open("/admin/audit").await;
    assert!(audit.contains("Published a version of the assistant profile"));
    assert!(audit.contains("Saved a new version of the assistant profile"));
}

#[tokio::test]
async fn signed_in_forms_refuse_another_site_another_session_and_no_token() {
    let app = console().await;
    let admin = Browser::new(&app.address);
    let other = Browser::new(&app.address);
    let _ = sign_in(&admin, PASSWORD).await;
    let _ = sign_in(&other, PASSWORD).await;
    let (_, page) = admin.open("/admin/privacy").await;
    let mine = field(&page, "csrf");
    let (_, page) = other.open("/admin/privacy").await;
    let theirs = field(&page, "csrf");
    for path in [
        "/admin/privacy",
        "/admin/profile",
        "/admin/profile/publish",
        "/admin/password",
        "/admin/chat/team-password",
        "/admin/chat/team-password/off",
        "/admin/keys",
        "/admin/keys/0b0c7b1e-2f3a-4c5d-8e9f-0a1b2c3d4e5f/revoke",
        "/admin/platforms",
        "/admin/platforms/0b0c7b1e-2f3a-4c5d-8e9f-0a1b2c3d4e5f/remove",
    ] {
        let fields = [
            ("retention_days", "1"),
            ("zero_retention", "on"),
            ("version", "1"),
            ("new", "a team password of the week"),
            ("again", "a team password of the week"),
            ("name", "Forged"),
            ("issuer", "https://evil.example"),
            ("key_type", "hs256"),
            (
                "key",
                "an attacker's secret that is long enough to be accepted!!",
            ),
            ("origins", "https://evil.example"),
        ];
        // Another session's token, no token, and this session's token from another site.
        let with = |csrf: Option<&str>| {
            let mut all: Vec<(&str, &str)> = fields.to_vec();
            if let Some(csrf) = csrf {
                all.push(("csrf", csrf));
            }
            all.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        };
        for (form, origin) in [
            (with(Some(&theirs)), PUBLIC_URL),
            (with(None), PUBLIC_URL),
            (with(Some(&mine)), "https://evil.example"),
        ] {
            let res = admin
                .client
                .post(format!("{}{path}", app.address))
                .header("origin", origin)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{path} from {origin}");
        }
    }
    // Nothing changed.
    let (_, home) = admin.open("/admin").await;
    assert!(
        home.contains("kept until their users delete them"),
        "{home}"
    );
    assert!(home.contains("No assistant profile is published yet."));
    let (_, audit) = admin.open("/admin/audit").await;
    for action in [
        "Changed the privacy settings",
        "Set the chat",
        "Switched the chat",
        "Created an API key",
        "Registered a learning platform",
    ] {
        assert!(!audit.contains(action), "{action}: {audit}");
    }
    assert!(admin
        .open("/admin/chat")
        .await
        .1
        .contains("No team password is set"));
    assert!(admin.open("/admin/platforms").await.1.contains("None yet."));
}

/// The key shown once on the answer to the create form.
fn new_key(page: &str) -> Option<String> {
    let marker = "<code id=\"new-key\">";
    let start = page.find(marker)? + marker.len();
    Some(page[start..].split('<').next()?.to_owned())
}

#[tokio::test]
async fn api_keys_are_made_in_the_console_shown_once_used_and_revoked_at_once() {
    let app = console().await;
    let browser = Browser::new(&app.address);
    assert_eq!(sign_in(&browser, PASSWORD).await.status(), 303);
    let (status, page) = browser.open("/admin/keys").await;
    assert_eq!(status, 200);
    assert_eq!(
        page.matches("from the environment").count(),
        2,
        "GPT_API_KEY's two keys: {page}"
    );
    assert!(
        !page.contains(crate::helpers::API_KEY),
        "never the key itself"
    );
    let create = |name: String| {
        let browser = &browser;
        async move {
            let csrf = field(&browser.open("/admin/keys").await.1, "csrf");
            let res = browser
                .post_form_to("/admin/keys", &[("csrf", &csrf), ("name", &name)])
                .await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    // Names at their edges.
    for bad in [String::new(), "k".repeat(65)] {
        let (status, page) = create(bad).await;
        assert_eq!(status, 422);
        assert!(new_key(&page).is_none());
    }
    let (status, page) = create("k".repeat(64)).await;
    assert_eq!(status, 200);
    assert!(new_key(&page).is_some());
    let (status, page) = create("Biology GPT".into()).await;
    assert_eq!(status, 200);
    let key = new_key(&page).expect("the new key, shown once");
    assert!(key.starts_with("gpk_"), "{key}");
    let (_, later) = browser.open("/admin/keys").await;
    assert!(!later.contains(&key), "shown once only");
    assert!(later.contains("Biology GPT") && later.contains("never"));

    // The GPT uses it.
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let send = |key: String| {
        let app = &app;
        // Another address each time (one code a minute per address).
        let n = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            app.request(Method::POST, "/auth/send-link")
                .header("x-api-key", key)
                .json(&serde_json::json!({ "email": format!("user{n}@example.com") }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send(key.clone()).await.status(), 200);
    let (_, listed) = browser.open("/admin/keys").await;
    let row = listed
        .split("<tr class=\"made\">")
        .find(|r| r.contains("Biology GPT"))
        .unwrap();
    assert!(
        row.contains("2026-01-01 12:00:00</td><td>2026-01-01 12:00:00"),
        "last used: {row}"
    );

    // Revoked: refused at once. A forged revocation is refused first.
    let id = row
        .split("action=\"/admin/keys/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    let res = browser
        .post_form_to(&format!("/admin/keys/{id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(send(key.clone()).await.status(), 200, "still valid");
    let csrf = field(&browser.open("/admin/keys").await.1, "csrf");
    let res = browser
        .post_form_to(&format!("/admin/keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/keys?revoked=1");
    assert_eq!(
        error_code(send(key.clone()).await, 401).await,
        "invalid_api_key"
    );
    let res = browser
        .post_form_to(&format!("/admin/keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404, "revoked already");
    let res = browser
        .post_form_to("/admin/keys/not-an-id/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404);
    let audit = browser.open("/admin/audit").await.1;
    assert_eq!(audit.matches("Created an API key").count(), 2);
    assert_eq!(audit.matches("Revoked an API key").count(), 1);
    assert!(!audit.contains(&key));
}

/// Posts `password` from behind `forwarded_for` (an `X-Forwarded-For` value).
async fn sign_in_via(browser: &Browser, password: &str, forwarded_for: &str) -> reqwest::Response {
    let (_, html) = browser.open("/admin/login").await;
    let csrf = field(&html, "csrf");
    browser
        .client
        .post(browser.local("/admin/login"))
        .header("origin", PUBLIC_URL)
        .header("x-forwarded-for", forwarded_for)
        .form(&[("csrf", csrf.as_str()), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rotating_forwarded_for_does_not_escape_the_lock() {
    // No trusted proxy: the header is not read at all.
    let app = console().await;
    let browser = Browser::new(&app.address);
    for n in 0..10 {
        let res = sign_in_via(&browser, "hunter2hunter2", &format!("203.0.113.{n}")).await;
        assert_eq!(res.status(), 401);
    }
    let res = sign_in_via(&browser, PASSWORD, "198.51.100.1").await;
    assert_eq!(res.status(), 429);

    // Behind a trusted proxy (the test's own address): the client is the address the proxy
    // appended, whatever the client wrote before it.
    let app = spawn_app_with(&[
        (
            "ADMIN_PASSWORD_HASH",
            FakePasswords::hash_of(PASSWORD).as_str().to_owned(),
        ),
        ("TRUSTED_PROXIES", "127.0.0.1/32, ::1".to_owned()),
    ])
    .await;
    let browser = Browser::new(&app.address);
    for n in 0..10 {
        let forged = format!("10.9.8.{n}, 203.0.113.9");
        assert_eq!(
            sign_in_via(&browser, "hunter2hunter2", &forged)
                .await
                .status(),
            401
        );
    }
    let res = sign_in_via(&browser, PASSWORD, "10.9.8.77, 203.0.113.9").await;
    assert_eq!(res.status(), 429, "the same client behind the proxy");
    // Another client behind the same proxy is not locked out by the first.
    let res = sign_in_via(&browser, PASSWORD, "198.51.100.1").await;
    assert_eq!(res.status(), 303);
    // The audit log names the client, not the proxy.
    let page = browser.open("/admin/audit").await.1;
    assert!(page.contains("198.51.100.1"), "{page}");

    // A hop that is not text spoils only itself: the real client appended after it counts.
    let odd = Browser::new(&app.address);
    for _ in 0..10 {
        let (_, html) = odd.open("/admin/login").await;
        let csrf = field(&html, "csrf");
        let res = odd
            .client
            .post(odd.local("/admin/login"))
            .header("origin", PUBLIC_URL)
            .header(
                "x-forwarded-for",
                reqwest::header::HeaderValue::from_bytes(b"\xff\xfe, 192.0.2.44").unwrap(),
            )
            .form(&[("csrf", csrf.as_str()), ("password", "hunter2hunter2")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = sign_in_via(&odd, PASSWORD, "192.0.2.44").await;
    assert_eq!(res.status(), 429, "counted as 192.0.2.44, not as the proxy");
    let res = sign_in_via(&odd, PASSWORD, "198.51.100.2").await;
    assert_eq!(res.status(), 303, "the proxy itself is not locked");
}
