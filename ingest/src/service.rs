//! [`Service`]: the running wardstream service, started and stopped in dependency order.
//!
//! Start: Parquet store and query session → association store (log replayed, configured device
//! placements recorded) → write-ahead log (records after the checkpoint recovered, de-duplication
//! seeded from Parquet) → hot path (normaliser and writer threads; attach + hot store + live
//! stream as the pipeline's [`Serving`] stage, in front of Parquet) → WAL replay into the hot
//! path → HTTP API → ADT listener → MQTT drivers (acknowledging after the WAL fsync) → WAL
//! checkpointer and retention.
//!
//! Stop: drivers disconnect (pending acks sent), the ADT listener and the API stop, the hot path
//! drains and the store writes every buffered row to Parquet, a last WAL checkpoint. When
//! [`Service::shutdown`] returns `Ok`, everything received is queryable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use wardstream_pipeline::association::{AssociationEvent, BedRef, DevicePlacement};
use wardstream_pipeline::stats::StatsSnapshot;
use wardstream_pipeline::{
    Catalogue, Clock, Feed, HotStore, LocalClock, Normaliser, Pipeline, PipelineStats, SeqTracker, SystemClock,
};
use wardstream_protocols::mllp::{self, MllpStats};
use wardstream_protocols::mqtt::{self, MqttStats, MqttStatsSnapshot};
use wardstream_storage::wal::{Wal, WalStats};
use wardstream_storage::{ParquetStore, QuerySession, StorageStats, StorageStatsSnapshot};

use crate::adt_listener::AdtHandler;
use crate::api::{self, AppState};
use crate::associations::Associations;
use crate::config::Config;
use crate::device_board::DeviceBoard;
use crate::journal::{WalJournal, checkpoint_once, spawn_checkpointer};
use crate::serving::{AttachStats, Serving};
use crate::sql_view::{STORED_VITALS, register_attribution};

/// One running MQTT driver.
struct MqttDriver {
    task: JoinHandle<Result<(), mqtt::Error>>,
    stats: Arc<MqttStats>,
}

/// The durable log and its helpers, when enabled.
struct Durability {
    wal: Arc<Wal>,
    tracker: Arc<SeqTracker>,
    checkpointer: std::thread::JoinHandle<()>,
    stop_checkpointer: Arc<AtomicBool>,
}

/// The running ADT listener: its task, counters and address.
type AdtListener = (JoinHandle<Result<(), mllp::MllpError>>, Arc<MllpStats>, SocketAddr);

