//! What the notify test files share: free ports and the test SMTP server's interpreter.

use std::net::TcpListener;
use std::process::{Command, Stdio};

use xinfang_platform::testing::repo_root;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// aiosmtpd importable by `python3`, installed by infra/test-tools.sh when missing.
pub fn ensure_aiosmtpd() {
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
