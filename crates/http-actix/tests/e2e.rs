//! End to end: the real `gptgate` binary, started as a newcomer would (no configuration at
//! all), on SQLite — and once more on PostgreSQL — driven over HTTP, with the code read from
//! the outbox.

mod e2e_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use e2e_support::{
    call, gptgate, key_from_secrets_file, no_acknowledged_save_is_lost_to_kill_nine,
    sign_in_and_remember, start,
};
use serde_json::{json, Value};

#[tokio::test]
async fn a_newcomer_runs_the_binary_with_no_configuration_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    // Port 0 picks a new port each start; the public URL (the token issuer) stays put.
    let env = [("PUBLIC_URL", "http://localhost:8080")];
    let server = start(dir.path(), &env);
    let key = server
        .api_key
        .clone()
        .expect("development prints the API key");
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("/metrics") && l.contains("open: set METRICS_TOKEN")),
        "the banner says /metrics is open: {:?}",
        server.banner
    );
    let token = sign_in_and_remember(&server, &key, &dir.path().join("outbox")).await;
    assert!(
        dir.path().join("gptgate.db").exists(),
        "SQLite file next to where it runs"
    );
    assert!(dir.path().join("gptgate.dev-secrets.env").exists());
    drop(server);

    // A restart keeps the key, the signing secret and the data; the banner now shows the key
    // masked (it is in the secrets file), never in full again.
    let server = start(dir.path(), &env);
    let shown = server.api_key.clone().unwrap();
    assert_eq!(shown, format!("gpk_...{}", &key[key.len() - 4..]));
    assert_eq!(key_from_secrets_file(dir.path()), key);
    let (status, list) = call(
        &server,
        &key,
        "/conversations/list",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(status, 200, "the session survives a restart: {list}");
    assert_eq!(list["conversations"][0]["summary"], "First chat");
    // /metrics shows the SQLite store's two pools.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "gptgate_db_pool_max_connections{pool=\"readers\"} 8",
        "gptgate_db_pool_max_connections{pool=\"writer\"} 1",
        "gptgate_db_pool_connections{pool=\"writer\",state=\"idle\"} ",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[test]
fn the_subcommands_work_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = gptgate(dir.path(), &[("PUBLIC_URL", "https://gpt.example.com")])
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["servers"][0]["url"], "https://gpt.example.com");

    let out = gptgate(dir.path(), &[]).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("gptgate.db").exists());

    let out = gptgate(dir.path(), &[])
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configuration is valid"));
    assert!(
        text.contains(
            "rate limits  per API key 6000/min, 600 at once, per user 120/min, 60 at once, per address 120/min, 60 at once"
        ),
        "{text}"
    );
    let key = key_from_secrets_file(dir.path());
    assert!(!text.contains(&key), "check-config prints no secret");

    let out = gptgate(dir.path(), &[]).arg("rotate-key").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-encrypted 0 account(s)"));

    let out = gptgate(dir.path(), &[("PUBLIC_URL", "https://gpt.example.com")])
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GPT_API_KEY") && err.contains("JWT_SECRET"),
        "{err}"
    );
}

