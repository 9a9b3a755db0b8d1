//! `xinfang dlq list|replay`: what consumers gave up on, and sending it round again.

use std::process::ExitCode;

use xinfang_domain::county::CountyCode;

#[derive(clap::Subcommand, Debug)]
pub enum Dlq {
    /// List dead letters (all served counties, or one).
    List {
        #[arg(long)]
        county: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again on their original subjects.
    Replay {
        #[arg(long)]
        county: String,
        /// Stream sequences from `dlq list`.
        seqs: Vec<u64>,
        /// Replay every dead letter of the county.
        #[arg(long, conflicts_with = "seqs")]
        all: bool,
    },
}

fn parse_county(raw: &str) -> Result<CountyCode, ExitCode> {
    CountyCode::parse(raw).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

pub async fn run(cmd: Dlq) -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let client = xinfang_platform::nats::connect(&settings.platform.nats, "xinfang-cli").await?;
    let js = xinfang_platform::nats::jetstream(client);
    match cmd {
        Dlq::List { county, json } => {
            let counties = match county {
                Some(c) => match parse_county(&c) {
                    Ok(c) => vec![c],
                    Err(code) => return Ok(code),
                },
                None => settings.platform.counties(),
            };
            let mut total = 0;
            for c in counties {
                let letters = match xinfang_platform::dlq::list(&js, &c).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("county {c}: {e}");
                        continue;
                    }
                };
                for d in letters {
                    total += 1;
                    if json {
                        println!("{}", serde_json::to_string(&d)?);
                    } else {
                        println!(
                            "{} seq {:>6}  {}  {}  case {}  after {} deliveries: {}",
                            d.county,
                            d.seq,
                            d.consumer,
                            d.original_subject,
                            d.case_id.as_deref().unwrap_or("-"),
                            d.deliveries,
                            d.error
                        );
                    }
                }
            }
            if !json {
                println!("{total} dead letter(s)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Replay { county, seqs, all } => {
            let c = match parse_county(&county) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let seqs = if all {
                xinfang_platform::dlq::list(&js, &c)
                    .await?
                    .into_iter()
                    .map(|d| d.seq)
                    .collect()
            } else {
                seqs
            };
            if seqs.is_empty() {
                eprintln!("error: name the sequences to replay, or --all");
                return Ok(ExitCode::from(2));
            }
            let mut failed = 0;
            let bar = indicatif::ProgressBar::new(seqs.len() as u64);
            for seq in seqs {
                bar.inc(1);
                match xinfang_platform::dlq::replay(&js, &c, seq).await {
                    Ok(subject) => bar.println(format!("replayed {seq} on {subject}")),
                    Err(e) => {
                        failed += 1;
                        bar.println(format!("seq {seq}: {e}"));
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
