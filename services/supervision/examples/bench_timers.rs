//! Stand-alone runner of the timer benchmark (what `xinfang bench timers` calls):
//! `cargo run --release -p xinfang-supervision --example bench_timers -- --n 100000 [--json]
//!  [--window-ms W] [--lead-ms L] [--workers K] [--batch B]`

use xinfang_supervision::cli::{BenchOptions, bench_timers};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> anyhow::Result<Option<T>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            v.parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{name}: not a number: {v}"))
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--n")?.unwrap_or(100_000);
    let mut opts = BenchOptions::new(n);
    opts.window_ms = arg(&args, "--window-ms")?;
    opts.lead_ms = arg(&args, "--lead-ms")?;
    if let Some(w) = arg(&args, "--workers")? {
        opts.workers = w;
    }
    if let Some(b) = arg(&args, "--batch")? {
        opts.claim_batch = b;
    }
    let loaded = xinfang_platform::config::load()?;
    let report = bench_timers(&loaded, &opts).await?;
    println!("{}", report.human());
    if args.iter().any(|a| a == "--json") {
        println!("{}", report.json_line());
    }
    Ok(())
}
