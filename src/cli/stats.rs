//! `xinfang stats`: KPIs per county, department and period (definitions beside the code in
//! services/supervision/src/stats.rs).

use std::process::ExitCode;

use xinfang_supervision::cli::{self, StatsFormat, StatsQuery};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// County (division code); default: every served county.
    #[arg(long)]
    county: Option<String>,
    /// Department code.
    #[arg(long)]
    dept: Option<String>,
    /// First day of the period, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day of the period, YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let query = StatsQuery {
        county: a.county,
        dept: a.dept,
        from: a.from,
        to: a.to,
        ..Default::default()
    };
    let kpis = match cli::stats(&settings, &query).await {
        Ok(k) => k,
        Err(e)
            if e.downcast_ref::<xinfang_domain::validation::ValidationError>()
                .is_some() =>
        {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e),
    };
    let format = if a.csv {
        StatsFormat::Csv
    } else if a.json {
        StatsFormat::Json
    } else {
        StatsFormat::Table
    };
    print!("{}", cli::render(&kpis, format));
    Ok(ExitCode::SUCCESS)
}
