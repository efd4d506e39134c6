//! A real SMTP round trip: lettre talks to an `aiosmtpd` server (PyPI package `aiosmtpd`,
//! started by this test), which stores what it receives in a Maildir that the test reads back.
//!
//! Without python3 and aiosmtpd the test is skipped with a notice, except with `CI=true`, where
//! it fails (`.ci/run` installs aiosmtpd).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use gptgate_adapters_mail::{MessageBuilder, SmtpMailer};
use gptgate_domain::{Email, VerificationCode};
use gptgate_ports::Mailer;
use secrecy::SecretString;
use time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn aiosmtpd_available() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_sign_in_code_arrives_at_a_real_smtp_server_as_sent() {
    if !aiosmtpd_available() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs python3 with aiosmtpd (pip install aiosmtpd)"
        );
        eprintln!("SKIPPED: python3 -m aiosmtpd is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // aiosmtpd's Mailbox handler creates the Maildir when the folder does not exist yet.
    let maildir = dir.path().join("maildir");
    let port = free_port();
    let _server = Server(
        Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts"),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < StdDuration::from_secs(15),
            "aiosmtpd did not listen"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }

    let mailer = SmtpMailer::new(
        &SecretString::from(format!("smtp://127.0.0.1:{port}")),
        MessageBuilder::new("gptgate <no-reply@gptgate.test>", "gptgate").unwrap(),
    )
    .unwrap();
    mailer
        .send_sign_in_code(
            &Email::parse("Ann@Example.com").unwrap(),
            &VerificationCode::parse("007123").unwrap(),
            Duration::minutes(10),
        )
        .await
        .expect("the server accepts the message");

    let new = maildir.join("new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .expect("the Maildir has a new/ folder")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "exactly one message arrived");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        raw.contains("From: gptgate <no-reply@gptgate.test>"),
        "{raw}"
    );
    assert!(raw.contains("To: ann@example.com"), "{raw}");
    assert!(raw.contains("Subject: Your gptgate sign-in code"), "{raw}");
    assert!(raw.contains("007123"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
}
