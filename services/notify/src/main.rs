#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-notify", |infra| async move {
        xinfang_notify::service::start(infra).await.map(|_| ())
    })
    .await
}
