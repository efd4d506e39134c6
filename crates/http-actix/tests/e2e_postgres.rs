//! The same binary on PostgreSQL. A runner of its own: without a reachable server the test is
//! reported as ignored with the reason (with `CI=true`, as failed).

mod e2e_support;

use std::process::ExitCode;

use e2e_support::{
    all_summaries, call, gptgate, key_from_secrets_file, no_acknowledged_save_is_lost_to_kill_nine,
    sign_in_and_remember, start,
};
use gptgate_testkit::harness::{async_trial, requiring, run};
use serde_json::json;
use sqlx::{Connection, PgConnection};

fn admin_url() -> String {
    std::env::var("GPTGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// PgBouncer in transaction mode in front of that server (`scripts/start-pgbouncer.sh`).
fn pooler_url() -> String {
    std::env::var("GPTGATE_TEST_PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:6432/postgres".to_owned())
}

fn main() -> ExitCode {
    let reachable = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(PgConnection::connect(&admin_url()))
                .map(drop)
                .map_err(|e| {
                    format!(
                        "PostgreSQL unreachable ({e}); start it or set GPTGATE_TEST_POSTGRES_URL"
                    )
                })
        });
    let pooler = reachable.clone().and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(PgConnection::connect(&pooler_url()))
            .map(drop)
            .map_err(|e| {
                format!("PgBouncer unreachable ({e}); start it with scripts/start-pgbouncer.sh")
            })
    });
    let behind_pgbouncer = requiring(
        &pooler,
        async_trial(
            "two_servers_run_behind_pgbouncer_in_transaction_mode",
            two_servers_run_behind_pgbouncer_in_transaction_mode,
        ),
    );
    run(
        reachable,
        vec![
            behind_pgbouncer,
            async_trial(
                "the_same_binary_runs_on_postgresql",
                the_same_binary_runs_on_postgresql,
            ),
            async_trial(
                "no_acknowledged_save_is_lost_when_the_server_is_killed_on_postgresql",
                no_acknowledged_save_is_lost_when_the_server_is_killed_on_postgresql,
            ),
            async_trial(
                "postgresql_stopped_under_load_is_503_at_once_and_service_returns_with_it",
                postgresql_stopped_under_load_is_503_at_once_and_service_returns_with_it,
            ),
            async_trial(
                "two_servers_on_one_database_share_the_mail_budget",
                two_servers_on_one_database_share_the_mail_budget,
            ),
            async_trial(
                "two_servers_on_one_database_share_the_rate_limits",
                two_servers_on_one_database_share_the_rate_limits,
            ),
            async_trial(
                "two_servers_on_one_database_refresh_an_expired_token_once_for_twenty_actions",
                two_servers_on_one_database_refresh_an_expired_token_once_for_twenty_actions,
            ),
        ],
    )
}

