//! A fresh PostgreSQL database per test, dropped when the test ends: a clone of one migrated
//! template database (`CREATE DATABASE ... TEMPLATE`), which is faster than migrating each.
//!
//! The server is `GPTGATE_TEST_POSTGRES_URL` (default: the machine's local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`). [`reachable`] tells the runner whether it
//! answers; when it does not, the checks are reported as ignored (as failed with `CI=true`).

use std::sync::OnceLock;

use gptgate_adapters_postgres::{PoolSettings, PostgresStore};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection};

/// The migrations the store applies, embedded as the store embeds them.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The template's name, once [`prepare_template`] has made sure it exists.
static TEMPLATE: OnceLock<String> = OnceLock::new();

pub fn admin_url() -> String {
    std::env::var("GPTGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PgBouncer in transaction mode in front of that server (`GPTGATE_TEST_PGBOUNCER_URL`,
/// default `postgres://postgres@127.0.0.1:6432/postgres`; `scripts/start-pgbouncer.sh` starts
/// one), whose databases are the server's.
pub fn pooler_url() -> String {
    std::env::var("GPTGATE_TEST_PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:6432/postgres".to_owned())
}

/// `url` naming database `db` instead, its query (`?sslmode=...`) kept.
fn with_database(url: &str, db: &str) -> String {
    let (url, query) = url
        .split_once('?')
        .map_or((url, None), |(u, q)| (u, Some(q)));
    let (base, _) = url.rsplit_once('/').expect("the URL names a database");
    match query {
        Some(query) => format!("{base}/{db}?{query}"),
        None => format!("{base}/{db}"),
    }
}

/// Drops the test database when the test ends (even when it panics).
pub struct DropDatabase {
    name: String,
}

impl DropDatabase {
    /// The database's URL on the server itself (not through the pooler).
    pub fn url(&self) -> String {
        with_database(&admin_url(), &self.name)
    }
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url())
                    .await
                    .map_err(std::io::Error::other)?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
    }
}

/// Whether the server answers, and if not, why (for the runner's report).
pub fn reachable() -> Result<(), String> {
    answers(&admin_url(), "start it or set GPTGATE_TEST_POSTGRES_URL")
}

/// Whether the server and the pooler in front of it answer.
pub fn pooler_reachable() -> Result<(), String> {
    reachable()?;
    answers(
        &pooler_url(),
        "start it with scripts/start-pgbouncer.sh or set GPTGATE_TEST_PGBOUNCER_URL",
    )
}

fn answers(url: &str, hint: &str) -> Result<(), String> {
    let url = url.to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(PgConnection::connect(&url))
        .map(drop)
        .map_err(|e| format!("nothing answers at {} ({e}); {hint}", redacted(&url)))
}

/// `url` without a password.
fn redacted(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(s, rest)| rest.rsplit_once('@').map(|(_, h)| (s, h)))
    {
        Some((scheme, host)) => format!("{scheme}://{host}"),
        None => url.to_owned(),
    }
}

/// Makes sure the migrated template exists (building it if the migrations changed since it
/// was last built) and drops templates of older migrations. Called once per test binary.
pub fn prepare_template() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let name = runtime
        .block_on(build_template())
        .map_err(|e| format!("the template database could not be built: {e}"))?;
    let _ = TEMPLATE.set(name);
    Ok(())
}

/// The template is named after the migrations (their versions and checksums), so editing or
/// adding one builds a new template instead of cloning a stale one.
fn template_name() -> String {
    // FNV-1a: a stable name, not a security boundary.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in MIGRATOR.iter() {
        let version = migration.version.to_le_bytes();
        for byte in version.iter().chain(migration.checksum.iter()) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("gptgate_template_{hash:016x}")
}

