/// Fault-injection hook for the fault suite (`tests/faults.rs`): milliseconds the sender
/// stalls after a provider accepted a message and before recording it, so a test can kill the
/// process inside that window. Unset (as in every deployment): no stall.
const PAUSE_AFTER_ACCEPT: &str = "XF_FAULT_PAUSE_AFTER_ACCEPT_MS";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pause_after_accept = match std::env::var(PAUSE_AFTER_ACCEPT) {
        Ok(ms) => Some(std::time::Duration::from_millis(ms.parse().map_err(
            |_| anyhow::anyhow!("{PAUSE_AFTER_ACCEPT} must be a number of milliseconds"),
        )?)),
        Err(_) => None,
    };
    xinfang_platform::main_runner::run("xf-notify", |infra| async move {
        let opts = xinfang_notify::service::Options {
            pause_after_accept,
            ..Default::default()
        };
        xinfang_notify::service::start_with(infra, opts)
            .await
            .map(|_| ())
    })
    .await
}