#[test]
fn oauth_clients_are_added_listed_and_removed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| gptgate(dir.path(), &[]).args(args).output().unwrap();
    let out = run(&[
        "oauth-client",
        "add",
        "--name",
        "Spanish tutor GPT",
        "--redirect-uri",
        "https://tutor.example.com/callback",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in {text}"))
            .to_owned()
    };
    let (id, secret) = (line("client_id"), line("client_secret"));
    assert!(secret.len() >= 43, "256 random bits: {secret}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot show it again"));

    let out = run(&["oauth-client", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains(&id) && listed.contains("Spanish tutor GPT"),
        "{listed}"
    );
    assert!(listed.contains("chatgpt") && listed.contains("https://tutor.example.com/callback"));
    assert!(!listed.contains(&secret), "the secret is never shown again");

    let out = run(&["oauth-client", "add", "--name", "Web", "--kind", "web"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a web client needs a redirect URI"
    );
    let out = run(&[
        "oauth-client",
        "add",
        "--name",
        "Web",
        "--redirect-uri",
        "http://evil.example/cb",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));

    assert!(run(&["oauth-client", "remove", &id]).status.success());
    assert_eq!(run(&["oauth-client", "remove", &id]).status.code(), Some(1));
    assert_eq!(
        run(&["oauth-client", "remove", "nope"]).status.code(),
        Some(2)
    );
    let out = run(&["oauth-client", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no OAuth clients"));

    let out = run(&["openapi", "--auth", "oauth"]);
    let doc = String::from_utf8_lossy(&out.stdout);
    assert!(
        doc.contains("\"authorizationCode\"") && doc.contains("/oauth/token"),
        "{doc}"
    );
}

#[test]
fn an_address_in_use_is_named_with_the_setting_that_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = gptgate(dir.path(), &[("BIND", address.as_str())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {address}")) && err.contains("set BIND to"),
        "{err}"
    );
}

#[test]
fn check_config_changes_nothing_on_disk_and_says_where_each_secret_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt");
    std::fs::write(&jwt, "j".repeat(40)).unwrap();
    let out = gptgate(
        dir.path(),
        &[
            ("GPT_API_KEY", "a-key-from-the-environment"),
            ("JWT_SECRET_FILE", jwt.to_str().unwrap()),
        ],
    )
    .arg("check-config")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["jwt"],
        "no database, secrets file or outbox: {text}"
    );
    assert!(
        text.contains("public URL   http://localhost:8080 (PUBLIC_URL unset"),
        "{text}"
    );
    for (name, source) in [
        ("GPT_API_KEY", "environment"),
        ("JWT_SECRET", "file "),
        (
            "TOKEN_ENCRYPTION_KEY",
            "not set: the server would generate it into gptgate.dev-secrets.env",
        ),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} in:\n{text}"));
        assert!(line.contains(source), "{line}");
    }
    assert!(!text.contains("a-key-from-the-environment") && !text.contains("jjjj"));
}

