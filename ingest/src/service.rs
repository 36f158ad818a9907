//! [`Service`]: the running wardstream service, started and stopped in dependency order.
//!
//! Start: Parquet store → hot path (normaliser and writer threads) → MQTT drivers.
//! Stop: drivers disconnect and hand over every message they received → the hot path drains
//! its queues → the store writes every buffered row to Parquet. When [`Service::shutdown`]
//! returns `Ok`, everything received is queryable.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardstream_pipeline::stats::StatsSnapshot;
use wardstream_pipeline::{Catalogue, Clock, Normaliser, Pipeline, PipelineStats, SystemClock};
use wardstream_protocols::mqtt::{self, MqttStats, MqttStatsSnapshot};
use wardstream_storage::{ParquetStore, StorageStats, StorageStatsSnapshot};

use crate::config::Config;

/// One running MQTT driver.
struct MqttDriver {
    task: JoinHandle<Result<(), mqtt::Error>>,
    stats: Arc<MqttStats>,
}

/// The running service. Must be started and stopped inside a multi-threaded Tokio runtime.
pub struct Service {
    pipeline: Pipeline,
    pipeline_stats: Arc<PipelineStats>,
    storage_stats: Arc<StorageStats>,
    drivers: Vec<MqttDriver>,
    stop_drivers: watch::Sender<bool>,
    data_dir: PathBuf,
}

/// Counters of every part, for progress displays and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// The hot path.
    pub pipeline: StatsSnapshot,
    /// The Parquet store.
    pub storage: StorageStatsSnapshot,
    /// Each MQTT driver, in configuration order.
    pub mqtt: Vec<MqttStatsSnapshot>,
}

impl ServiceStats {
    /// MQTT messages received by all drivers.
    pub fn messages_received(&self) -> u64 {
        self.mqtt.iter().map(|m| m.messages_received).sum()
    }

    /// True when every driver is connected and subscribed.
    pub fn all_subscribed(&self) -> bool {
        self.mqtt.iter().all(|m| m.connected && m.subscribed)
    }
}

impl Service {
    /// Starts the store, the hot path and the drivers.
    pub fn start(config: &Config) -> anyhow::Result<Service> {
        config.validate()?;
        let store = ParquetStore::open(config.storage.clone()).context("opening the Parquet store")?;
        let storage_stats = store.stats();
        let catalogue = Catalogue::with_config(&config.catalogue).context("building the metric catalogue")?;
        let normaliser = Normaliser::new(Arc::new(catalogue));
        let pipeline =
            Pipeline::start(config.pipeline.flow(), normaliser, store).context("starting the pipeline threads")?;
        let pipeline_stats = pipeline.stats();
        let (stop_drivers, stopped) = watch::channel(false);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut drivers = Vec::new();
        for mqtt_config in &config.mqtt {
            let stats = Arc::new(MqttStats::new());
            let source = mqtt::MqttSource::new(mqtt_config, pipeline.inlet(), Arc::clone(&clock), Arc::clone(&stats))?;
            let task = tokio::spawn(source.run(stopped.clone()));
            drivers.push(MqttDriver { task, stats });
        }
        tracing::info!(data_dir = %config.storage.data_dir.display(), mqtt_sources = drivers.len(), "wardstream started");
        Ok(Service {
            pipeline,
            pipeline_stats,
            storage_stats,
            drivers,
            stop_drivers,
            data_dir: config.storage.data_dir.clone(),
        })
    }

    /// The counters now.
    pub fn stats(&self) -> ServiceStats {
        ServiceStats {
            pipeline: self.pipeline_stats.snapshot(),
            storage: self.storage_stats.snapshot(),
            mqtt: self.drivers.iter().map(|d| d.stats.snapshot()).collect(),
        }
    }

    /// Where the tables are.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Waits until every driver is connected and subscribed, or `timeout` passes.
    pub async fn wait_subscribed(&self, timeout: std::time::Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.stats().all_subscribed() {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "MQTT drivers not subscribed after {timeout:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Stops in order and flushes everything: drivers, then the hot path, then the store.
    /// Returns the final counters.
    pub async fn shutdown(self) -> anyhow::Result<ServiceStats> {
        let Service { pipeline, pipeline_stats, storage_stats, drivers, stop_drivers, .. } = self;
        stop_drivers.send_replace(true);
        let mut driver_error = None;
        let mut mqtt_stats = Vec::new();
        for MqttDriver { task, stats } in drivers {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => driver_error = Some(anyhow::Error::new(e).context("MQTT driver failed")),
                Err(e) => driver_error = Some(anyhow::Error::new(e).context("MQTT driver task panicked")),
            }
            mqtt_stats.push(stats.snapshot());
        }
        tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .context("pipeline shutdown task")?
            .context("flushing the Parquet store")?;
        tracing::info!("wardstream stopped; everything received is stored");
        if let Some(e) = driver_error {
            return Err(e);
        }
        Ok(ServiceStats { pipeline: pipeline_stats.snapshot(), storage: storage_stats.snapshot(), mqtt: mqtt_stats })
    }
}
