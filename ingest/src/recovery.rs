//! Start-up recovery: what the write-ahead log still holds goes back through the pipeline, and
//! nothing already in Parquet is stored twice.
//!
//! 1. Every WAL record after the checkpoint is decoded (a record that does not decode is logged
//!    at ERROR and counted, never silently skipped).
//! 2. De-duplication is seeded with the readings stored since `min(now − dedup window, oldest
//!    receipt among the replayed records)`, read back from `vitals`: a replayed reading whose row
//!    was written before the crash (the checkpoint lags the Parquet files) and a broker
//!    redelivery of a message stored but not yet acknowledged both become duplicates, not rows.
//! 3. Replayed dead letters already in `dead_letters` (same receipt time, origin and reason) are
//!    dropped from the replay.
//! 4. Replayed readings already stored — a `vitals` row or a dead letter with the same device,
//!    name as sent and receipt time (the checkpoint lags the Parquet files, so a crash between a
//!    flush and the next checkpoint replays them) — are dropped from the replay and counted
//!    ([`Recovered::readings_already_persisted`], logged and exported as
//!    `wardstream_recovery_already_persisted_total`): they are not new `duplicate` dead letters,
//!    which would inflate the defect report. Each stored row absorbs one replayed reading.
//! 5. The leading records left empty by 3 and 4 are entirely in Parquet:
//!    [`Recovered::persisted_through`] is the LSN the WAL can be checkpointed to at once, so
//!    that a service killed again and again before its first checkpoint does not replay them
//!    forever.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use wardstream_pipeline::time::{format_day, utc_day};
use wardstream_pipeline::{Catalogue, DedupSeed, IngestBatch, Micros};
use wardstream_storage::QuerySession;
use wardstream_storage::wal::{Replay, ReplayReport, decode_batch};

use crate::timeline::cold::timestamp;

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The records to replay, in LSN order.
    pub batches: Vec<(u64, IngestBatch)>,
    /// Records whose body did not decode.
    pub undecodable: u64,
    /// Replayed dead letters dropped because they were already stored.
    pub dead_letters_already_stored: u64,
    /// Replayed readings dropped because their row (or dead letter) was already stored.
    pub readings_already_persisted: u64,
    /// Every record up to this LSN is already in Parquet (0: none); they are not in `batches`.
    pub persisted_through: u64,
    /// The seed for de-duplication.
    pub seed: DedupSeed,
}

/// Reads the replay and prepares the seed (see the module docs).
pub async fn recover(
    replay: Replay,
    session: &QuerySession,
    catalogue: &Catalogue,
    now: Micros,
    dedup_window: Micros,
) -> anyhow::Result<(Recovered, ReplayReport)> {
    let report = replay.report().clone();
    let mut recovered = Recovered::default();
    for record in replay {
        let record = record.context("reading the WAL")?;
        match decode_batch(&record.body) {
            Ok(batch) => recovered.batches.push((record.lsn, batch)),
            Err(error) => {
                recovered.undecodable += 1;
                tracing::error!(lsn = record.lsn, %error, "WAL record does not decode; skipped");
            }
        }
    }
    let oldest = recovered
        .batches
        .iter()
        .flat_map(|(_, b)| b.readings.iter().map(|r| r.received_at).chain(b.dead_letters.iter().map(|d| d.received_at)))
        .min();
    let since = oldest.map_or(now - dedup_window, |o| o.min(now - dedup_window));
    recovered.seed = DedupSeed { now, stored: stored_keys(session, catalogue, since).await? };
    if let Some(oldest) = oldest {
        let stored = stored_dead_letters(session, oldest).await?;
        for (_, batch) in &mut recovered.batches {
            let before = batch.dead_letters.len();
            batch
                .dead_letters
                .retain(|d| !stored.contains(&(d.received_at, d.origin.to_string(), d.reason.as_str().to_owned())));
            recovered.dead_letters_already_stored += (before - batch.dead_letters.len()) as u64;
        }
    }
    drop_persisted_readings(session, &mut recovered).await?;
    let prefix = recovered.batches.iter().take_while(|(_, b)| b.is_empty()).count();
    if prefix > 0 {
        recovered.persisted_through = recovered.batches[prefix - 1].0;
        recovered.batches.drain(..prefix);
    }
    if recovered.readings_already_persisted > 0 || recovered.dead_letters_already_stored > 0 {
        tracing::info!(
            readings = recovered.readings_already_persisted,
            dead_letters = recovered.dead_letters_already_stored,
            persisted_through = recovered.persisted_through,
            "WAL records already in Parquet dropped from the replay (not duplicates)"
        );
    }
    Ok((recovered, report))
}

type SeedRow = wardstream_pipeline::flow::StoredKey;

