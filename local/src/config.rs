//! Configuration from the environment, so scripts can drive `serve` non-interactively.

use shared::ports::{PortError, Secret};
use std::path::PathBuf;

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHANNEL_SYNC_ADDR`, default `127.0.0.1:3000`.
    pub addr: String,
    /// `CHANNEL_SYNC_DATA`, default `.channel-sync/`.
    pub data_dir: PathBuf,
    /// `CHANNEL_SYNC_DEV_TOKEN`: the `dev` tenant's bearer token. When unset, one is generated
    /// on first start and kept in `{data}/dev-token` (mode 0600).
    pub dev_token: Option<Secret>,
    /// `CHANNEL_SYNC_ADMIN_TOKEN`: the operator's token for `POST /api/admin/tenants`
    /// (unset: the route is off).
    pub admin_token: Option<Secret>,
    /// Every channel app, for each channel `NAME`: `NAME_CLIENT_ID`, `NAME_CLIENT_SECRET`,
    /// `NAME_PREVIOUS_CLIENT_SECRET` (during a rotation) and `NAME_API_BASE` (replaces the
    /// channel's API host: tests, a local fake store), e.g. `SHOPIFY_CLIENT_SECRET`.
    pub apps: shared::channels::context::ChannelApps,
    /// `CHANNEL_SYNC_PUBLIC_URL`: the base of our OAuth redirect and webhook URLs, as the
    /// channels reach us (default `http://{addr}`).
    pub public_url: String,
    /// `CHANNEL_SYNC_DASHBOARD_URL`: where the browser lands after an install (default
    /// `{public_url}/integrations`, the Integrations page, which shows the outcome; the JSON
    /// `{public_url}/oauth/done` still answers for scripts).
    pub dashboard_url: String,
    /// `CHANNEL_SYNC_RECONCILE_SECS`: seconds between reconciliation polls (default 600; 0
    /// turns the timer off).
    pub reconcile_every: Option<std::time::Duration>,
    /// `CHANNEL_SYNC_DAILY_PUSH_AT`: the daily full inventory push, `HH:MM` UTC (default
    /// `03:00`).
    pub daily_push_at: (u32, u32),
    /// `CHANNEL_SYNC_LIVE_WINDOW_MS` (Live coalescing window, default 2000) and
    /// `CHANNEL_SYNC_SETTLE_SECS` (how long a SKU whose channel quantity moved unexpectedly
    /// is held, default 900).
    pub engine: shared::inventory::engine::EngineSettings,
    /// `CHANNEL_SYNC_ALLOW_PRIVATE_STORES=1`: the one test switch letting WooCommerce and
    /// Magento store URLs be plain http on private/loopback addresses (tests and local demos
    /// with a fake store). Off by default.
    pub url_policy: shared::channels::store_url::UrlPolicy,
    /// `CHANNEL_SYNC_JOB_WORKERS`: scheduled jobs run at once, one connection each (default
    /// 4, 1 to 64).
    pub job_workers: usize,
}

fn number(name: &str, default: u64) -> Result<u64, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| ConfigError::Invalid(format!("{name} must be a whole number"))),
    }
}

