//! Logs and traces: one subscriber per process with a pretty or JSON log layer and, when an
//! endpoint is configured, an OTLP/HTTP span exporter.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Telemetry};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Flushes and stops the exporter on drop; keep it alive for the life of `main`.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    exporting: bool,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.exporting
            && let Some(p) = PROVIDER.get()
        {
            let p = p.clone();
            // The blocking HTTP client must not run on a runtime thread.
            let _ = std::thread::spawn(move || p.shutdown()).join();
        }
    }
}

/// Installs the global subscriber and the W3C trace-context propagator. Safe to call more
/// than once (later calls keep the first subscriber), so tests and `xinfang up` can share it.
pub fn init(service: &str, settings: &Telemetry) -> anyhow::Result<TelemetryGuard> {
    init_with_writer(service, settings, BoxMakeWriter::new(std::io::stdout))
}

/// [`init`] with logs written to `writer` (tests capture them to check what they contain).
pub fn init_with_writer(
    service: &str,
    settings: &Telemetry,
    writer: BoxMakeWriter,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .map_err(|e| anyhow::anyhow!("telemetry.filter: {e}"))?;

    let fmt = match settings.format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .compact()
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };

    let otel = if settings.otlp_endpoint.is_empty() {
        None
    } else {
        let provider = PROVIDER.get_or_init(|| build_provider(service, settings));
        Some(tracing_opentelemetry::layer().with_tracer(provider.tracer("xinfang")))
    };

    let exporting = otel.is_some();
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    Ok(TelemetryGuard { exporting })
}

fn build_provider(service: &str, settings: &Telemetry) -> SdkTracerProvider {
    let endpoint = settings.otlp_endpoint.clone();
    let protocol = match settings.otlp_protocol {
        crate::config::OtlpProtocol::Protobuf => opentelemetry_otlp::Protocol::HttpBinary,
        crate::config::OtlpProtocol::Json => opentelemetry_otlp::Protocol::HttpJson,
    };
    let queue = settings.otlp_queue_size.max(2048);
    let service = service.to_owned();
    // reqwest's blocking client panics when built on a runtime thread: build it on its own.
    let built = std::thread::spawn(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_protocol(protocol)
            .build();
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build();
        let builder = SdkTracerProvider::builder().with_resource(resource);
        match exporter {
            Ok(exporter) => {
                let processor = BatchSpanProcessor::builder(exporter)
                    .with_batch_config(
                        BatchConfigBuilder::default()
                            .with_max_queue_size(queue)
                            .build(),
                    )
                    .build();
                builder.with_span_processor(processor).build()
            }
            Err(e) => {
                eprintln!("telemetry: OTLP exporter disabled: {e}");
                builder.build()
            }
        }
    })
    .join();
    built.unwrap_or_else(|_| SdkTracerProvider::builder().build())
}

/// Forces export of finished spans (tests read them from a receiver right after).
pub fn flush() {
    if let Some(p) = PROVIDER.get() {
        let p = p.clone();
        let _ = std::thread::spawn(move || p.force_flush()).join();
    }
}
