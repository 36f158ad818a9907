//! The system under test: wardstream started in-process (`Service::start`) against the run's
//! Mosquitto, with production defaults except the data directory (a temporary one), the HTTP
//! API on a free loopback port and the WAL on or off. Every device is placed at its bed by a
//! `[[devices]]` entry, and each bed's patient is admitted by an explicit association recorded
//! in the association store (fsynced, as `POST /api/v1/associations` does), so every reading is
//! attached to a patient.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use wardstream_ingest::config::{Config, DeviceEntry, HttpSettings, WalSettings};
use wardstream_pipeline::association::{AssociationEvent, BedRef, ExplicitAssociation, Subject};
use wardstream_protocols::mqtt::MqttConfig;
use wardstream_storage::StorageConfig;

use super::options::Durability;
use super::schedule::{MICROS, WARD, bed, device_id, patient};

/// The MQTT client id of wardstream's driver.
pub const CLIENT_ID: &str = "wardstream-load";

/// The bearer token the harness's HTTP probes send (role `admin`; the API always requires one).
pub const LOAD_TOKEN: &str = "wardstream-load-harness-token";

/// wardstream's configuration for a run.
pub fn service_config(data_dir: &Path, broker_url: &str, devices: u32, durability: Durability) -> Config {
    Config {
        storage: StorageConfig { data_dir: data_dir.to_path_buf(), ..StorageConfig::default() },
        mqtt: vec![MqttConfig {
            url: broker_url.to_owned(),
            client_id: CLIENT_ID.into(),
            topics: vec!["wardstream/#".into()],
            qos: 1,
            clean_session: false,
            ..MqttConfig::default()
        }],
        wal: WalSettings { enabled: durability == Durability::On, ..WalSettings::default() },
        http: HttpSettings { enabled: true, listen: "127.0.0.1:0".into(), ..HttpSettings::default() },
        auth: wardstream_ingest::auth::AuthSettings {
            tokens: vec![wardstream_ingest::auth::settings::TokenEntry {
                name: "load-harness".into(),
                role: wardstream_ingest::auth::Role::Admin,
                wards: vec![],
                sha256: Some(wardstream_ingest::auth::tokens::sha256_hex(LOAD_TOKEN)),
                token_file: None,
                token_env: None,
            }],
            ..Default::default()
        },
        devices: (0..devices)
            .map(|d| DeviceEntry { device_id: device_id(d), ward: WARD.into(), room: String::new(), bed: bed(d) })
            .collect(),
        ..Config::default()
    }
}

/// Admits each bed's patient from a minute before `now_us` (explicit bed associations, each
/// fsynced in the association log before the next).
pub async fn admit_patients(
    associations: Arc<wardstream_ingest::associations::Associations>,
    devices: u32,
    now_us: i64,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        for d in 0..devices {
            let event = AssociationEvent::Associate(ExplicitAssociation {
                id: format!("load-admit-{d:05}"),
                subject: Subject::Bed(BedRef { ward: WARD.into(), room: String::new(), bed: bed(d) }),
                patient_id: patient(d),
                encounter_id: None,
                start: now_us - 60 * MICROS,
                end: None,
                recorded_at: now_us,
            });
            associations.record(event).with_context(|| format!("admitting {} to {}", patient(d), bed(d)))?;
        }
        Ok(())
    })
    .await
    .context("the admission task failed")?
}
