//! A real headless Chromium driven over WebDriver (`chromedriver`, Debian's `chromium-driver`,
//! installed by `scripts/install-browser.sh`), for the browser tests of the Integrations page.
//!
//! Never hangs: chromedriver listens on a free port, every wait has a deadline, WebDriver's own
//! script and page-load timeouts are set, and chromedriver runs in its own process group that
//! is killed (with the browser it started) when the [`Browser`] is dropped, even on a panic.
//! The browser resolves no name at all (`--host-resolver-rules`): nothing but loopback is
//! reachable, so a page that loaded anything from another origin would show it.
#![allow(dead_code)]

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// One browser test at a time: each starts a Chromium, and the CI machine has two cores.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver and the browser it started; both are killed on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group, which holds the browser's processes too.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let driver_path = find_binary(&["chromedriver"]).expect(
            "chromedriver is not installed: run `make tools` (scripts/install-browser.sh installs Debian's chromium and chromium-driver)",
        );
        let chromium = find_binary(&["chromium", "chromium-browser"])
            .expect("chromium is not installed: run `make tools`");
        let profile = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut browser_args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-extensions".into(),
            "--window-size=1280,1000".into(),
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        // Chromium's sandbox refuses to run as root (CI runs as root).
        if unsafe { libc::geteuid() } == 0 {
            browser_args.push("--no-sandbox".into());
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": browser_args},
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match tokio::time::timeout(Duration::from_secs(60), builder.connect(&url)).await {
                Ok(Ok(client)) => break client,
                // chromedriver is not listening yet
                Ok(Err(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Ok(Err(e)) => panic!("no WebDriver session: {e}"),
                Err(_) => panic!("chromedriver did not open a session within 60 s"),
            }
        };
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(WAIT),
                Some(Duration::ZERO),
            ))
            .await
            .unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Sends the page to `url` as a link would, without waiting for it to load (WebDriver's
    /// own navigation fails on an address this browser cannot resolve, e.g. a channel's
    /// consent screen).
    pub async fn follow(&self, url: &str) {
        self.js(
            "window.location.assign(arguments[0]); return null;",
            json!(url),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments[0]` is `arg`) in the page.
    pub async fn js(&self, script: &str, arg: Value) -> Value {
        self.client.execute(script, vec![arg]).await.unwrap()
    }

    /// The `textContent` of the first element matching `css` (visible or not), if any.
    pub async fn text(&self, css: &str) -> Option<String> {
        let value = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                json!(css),
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// Whether `css` matches an element that is not hidden (by itself or an ancestor).
    pub async fn shown(&self, css: &str) -> bool {
        self.js(
            "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
            json!(css),
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    /// Waits until `css` is shown, then returns it.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        until(&format!("{css} to be shown"), || async move {
            self.shown(css).await.then_some(())
        })
        .await;
        self.client.find(Locator::Css(css)).await.unwrap()
    }

    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    /// Clears the field `css` and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Waits until the text of `css` satisfies `ok`, and returns it.
    pub async fn text_until(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if let Some(found) = text.as_deref().filter(|t| ok(t)) {
                return found.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {css} {what}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's own URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }
}

/// Polls `probe` until it returns `Some`, for at most [`WAIT`].
pub async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
