//! The same binary on PostgreSQL. A runner of its own: without a reachable server the test is
//! reported as ignored with the reason (with `CI=true`, as failed).

mod e2e_support;

use std::process::ExitCode;

use e2e_support::{gptgate, key_from_secrets_file, sign_in_and_remember, start};
use gptgate_testkit::harness::{async_trial, run};
use sqlx::{Connection, PgConnection};

fn admin_url() -> String {
    std::env::var("GPTGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
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
    run(
        reachable,
        vec![async_trial(
            "the_same_binary_runs_on_postgresql",
            the_same_binary_runs_on_postgresql,
        )],
    )
}

async fn the_same_binary_runs_on_postgresql() {
    let admin_url = admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL answers (the runner checked)");
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
