//! What the notify test files share: free ports and the test SMTP server's interpreter.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use xinfang_platform::testing::repo_root;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits (up to 10 s) for a server started by the test to accept connections on `port`.
pub async fn wait_listening(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on {port}");
}

/// aiosmtpd importable by `python3`, installed by infra/test-tools.sh when missing.
pub fn ensure_aiosmtpd() {
    // One installer at a time: tests start together, and concurrent pip runs collide.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let ok = || {
        Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok() {
        return;
    }
    let script = repo_root().join("infra/test-tools.sh");
    let status = Command::new("bash").arg(&script).status();
    assert!(
        status.is_ok_and(|s| s.success()) && ok(),
        "aiosmtpd is needed: run infra/test-tools.sh"
    );
}
