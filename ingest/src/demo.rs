//! `wardstream demo`: the whole system on one machine with nothing installed.
//!
//! An embedded MQTT broker (rumqttd) on a loopback port; a simulated ward whose bedside monitors
//! publish SenML at 1 Hz, replaying the real MIMIC-II numerics (each bed from its own offset);
//! the wardstream service ingesting them into Parquet. It shows progress, and on `--duration`
//! or Ctrl-C stops the monitors, waits for every acknowledged message to arrive, shuts the
//! service down (flushing everything), then checks from the Parquet files that every reading
//! the broker acknowledged was stored exactly once, and prints a sample query.
//!
//! It also serves the HTTP API (`--http`, default `127.0.0.1:8080`) and runs an ADT feed through
//! the real MLLP listener ([`crate::demo_adt`]): every bed's patient is admitted before the
//! monitors start; during the run the patient of bed 2 is discharged and the patient of bed 1
//! transferred into bed 2. Authentication is on, as always: a fresh random token per role is
//! generated at start (the configuration keeps only their hashes) and printed, one line per
//! role with an example `curl`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::time::{Instant, sleep};
use wardstream_pipeline::{Clock, SystemClock};
use wardstream_protocols::mqtt::MqttConfig;
use wardstream_simulators::{WardConfig, WardReport, spawn_ward};
use wardstream_storage::{OutputFormat, QuerySession, StorageConfig, format_batches};

use crate::broker::EmbeddedBroker;
use crate::config::{Config, DeviceEntry, HttpSettings, PipelineConfig};
use crate::demo_adt::{DemoAdt, ROOM, WARD, bed_label, patient_of};
use crate::service::{Service, ServiceStats};

/// What `wardstream demo` was asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Data directory for the tables.
    pub data_dir: PathBuf,
    /// Beds (monitors) in the simulated ward.
    pub beds: usize,
    /// Stop after this long; `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
    /// Time between two readings of one monitor.
    pub interval: Duration,
    /// Where the HTTP API listens.
    pub http: String,
}

/// The outcome, as checked from the Parquet files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOutcome {
    /// Readings the broker acknowledged to the monitors.
    pub published: u64,
    /// Rows in `vitals` received during this run.
    pub stored: u64,
    /// (device, metric, time) keys stored more than once.
    pub duplicates: u64,
    /// Dead letters received during this run.
    pub dead_letters: u64,
}

impl DemoOutcome {
    /// True when every acknowledged reading is stored exactly once.
    pub fn is_exact(&self) -> bool {
        self.published == self.stored && self.duplicates == 0 && self.dead_letters == 0
    }
}

/// Runs the demo and prints as it goes.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let started_at = SystemClock.now_micros();
    std::fs::create_dir_all(&options.data_dir).with_context(|| format!("creating {}", options.data_dir.display()))?;
    let broker = EmbeddedBroker::start()?;
    println!("wardstream demo: embedded MQTT broker on {}", broker.addr());
    // Fresh tokens for this run: the configuration holds only their hashes.
    let (auth_settings, tokens) = crate::auth::demo_tokens::generate(&[WARD.to_owned()])?;
    // A fresh pseudonym key too, so the analyst's token can query the de-identified views.
    let pseudonym_key = options.data_dir.join(".demo-pseudonym.key");
    std::fs::write(&pseudonym_key, crate::auth::tokens::generate_token()?)
        .with_context(|| format!("writing {}", pseudonym_key.display()))?;
    let config = Config {
        storage: StorageConfig {
            data_dir: options.data_dir.clone(),
            flush_interval_ms: 2_000,
            ..StorageConfig::default()
        },
        pipeline: PipelineConfig::default(),
        mqtt: vec![MqttConfig {
            url: broker.url(),
            client_id: "wardstream-demo".into(),
            clean_session: false,
            ..MqttConfig::default()
        }],
        http: HttpSettings { enabled: true, listen: options.http.clone(), ..HttpSettings::default() },
        auth: auth_settings,
        privacy: crate::settings::PrivacySettings {
            pseudonym_key_file: Some(pseudonym_key),
            ..crate::settings::PrivacySettings::default()
        },
        adt: Some(crate::adt_listener::AdtSettings { listen: "127.0.0.1:0".into(), ..Default::default() }),
        ..Config::default()
    };
    let ward_config = WardConfig {
        beds: options.beds,
        interval: options.interval,
        ..WardConfig::new("127.0.0.1", broker.addr().port())
    };
    let config = Config {
        devices: (0..options.beds)
            .map(|i| DeviceEntry {
                // The device id readings carry: the SenML base name without its trailing ':'.
                device_id: wardstream_simulators::senml::base_name(&ward_config.monitor_id(i))
                    .trim_end_matches(':')
                    .to_owned(),
                ward: WARD.into(),
                room: ROOM.into(),
                bed: bed_label(i),
            })
            .collect(),
        ..config
    };
    let service = Service::start(&config).await?;
    service.wait_subscribed(Duration::from_secs(15)).await?;
    let adt_address = service.adt_address().context("the demo's ADT listener is not running")?;
    let mut adt = DemoAdt::connect(adt_address).await?;
    for i in 0..options.beds {
        adt.admit(i).await?;
    }
    println!("ADT: admitted {} patients (P-0001…) through the MLLP listener on {adt_address}", options.beds);
    if let Some(http) = service.http_address() {
        print_tokens(http, &tokens);
    }
    let story = tokio::spawn(adt_story(adt, options.beds, options.duration));
    let ward = spawn_ward(ward_config)?;
    println!(
        "ward icu-1: {} monitors replaying MIMIC-II ICU numerics (PhysioNet) every {:?}; writing Parquet to {}",
        options.beds,
        options.interval,
        options.data_dir.display()
    );
    match options.duration {
        Some(d) => println!("running for {}s (Ctrl-C stops early)", d.as_secs_f64()),
        None => println!("running until Ctrl-C"),
    }
    show_progress(&service, &ward, options.duration).await;

    let report = ward.stop().await.context("stopping the simulated ward")?;
    story.abort();
    wait_for_delivery(&service, &report).await;
    print_timeline_summary(&service).await;
    let stats = service.shutdown().await?;
    let outcome = check_stored(&options, started_at, &report).await?;
    print_summary(&options, &report, &stats, &outcome, started_at).await?;
    Ok(outcome)
}

