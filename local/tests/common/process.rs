//! The `channel-sync serve` process of the black-box tests, shared by `common/mod.rs` (the
//! `serve_*.rs` tests) and `chaos/crash.rs` (the crash test and the `chaos` example, which
//! name the binary themselves): start on a free port, wait until it answers, stop like an
//! operator (SIGTERM) or cut it (SIGKILL).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `serve` process; SIGKILLed when dropped.
pub struct Runner {
    pub child: Child,
    pub base: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Runner {
    /// SIGKILL: no drain, no shutdown hook, whatever was in flight is cut.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the process logs: its `RUST_LOG` and where its stdout goes (stderr is inherited).
pub struct Logs {
    pub rust_log: String,
    pub stdout: bool,
}

/// Starts `binary serve` on a free port with its data in `data`, the `dev` tenant's `token`,
/// and `envs`; returns once it answers that tenant's token.
///
/// A successful TCP connect alone does not prove the runner is up: between choosing the port
/// and the runner binding it, another test's listener can hold the port for a moment (and the
/// runner then fails to bind it). So the runner must answer `GET /wms/outbox` with `token`
/// (unique per test), and a runner that exits is started again on another port.
pub fn spawn_binary<K, V>(
    binary: &Path,
    data: &Path,
    token: &str,
    envs: impl IntoIterator<Item = (K, V)> + Clone,
    logs: &Logs,
) -> Runner
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg("serve")
            .envs(envs.clone())
            .env("CHANNEL_SYNC_ADDR", format!("127.0.0.1:{port}"))
            .env("CHANNEL_SYNC_DATA", data)
            .env("CHANNEL_SYNC_DEV_TOKEN", token)
            .env("RUST_LOG", &logs.rust_log)
            .stdout(if logs.stdout {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let mut runner = Runner {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if answers_token(port, token) {
                return runner;
            }
            if let Ok(Some(_)) = runner.child.try_wait() {
                break; // e.g. the port was taken meanwhile: try another one
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if Instant::now() >= deadline {
            panic!("channel-sync serve did not start");
        }
    }
    panic!("channel-sync serve kept exiting at start");
}

/// Whether the server on `port` answers `GET /wms/outbox?after=0` with `token` with a 200.
fn answers_token(port: u16, token: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /wms/outbox?after=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Stops the runner the way an operator would (SIGTERM) and checks it exits cleanly.
pub fn stop(mut runner: Runner) {
    unsafe {
        libc::kill(runner.child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = runner.child.try_wait() {
            assert!(status.success(), "serve exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("serve did not stop on SIGTERM");
}
