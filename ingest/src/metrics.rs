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
