//! A fresh PostgreSQL database per test, dropped when the test ends.
//!
//! The server is `GPTGATE_TEST_POSTGRES_URL` (default: the machine's local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`). [`reachable`] tells the runner whether it
//! answers; when it does not, the checks are reported as ignored (as failed with `CI=true`).

use gptgate_adapters_postgres::{PoolSettings, PostgresStore};
use gptgate_ports::Store as _;
use sqlx::{Connection, PgConnection};

pub fn admin_url() -> String {
    std::env::var("GPTGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{db}")
}

/// Drops the test database when the test ends (even when it panics).
pub struct DropDatabase {
    name: String,
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
    let url = admin_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(PgConnection::connect(&url))
        .map(drop)
        .map_err(|e| {
            format!(
                "PostgreSQL unreachable at {} ({e}); start it or set GPTGATE_TEST_POSTGRES_URL",
                redacted(&url)
            )
        })
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

/// A migrated, empty database, dropped with the guard.
pub async fn fresh_database() -> (PostgresStore, DropDatabase) {
    let admin_url = admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL answers (the runner checked)");
    #[allow(
        clippy::disallowed_methods,
        reason = "a test database name only has to be unique"
    )]
    let name = format!("gptgate_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("test database is created");
    let guard = DropDatabase { name: name.clone() };
    let store = PostgresStore::connect(&with_database(&admin_url, &name), PoolSettings::default())
        .await
        .expect("test database accepts connections");
    store.migrate().await.expect("migrations apply");
    (store, guard)
}
