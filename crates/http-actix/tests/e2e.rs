//! End to end: the real `gptgate` binary, started as a newcomer would (no configuration at
//! all), on SQLite — and once more on PostgreSQL — driven over HTTP, with the code read from
//! the outbox.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

struct Server {
    child: Child,
    url: String,
    api_key: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gptgate(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gptgate"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `gptgate` (serve) and reads its banner.
fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = gptgate(dir, env)
        .env("BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut url = None;
    let mut api_key = None;
    let started = Instant::now();
    while url.is_none() || (api_key.is_none() && !env.iter().any(|(k, _)| *k == "GPT_API_KEY")) {
        let line = rx
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .expect("the banner is printed");
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Listening"), Some("on")) => url = words.next().map(str::to_owned),
            (Some("API"), Some("key")) => api_key = words.next().map(str::to_owned),
            _ => {}
        }
    }
    Server {
        child,
        url: url.unwrap(),
        api_key,
    }
}

/// The API key in the development secrets file of `dir`.
fn key_from_secrets_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gptgate.dev-secrets.env"))
        .expect("the secrets file exists")
        .lines()
        .find_map(|l| l.strip_prefix("GPT_API_KEY="))
        .expect("it holds the key")
        .to_owned()
}

/// The code in the newest `.eml` file of `outbox`: the line holding exactly six digits.
fn code_from_outbox(outbox: &Path) -> String {
    let newest: PathBuf = std::fs::read_dir(outbox)
        .expect("the outbox exists")
        .map(|e| e.unwrap())
        .max_by_key(|e| e.metadata().unwrap().modified().unwrap())
        .expect("one email")
        .path();
    let raw = std::fs::read_to_string(newest).unwrap();
    raw.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .expect("the code is on a line of its own")
        .to_owned()
}

async fn call(server: &Server, key: &str, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// Sign in with the emailed code, save a conversation, list it back.
async fn sign_in_and_remember(server: &Server, key: &str, outbox: &Path) -> String {
    let (status, _) = call(
        server,
        key,
        "/auth/send-link",
        json!({ "email": "newcomer@example.com" }),
    )
    .await;
    assert_eq!(status, 200);
    let code = code_from_outbox(outbox);
    let (status, body) = call(
        server,
        key,
        "/auth/verify-email",
        json!({ "email": "newcomer@example.com", "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = call(
        server,
        key,
        "/conversations",
        json!({ "token": token, "summary": "First chat", "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, list) = call(
        server,
        key,
        "/conversations/list",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["conversations"][0]["summary"], "First chat");
    token
}

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

#[tokio::test]
async fn the_same_binary_runs_on_postgresql() {
    let admin_url = std::env::var("GPTGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut admin = match PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL unreachable at {admin_url} ({e})");
            return;
        }
    };
    let name = format!("gptgate_e2e_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let db_url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", db_url.as_str())];
    let out = gptgate(dir.path(), &env).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(dir.path(), &env);
    // `migrate` generated the development secrets; the banner now shows the key masked.
    let key = key_from_secrets_file(dir.path());
    assert_eq!(
        server.api_key.as_deref(),
        Some(format!("gpk_...{}", &key[key.len() - 4..]).as_str())
    );
    sign_in_and_remember(&server, &key, &dir.path().join("outbox")).await;
    drop(server);

    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut PgConnection::connect(&db_url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(users, 1, "the data went to PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
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