/// A fresh database named after this process and `suffix`; returns its URL.
async fn fresh_database(admin: &mut PgConnection, suffix: &str) -> (String, String) {
    let name = format!("gptgate_e2e_{}_{suffix}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut *admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut *admin)
        .await
        .unwrap();
    let admin_url = admin_url();
    let db_url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    (name, db_url)
}

async fn the_same_binary_runs_on_postgresql() {
    let admin_url = admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL answers (the runner checked)");
    let (name, db_url) = fresh_database(&mut admin, "one").await;

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

async fn no_acknowledged_save_is_lost_when_the_server_is_killed_on_postgresql() {
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("PostgreSQL answers (the runner checked)");
    let (name, db_url) = fresh_database(&mut admin, "kill").await;
    let dir = tempfile::tempdir().unwrap();
    // Port 0 picks a new port each start; the public URL (the token issuer) stays put.
    let env = [
        ("DATABASE_URL", db_url.as_str()),
        ("PUBLIC_URL", "http://localhost:8080"),
    ];
    no_acknowledged_save_is_lost_to_kill_nine(dir.path(), &env, 3).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Two servers on one fresh database, reached at `server` (PostgreSQL itself, or the pooler in
/// front of it), with `env` besides: migrated by `gptgate migrate`, both started, the key read.
struct TwoServers {
    admin: PgConnection,
    name: String,
    dir: tempfile::TempDir,
    key: String,
    first: e2e_support::Server,
    second: e2e_support::Server,
}

async fn two_servers(suffix: &str, server: &str, env: &[(&str, &str)]) -> TwoServers {
    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("PostgreSQL answers (the runner checked)");
    let (name, _) = fresh_database(&mut admin, suffix).await;
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let env = [
        &[
            ("DATABASE_URL", url.as_str()),
            ("PUBLIC_URL", "http://localhost:9"),
        ],
        env,
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let out = gptgate(dir.path(), &env).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (first, second) = (start(dir.path(), &env), start(dir.path(), &env));
    let key = key_from_secrets_file(dir.path());
    TwoServers {
        admin,
        name,
        dir,
        key,
        first,
        second,
    }
}

impl TwoServers {
    /// Stops both servers and drops the database.
    async fn end(self) {
        let Self {
            mut admin,
            name,
            first,
            second,
            ..
        } = self;
        drop((first, second));
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

async fn two_servers_on_one_database_share_the_mail_budget() {
    let servers = two_servers("budget", &admin_url(), &[("MAIL_HOURLY_LIMIT", "3")]).await;
    let (first, second, key) = (&servers.first, &servers.second, servers.key.clone());
    let send = |server: &e2e_support::Server, n: u32| {
        let url = server.url.clone();
        let key = key.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{url}/auth/send-link"))
                .header("x-api-key", key)
                .json(&json!({ "email": format!("shared-{n}@example.com") }))
                .send()
                .await
                .unwrap()
        }
    };
    // Three emails of the key's hourly three, on either instance; the fourth is refused on both.
    for (n, server) in [(1, first), (2, second), (3, first)] {
        assert_eq!(send(server, n).await.status(), 200, "email {n}");
    }
    for (n, server) in [(4, second), (5, first)] {
        let res = send(server, n).await;
        assert_eq!(res.status(), 429, "email {n}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "mail_budget_exhausted", "{body}");
    }
    servers.end().await;
}

async fn two_servers_on_one_database_share_the_rate_limits() {
    // 20 calls at once per key, one more a minute: leases of at most 2 tokens.
    let servers = two_servers(
        "rates",
        &admin_url(),
        &[
            ("RATE_LIMIT_API_KEY_PER_MINUTE", "1"),
            ("RATE_LIMIT_API_KEY_BURST", "20"),
        ],
    )
    .await;
    let (first, second, key) = (&servers.first, &servers.second, servers.key.clone());
    let client = reqwest::Client::new();
    let mut admitted = 0;
    for n in 0..30 {
        let server = if n % 2 == 0 { &first } else { &second };
        let res = client
            .get(format!("{}/api/gpt/accounts", server.url))
            .header("x-api-key", &key)
            .header("openai-ephemeral-user-id", format!("user-{n}"))
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => admitted += 1,
            429 => assert!(res.headers().contains_key("retry-after")),
            other => panic!("unexpected {other}"),
        }
    }
    // Never more than the bucket; at most one unspent token of a lease held back per instance.
    assert!(
        (18..=20).contains(&admitted),
        "{admitted} calls let through"
    );
    let db_url = format!(
        "{}/{}",
        admin_url().rsplit_once('/').unwrap().0,
        servers.name
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM rate_buckets")
        .fetch_one(&mut PgConnection::connect(&db_url).await.unwrap())
        .await
        .unwrap();
    assert!(kept >= 1, "the buckets are in the database");
    servers.end().await;
}

/// Two servers on one database through PgBouncer in transaction mode
/// (`DATABASE_STATEMENT_CACHE=off`): migrated through it, 8 savers at once, every save listed.
async fn two_servers_run_behind_pgbouncer_in_transaction_mode() {
    let servers = two_servers(
        "pooled",
        &pooler_url(),
        &[
            ("DATABASE_STATEMENT_CACHE", "off"),
            ("RATE_LIMIT_USER_PER_MINUTE", "off"),
        ],
    )
    .await;
    let (first, second, key) = (&servers.first, &servers.second, servers.key.clone());
    let token = sign_in_and_remember(first, &key, &servers.dir.path().join("outbox")).await;
    let savers: Vec<_> = (0..8)
        .map(|saver| {
            let url = if saver % 2 == 0 { &first.url } else { &second.url }.clone();
            let (key, token) = (key.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in 0..25 {
                    let res = client
                        .post(format!("{url}/conversations"))
                        .header("x-api-key", &key)
                        .json(&json!({ "token": token, "summary": format!("saver {saver} save {n}") }))
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
                }
            })
        })
        .collect();
    for saver in savers {
        saver.await.unwrap();
    }
    let saved = all_summaries(second, &key, &token).await;
    assert_eq!(
        saved.iter().filter(|s| s.starts_with("saver ")).count(),
        8 * 25
    );
    servers.end().await;
}

/// A PostgreSQL server of the test's own (initdb in a temporary folder, on a free port), run by
/// the `postgres` user when the test runs as root, which it may stop and start at will.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl OwnPostgres {
    fn new() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL server (/usr/lib/postgresql/<version>/bin)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("pg_ctl").exists())
            .expect("pg_ctl");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let own = Self { dir, port, bin };
        if Self::as_root() {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(own.dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown the data folder to postgres");
        }
        own.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "-D", &own.data()],
        );
        own
    }

    fn as_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool).display().to_string();
        let mut command = if Self::as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", &tool]);
            c
        } else {
            std::process::Command::new(&tool)
        };
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
            ],
        );
    }

    fn stop(&self) {
        self.run("pg_ctl", &["stop", "-m", "fast", "-w", "-D", &self.data()]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let tool = self.bin.join("pg_ctl").display().to_string();
        let _ = if Self::as_root() {
            std::process::Command::new("runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    &tool,
                    "stop",
                    "-m",
                    "immediate",
                    "-D",
                    &data,
                ])
                .output()
        } else {
            std::process::Command::new(&tool)
                .args(["stop", "-m", "immediate", "-D", &data])
                .output()
        };
    }
}