#[test]
fn the_openapi_command_ends_quietly_when_its_reader_stops() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut child = gptgate(dir.path(), &[])
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -c 10`: read a little, then close the pipe.
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn sigterm_stops_the_server_gracefully_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gptgate(dir.path(), &[("BIND", "127.0.0.1:0")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    for line in lines.by_ref() {
        if line.contains("Listening on") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}");
    let log = rest.join("\n");
    assert!(
        log.contains("shutting down") && log.contains("SIGTERM"),
        "{log}"
    );
    assert!(log.contains("shutdown complete"), "{log}");
}

#[test]
fn hash_password_prints_an_argon2id_hash_for_admin_password_hash() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let run = |input: &str| {
        let mut child = gptgate(dir.path(), &[])
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("correct horse battery staple\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$") && hash.ends_with('\n'),
        "{hash}"
    );
    assert!(gptgate_domain::PasswordHash::parse(&hash).is_ok());
    assert!(!hash.contains("correct horse"));
    // Too short (the newline does not count), and nothing at all: refused, nothing printed.
    for input in ["elevenchars\n", ""] {
        let out = run(input);
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    }
}

#[tokio::test]
async fn an_operator_signs_in_to_the_admin_console_with_a_real_argon2id_hash() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = gptgate(dir.path(), &[])
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple")
        .unwrap();
    let hash = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let hash = hash.trim().to_owned();
    let public = "http://localhost:8080";
    let env = [
        ("PUBLIC_URL", public),
        ("ADMIN_PASSWORD_HASH", hash.as_str()),
    ];
    let server = start(dir.path(), &env);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |password: &'static str| {
        let browser = &browser;
        let url = server.url.clone();
        async move {
            let page = browser
                .get(format!("{url}/admin/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = page
                .split("name=\"csrf\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the form's token")
                .to_owned();
            browser
                .post(format!("{url}/admin/login"))
                .header("origin", public)
                .form(&[("csrf", csrf.as_str()), ("password", password)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sign_in("correct horse battery stapler").await.status(), 401);
    let res = sign_in("correct horse battery staple").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin");
    let res = browser
        .get(format!("{}/admin", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Signed in until"));
}

/// The value of the hidden field `name` (or the `data-` attribute) in `page`.
fn page_value(page: &str, marker: &str) -> String {
    page.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{marker} in {page}"))
        .to_owned()
}

#[tokio::test]
async fn the_chat_answers_from_an_openai_compatible_api_and_stores_no_message() {
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    const SECRET: &str = "marker-words-9f3a-never-stored";
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-e2e"))
        .and(body_partial_json(
            json!({ "model": "gpt-4o-mini", "stream": true }),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(gptgate_testkit::openai::streamed_answer(&[
                    "Claro: ", SECRET,
                ])),
        )
        .expect(1)
        .mount(&api)
        .await;
    let dir = tempfile::tempdir().unwrap();
    // "correct horse battery staple", hashed once by `gptgate hash-password`'s argon2id.
    let mut child = gptgate(dir.path(), &[])
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"correct horse battery staple").unwrap();
    }
    let hash = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let public = "http://localhost:8080";
    let base = format!("{}/v1", api.uri());
    let env = [
        ("PUBLIC_URL", public),
        ("ADMIN_PASSWORD_HASH", hash.trim()),
        ("LLM_BASE_URL", base.as_str()),
        ("LLM_API_KEY", "sk-e2e"),
    ];
    let server = start(dir.path(), &env);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| {
        let url = format!("{}{path}", server.url);
        let browser = &browser;
        async move { browser.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let url = format!("{}{path}", server.url);
        let browser = &browser;
        async move {
            browser
                .post(url)
                .header("origin", public)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    // The operator signs in and publishes a profile.
    let csrf = page_value(&get("/admin/login").await, "name=\"csrf\" value=\"");
    let password = "correct horse battery staple".to_owned();
    let res = post(
        "/admin/login",
        vec![("csrf", csrf), ("password", password.clone())],
    )
    .await;
    assert_eq!(res.status(), 303);
    let csrf = page_value(&get("/admin/profile").await, "name=\"csrf\" value=\"");
    let profile = vec![
        ("csrf", csrf.clone()),
        ("name", "Tutor".to_owned()),
        ("instructions", "Be brief.".to_owned()),
        ("model", "gpt-4o-mini".to_owned()),
        ("allowed_models", "gpt-4o-mini".to_owned()),
        ("temperature", "0.5".to_owned()),
        ("max_output_tokens", "300".to_owned()),
        ("starters", String::new()),
    ];
    assert_eq!(post("/admin/profile", profile).await.status(), 200);
    let res = post(
        "/admin/profile/publish",
        vec![("csrf", csrf), ("version", "1".into())],
    )
    .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    // The chat, with the admin password.
    let csrf = page_value(&get("/chat").await, "name=\"csrf\" value=\"");
    let res = post("/chat/login", vec![("csrf", csrf), ("password", password)]).await;
    assert_eq!(res.status(), 303);
    let token = page_value(&get("/chat").await, "data-csrf=\"");
    let res = browser
        .post(format!("{}/api/chat", server.url))
        .header("origin", public)
        .header("x-csrf-token", token)
        .json(&json!({ "messages": [{ "role": "user", "content": format!("Tell me {SECRET}") }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("{\"delta\":\"Claro: \"}") && body.ends_with("event: done\ndata: {}\n\n"),
        "{body}"
    );
    drop(server);
    // Neither the question nor the answer is anywhere in the database.
    for file in ["gptgate.db", "gptgate.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!found, "message text in {file}");
    }
}

#[tokio::test]
async fn no_acknowledged_save_is_lost_when_the_server_is_killed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    no_acknowledged_save_is_lost_to_kill_nine(
        dir.path(),
        &[("PUBLIC_URL", "http://localhost:8080")],
        3,
    )
    .await;
}