/// The running service. Must be started and stopped inside a multi-threaded Tokio runtime.
pub struct Service {
    pipeline: Pipeline,
    pipeline_stats: Arc<PipelineStats>,
    storage_stats: Arc<StorageStats>,
    drivers: Vec<MqttDriver>,
    stop: watch::Sender<bool>,
    data_dir: PathBuf,
    durability: Option<Durability>,
    http: Option<(JoinHandle<()>, SocketAddr)>,
    adt: Option<AdtListener>,
    pcd01: Option<AdtListener>,
    retention: Option<JoinHandle<()>>,
    /// The periodic compaction task and its compactor, when enabled.
    compaction: Option<(JoinHandle<()>, Arc<wardstream_storage::compaction::Compactor>)>,
    /// Serial ports and Modbus buses (their errors are logged at shutdown).
    pollers: Vec<(String, JoinHandle<Result<(), String>>)>,
    state: AppState,
    attach_stats: Arc<AttachStats>,
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
    /// Starts everything (see the module docs).
    pub async fn start(config: &Config) -> anyhow::Result<Service> {
        config.validate()?;
        // Authentication is on whenever the HTTP API is: checked before anything starts.
        let access = Arc::new(if config.http.enabled {
            crate::auth::Access::from_settings(&config.auth).context("[auth]")?
        } else {
            crate::auth::Access::closed()
        });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let data_dir = config.storage.data_dir.clone();
        let store = ParquetStore::open(config.storage.clone()).context("opening the Parquet store")?;
        let storage_stats = store.stats();
        let catalogue = Arc::new(Catalogue::with_config(&config.catalogue).context("building the metric catalogue")?);
        let session = QuerySession::open(&data_dir).context("opening the query session")?;

        let associations =
            Arc::new(Associations::open(&config.associations.dir(&data_dir), config.associations.config())?);
        place_configured_devices(&associations, config, clock.now_micros())?;
        let source_hub = Arc::clone(&associations);
        register_attribution(&session, Arc::new(move || source_hub.snapshot())).await?;

        let mut flow = config.pipeline.flow();
        let mut replay = Vec::new();
        let mut already_persisted = 0;
        let wal = if config.wal.enabled {
            let (wal, records) = Wal::open(config.wal.wal_config(&data_dir)).context("opening the write-ahead log")?;
            let window = flow.conditioning.dedup_window.as_micros() as i64;
            let (recovered, report) =
                crate::recovery::recover(records, &session, &catalogue, clock.now_micros(), window).await?;
            tracing::info!(
                records = recovered.batches.len(),
                torn_tails = report.torn_tails.len(),
                corrupt_regions = report.corrupt.len(),
                undecodable = recovered.undecodable,
                seeded = recovered.seed.stored.len(),
                "write-ahead log recovered"
            );
            if recovered.persisted_through > wal.checkpoint_lsn() {
                // Records entirely in Parquet already: never replay them again.
                wal.checkpoint(recovered.persisted_through).context("checkpointing the recovered WAL")?;
            }
            already_persisted = recovered.readings_already_persisted;
            let tracker = Arc::new(SeqTracker::new(wal.checkpoint_lsn()));
            flow.journal = Some(Arc::clone(&tracker));
            flow.dedup_seed = Some(recovered.seed);
            replay = recovered.batches;
            Some((Arc::new(wal), tracker))
        } else {
            None
        };

        let hot = Arc::new(HotStore::new(config.hot.config()));
        let board = Arc::new(DeviceBoard::default());
        let (live, _) = broadcast::channel(1024);
        let attach_stats = Arc::new(AttachStats::default());
        let serving = Serving::new(
            Arc::clone(&associations),
            Arc::clone(&hot),
            Arc::clone(&board),
            live.clone(),
            Arc::clone(&attach_stats),
        );
        let normaliser = Normaliser::new(Arc::clone(&catalogue));
        let last_replayed = replay.iter().map(|(lsn, _)| *lsn).max().unwrap_or(0);
        let sink = crate::replay_flush::ReplayFlushSink::new(store, last_replayed);
        let pipeline = Pipeline::start_with_stage(flow, normaliser, Some(Box::new(serving)), sink)
            .context("starting the pipeline threads")?;
        let pipeline_stats = pipeline.stats();
        let metrics = Arc::new(crate::metrics::MetricsRegistry::default());
        metrics.set_core(
            Arc::clone(&pipeline_stats),
            Arc::clone(&storage_stats),
            Arc::clone(&attach_stats),
            Arc::clone(&hot),
        );

        let (feed, durability) = match wal {
            Some((wal, tracker)) => {
                metrics.set_wal(wal.stats());
                metrics.set_recovery(already_persisted);
                let inlet = pipeline.inlet();
                let replayed = replay.len();
                for (lsn, batch) in replay {
                    tracker.register(lsn);
                    let sent = tokio::task::block_in_place(|| inlet.send_sequenced(Some(lsn), batch));
                    anyhow::ensure!(sent.is_ok(), "the pipeline stopped during WAL replay");
                }
                if replayed > 0 {
                    tracing::info!(records = replayed, "WAL records replayed into the pipeline");
                }
                crate::replay_flush::spawn_replay_checkpoint(
                    Arc::clone(&wal),
                    Arc::clone(&tracker),
                    last_replayed,
                    std::time::Duration::from_secs(60),
                )?;
                let journal = WalJournal::new(Arc::clone(&wal), pipeline.inlet(), Arc::clone(&tracker));
                let stop_checkpointer = Arc::new(AtomicBool::new(false));
                let every = std::time::Duration::from_millis(config.wal.checkpoint_interval_ms.max(10));
                let checkpointer =
                    spawn_checkpointer(Arc::clone(&wal), Arc::clone(&tracker), every, Arc::clone(&stop_checkpointer))?;
                (Feed::Journaled(Arc::new(journal)), Some(Durability { wal, tracker, checkpointer, stop_checkpointer }))
            }
            None => (Feed::Direct(pipeline.inlet()), None),
        };

        // Every identifiable access through the API is recorded here before it is answered.
        let audit = crate::audit::AuditTrail::open(&data_dir).context("opening the audit trail")?;
        let sql = if config.http.enabled {
            let source_hub = Arc::clone(&associations);
            let deid = config.privacy.deidentifier().context("[privacy]")?;
            let engine = crate::sql_api::SqlEngine::open(
                &data_dir,
                Arc::new(move || source_hub.snapshot()),
                deid,
                config.sql.limits(),
            )
            .await
            .context("opening the SQL endpoint's engine")?;
            Some(engine)
        } else {
            None
        };
        let state = AppState {
            associations: Arc::clone(&associations),
            hot,
            session,
            stored_table: Arc::from(STORED_VITALS),
            catalogue,
            live,
            devices: board,
            clock: Arc::clone(&clock),
            metrics: Arc::clone(&metrics),
            access,
            max_body_bytes: config.http.max_body_bytes,
            audit,
            sql,
        };
        let drivers_board = Arc::clone(&state.devices);
        metrics.set_drivers(Arc::clone(&drivers_board));
        let (stop, stopped) = watch::channel(false);
        let http = if config.http.enabled {
            let tls = crate::tls::configured(
                "http",
                config.http.tls_cert_file.as_deref(),
                config.http.tls_key_file.as_deref(),
                &[b"http/1.1"],
            )?;
            Some(start_http(&config.http.listen, tls, state.clone(), stopped.clone()).await?)
        } else {
            None
        };
        let adt = match &config.adt {
            Some(settings) => {
                let zone = LocalClock::new(&settings.time_zone).context("adt.time_zone")?;
                let handler = Arc::new(AdtHandler::new(Arc::clone(&associations), Arc::clone(&clock), zone));
                let stats = Arc::new(MllpStats::new());
                metrics.set_adt(Arc::clone(&stats));
                let tls = crate::tls::configured(
                    "adt",
                    settings.tls_cert_file.as_deref(),
                    settings.tls_key_file.as_deref(),
                    &[],
                )?;
                let listener = tokio::net::TcpListener::bind(&settings.listen)
                    .await
                    .with_context(|| format!("binding the ADT listener on {}", settings.listen))?;
                let address = listener.local_addr()?;
                tracing::info!(%address, tls = tls.is_some(), "ADT listener (HL7 MLLP) ready");
                let task = spawn_mllp(listener, settings.mllp(), tls, handler, Arc::clone(&stats), stopped.clone());
                Some((task, stats, address))
            }
            None => None,
        };
        let pcd01 = match &config.pcd01 {
            Some(settings) => {
                let zone = LocalClock::new(&settings.time_zone).context("pcd01.time_zone")?;
                let handler = Arc::new(crate::pcd01_listener::Pcd01Handler::new(
                    feed.clone(),
                    Arc::clone(&associations),
                    Arc::clone(&clock),
                    zone,
                    Arc::default(),
                ));
                let stats = Arc::new(MllpStats::new());
                let tls = crate::tls::configured(
                    "pcd01",
                    settings.tls_cert_file.as_deref(),
                    settings.tls_key_file.as_deref(),
                    &[],
                )?;
                let listener = tokio::net::TcpListener::bind(&settings.listen)
                    .await
                    .with_context(|| format!("binding the PCD-01 listener on {}", settings.listen))?;
                let address = listener.local_addr()?;
                tracing::info!(%address, tls = tls.is_some(), "PCD-01 listener (HL7 MLLP) ready");
                drivers_board.drivers.set_pcd01(&address.to_string(), Arc::clone(&stats));
                let task = spawn_mllp(listener, settings.mllp(), tls, handler, Arc::clone(&stats), stopped.clone());
                Some((task, stats, address))
            }
            None => None,
        };
        let mut drivers = Vec::new();
        for mqtt_config in &config.mqtt {
            let stats = Arc::new(MqttStats::new());
            metrics.add_mqtt(Arc::clone(&stats));
            drivers_board.drivers.add_mqtt(&mqtt_config.url, Arc::clone(&stats));
            let source = mqtt::MqttSource::new(mqtt_config, feed.clone(), Arc::clone(&clock), Arc::clone(&stats))?;
            let task = tokio::spawn(source.run(stopped.clone()));
            drivers.push(MqttDriver { task, stats });
        }
        let mut pollers = Vec::new();
        for serial_config in &config.serial {
            let stats = Arc::new(wardstream_protocols::serial::SerialStats::new());
            drivers_board.drivers.add_serial(
                &serial_config.path,
                serial_config.codec.as_str(),
                serial_config.device_id.as_deref(),
                Arc::clone(&stats),
            );
            if serial_config.codec == wardstream_protocols::serial::SerialCodec::Pcd01Mllp {
                let task = crate::pcd01_serial::spawn(
                    serial_config,
                    feed.clone(),
                    Arc::clone(&associations),
                    Arc::clone(&clock),
                    stats,
                    stopped.clone(),
                )?;
                let task = tokio::spawn(async move { task.await.map_err(|e| e.to_string()).and_then(|r| r) });
                pollers.push((format!("serial {} (PCD-01)", serial_config.path), task));
                continue;
            }
            let task = wardstream_protocols::serial::spawn(
                serial_config,
                feed.clone(),
                Arc::clone(&clock),
                stats,
                stopped.clone(),
            )?;
            let task = tokio::spawn(async move {
                task.await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()))
            });
            pollers.push((format!("serial {}", serial_config.path), task));
        }
        if let Some(modbus_config) = &config.modbus {
            let stats = Arc::new(wardstream_protocols::modbus::ModbusStats::new());
            drivers_board.drivers.add_modbus(Arc::clone(&stats));
            let run = wardstream_protocols::modbus::run(
                modbus_config.clone(),
                feed.clone(),
                Arc::clone(&clock),
                stats,
                stopped.clone(),
            );
            pollers.push(("modbus".into(), tokio::spawn(async move { run.await.map_err(|e| e.to_string()) })));
        }
        let retention = config.retention.days.map(|days| spawn_retention(data_dir.clone(), days, stopped.clone()));
        let compaction = if config.compaction.enabled {
            let (task, compactor) =
                crate::compaction_task::spawn_compaction(data_dir.clone(), &config.compaction, stopped.clone())?;
            metrics.set_compaction(compactor.stats());
            Some((task, compactor))
        } else {
            None
        };
        tracing::info!(data_dir = %data_dir.display(), mqtt_sources = drivers.len(), durable = durability.is_some(), "wardstream started");
        Ok(Service {
            pipeline,
            pipeline_stats,
            storage_stats,
            drivers,
            stop,
            data_dir,
            durability,
            http,
            adt,
            pcd01,
            retention,
            compaction,
            pollers,
            state,
            attach_stats,
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

    /// The API's shared state (association store, hot store, query session).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The address the HTTP API listens on, when enabled.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, a)| *a)
    }

    /// The ADT listener's counters, when enabled.
    pub fn adt_stats(&self) -> Option<Arc<MllpStats>> {
        self.adt.as_ref().map(|(_, s, _)| Arc::clone(s))
    }

    /// The address the ADT listener is bound to, when enabled.
    pub fn adt_address(&self) -> Option<SocketAddr> {
        self.adt.as_ref().map(|(_, _, a)| *a)
    }

    /// The address the PCD-01 listener is bound to, when enabled.
    pub fn pcd01_address(&self) -> Option<SocketAddr> {
        self.pcd01.as_ref().map(|(_, _, a)| *a)
    }

    /// The WAL's counters, when enabled.
    pub fn wal_stats(&self) -> Option<Arc<WalStats>> {
        self.durability.as_ref().map(|d| d.wal.stats())
    }

    /// The compactor's counters, when periodic compaction is enabled.
    pub fn compaction_stats(&self) -> Option<Arc<wardstream_storage::compaction::CompactionStats>> {
        self.compaction.as_ref().map(|(_, c)| c.stats())
    }

    /// Counts of the attach stage.
    pub fn attach_stats(&self) -> Arc<AttachStats> {
        Arc::clone(&self.attach_stats)
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

    /// Stops in order and flushes everything (see the module docs). Returns the final counters.
    pub async fn shutdown(self) -> anyhow::Result<ServiceStats> {
        let Service {
            pipeline,
            pipeline_stats,
            storage_stats,
            drivers,
            stop,
            durability,
            http,
            adt,
            pcd01,
            retention,
            compaction,
            pollers,
            ..
        } = self;
        stop.send_replace(true);
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
        for (name, task) in pollers {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(driver = %name, error = %e, "driver failed"),
                Err(e) => tracing::error!(driver = %name, error = %e, "driver task panicked"),
            }
        }
        for (task, _, _) in adt.into_iter().chain(pcd01) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "MLLP listener failed"),
                Err(e) => tracing::error!(error = %e, "MLLP listener task panicked"),
            }
        }
        if let Some((task, _)) = http {
            let _ = task.await;
        }
        if let Some(task) = retention {
            task.abort();
        }
        if let Some((task, _)) = compaction {
            // Stops at the next interval check; a merge under way finishes (its swap is atomic).
            let _ = task.await;
        }
        tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .context("pipeline shutdown task")?
            .context("flushing the Parquet store")?;
        if let Some(Durability { wal, tracker, checkpointer, stop_checkpointer }) = durability {
            stop_checkpointer.store(true, std::sync::atomic::Ordering::Release);
            let _ = tokio::task::spawn_blocking(move || checkpointer.join()).await;
            checkpoint_once(&wal, &tracker);
            wal.close().context("closing the write-ahead log")?;
        }
        tracing::info!("wardstream stopped; everything received is stored");
        if let Some(e) = driver_error {
            return Err(e);
        }
        Ok(ServiceStats { pipeline: pipeline_stats.snapshot(), storage: storage_stats.snapshot(), mqtt: mqtt_stats })
    }
}

