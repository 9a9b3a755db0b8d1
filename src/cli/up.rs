//! `xinfang up` and `xinfang migrate`.

use std::process::ExitCode;

use xinfang_platform::host::Infra;

pub async fn run() -> anyhow::Result<ExitCode> {
    xinfang_platform::main_runner::run("xinfang", |infra: Infra| async move {
        let intake = xinfang_intake::service::start(infra.clone()).await?;
        let routing = xinfang_routing::service::start(infra.clone()).await?;
        let supervision = xinfang_supervision::service::start(infra.clone()).await?;
        let review = xinfang_review::service::start(infra.clone()).await?;
        let notify = xinfang_notify::service::start(infra.clone()).await?;
        let api = format!("http://{}", intake.http);
        let p = &infra.settings.platform;
        // The demo hands out a city clerk token so the first petition can be sent as printed.
        let auth_header = match (p.security.demo_token, intake.host.auth.store(), p.city()) {
            (true, Some(store), Some(city)) => {
                let t = store
                    .create(xinfang_domain::access::Role::Clerk, &city, None, "demo clerk (xinfang up)")
                    .await?;
                format!(" -H 'authorization: Bearer {}'", t.token)
            }
            _ => String::new(),
        };
        println!();
        println!("xinfang is up: {}", infra.settings.platform.deployment.name);
        println!("  API (intake):   {api}");
        println!("  API docs:       {api}/openapi.json");
        println!(
            "  other services: routing http://{}  supervision http://{}  review http://{}  notify http://{}",
            routing.http, supervision.http, review.http, notify.http
        );
        println!("  health:         {api}/healthz  {api}/readyz  metrics: {api}/metrics");
        println!();
        println!("Submit a first petition (in another terminal):");
        println!("  curl -sS -X POST {api}/v1/petitions -H 'content-type: application/json'{auth_header} \\");
        println!("       --data @docs/examples/petition.json");
        println!("  or:  target/debug/xinfang submit --file docs/examples/petition.json");
        println!("Then follow it: curl -sS{auth_header} {api}/v1/cases/<case_no>");
        println!("Petitioner view (no token): curl -sS {api}/v1/query/<query_code>");
        if auth_header.is_empty() && p.security.auth_required {
            println!("(create a token first: xinfang tokens create --role clerk --scope {} --label me)", p.deployment.city);
        }
        println!("Stop with Ctrl-C.");
        Ok(())
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate() -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let db = &settings.platform.database;
    let services: [(&str, &sqlx::migrate::Migrator); 5] = [
        ("intake", &xinfang_intake::service::MIGRATOR),
        ("routing", &xinfang_routing::service::MIGRATOR),
        ("supervision", &xinfang_supervision::service::MIGRATOR),
        ("review", &xinfang_review::service::MIGRATOR),
        ("notify", &xinfang_notify::service::MIGRATOR),
    ];
    if settings.platform.security.auth_required {
        xinfang_platform::auth::AuthStore::connect(db).await?;
        println!("migrated schema auth");
    }
    for (schema, migrator) in services {
        let pool = xinfang_platform::db::connect(db, schema).await?;
        xinfang_platform::db::migrate(&pool, schema, migrator).await?;
        pool.close().await;
        println!("migrated schema {schema}");
    }
    Ok(ExitCode::SUCCESS)
}
