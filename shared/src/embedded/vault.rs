//! Credentials in `vault.sqlite`, a file only its owner can read (mode 0600).

use super::{unavailable, Cached, Db};
use crate::ports::{PortError, PortResult, Secret, Vault};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::path::Path;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);";

/// The embedded credential vault.
#[derive(Clone)]
pub struct EmbeddedVault {
    db: Db,
}

impl EmbeddedVault {
    /// Opens (or creates, owner-only) `vault.sqlite` in `dir`.
    pub fn open(dir: &Path) -> PortResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| PortError::Unavailable(format!("create {}: {e}", dir.display())))?;
        let path = dir.join("vault.sqlite");
        restrict(&path)?;
        Ok(Self {
            db: Db::open(&path, SCHEMA)?,
        })
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> PortResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| PortError::Unavailable(format!("vault file: {e}"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> PortResult<()> {
    Ok(())
}

#[async_trait]
impl Vault for EmbeddedVault {
    async fn put(&self, name: &str, value: &Secret) -> PortResult<()> {
        let (name, value) = (name.to_owned(), value.expose().to_owned());
        self.db
            .run(move |db| {
                db.execute_cached(
                    "INSERT INTO secrets (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    params![name, value],
                )
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn get(&self, name: &str) -> PortResult<Option<Secret>> {
        let name = name.to_owned();
        self.db
            .run(move |db| {
                db.query_row_cached(
                    "SELECT value FROM secrets WHERE name = ?1",
                    params![name],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map(|v| v.map(Secret::new))
                .map_err(unavailable)
            })
            .await
    }

    async fn delete(&self, name: &str) -> PortResult<()> {
        let name = name.to_owned();
        self.db
            .run(move |db| {
                db.execute_cached("DELETE FROM secrets WHERE name = ?1", params![name])
                    .map(|_| ())
                    .map_err(unavailable)
            })
            .await
    }
}
