//! Test binaries whose tests need something outside the workspace (a PostgreSQL server, an
//! SMTP server, a browser): when it is missing, each test is reported by the test runner as
//! ignored, with the reason printed once, never counted as passed. With `CI=true` a missing
//! requirement fails every test instead, naming it.

use std::process::ExitCode;

pub use libtest_mimic::{Arguments, Failed, Trial};

/// Whether this is CI, where everything must run: `CI` set to anything but empty, `0` or
/// `false` (CI services spell it `true`, `1`, `yes`...).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !v.is_empty() && v != "0" && v != "false"
    })
}

/// Runs `trials` as `cargo test` would (filters, `--ignored`, output). If `requirement` is an
/// error, each trial is reported as ignored (or, in CI, fails with the reason).
pub fn run(requirement: Result<(), String>, trials: Vec<Trial>) -> ExitCode {
    if let Err(reason) = &requirement {
        if !in_ci() {
            eprintln!(
                "ignored {} test(s): {reason} (set CI=true to make this a failure)",
                trials.len()
            );
        }
    }
    let trials = trials
        .into_iter()
        .map(|t| requiring(&requirement, t))
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// `trial` as it runs when `requirement` holds; otherwise ignored, or in CI failing with the
/// reason.
pub fn requiring(requirement: &Result<(), String>, trial: Trial) -> Trial {
    match requirement {
        Ok(()) => trial,
        Err(reason) if in_ci() => {
            let reason = reason.clone();
            Trial::test(trial.name().to_owned(), move || {
                Err(format!("required in CI: {reason}").into())
            })
        }
        Err(_) => trial.with_ignored_flag(true),
    }
}

/// Runs `trials` as `cargo test` would; each was already passed through [`requiring`] where
/// it needs something.
pub fn run_trials(trials: Vec<Trial>) -> ExitCode {
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// Runs `trials` as `cargo test` would and tells whether every one passed, for a program that
/// goes on afterwards (an example that checks its store, then uses it).
pub fn all_passed(trials: Vec<Trial>) -> bool {
    !libtest_mimic::run(&Arguments::from_args(), trials).has_failed()
}

/// A trial that runs `test` on a fresh multi-threaded tokio runtime; a panic fails it.
pub fn async_trial<F, Fut>(name: &str, test: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    Trial::test(name.to_owned(), move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(e.to_string()))?;
        runtime.block_on(test());
        Ok(())
    })
}

/// One trial per contract check, each on a fresh store from `new_store` (kept alive, with its
/// guard, until the check ends).
pub fn contract_trials<S, F, Fut>(
    checks: Vec<(&'static str, crate::contracts::Check<S>)>,
    new_store: F,
) -> Vec<Trial>
where
    S: ?Sized + Send + Sync + 'static,
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = crate::TestStore<S>>,
{
    checks
        .into_iter()
        .map(|(name, check)| {
            let new_store = new_store.clone();
            async_trial(name, move || async move {
                let test_store = new_store().await;
                check(test_store.store.clone()).await;
                drop(test_store);
            })
        })
        .collect()
}
