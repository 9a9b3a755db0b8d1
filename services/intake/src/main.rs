#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-intake", |infra| async move {
        xinfang_intake::service::start(infra).await.map(|_| ())
    })
    .await
}