/// `HH:MM` (UTC).
pub fn parse_time_of_day(raw: &str) -> Option<(u32, u32)> {
    let (h, m) = raw.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Why `serve` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("embedded store: {0}")]
    Store(PortError),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads the environment; generates the dev token file when no token is given.
    pub fn from_env() -> Result<Self, ConfigError> {
        let data_dir =
            PathBuf::from(var("CHANNEL_SYNC_DATA").unwrap_or_else(|| ".channel-sync".into()));
        let dev_token = match var("CHANNEL_SYNC_DEV_TOKEN") {
            Some(token) => Some(Secret::new(token)),
            None => Some(dev_token_file(&data_dir)?),
        };
        let channels = shared::domain::Channel::ALL;
        let apps = shared::channels::context::ChannelApps::from_env(channels);
        for channel in channels {
            if let Some(base) = apps.get(channel).api_base {
                if !(base.starts_with("http://") || base.starts_with("https://")) {
                    return Err(ConfigError::Invalid(format!(
                        "{}_API_BASE must be an http(s) URL",
                        channel.as_str().to_ascii_uppercase()
                    )));
                }
            }
        }
        let addr = var("CHANNEL_SYNC_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let public_url = var("CHANNEL_SYNC_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        for (name, url) in [
            ("CHANNEL_SYNC_PUBLIC_URL", Some(&public_url)),
            (
                "CHANNEL_SYNC_DASHBOARD_URL",
                var("CHANNEL_SYNC_DASHBOARD_URL").as_ref(),
            ),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::Invalid(format!(
                        "{name} must be an http(s) URL"
                    )));
                }
            }
        }
        let reconcile_secs = match var("CHANNEL_SYNC_RECONCILE_SECS") {
            None => 600,
            Some(raw) => raw.parse::<u64>().map_err(|_| {
                ConfigError::Invalid(
                    "CHANNEL_SYNC_RECONCILE_SECS must be a whole number of seconds".into(),
                )
            })?,
        };
        let daily_push_at = match var("CHANNEL_SYNC_DAILY_PUSH_AT") {
            None => (3, 0),
            Some(raw) => parse_time_of_day(&raw).ok_or_else(|| {
                ConfigError::Invalid("CHANNEL_SYNC_DAILY_PUSH_AT must be HH:MM (UTC)".into())
            })?,
        };
        let window = number("CHANNEL_SYNC_LIVE_WINDOW_MS", 2000)?;
        if !(1..=60_000).contains(&window) {
            return Err(ConfigError::Invalid(
                "CHANNEL_SYNC_LIVE_WINDOW_MS must be between 1 and 60000".into(),
            ));
        }
        let engine = shared::inventory::engine::EngineSettings {
            window: std::time::Duration::from_millis(window),
            settle: std::time::Duration::from_secs(number("CHANNEL_SYNC_SETTLE_SECS", 900)?),
            ..Default::default()
        };
        let job_workers = number(
            "CHANNEL_SYNC_JOB_WORKERS",
            shared::jobs::pool::DEFAULT_WORKERS as u64,
        )?;
        if !(1..=64).contains(&job_workers) {
            return Err(ConfigError::Invalid(
                "CHANNEL_SYNC_JOB_WORKERS must be between 1 and 64".into(),
            ));
        }
        Ok(Self {
            job_workers: job_workers as usize,
            daily_push_at,
            engine,
            url_policy: shared::channels::store_url::UrlPolicy::from_env(),
            admin_token: var("CHANNEL_SYNC_ADMIN_TOKEN").map(Secret::new),
            reconcile_every: (reconcile_secs > 0)
                .then(|| std::time::Duration::from_secs(reconcile_secs)),
            dashboard_url: var("CHANNEL_SYNC_DASHBOARD_URL")
                .unwrap_or_else(|| format!("{public_url}/integrations")),
            public_url,
            addr,
            data_dir,
            dev_token,
            apps,
        })
    }
}

/// Reads `{data}/dev-token`, creating it (random, owner-only) on first start.
fn dev_token_file(data_dir: &std::path::Path) -> Result<Secret, ConfigError> {
    let path = data_dir.join("dev-token");
    let io = |e: std::io::Error| ConfigError::Invalid(format!("{}: {e}", path.display()));
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = existing.trim().to_owned();
        if !token.is_empty() {
            return Ok(Secret::new(token));
        }
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let token = format!("cs_dev_{}", hex::encode(rand::random::<[u8; 24]>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, token.as_bytes()).map_err(io)?;
    tracing::info!(path = %path.display(), "generated the dev tenant's bearer token");
    Ok(Secret::new(token))
}