async fn stored_keys(session: &QuerySession, catalogue: &Catalogue, since: Micros) -> anyhow::Result<Vec<SeedRow>> {
    let sql = format!(
        "SELECT device_id, metric, device_time, received_at, value FROM vitals WHERE date >= '{}' AND received_at >= {}",
        format_day(utc_day(since)),
        timestamp(since)
    );
    let batches = session.sql(&sql).await.context("reading recently stored vitals")?;
    let mut rows = Vec::new();
    for batch in &batches {
        read_keys(batch, catalogue, &mut rows)?;
    }
    Ok(rows)
}

fn read_keys(batch: &RecordBatch, catalogue: &Catalogue, rows: &mut Vec<SeedRow>) -> anyhow::Result<()> {
    let device = crate::columns::strings(batch.column(0))?;
    let metric = crate::columns::strings(batch.column(1))?;
    let device_time = batch.column(2).as_primitive_opt::<TimestampMicrosecondType>().context("device_time")?;
    let received = batch.column(3).as_primitive_opt::<TimestampMicrosecondType>().context("received_at")?;
    let value = batch.column(4).as_primitive_opt::<Float64Type>().context("value")?;
    for i in 0..batch.num_rows() {
        // A metric no longer in the catalogue cannot be repeated by a new reading: skip it.
        if let Some(m) = catalogue.by_name(metric.value(i)) {
            rows.push((
                Arc::from(device.value(i)),
                Arc::clone(m),
                device_time.value(i),
                received.value(i),
                value.value(i),
            ));
        }
    }
    Ok(())
}

async fn stored_dead_letters(
    session: &QuerySession,
    since: Micros,
) -> anyhow::Result<HashSet<(Micros, String, String)>> {
    let sql = format!(
        "SELECT received_at, origin, reason FROM dead_letters WHERE date >= '{}' AND received_at >= {}",
        format_day(utc_day(since)),
        timestamp(since)
    );
    let mut keys = HashSet::new();
    for batch in &session.sql(&sql).await.context("reading recently stored dead letters")? {
        let received = batch.column(0).as_primitive_opt::<TimestampMicrosecondType>().context("received_at")?;
        let origin = crate::columns::strings(batch.column(1))?;
        let reason = crate::columns::strings(batch.column(2))?;
        for i in 0..batch.num_rows() {
            if !received.is_null(i) {
                keys.insert((received.value(i), origin.value(i).to_owned(), reason.value(i).to_owned()));
            }
        }
    }
    Ok(keys)
}

/// A stored reading as the replay can recognise it: device, name as sent, receipt time.
type PersistedKey = (String, String, Micros);

/// Step 4 of the module docs.
async fn drop_persisted_readings(session: &QuerySession, recovered: &mut Recovered) -> anyhow::Result<()> {
    let readings = || recovered.batches.iter().flat_map(|(_, b)| b.readings.iter());
    let (Some(oldest), Some(newest)) =
        (readings().map(|r| r.received_at).min(), readings().map(|r| r.received_at).max())
    else {
        return Ok(());
    };
    // `vitals` is partitioned by (possibly clock-corrected) observation time: start a day before
    // the earliest device time or receipt.
    let earliest = readings().map(|r| r.device_time.min(r.received_at)).min().unwrap_or(oldest);
    let vitals_from = format_day(utc_day(earliest.saturating_sub(86_400_000_000)));
    let range = format!("received_at >= {} AND received_at <= {}", timestamp(oldest), timestamp(newest));
    let mut stored: HashMap<PersistedKey, u32> = HashMap::new();
    let queries = [
        format!("SELECT device_id, source_name, received_at FROM vitals WHERE date >= '{vitals_from}' AND {range}"),
        format!(
            "SELECT device_id, source_name, received_at FROM dead_letters WHERE date >= '{}' AND {range} \
             AND device_id IS NOT NULL AND source_name IS NOT NULL",
            format_day(utc_day(oldest))
        ),
    ];
    for sql in &queries {
        for batch in &session.sql(sql).await.context("reading the rows the replay may repeat")? {
            let device = crate::columns::strings(batch.column(0))?;
            let name = crate::columns::strings(batch.column(1))?;
            let received = batch.column(2).as_primitive_opt::<TimestampMicrosecondType>().context("received_at")?;
            for i in 0..batch.num_rows() {
                if device.is_null(i) || name.is_null(i) || received.is_null(i) {
                    continue;
                }
                let key = (device.value(i).to_owned(), name.value(i).to_owned(), received.value(i));
                *stored.entry(key).or_default() += 1;
            }
        }
    }
    for (_, batch) in &mut recovered.batches {
        let before = batch.readings.len();
        batch.readings.retain(|r| {
            let key = (r.device_id.to_string(), r.name.clone(), r.received_at);
            match stored.get_mut(&key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            }
        });
        recovered.readings_already_persisted += (before - batch.readings.len()) as u64;
    }
    Ok(())
}