/// Records a placement for each `[[devices]]` entry not already at that bed now.
fn place_configured_devices(associations: &Associations, config: &Config, now: i64) -> anyhow::Result<()> {
    for entry in &config.devices {
        let bed = BedRef { ward: entry.ward.clone(), room: entry.room.clone(), bed: entry.bed.clone() };
        if associations.snapshot().bed_of(&entry.device_id, now) == Some(&bed) {
            continue;
        }
        let event = AssociationEvent::Place(DevicePlacement {
            device_id: entry.device_id.clone(),
            bed: Some(bed),
            from: now,
            recorded_at: now,
        });
        associations
            .record(event)
            .with_context(|| format!("placing device {} from the configuration", entry.device_id))?;
    }
    Ok(())
}

/// Serves one MLLP listener in a task, over TLS when `tls` is set.
fn spawn_mllp<H: mllp::MllpHandler>(
    listener: tokio::net::TcpListener,
    config: mllp::MllpConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<(), mllp::MllpError>> {
    tokio::spawn(async move {
        match tls {
            Some(acceptor) => mllp::serve_tls(listener, &config, acceptor, handler, stats, shutdown).await,
            None => mllp::serve(listener, &config, handler, stats, shutdown).await,
        }
    })
}

async fn start_http(
    listen: &str,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AppState,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, SocketAddr)> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding the HTTP API on {listen}"))?;
    let address = listener.local_addr()?;
    let app = api::router(state);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            while !*stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    return;
                }
            }
        };
        // With connection info: the client address goes into audit records.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = match tls {
            Some(acceptor) => {
                use axum::serve::ListenerExt;
                let stats = Arc::new(crate::tls::TlsStats::default());
                // tap_io: ConnectInfo<SocketAddr> is implemented for tapped listeners.
                let listener = crate::tls::TlsListener::new(listener, acceptor, stats).tap_io(|_| {});
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await
            }
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    });
    tracing::info!(%address, "HTTP API ready");
    Ok((task, address))
}

fn spawn_retention(data_dir: PathBuf, days: u32, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let dir = data_dir.clone();
            let now = SystemClock.now_micros();
            match tokio::task::spawn_blocking(move || wardstream_storage::retention::remove_expired(&dir, days, now))
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "retention failed; retrying in an hour"),
                Err(e) => tracing::error!(error = %e, "retention task failed"),
            }
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            }
        }
    })
}
