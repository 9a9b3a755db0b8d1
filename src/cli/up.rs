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
        let urls = xinfang_console::backend::ServiceUrls {
            intake: format!("http://{}", intake.http),
            routing: format!("http://{}", routing.http),
            supervision: format!("http://{}", supervision.http),
            review: format!("http://{}", review.http),
            notify: format!("http://{}", notify.http),
        };
        let console = xinfang_console::service::start(infra.clone(), urls).await?;
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
        let site = format!("http://{}", console.http);
        println!("  console:        {site}/   (petitioners: {site}/q)");
        println!("  one origin:     {site}/v1/… serves every service's API through the console");
        if p.security.demo_token {
            let accounts = demo_accounts(&console.state.users, &p.deployment.city).await?;
            println!("  demo accounts — sign in at {site}/login (passwords are new at every start):");
            for (user, role, password) in accounts {
                println!("    {user:<11} {password:<18} {role}");
            }
        }
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

/// One account per role for the demo, with fresh passwords (printed in the banner).
async fn demo_accounts(
    store: &xinfang_console::users::UserStore,
    city: &str,
) -> anyhow::Result<Vec<(String, String, String)>> {
    // The demo's department user works for 灵宝市人社局, where the bundled wage petition goes.
    let county = if city == "411200" { "411282" } else { city };
    let wanted = [
        ("clerk", "登记员（市信访局）", "clerk", city, None),
        (
            "rsj",
            "承办单位（人社局）",
            "department",
            county,
            Some("rsj"),
        ),
        ("supervisor", "督查督办", "supervisor", city, None),
        ("reviewer", "复查复核", "reviewer", city, None),
        ("leader", "领导", "leader", city, None),
        ("operator", "运维", "operator", city, None),
    ];
    let mut out = Vec::new();
    for (username, title, role, scope, dept) in wanted {
        let password = format!("demo-{}", uuid::Uuid::new_v4().simple())
            .chars()
            .take(17)
            .collect::<String>();
        let n = xinfang_console::users::NewUser {
            username: username.into(),
            display_name: title.into(),
            password: password.clone(),
            role: role.into(),
            scope: scope.into(),
            department: dept.map(str::to_owned),
        };
        match store.create(&n).await? {
            Ok(true) => {}
            Ok(false) => {
                store.set_password(username, &password).await?;
            }
            Err(e) => anyhow::bail!("demo account {username}: {e}"),
        }
        out.push((
            username.to_owned(),
            format!("{title} ({role}, {scope})"),
            password,
        ));
    }
    Ok(out)
}

pub async fn migrate() -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let db = &settings.platform.database;
    let services: [(&str, &sqlx::migrate::Migrator); 6] = [
        ("intake", &xinfang_intake::service::MIGRATOR),
        ("routing", &xinfang_routing::service::MIGRATOR),
        ("supervision", &xinfang_supervision::service::MIGRATOR),
        ("review", &xinfang_review::service::MIGRATOR),
        ("notify", &xinfang_notify::service::MIGRATOR),
        ("console", &xinfang_console::service::MIGRATOR),
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
