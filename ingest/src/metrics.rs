//! Prometheus text exposition (format 0.0.4) of the service's counters, served at `GET /metrics`.
//!
//! Names follow Prometheus conventions: `wardstream_` prefix, `_total` for counters, base units
//! (bytes, seconds). Each family has `# HELP` and `# TYPE` lines.

use std::fmt::Write;

use wardstream_pipeline::Reason;

use crate::service::ServiceStats;

/// Extra families from parts the service stats do not cover (the WAL, the API).
pub type ExtraFamilies = Vec<Family>;

/// One metric family: name, help, type and its samples (labels, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full metric name.
    pub name: String,
    /// `# HELP` text.
    pub help: String,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// Samples: label pairs and the value.
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Family {
    /// A family with one unlabelled sample.
    pub fn single(name: &str, help: &str, kind: &'static str, value: f64) -> Family {
        Family { name: name.to_owned(), help: help.to_owned(), kind, samples: vec![(Vec::new(), value)] }
    }
}

/// The families of the service's counters.
pub fn service_families(stats: &ServiceStats) -> Vec<Family> {
    let p = &stats.pipeline;
    let s = &stats.storage;
    let counter = |name: &str, help: &str, v: u64| Family::single(name, help, "counter", v as f64);
    let mut families = vec![
        counter(
            "wardstream_readings_received_total",
            "Readings handed to the pipeline by drivers.",
            p.readings_received,
        ),
        counter("wardstream_observations_total", "Readings normalised into observations.", p.observations),
        counter("wardstream_implausible_total", "Observations outside their metric's plausible range.", p.implausible),
        counter("wardstream_duplicates_total", "Repeated readings turned into duplicate dead letters.", p.duplicates),
        counter(
            "wardstream_clock_corrected_total",
            "Observations whose time was corrected for clock skew.",
            p.clock_corrected,
        ),
        counter(
            "wardstream_backpressure_waits_total",
            "Times a driver waited for room in the pipeline.",
            p.backpressure_waits,
        ),
        counter("wardstream_sink_errors_total", "Failed Parquet writes (retried).", p.sink_errors),
        counter("wardstream_vitals_rows_written_total", "Rows written to vitals Parquet files.", s.vitals_rows_written),
        counter(
            "wardstream_dead_letter_rows_written_total",
            "Rows written to dead_letters files.",
            s.dead_letter_rows_written,
        ),
        counter("wardstream_parquet_files_written_total", "Parquet files written.", s.files_written),
        counter("wardstream_parquet_bytes_written_total", "Bytes of Parquet files written.", s.bytes_written),
        counter("wardstream_parquet_write_errors_total", "Parquet write errors.", s.write_errors),
    ];
    families.push(Family {
        name: "wardstream_dead_letters_total".into(),
        help: "Rejected readings and payloads, by reason.".into(),
        kind: "counter",
        samples: Reason::ALL
            .iter()
            .map(|r| (vec![("reason".to_owned(), r.as_str().to_owned())], p.dead_letters_by_reason(*r) as f64))
            .collect(),
    });
    let per_source = |f: fn(&wardstream_protocols::mqtt::MqttStatsSnapshot) -> f64| {
        stats.mqtt.iter().enumerate().map(|(i, m)| (vec![("source".to_owned(), format!("mqtt{i}"))], f(m))).collect()
    };
    families.push(Family {
        name: "wardstream_mqtt_messages_received_total".into(),
        help: "MQTT messages received.".into(),
        kind: "counter",
        samples: per_source(|m| m.messages_received as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_connected".into(),
        help: "1 while connected to the broker.".into(),
        kind: "gauge",
        samples: per_source(|m| f64::from(u8::from(m.connected))),
    });
    families.push(Family {
        name: "wardstream_mqtt_acks_total".into(),
        help: "PUBACKs sent after the message was durable.".into(),
        kind: "counter",
        samples: per_source(|m| m.acks_sent as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_pending_acks".into(),
        help: "Messages received and not yet acknowledged or skipped.".into(),
        kind: "gauge",
        samples: per_source(|m| m.messages_received.saturating_sub(m.acks_sent + m.acks_skipped) as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_reconnects_total".into(),
        help: "MQTT connection failures.".into(),
        kind: "counter",
        samples: per_source(|m| m.reconnects as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_tls_failures_total".into(),
        help: "MQTT connection attempts failed by TLS (broker certificate not trusted, client certificate refused)."
            .into(),
        kind: "counter",
        samples: per_source(|m| m.tls_failures as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_auth_failures_total".into(),
        help: "MQTT connection attempts refused by the broker for bad credentials or authorisation.".into(),
        kind: "counter",
        samples: per_source(|m| m.auth_failures as f64),
    });
    families.push(Family {
        name: "wardstream_mqtt_identity_mismatches_total".into(),
        help: "MQTT messages rejected because the payload named another device than the topic.".into(),
        kind: "counter",
        samples: per_source(|m| m.identity_mismatches as f64),
    });
    families
}

/// Renders families in the text format.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in &f.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {}", f.name, value);
            } else {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                let _ = writeln!(out, "{}{{{}}} {}", f.name, labels.join(","), value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_has_help_type_and_escaped_labels() {
        let families = vec![
            Family::single("wardstream_x_total", "An x.", "counter", 3.0),
            Family {
                name: "wardstream_y".into(),
                help: "A y.".into(),
                kind: "gauge",
                samples: vec![(vec![("k".into(), "a\"b".into())], 1.5)],
            },
        ];
        assert_eq!(
            render(&families),
            "# HELP wardstream_x_total An x.\n# TYPE wardstream_x_total counter\nwardstream_x_total 3\n\
             # HELP wardstream_y A y.\n# TYPE wardstream_y gauge\nwardstream_y{k=\"a\\\"b\"} 1.5\n"
        );
        let stats = ServiceStats::default();
        let text = render(&service_families(&stats));
        assert!(text.contains("wardstream_dead_letters_total{reason=\"unknown_unit\"} 0\n"), "{text}");
    }
}

/// Everything `/metrics` reads: shared counters of every part, registered as parts start.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    parts: std::sync::RwLock<Parts>,
}

#[derive(Debug, Default)]
struct Parts {
    pipeline: Option<std::sync::Arc<wardstream_pipeline::PipelineStats>>,
    storage: Option<std::sync::Arc<wardstream_storage::StorageStats>>,
    mqtt: Vec<std::sync::Arc<wardstream_protocols::mqtt::MqttStats>>,
    wal: Option<std::sync::Arc<wardstream_storage::wal::WalStats>>,
    adt: Option<std::sync::Arc<wardstream_protocols::mllp::MllpStats>>,
    attach: Option<std::sync::Arc<crate::serving::AttachStats>>,
    hot: Option<std::sync::Arc<wardstream_pipeline::HotStore>>,
    compaction: Option<std::sync::Arc<wardstream_storage::compaction::CompactionStats>>,
    /// Readings replayed from the WAL at start that were already in Parquet.
    recovery_already_persisted: Option<u64>,
    /// Serial ports and Modbus devices.
    drivers: Option<std::sync::Arc<crate::device_board::DeviceBoard>>,
}

impl MetricsRegistry {
    fn with(&self, f: impl FnOnce(&mut Parts)) {
        f(&mut self.parts.write().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Registers the hot path, the store, the attach stage and the hot store.
    pub fn set_core(
        &self,
        pipeline: std::sync::Arc<wardstream_pipeline::PipelineStats>,
        storage: std::sync::Arc<wardstream_storage::StorageStats>,
        attach: std::sync::Arc<crate::serving::AttachStats>,
        hot: std::sync::Arc<wardstream_pipeline::HotStore>,
    ) {
        self.with(|p| {
            p.pipeline = Some(pipeline);
            p.storage = Some(storage);
            p.attach = Some(attach);
            p.hot = Some(hot);
        });
    }

    /// Registers the write-ahead log.
    pub fn set_wal(&self, wal: std::sync::Arc<wardstream_storage::wal::WalStats>) {
        self.with(|p| p.wal = Some(wal));
    }

    /// Registers the ADT listener.
    pub fn set_adt(&self, adt: std::sync::Arc<wardstream_protocols::mllp::MllpStats>) {
        self.with(|p| p.adt = Some(adt));
    }

    /// Records what start-up recovery dropped because it was already stored.
    pub fn set_recovery(&self, already_persisted: u64) {
        self.with(|p| p.recovery_already_persisted = Some(already_persisted));
    }

    /// Registers the device board, whose drivers' families (serial, Modbus) are exported.
    pub fn set_drivers(&self, board: std::sync::Arc<crate::device_board::DeviceBoard>) {
        self.with(|p| p.drivers = Some(board));
    }

    /// Registers the compactor.
    pub fn set_compaction(&self, stats: std::sync::Arc<wardstream_storage::compaction::CompactionStats>) {
        self.with(|p| p.compaction = Some(stats));
    }

    /// Registers an MQTT driver.
    pub fn add_mqtt(&self, mqtt: std::sync::Arc<wardstream_protocols::mqtt::MqttStats>) {
        self.with(|p| p.mqtt.push(mqtt));
    }

    /// The text exposition of everything registered.
    pub fn render(&self) -> String {
        let parts = self.parts.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = ServiceStats {
            pipeline: parts.pipeline.as_ref().map(|p| p.snapshot()).unwrap_or_default(),
            storage: parts.storage.as_ref().map(|s| s.snapshot()).unwrap_or_default(),
            mqtt: parts.mqtt.iter().map(|m| m.snapshot()).collect(),
        };
        let mut families = service_families(&stats);
        let gauge = |name: &str, help: &str, v: f64| Family::single(name, help, "gauge", v);
        let counter = |name: &str, help: &str, v: u64| Family::single(name, help, "counter", v as f64);
        if let Some(wal) = &parts.wal {
            let w = wal.snapshot();
            families.extend([
                counter("wardstream_wal_records_total", "Records appended to the write-ahead log.", w.records),
                counter("wardstream_wal_bytes_total", "Bytes appended to the write-ahead log.", w.bytes),
                counter("wardstream_wal_fsyncs_total", "WAL fsyncs (group commits).", w.fsyncs),
                counter("wardstream_wal_checkpoints_total", "WAL checkpoints.", w.checkpoints),
                counter(
                    "wardstream_wal_segments_deleted_total",
                    "WAL segments deleted after their rows were in Parquet.",
                    w.segments_deleted,
                ),
                counter("wardstream_wal_errors_total", "WAL write or fsync errors.", w.io_errors + w.fsync_errors),
                counter(
                    "wardstream_wal_failed_records_total",
                    "Records never made durable (not acknowledged).",
                    w.failed_records,
                ),
                gauge(
                    "wardstream_wal_fsync_latency_p50_seconds",
                    "Median WAL fsync latency.",
                    w.fsync_latency.p50_us as f64 / 1e6,
                ),
                gauge(
                    "wardstream_wal_fsync_latency_p99_seconds",
                    "99th percentile WAL fsync latency.",
                    w.fsync_latency.p99_us as f64 / 1e6,
                ),
                gauge(
                    "wardstream_wal_fsync_latency_max_seconds",
                    "Longest WAL fsync.",
                    w.fsync_latency.max_us as f64 / 1e6,
                ),
            ]);
        }
        if let Some(adt) = &parts.adt {
            let a = adt.snapshot();
            families.push(Family {
                name: "wardstream_adt_acks_total".into(),
                help: "ACKs sent by the ADT listener, by code.".into(),
                kind: "counter",
                samples: [("AA", a.acks_aa), ("AE", a.acks_ae), ("AR", a.acks_ar)]
                    .iter()
                    .map(|(c, n)| (vec![("code".to_owned(), (*c).to_owned())], *n as f64))
                    .collect(),
            });
            families.push(counter(
                "wardstream_adt_bytes_discarded_total",
                "Bytes outside MLLP frames.",
                a.bytes_discarded,
            ));
            families.push(counter(
                "wardstream_adt_tls_handshake_failures_total",
                "ADT listener TLS handshakes that failed (each ended only its connection).",
                a.tls_handshake_failures,
            ));
        }
        if let Some(attach) = &parts.attach {
            use std::sync::atomic::Ordering::Relaxed;
            families.extend([
                counter(
                    "wardstream_attached_total",
                    "Readings attached to a patient when written.",
                    attach.attached.load(Relaxed),
                ),
                counter(
                    "wardstream_unassociated_total",
                    "Readings with no patient when written.",
                    attach.unassociated.load(Relaxed),
                ),
                counter(
                    "wardstream_association_conflicts_total",
                    "Readings two patients claimed (attached to neither).",
                    attach.conflicts.load(Relaxed),
                ),
            ]);
        }
        if let Some(n) = parts.recovery_already_persisted {
            families.push(counter(
                "wardstream_recovery_already_persisted_total",
                "Readings replayed from the WAL at start that were already in Parquet (dropped, not duplicates).",
                n,
            ));
        }
        if let Some(board) = &parts.drivers {
            families.extend(board.drivers.families());
        }
        if let Some(compaction) = &parts.compaction {
            families.extend(compaction_families(&compaction.snapshot()));
        }
        if let Some(hot) = &parts.hot {
            families.push(gauge("wardstream_hot_entries", "Recent observations held in memory.", hot.len() as f64));
        }
        render(&families)
    }
}

/// The compactor's families.
pub fn compaction_families(c: &wardstream_storage::compaction::CompactionStatsSnapshot) -> Vec<Family> {
    let counter = |name: &str, help: &str, v: u64| Family::single(name, help, "counter", v as f64);
    vec![
        counter(
            "wardstream_compactions_total",
            "Partitions compacted (at least one merge swapped in).",
            c.partitions_compacted,
        ),
        counter("wardstream_compaction_merges_total", "Merges swapped in.", c.merges),
        counter("wardstream_compaction_files_merged_total", "Small files merged away.", c.files_merged),
        counter("wardstream_compaction_files_written_total", "Merged files written.", c.files_written),
        counter("wardstream_compaction_rows_total", "Rows rewritten by compaction.", c.rows_merged),
        counter("wardstream_compaction_bytes_in_total", "Bytes of the files merged away.", c.bytes_before),
        counter(
            "wardstream_compaction_bytes_out_total",
            "Bytes of the merged files that replaced them.",
            c.bytes_after,
        ),
        counter(
            "wardstream_compaction_errors_total",
            "Partition compactions that failed (partition left as it was).",
            c.errors,
        ),
        counter("wardstream_compaction_recoveries_total", "Interrupted compactions finished or undone.", c.recoveries),
    ]
}
