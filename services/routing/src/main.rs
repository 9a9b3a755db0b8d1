#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-routing", |infra| async move {
        xinfang_routing::service::start(infra).await.map(|_| ())
    })
    .await
}