async fn show_progress(service: &Service, ward: &wardstream_simulators::WardHandle, duration: Option<Duration>) {
    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let mut last = (start, 0u64);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let next = Instant::now() + Duration::from_secs(2);
        let wake = deadline.map_or(next, |d| d.min(next));
        tokio::select! {
            _ = &mut ctrl_c => { println!("\nCtrl-C: stopping"); return; }
            () = tokio::time::sleep_until(wake) => {}
        }
        let stats = service.stats();
        let now = Instant::now();
        let received = stats.pipeline.readings_received;
        let rate = (received - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
        last = (now, received);
        println!(
            "[{:>5.1}s] published {} · received {} ({rate:.0} readings/s) · stored in Parquet {} rows, {} files · dead letters {}",
            (now - start).as_secs_f64(),
            ward.report().readings_acked,
            received,
            stats.storage.vitals_rows_written,
            stats.storage.files_written,
            stats.pipeline.dead_letters,
        );
        if deadline.is_some_and(|d| now >= d) {
            return;
        }
    }
}

/// One line per role: its token and a request it may make.
fn print_tokens(http: std::net::SocketAddr, tokens: &[crate::auth::demo_tokens::DemoToken]) {
    use crate::auth::Role;
    println!("API on http://{http} (every endpoint but /healthz needs a token; fresh ones for this run):");
    for t in tokens {
        let auth = format!("-H 'Authorization: Bearer {}'", t.token);
        let example = match t.role {
            Role::Clinician => format!(
                "curl -s {auth} 'http://{http}/fhir/r4/Observation?patient={}&code=http://loinc.org|8867-4&_count=5'   \
                 (also /api/v1/patients/{0}/timeline, /api/v1/patients/{0}/live, /api/v1/wards/{WARD})",
                patient_of(0)
            ),
            Role::Analyst => format!(
                "curl -s {auth} -H 'Content-Type: application/json' -d '{{\"sql\": \"SELECT count(*) FROM vitals\"}}' http://{http}/api/v1/query"
            ),
            Role::Integration => format!("curl -s {auth} http://{http}/api/v1/devices"),
            Role::Admin => format!("curl -s {auth} http://{http}/metrics"),
        };
        println!("token for {}: {}  e.g. {example}", t.role, t.token);
    }
}

/// During the run: discharge bed 2's patient, then transfer bed 1's patient into bed 2.
async fn adt_story(mut adt: DemoAdt, beds: usize, duration: Option<Duration>) {
    if beds < 2 {
        return;
    }
    let span = duration.unwrap_or(Duration::from_secs(60));
    sleep(span / 3).await;
    match adt.discharge(&patient_of(1), 1).await {
        Ok(()) => println!("ADT: discharged {} from {}", patient_of(1), bed_label(1)),
        Err(e) => println!("ADT: discharge failed: {e:#}"),
    }
    sleep(span / 6).await;
    match adt.transfer(&patient_of(0), 0, 1).await {
        Ok(()) => println!("ADT: transferred {} from {} to {}", patient_of(0), bed_label(0), bed_label(1)),
        Err(e) => println!("ADT: transfer failed: {e:#}"),
    }
}

