#[tokio::main]
async fn main() -> anyhow::Result<()> {
    xinfang_platform::main_runner::run("xf-console", |infra| async move {
        let settings = xinfang_console::service::settings(&infra)?;
        let urls = xinfang_console::service::service_urls(&infra, &settings);
        xinfang_console::service::start(infra, urls)
            .await
            .map(|_| ())
    })
    .await
}
