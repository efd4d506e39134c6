//! What the end-to-end tests share: the real binary in a folder of its own, its banner, and
//! the README's sign-in flow over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Server {
    pub child: Child,
    pub url: String,
    pub api_key: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn gptgate(dir: &Path, env: &[(&str, &str)]) -> Command {
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
pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
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
pub fn key_from_secrets_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gptgate.dev-secrets.env"))
        .expect("the secrets file exists")
        .lines()
        .find_map(|l| l.strip_prefix("GPT_API_KEY="))
        .expect("it holds the key")
        .to_owned()
}

/// The code in the newest `.eml` file of `outbox`: the line holding exactly six digits.
pub fn code_from_outbox(outbox: &Path) -> String {
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

pub async fn call(server: &Server, key: &str, path: &str, body: Value) -> (u16, Value) {
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
pub async fn sign_in_and_remember(server: &Server, key: &str, outbox: &Path) -> String {
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