/// What the timeline API holds for the first two patients, before shutdown.
async fn print_timeline_summary(service: &Service) {
    let state = service.state();
    for patient in [patient_of(0), patient_of(1)] {
        let query = crate::timeline::TimelineQuery { from: 0, to: i64::MAX / 2, metric: None };
        match state.patient_readings(&patient, &query).await {
            Ok(readings) => {
                let mut beds: Vec<&str> = readings.iter().filter_map(|r| r.bed.as_deref()).collect();
                beds.dedup();
                println!("timeline of {patient}: {} readings, beds {}", readings.len(), beds.join(" → "));
            }
            Err(e) => println!("timeline of {patient}: {}", e.message),
        }
    }
}

/// Waits (bounded) until the service has received every message the broker acknowledged.
async fn wait_for_delivery(service: &Service, report: &WardReport) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while service.stats().messages_received() < report.messages_acked && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
}

async fn check_stored(options: &DemoOptions, started_at: i64, report: &WardReport) -> anyhow::Result<DemoOutcome> {
    let session = QuerySession::open(&options.data_dir)?;
    let since = since_literal(started_at)?;
    let count = |sql: String| {
        let session = &session;
        async move {
            let batches = session.sql(&sql).await?;
            single_count(&batches).with_context(|| format!("reading the result of {sql}"))
        }
    };
    Ok(DemoOutcome {
        published: report.readings_acked,
        stored: count(format!("SELECT count(*) FROM vitals WHERE received_at >= {since}")).await?,
        duplicates: count(format!(
            "SELECT count(*) FROM (SELECT device_id, metric, time FROM vitals WHERE received_at >= {since} \
             GROUP BY device_id, metric, time HAVING count(*) > 1)"
        ))
        .await?,
        dead_letters: count(format!("SELECT count(*) FROM dead_letters WHERE received_at >= {since}")).await?,
    })
}

/// The SQL literal of a time in µs.
fn since_literal(micros: i64) -> anyhow::Result<String> {
    let t = chrono::DateTime::from_timestamp_micros(micros).context("start time out of range")?;
    Ok(format!("TIMESTAMP '{}'", t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)))
}

fn single_count(batches: &[arrow::record_batch::RecordBatch]) -> anyhow::Result<u64> {
    let batch = batches.first().context("no result")?;
    let column = batch.column(0);
    let ints = column.as_any().downcast_ref::<arrow::array::Int64Array>().context("count(*) is not an Int64 column")?;
    anyhow::ensure!(ints.len() == 1, "expected one row, got {}", ints.len());
    u64::try_from(ints.value(0)).context("negative count")
}

async fn print_summary(
    options: &DemoOptions,
    report: &WardReport,
    stats: &ServiceStats,
    outcome: &DemoOutcome,
    started_at: i64,
) -> anyhow::Result<()> {
    println!();
    println!(
        "published (acknowledged by the broker): {} readings in {} messages",
        report.readings_acked, report.messages_acked
    );
    println!(
        "received by wardstream:                 {} readings in {} messages",
        stats.pipeline.readings_received,
        stats.messages_received()
    );
    println!("stored in vitals (Parquet):             {} readings, {} duplicates", outcome.stored, outcome.duplicates);
    println!("dead letters:                           {}", outcome.dead_letters);
    println!("implausible values (stored, flagged):   {}", stats.pipeline.implausible);
    if outcome.is_exact() {
        println!("OK: published == stored, every reading exactly once");
    } else {
        println!(
            "MISMATCH: published {} != stored {} (duplicates {}, dead letters {})",
            outcome.published, outcome.stored, outcome.duplicates, outcome.dead_letters
        );
    }
    let since = since_literal(started_at)?;
    let sample = format!(
        "SELECT device_id, count(*) AS readings, round(avg(value), 1) AS mean_hr, min(value) AS min_hr, max(value) AS max_hr \
         FROM vitals WHERE metric = 'heart_rate' AND received_at >= {since} GROUP BY device_id ORDER BY device_id LIMIT 5"
    );
    let session = QuerySession::open(&options.data_dir)?;
    let batches = session.sql(&sample).await?;
    println!("\nheart rate per bed (first 5 beds of this run):\n{}", format_batches(&batches, OutputFormat::Table)?);
    println!("query further, e.g.:");
    println!(
        "  wardstream query --data {} \"SELECT metric, unit, count(*) AS n, round(avg(value), 1) AS mean FROM vitals GROUP BY metric, unit ORDER BY metric\"",
        options.data_dir.display()
    );
    Ok(())
}
