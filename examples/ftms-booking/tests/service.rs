//! Starts the real `ftms-booking` binary on 127.0.0.1 with a temporary database, drives it
//! over HTTP, and checks the audit rows through its admin API.
//!
//! The server records events asynchronously, so assertions poll `GET /audit` until the
//! expected rows are there (bounded by a generous deadline; no timing is asserted).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// A running server, killed when dropped.
struct Server {
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
    url: String,
    http: Client,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary on a free port, trusting 127.0.0.1 as a reverse proxy so tests can
    /// play clients from different IPs with `X-Forwarded-For`.
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_with_db(dir, |d| d.join("audit.db"))
    }

    fn start_with_db(dir: tempfile::TempDir, db: impl Fn(&Path) -> std::path::PathBuf) -> Self {
        let db = db(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_ftms-booking"))
            .args(["--addr", "127.0.0.1:0", "--trust-proxy", "127.0.0.1"])
            .arg("--db")
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ftms-booking");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Self {
            child,
            _stdout: stdout,
            url,
            http: Client::new(),
            db,
            _dir: dir,
        }
    }

    fn post(&self, path: &str, from_ip: &str) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .header("x-forwarded-for", from_ip)
    }

    async fn login(&self, user: &str, password: &str, from_ip: &str) -> reqwest::Response {
        self.post("/login", from_ip)
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    async fn token(&self, user: &str) -> String {
        let response = self.login(user, &format!("{user}-pass"), "192.0.2.1").await;
        assert_eq!(response.status(), StatusCode::OK, "login of {user}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    async fn book(&self, token: &str, flight: &str, seats: u32) -> reqwest::Response {
        self.post("/bookings", "192.0.2.1")
            .bearer_auth(token)
            .json(&json!({ "flight": flight, "seats": seats }))
            .send()
            .await
            .expect("booking request")
    }

    /// `GET /audit` as admin with these filters.
    async fn audit(&self, admin: &str, query: &[(&str, &str)]) -> Vec<Value> {
        let response = self
            .http
            .get(format!("{}/audit", self.url))
            .bearer_auth(admin)
            .query(query)
            .send()
            .await
            .expect("audit request");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("json");
        page["events"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `GET /audit` until at least `count` rows match.
    async fn wait_for(&self, admin: &str, query: &[(&str, &str)], count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = self.audit(admin, query).await;
            if rows.len() >= count || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn successful_and_failed_logins_are_recorded_with_client_ips() {
    let server = Server::start();
    let ok = server.login("alice", "alice-pass", "203.0.113.10").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = server.login("alice", "wrong", "203.0.113.11").await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let admin = server.token("admin").await;

    let success = server
        .wait_for(
            &admin,
            &[("action", "authn_login_success"), ("actor", "alice")],
            1,
        )
        .await;
    assert_eq!(success.len(), 1);
    assert_eq!(success[0]["ip"], "203.0.113.10");
    let failed = server
        .wait_for(&admin, &[("action", "authn_login_fail")], 1)
        .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["ip"], "203.0.113.11");
    assert_eq!(failed[0]["metadata"]["failure"], "wrong_password");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let server = Server::start();
    let unknown = server.login("nobody", "x", "203.0.113.12").await;
    let unknown = (unknown.status(), unknown.text().await.expect("body"));
    let wrong = server.login("alice", "x", "203.0.113.12").await;
    let wrong = (wrong.status(), wrong.text().await.expect("body"));
    assert_eq!(unknown, wrong);
}

#[tokio::test]
async fn an_rbac_denial_is_recorded_with_the_permission_code() {
    let server = Server::start();
    let bob = server.token("bob").await;
    let response = server.book(&bob, "FT100", 1).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let admin = server.token("admin").await;

    let denials = server
        .wait_for(&admin, &[("action", "authz_fail")], 1)
        .await;
    assert_eq!(denials.len(), 1);
    let denial = &denials[0];
    assert_eq!(denial["outcome"], "denied");
    assert_eq!(denial["actor"]["id"], "bob");
    assert_eq!(denial["metadata"]["permission"], "booking:create");
    assert_eq!(denial["metadata"]["roles"], json!(["viewer"]));
}

#[tokio::test]
async fn a_request_without_credentials_is_recorded_as_unauthenticated() {
    let server = Server::start();
    let response = server
        .post("/bookings", "203.0.113.13")
        .json(&json!({ "flight": "FT100", "seats": 1 }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let admin = server.token("admin").await;

    let rows = server
        .wait_for(&admin, &[("action", "authn_request_unauthenticated")], 1)
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ip"], "203.0.113.13");
}

#[tokio::test]
async fn a_booking_is_recorded_with_its_entity_id() {
    let server = Server::start();
    let alice = server.token("alice").await;
    let response = server.book(&alice, "FT100", 2).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booking: Value = response.json().await.expect("json");
    let id = booking["id"].as_str().expect("id");
    let admin = server.token("admin").await;

    let rows = server
        .wait_for(&admin, &[("action", "FTMS_BOOKING_CREATED")], 1)
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "success");
    assert_eq!(rows[0]["entity_type"], "booking");
    assert_eq!(rows[0]["entity_id"], id);
    assert_eq!(rows[0]["actor"]["id"], "alice");
    assert_eq!(rows[0]["metadata"]["seats"], 2);
}

#[tokio::test]
async fn a_failed_booking_is_recorded_with_the_reason() {
    let server = Server::start();
    let alice = server.token("alice").await;
    let response = server.book(&alice, "FT200", 5).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let admin = server.token("admin").await;

    let rows = server
        .wait_for(
            &admin,
            &[("action", "FTMS_BOOKING_CREATED"), ("outcome", "failure")],
            1,
        )
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["reason"], "flight FT200 has only 2 seats left");
}

async fn cancel(server: &Server, token: &str, id: &str) -> reqwest::Response {
    server
        .http
        .delete(format!("{}/bookings/{id}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("cancel request")
}

async fn alices_booking(server: &Server) -> String {
    let alice = server.token("alice").await;
    let booking: Value = server
        .book(&alice, "FT100", 1)
        .await
        .json()
        .await
        .expect("json");
    booking["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn cancelling_someone_elses_booking_is_denied_and_recorded() {
    let server = Server::start();
    let id = alices_booking(&server).await;
    let erin = server.token("erin").await;
    assert_eq!(
        cancel(&server, &erin, &id).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = server.token("admin").await;

    let rows = server
        .wait_for(&admin, &[("action", "authz_fail")], 1)
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"]["id"], "erin");
    assert_eq!(rows[0]["metadata"]["permission"], "booking:cancel-any");
}

#[tokio::test]
async fn an_admin_cancellation_is_recorded_with_the_booking_id() {
    let server = Server::start();
    let id = alices_booking(&server).await;
    let admin = server.token("admin").await;
    assert_eq!(cancel(&server, &admin, &id).await.status(), StatusCode::OK);

    let rows = server
        .wait_for(&admin, &[("action", "FTMS_BOOKING_CANCELLED")], 1)
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "success");
    assert_eq!(rows[0]["entity_id"], id);
    assert_eq!(rows[0]["actor"]["id"], "admin");
}

#[tokio::test]
async fn a_locked_account_login_is_recorded_with_the_lock_code() {
    let server = Server::start();
    let response = server.login("carol", "carol-pass", "203.0.113.30").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let admin = server.token("admin").await;

    let rows = server
        .wait_for(&admin, &[("action", "authn_login_lock")], 1)
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"]["id"], "carol");
}

#[tokio::test]
async fn repeated_failed_logins_from_one_ip_raise_an_alert() {
    let server = Server::start();
    for _ in 0..5 {
        let response = server.login("alice", "guess", "198.51.100.66").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let admin = server.token("admin").await;

    let alerts = server
        .wait_for(&admin, &[("action", "AUDIT_ALERT_FIRED")], 1)
        .await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(alerts[0]["metadata"]["rule"], "failed_logins_per_ip");
    assert_eq!(alerts[0]["metadata"]["key"], "198.51.100.66");
}

#[tokio::test]
async fn the_chain_verifies_after_a_session_of_activity() {
    let server = Server::start();
    let alice = server.token("alice").await;
    server.book(&alice, "FT100", 1).await;
    server.login("alice", "nope", "203.0.113.20").await;
    let admin = server.token("admin").await;
    let rows = server.wait_for(&admin, &[], 4).await;
    assert!(rows.len() >= 4);

    let report: Value = server
        .http
        .get(format!("{}/audit/verify", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(report["valid"], true, "{report}");
    assert!(report["checked"].as_u64().unwrap_or(0) >= 4);
}

#[tokio::test]
async fn the_audit_log_is_admin_only() {
    let server = Server::start();
    let alice = server.token("alice").await;
    let response = server
        .http
        .get(format!("{}/audit", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("audit");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_invalid_audit_filter_is_a_400_naming_the_parameter() {
    let server = Server::start();
    let admin = server.token("admin").await;
    let response = server
        .http
        .get(format!("{}/audit?outcome=maybe", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("audit");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap_or("").contains("outcome"),
        "{body}"
    );
}

#[tokio::test]
async fn the_database_file_and_its_directory_are_created_on_first_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("nested/dir/audit.db");
    let server = Server::start_with_db(dir, |d| d.join("nested/dir/audit.db"));
    // The server opened the store before printing its URL.
    assert!(db.exists());
    drop(server);
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_drains_the_audit_queue_before_exit() {
    use audit::{AuditQuery, AuditStore};

    let mut server = Server::start();
    server.login("alice", "alice-pass", "203.0.113.40").await;
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = server.child.wait().expect("wait for exit");
    assert!(exit.success(), "{exit:?}");

    let store = audit::stores::sqlite::SqliteStore::open(&server.db).expect("open the log");
    let page = store
        .query(&AuditQuery::new().action("authn_login_success"))
        .await
        .expect("query");
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        page.events[0].event.ip,
        Some("203.0.113.40".parse().expect("ip"))
    );
}
