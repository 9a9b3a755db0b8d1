#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-supervision", |infra| async move {
        xinfang_supervision::service::start(infra).await.map(|_| ())
    })
    .await
}
