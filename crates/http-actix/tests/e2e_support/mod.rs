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
    /// The banner's lines read until the URL and the key were found.
    #[allow(
        dead_code,
        reason = "e2e.rs reads it; e2e_postgres.rs, which shares this module, does not"
    )]
    pub banner: Vec<String>,
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
    let mut banner = Vec::new();
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
        banner.push(line);
    }
    Server {
        child,
        url: url.unwrap(),
        api_key,
        banner,
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

/// Every summary of `token`'s conversations, through every page of the list.
pub async fn all_summaries(server: &Server, key: &str, token: &str) -> Vec<String> {
    let mut summaries = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let (status, page) = call(
            server,
            key,
            "/conversations/list",
            json!({ "token": token, "limit": 50, "cursor": cursor }),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        for c in page["conversations"].as_array().unwrap() {
            summaries.push(c["summary"].as_str().unwrap().to_owned());
        }
        cursor = page["nextCursor"].clone();
        if cursor.is_null() {
            return summaries;
        }
    }
}

/// `cycles` times: 8 savers save conversations as fast as they can while the server is
/// killed with SIGKILL; after each restart, every save the server acknowledged is there.
pub async fn no_acknowledged_save_is_lost_to_kill_nine(
    dir: &Path,
    env: &[(&str, &str)],
    cycles: usize,
) {
    // The savers are one user on one key saving as fast as they can: no rate limit.
    let no_limits = [
        ("RATE_LIMIT_USER_PER_MINUTE", "off"),
        ("RATE_LIMIT_API_KEY_PER_MINUTE", "off"),
    ];
    let env = &[env, &no_limits].concat();
    let server = start(dir, env);
    let key = server
        .api_key
        .clone()
        .or_else(|| {
            env.iter()
                .find(|(k, _)| *k == "GPT_API_KEY")
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
    let outbox = dir.join("outbox");
    let token = sign_in_and_remember(&server, &key, &outbox).await;
    let mut server = Some(server);
    let mut acknowledged: Vec<String> = Vec::new();
    for cycle in 0..cycles {
        let running = server.take().unwrap_or_else(|| start(dir, env));
        let url = running.url.clone();
        let savers: Vec<_> = (0..8)
            .map(|saver| {
                let (url, key, token) = (url.clone(), key.clone(), token.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut saved = Vec::new();
                    for n in 0.. {
                        let summary = format!("cycle {cycle} saver {saver} save {n}");
                        let answer = client
                            .post(format!("{url}/conversations"))
                            .header("x-api-key", &key)
                            .json(&json!({
                                "token": token, "summary": summary,
                                "messages": [{ "role": "user", "content": "hi" }]
                            }))
                            .send()
                            .await;
                        match answer {
                            Ok(res) if res.status().is_success() => saved.push(summary),
                            Ok(res) => panic!("a save refused: {}", res.status()),
                            // The server is gone.
                            Err(_) => return saved,
                        }
                    }
                    saved
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400 + 150 * cycle as u64)).await;
        let mut running = running;
        running.child.kill().expect("SIGKILL");
        running.child.wait().unwrap();
        for saver in savers {
            acknowledged.extend(saver.await.unwrap());
        }
        drop(running);
    }
    let server = start(dir, env);
    let stored: std::collections::HashSet<String> = all_summaries(&server, &key, &token)
        .await
        .into_iter()
        .collect();
    assert!(
        acknowledged.len() > 8 * cycles,
        "saves were made: {}",
        acknowledged.len()
    );
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|s| !stored.contains(*s))
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
}