async fn build_template() -> Result<String, sqlx::Error> {
    let name = template_name();
    let mut admin = PgConnection::connect(&admin_url()).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Built under another name and renamed when complete, so a concurrent test binary or an
        // interrupted build never leaves a half-migrated template behind that name.
        let building = unique_name("gptgate_building");
        sqlx::query(&format!("CREATE DATABASE \"{building}\""))
            .execute(&mut admin)
            .await?;
        let migrated = async {
            let mut conn = PgConnection::connect(&with_database(&admin_url(), &building)).await?;
            MIGRATOR.run(&mut conn).await?;
            conn.close().await
        }
        .await;
        let renamed = match migrated {
            Ok(()) => {
                sqlx::query(&format!(
                    "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
                ))
                .execute(&mut admin)
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = renamed {
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .execute(&mut admin)
            .await?;
            // Another binary built the same template first: use it.
            if !matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04")) {
                return Err(e);
            }
        }
    }
    // Templates of older migrations, best effort: one in use by another run stays.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'gptgate\\_template\\_%' \
         AND datname <> $1",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await?;
    for old in stale {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{old}\""))
            .execute(&mut admin)
            .await;
    }
    Ok(name)
}

/// A migrated, empty database (a clone of the template), dropped with the guard.
pub async fn fresh_database() -> (PostgresStore, DropDatabase) {
    let template = TEMPLATE
        .get()
        .expect("the runner prepared the template before the checks");
    database(
        &format!("TEMPLATE \"{template}\""),
        &admin_url(),
        PoolSettings::default(),
    )
    .await
}

/// The same, the store connected with `settings`.
pub async fn fresh_database_with(settings: PoolSettings) -> (PostgresStore, DropDatabase) {
    let template = TEMPLATE
        .get()
        .expect("the runner prepared the template before the checks");
    database(&format!("TEMPLATE \"{template}\""), &admin_url(), settings).await
}

/// The same, the store connected through the pooler with the statement cache off
/// (`DATABASE_STATEMENT_CACHE=off`) or on.
pub async fn fresh_pooled_database(statement_cache: bool) -> (PostgresStore, DropDatabase) {
    let template = TEMPLATE
        .get()
        .expect("the runner prepared the template before the checks");
    let settings = PoolSettings {
        statement_cache,
        ..PoolSettings::default()
    };
    database(&format!("TEMPLATE \"{template}\""), &pooler_url(), settings).await
}

/// An empty database whose store connects through the pooler, the statement cache off.
pub async fn empty_pooled_database() -> (PostgresStore, DropDatabase) {
    let settings = PoolSettings {
        statement_cache: false,
        ..PoolSettings::default()
    };
    database("", &pooler_url(), settings).await
}

/// A database without any table (not even sqlx's migrations table), dropped with the guard.
pub async fn empty_database() -> (PostgresStore, DropDatabase) {
    database("", &admin_url(), PoolSettings::default()).await
}

/// A new database made with `options`, its store connected at `server` (the database server
/// or the pooler) with `settings`.
async fn database(
    options: &str,
    server: &str,
    settings: PoolSettings,
) -> (PostgresStore, DropDatabase) {
    let admin_url = admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL answers (the runner checked)");
    let name = unique_name("gptgate_test");
    sqlx::query(&format!("CREATE DATABASE \"{name}\" {options}"))
        .execute(&mut admin)
        .await
        .expect("test database is created");
    let guard = DropDatabase { name: name.clone() };
    let store = PostgresStore::connect(&with_database(server, &name), settings)
        .await
        .expect("test database accepts connections");
    (store, guard)
}

/// `prefix_<random hex>`: a database name no other test uses.
fn unique_name(prefix: &str) -> String {
    #[allow(
        clippy::disallowed_methods,
        reason = "a test database name only has to be unique"
    )]
    let id = uuid::Uuid::new_v4();
    format!("{prefix}_{}", id.simple())
}

/// Waits until some session of the database at `url` waits for a lock (a statement of the
/// test's that another session holds back), for at most five seconds.
pub async fn until_one_waits(url: &str) {
    let mut watch = PgConnection::connect(url).await.unwrap();
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no session waited for a lock");
}

/// A session of its own on the database at `url`, inside a transaction that has created user
/// `user` holding the email identity `email`, not committed: a concurrent first sight of the
/// same address waits for it. Commit with `COMMIT` on the connection.
pub async fn first_sight_held_open(
    url: &str,
    user: gptgate_domain::UserId,
    email: &str,
) -> PgConnection {
    let mut other = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("INSERT INTO users (id, created_at) VALUES ($1, now())")
        .bind(user.as_uuid())
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO user_identities (kind, value, user_id, created_at) \
         VALUES ('email', $1, $2, now())",
    )
    .bind(email)
    .bind(user.as_uuid())
    .execute(&mut other)
    .await
    .unwrap();
    other
}