/// PostgreSQL stopped while 4 callers read as fast as they can: every answer is 200 or
/// `503 database_unavailable` (never a 500, never a hang past a few seconds), `/readyz` says
/// 503; started again, the same server answers 200 without a restart.
async fn postgresql_stopped_under_load_is_503_at_once_and_service_returns_with_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let pg = OwnPostgres::new();
    pg.start();
    let url = pg.url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("PUBLIC_URL", "http://localhost:9"),
        ("RATE_LIMIT_USER_PER_MINUTE", "off"),
        ("RATE_LIMIT_API_KEY_PER_MINUTE", "off"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = gptgate(dir.path(), &env).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(dir.path(), &env);
    let key = key_from_secrets_file(dir.path());
    let token = sign_in_and_remember(&server, &key, &dir.path().join("outbox")).await;

    // (status, error code, seconds taken, when) of every answer, while `running`.
    type Answer = (u16, String, f64, Instant);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let running = Arc::new(AtomicBool::new(true));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (answers, running) = (answers.clone(), running.clone());
            let (url, key, token) = (server.url.clone(), key.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while running.load(Ordering::SeqCst) {
                    let began = Instant::now();
                    let res = client
                        .post(format!("{url}/conversations/list"))
                        .header("x-api-key", &key)
                        .json(&json!({ "token": token }))
                        .send()
                        .await
                        .expect("the server answers");
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    let code = body["error"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    answers.lock().unwrap().push((
                        status,
                        code,
                        began.elapsed().as_secs_f64(),
                        Instant::now(),
                    ));
                }
            })
        })
        .collect();
    let ready = |server_url: String| async move {
        reqwest::get(format!("{server_url}/readyz"))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.stop();
    let stopped_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        ready(server.url.clone()).await,
        503,
        "/readyz says the database is away"
    );
    pg.start();
    let started_at = Instant::now();
    // Service returns by itself: a 200 after the start, within the pool's time to reconnect.
    let mut back = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if answers
            .lock()
            .unwrap()
            .iter()
            .any(|(s, _, _, at)| *s == 200 && *at > started_at)
        {
            back = true;
            break;
        }
    }
    running.store(false, Ordering::SeqCst);
    for caller in callers {
        caller.await.unwrap();
    }
    assert!(back, "a 200 came after PostgreSQL started again");
    assert_eq!(ready(server.url.clone()).await, 200);
    let answers = answers.lock().unwrap();
    let refused: Vec<_> = answers.iter().filter(|(s, ..)| *s != 200).collect();
    assert!(
        answers
            .iter()
            .any(|(s, _, _, at)| *s == 503 && *at > stopped_at),
        "requests while it was stopped were refused"
    );
    for (status, code, seconds, _) in &refused {
        assert_eq!((*status, code.as_str()), (503, "database_unavailable"));
        assert!(*seconds < 6.0, "a refusal took {seconds} s");
    }
    // Once the database is known to be away, refusals are immediate; only a statement that
    // tries it again (one at a time) waits for the pool's acquire timeout.
    let slow = refused.iter().filter(|(_, _, s, _)| *s > 1.0).count();
    let slowest = refused.iter().map(|(_, _, s, _)| *s).fold(0.0, f64::max);
    eprintln!(
        "{} answers, {} refused, {slow} of them slower than 1 s (slowest {slowest:.3} s)",
        answers.len(),
        refused.len()
    );
    assert!(slow <= 4, "{slow} refusals took more than a second");
    assert!(
        refused.len() > 8,
        "refusals while it was stopped: {}",
        refused.len()
    );
}

