//! `audit serve` over HTTP: the real binary on a free port over a real SQLite file, signed in
//! with the printed link, refused without it, and its operator's records in the log after a
//! SIGTERM drained them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use audit_core::query::AuditQuery;
use audit_core::{AuditStore, ChainHasher};
use audit_sqlite::SqliteStore;

/// The server, killed if the test fails before stopping it.
struct Server {
    child: Child,
    link: String,
}

impl Server {
    fn start(db: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("audit"))
            .args([
                "--db",
                db,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--operator",
                "olga",
            ])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let link = line
            .trim()
            .strip_prefix("audit dashboard: ")
            .unwrap_or_else(|| panic!("the sign-in link, not {line:?}"))
            .to_owned();
        Self { child, link }
    }

    fn base(&self) -> String {
        let rest = self.link.strip_prefix("http://").unwrap();
        format!("http://{}", rest.split('/').next().unwrap())
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_printed_link_signs_the_operator_in_and_everything_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_with(dir.path(), 20, ChainHasher::sha256()).await;
    drop(store);
    let server = Server::start(&sqlite_url(&path), &[]);
    let base = server.base();
    let http = client();

    let anonymous = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .get(format!("{base}/signin?token=not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let signed_in = http.get(&server.link).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = http
        .get(format!("{base}/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("event 19 by"),
        "the newest stored event is listed"
    );

    // Scripts send the token as a bearer header.
    let token = server.link.split("token=").nth(1).unwrap().to_owned();
    let export = http
        // The fixture's events only (the server records its own as the test goes).
        .get(format!("{base}/export?format=jsonl&until=2026-06-01"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert_eq!(export.text().await.unwrap().lines().count(), 20);

    // The dashboard's Sign out button posts here; the cookie is cleared.
    assert!(html.contains("/signout"), "a sign-out button");
    let out = http
        .post(format!("{base}/signout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    assert!(server.stop().success(), "SIGTERM ends the server cleanly");
    let store = SqliteStore::open(&path).unwrap();
    let count = |action: &str| {
        let store = &store;
        let q = AuditQuery::new().action(action);
        async move { store.count(&q).await.unwrap() }
    };
    assert_eq!(count("authn_login_success").await, 1);
    assert_eq!(count("authn_logout").await, 1);
    assert_eq!(count("authn_login_fail").await, 1);
    assert!(count("authn_request_unauthenticated").await >= 1);
    assert!(count("AUDIT_LOG_VIEWED").await >= 1);
    assert_eq!(count("AUDIT_LOG_EXPORTED").await, 1);
    let viewed = all(&store, AuditQuery::new().action("AUDIT_LOG_VIEWED")).await;
    assert_eq!(
        viewed[0].event.actor.as_ref().map(|a| a.id.as_str()),
        Some("olga")
    );
    assert!(
        store
            .verify(Default::default(), None)
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn a_token_file_replaces_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_with(dir.path(), 3, ChainHasher::sha256()).await;
    drop(store);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "a-token-from-a-file-0123\n").unwrap();
    let server = Server::start(
        &sqlite_url(&path),
        &["--token-file", token_file.to_str().unwrap()],
    );
    assert!(!server.link.contains("token="), "{}", server.link);
    let base = server.base();
    let page = client()
        .get(format!("{base}/events"))
        .bearer_auth("a-token-from-a-file-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(server.stop().success());
}

#[test]
fn a_short_token_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "short").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, path) = rt.block_on(sqlite_with(dir.path(), 1, ChainHasher::sha256()));
    drop(store);
    let out = audit()
        .args(["--db", &sqlite_url(&path), "serve", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("at least 16 characters"));
}
