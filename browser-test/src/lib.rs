//! Headless Chromium for browser tests, driven through chromedriver (WebDriver) with
//! [`fantoccini`].
//!
//! [`Browser::start`] starts Debian's `chromedriver` on a free 127.0.0.1 port with a fresh
//! profile and download directory, and connects a WebDriver session to headless Chromium.
//! The binaries come from `CHROMEDRIVER` / `CHROMIUM` (exported by `scripts/browser.sh`),
//! else `/usr/bin`, else `PATH`. When they are missing the test fails under `CI` and is
//! skipped with a message otherwise.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::{Client, Locator};
use serde_json::json;

/// The flags Chromium needs on these machines: headless as root in a container, and no
/// background traffic to a network that is not there.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
];

fn find(var: &str, name: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var)
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    let usr = Path::new("/usr/bin").join(name);
    if usr.exists() {
        return Some(usr);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A WebDriver session on headless Chromium; chromedriver is stopped on drop.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    downloads: tempfile::TempDir,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session. Returns `None` (after saying why) when
    /// Chromium is not installed and `CI` is not set; panics when it is missing under CI.
    pub async fn start(test: &str) -> Option<Self> {
        let (Some(chromium), Some(driver)) = (
            find("CHROMIUM", "chromium"),
            find("CHROMEDRIVER", "chromedriver"),
        ) else {
            let why =
                "chromium / chromedriver not installed (run `bash scripts/browser.sh install`)";
            if std::env::var_os("CI").is_some() {
                panic!("{test}: {why}");
            }
            eprintln!("skipping {test}: {why}");
            return None;
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
        let screenshots = std::env::var_os("AUDIT_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::temp_dir()
                    .join("audit-dashboard-screenshots")
                    .join(test)
            });
        std::fs::create_dir_all(&screenshots).expect("screenshot dir");

        let port = free_port();
        let mut child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chromedriver did not listen on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                },
            },
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = fantoccini::ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await;
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                let _ = child.kill();
                panic!("could not start a Chromium session: {e}");
            }
        };
        Some(Self {
            client: Some(client),
            driver: child,
            downloads,
            screenshots,
            _profile: profile,
        })
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    /// Saves a PNG of the current page as `<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client().screenshot().await.expect("screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Where screenshots go (`AUDIT_SCREENSHOTS`, else a folder in the temp dir).
    pub fn screenshot_dir(&self) -> &Path {
        &self.screenshots
    }

    /// Waits for a finished download whose name ends with `suffix`.
    pub async fn download(&self, suffix: &str, within: Duration) -> PathBuf {
        let deadline = Instant::now() + within;
        loop {
            let found = std::fs::read_dir(self.downloads.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = found {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "no *{suffix} download within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client()
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