/// The value of the hidden form field `name` in `html`.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn two_servers_on_one_database_refresh_an_expired_token_once_for_twenty_actions() {
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mut admin = PgConnection::connect(&admin_url())
        .await
        .expect("PostgreSQL answers (the runner checked)");
    let (name, db_url) = fresh_database(&mut admin, "two").await;
    let linear = MockServer::start().await;
    let env = [
        ("DATABASE_URL", db_url.clone()),
        // The instances' shared public address (session tokens name it).
        ("PUBLIC_URL", "http://localhost:9".to_owned()),
        ("LINEAR_CLIENT_ID", "lin-client".to_owned()),
        ("LINEAR_CLIENT_SECRET", "lin-secret".to_owned()),
        (
            "LINEAR_AUTHORIZE_URL",
            format!("{}/oauth/authorize", linear.uri()),
        ),
        ("LINEAR_TOKEN_URL", format!("{}/oauth/token", linear.uri())),
        (
            "LINEAR_REVOKE_URL",
            format!("{}/oauth/revoke", linear.uri()),
        ),
        ("LINEAR_API_BASE_URL", linear.uri()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = gptgate(dir.path(), &env).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two instances on one database, sharing the secrets `migrate` generated.
    let first = start(dir.path(), &env);
    let second = start(dir.path(), &env);
    let key = key_from_secrets_file(dir.path());
    let token = sign_in_and_remember(&first, &key, &dir.path().join("outbox")).await;

    // Linear: the code exchange, who the account is, a slow refresh that rotates the pair, and
    // list-teams only with the refreshed token.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lin-access-1", "token_type": "Bearer", "expires_in": 86399,
            "refresh_token": "lin-refresh-1", "scope": "read"
        })))
        .expect(1)
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=lin-refresh-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(500))
                .set_body_json(json!({
                    "access_token": "lin-access-2", "token_type": "Bearer", "expires_in": 86399,
                    "refresh_token": "lin-refresh-2", "scope": "read"
                })),
        )
        .expect(1)
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("viewer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": {
            "viewer": { "id": "u-1", "name": "Newcomer", "email": "newcomer@example.com" },
            "organization": { "id": "o-1", "name": "Acme", "urlKey": "acme" }
        } })))
        .mount(&linear)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("teams"))
        .and(header("authorization", "Bearer lin-access-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": {
            "teams": { "nodes": [{ "id": "t-1", "key": "ENG", "name": "Engineering" }],
                       "pageInfo": { "hasNextPage": false } }
        } })))
        .expect(20)
        .mount(&linear)
        .await;

    // Connect Linear through the first server, as a browser would.
    let (status, body) = call(
        &first,
        &key,
        "/api/gpt/create-auth-link",
        json!({ "token": token, "provider": "linear", "label": "work" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let link = body["authUrl"].as_str().unwrap().to_owned();
    let public = link.split("/auth/start").next().unwrap().to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let local = |url: &str| url.replace(&public, &first.url);
    let html = browser
        .get(local(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = browser
        .post(format!("{}/auth/start", first.url))
        .header("origin", &public)
        .form(&[
            ("token", field(&html, "token")),
            ("csrf", field(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let state = to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let res = browser
        .get(format!(
            "{}/auth/callback/linear?code=c&state={state}",
            first.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let (_, accounts) = call(
        &first,
        &key,
        "/api/gpt/accounts/list",
        json!({ "token": token }),
    )
    .await;
    let account = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();

    // The token expires; 20 actions arrive at once, half on each server.
    let mut db = PgConnection::connect(&db_url).await.unwrap();
    sqlx::query("UPDATE accounts SET expires_at = now() - interval '1 minute'")
        .execute(&mut db)
        .await
        .unwrap();
    let calls = (0..20).map(|i| {
        let server = if i % 2 == 0 { &first } else { &second };
        call(
            server,
            &key,
            "/api/gpt/actions/linear/list-teams",
            json!({ "token": token, "accountId": account, "params": {} }),
        )
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["teams"][0]["key"], "ENG", "{body}");
    }
    let refreshes = linear
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token"))
        .count();
    assert_eq!(refreshes, 1, "one refresh across both servers");
    linear.verify().await;
    drop((first, second));
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
