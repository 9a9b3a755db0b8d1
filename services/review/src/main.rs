#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-review", |infra| async move {
        xinfang_review::service::start(infra).await.map(|_| ())
    })
    .await
}
