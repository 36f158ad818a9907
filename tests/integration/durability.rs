//! Durability against real peers: no reading the broker acknowledged to its publisher is lost or
//! stored twice when wardstream is killed with SIGKILL (this file), when the broker restarts
//! mid-stream (`durability_broker.rs`) or when the disk fills up (`durability_disk.rs`), and
//! every stored message is acknowledged under load (`durability_acks.rs`).
//!
//! Every test runs `wardstream run` as a separate process with the write-ahead log on, a
//! persistent MQTT session (`clean_session = false`, a stable client id, QoS 1) on a real
//! Mosquitto with persistence, and publishes SenML packs of 10 readings from 100 devices whose
//! values are unique sequence numbers, each reading at its own instant. The verdict reads
//! `vitals` back with DataFusion: the (device, sequence) pairs stored must equal the published
//! set, with no duplicates. The tests take turns ([`HEAVY`]): each is timed alone.

#[path = "durability_acks.rs"]
mod acks;
#[path = "durability_broker.rs"]
mod broker;
#[path = "durability_disk.rs"]
mod disk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wardstream_storage::QuerySession;

use crate::support::persistent_mosquitto::PersistentMosquitto;
use crate::support::publisher::{Message, PublishOptions, publish_all};
use crate::support::wardstream_process::WardstreamProcess;
use crate::support::{count, csv_rows};

/// One durability test at a time: each starts processes that want both cores.
pub static HEAVY: Mutex<()> = Mutex::new(());

/// Devices publishing.
pub const DEVICES: usize = 100;
/// Readings per SenML pack (one MQTT message).
pub const PER_MESSAGE: usize = 10;

/// A published reading: (device id, sequence number = its value).
pub type Key = (String, i64);

/// The messages carrying `readings` readings (a multiple of [`PER_MESSAGE`]), round-robin over
/// [`DEVICES`] devices, and the set of keys they hold. Reading `s` (0-based, global) is `HR` =
/// `s`; a device's readings are 10 ms apart ending about a minute before now, so every device
/// time is distinct and in the past.
pub fn workload(readings: usize) -> (Vec<Message>, BTreeSet<Key>) {
    assert_eq!(readings % PER_MESSAGE, 0);
    let messages = readings / PER_MESSAGE;
    let per_device = messages.div_ceil(DEVICES) * PER_MESSAGE;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let start = now - 60 - (per_device as i64) / 100;
    let mut out = Vec::with_capacity(messages);
    let mut keys = BTreeSet::new();
    for m in 0..messages {
        let (d, j) = (m % DEVICES, m / DEVICES);
        let device = format!("urn:dev:dur:dev-{d:03}");
        let records: Vec<String> = (0..PER_MESSAGE)
            .map(|r| {
                let seq = (m * PER_MESSAGE + r) as i64;
                keys.insert((device.clone(), seq));
                let t = (j * PER_MESSAGE + r) as f64 * 0.01;
                let base = if r == 0 { format!(r#""bn":"{device}:","bt":{start},"#) } else { String::new() };
                format!(r#"{{{base}"n":"HR","u":"/min","t":{t:.2},"v":{seq}}}"#)
            })
            .collect();
        out.push((format!("wardstream/ward-dur/dev-{d:03}/vitals"), format!("[{}]", records.join(",")).into_bytes()));
    }
    (out, keys)
}

/// Writes the service configuration: WAL on, persistent session, QoS 1, a free HTTP port.
pub fn write_config(dir: &Path, data: &Path, url: &str, client_id: &str) -> PathBuf {
    write_config_with(dir, data, url, client_id, "")
}

/// [`write_config`] with `pipeline` as the body of its `[pipeline]` table.
pub fn write_config_with(dir: &Path, data: &Path, url: &str, client_id: &str, pipeline: &str) -> PathBuf {
    let config = dir.join("wardstream.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {data:?}\nflush_interval_ms = 1000\n\n[pipeline]\n{pipeline}\n\n\
             [wal]\nenabled = true\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[[mqtt]]\nurl = \"{url}\"\nclient_id = \"{client_id}\"\n\
             topics = [\"wardstream/#\"]\nqos = 1\nclean_session = false\nkeep_alive_secs = 5\n{auth}",
            auth = crate::support::auth_toml()
        ),
    )
    .unwrap();
    config
}

/// Publishing options for `client_id` on `port`, spread at `rate_per_sec` messages a second.
pub fn publish_options(port: u16, client_id: &str, rate_per_sec: u64) -> PublishOptions {
    PublishOptions { port, client_id: client_id.into(), window: 100, rate_per_sec, timeout: Duration::from_secs(300) }
}

/// SQL over the data directory from the test process (its own runtime: the tests are sync).
pub struct Tables {
    runtime: tokio::runtime::Runtime,
    session: QuerySession,
}

impl Tables {
    /// A session on `data` (which must exist).
    pub fn open(data: &Path) -> Tables {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        Tables { runtime, session: QuerySession::open(data).unwrap() }
    }

    /// Rows in `vitals`.
    pub fn stored(&self) -> i64 {
        self.runtime.block_on(count(&self.session, "SELECT count(*) FROM vitals"))
    }

    /// Waits until `vitals` holds exactly `expected` rows at two polls a second apart (or more
    /// than `expected`, which is a failure the caller reports); returns the last count.
    pub fn wait_stable(&self, expected: i64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        let mut equal_since: Option<Instant> = None;
        loop {
            let n = self.stored();
            if n > expected {
                return n;
            }
            if n == expected {
                let since = *equal_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(1) {
                    return n;
                }
            } else {
                equal_since = None;
            }
            if Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Every stored (device, sequence), in no particular order, duplicates kept.
    pub fn stored_keys(&self) -> Vec<Key> {
        let rows =
            self.runtime.block_on(csv_rows(&self.session, "SELECT device_id, CAST(value AS BIGINT) FROM vitals"));
        rows.iter()
            .map(|l| {
                let (device, seq) = l.rsplit_once(',').unwrap();
                (device.to_owned(), seq.parse().unwrap())
            })
            .collect()
    }

    /// Dead letters by reason.
    pub fn dead_letters(&self) -> BTreeMap<String, i64> {
        let sql = "SELECT reason, count(*) FROM dead_letters GROUP BY reason";
        let rows = self.runtime.block_on(csv_rows(&self.session, sql));
        rows.iter()
            .map(|l| {
                let (reason, n) = l.split_once(',').unwrap();
                (reason.to_owned(), n.parse().unwrap())
            })
            .collect()
    }
}

/// The verdict: the stored keys are exactly `expected`, each once, and the only dead letters
/// are the `duplicate`s of redeliveries. Returns the number of those.
pub fn assert_exactly_once(tables: &Tables, expected: &BTreeSet<Key>) -> i64 {
    let stored = tables.stored_keys();
    let distinct: BTreeSet<Key> = stored.iter().cloned().collect();
    let missing: Vec<&Key> = expected.difference(&distinct).take(10).collect();
    let unexpected: Vec<&Key> = distinct.difference(expected).take(10).collect();
    let mut seen = BTreeSet::new();
    let doubled: Vec<&Key> = stored.iter().filter(|k| !seen.insert(*k)).take(10).collect();
    println!(
        "verdict: {} rows, {} distinct, {} expected; missing (first 10) {missing:?}; unexpected {unexpected:?}; doubled {doubled:?}",
        stored.len(),
        distinct.len(),
        expected.len()
    );
    assert_eq!((stored.len(), distinct.len()), (expected.len(), expected.len()), "count == distinct == published");
    assert!(distinct == *expected, "stored set != published set");
    let dead = tables.dead_letters();
    println!("dead letters: {dead:?}");
    assert!(dead.keys().all(|r| r == "duplicate"), "only duplicates of redeliveries are dead letters: {dead:?}");
    dead.get("duplicate").copied().unwrap_or(0)
}

/// A temp dir for one test, kept (and its path printed) when `DURABILITY_KEEP` is set.
pub fn test_dir(name: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new().prefix(&format!("wardstream-{name}-")).tempdir().unwrap();
    if std::env::var_os("DURABILITY_KEEP").is_some() {
        dir.disable_cleanup(true);
        println!("{name}: keeping {}", dir.path().display());
    }
    dir
}

/// Prints, for each `wardstream-*.log` in `dir`, what its start-up recovered from the WAL.
pub fn print_recoveries(dir: &Path) {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let fields = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .map(|l| l.split_once(needle).map_or("", |(_, f)| f.trim()).to_owned())
        };
        println!(
            "  {}: WAL opened [{}] recovered [{}]",
            log.file_name().unwrap().to_string_lossy(),
            fields("WAL opened").unwrap_or_else(|| "-".into()),
            fields("write-ahead log recovered").unwrap_or_else(|| "-".into())
        );
    }
}

/// A small deterministic generator (splitmix64) for the kill moments.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `DURABILITY_SEED` when set, else from the clock; prints the seed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("DURABILITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        println!("{test}: seed {seed} (rerun with DURABILITY_SEED={seed})");
        Rng(seed)
    }

    /// The next value in `[low, high)` seconds.
    pub fn duration(&mut self, low: f64, high: f64) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Duration::from_secs_f64(low + (high - low) * (z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Publishes `readings` readings while wardstream is SIGKILLed `kills` times at random moments
/// (`low` to `high` seconds apart, from each start) and restarted each time, then checks that every reading is stored exactly once.
fn kill_nine_run(
    name: &str,
    readings: usize,
    kills: usize,
    (low, high): (f64, f64),
    rate_per_sec: u64,
    drain_timeout: Duration,
) {
    let _turn = HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = Rng::from_env(name);
    let started = Instant::now();
    let broker = PersistentMosquitto::start();
    let dir = test_dir(name);
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &data, &broker.url(), &format!("ws-{name}"));
    let mut service = WardstreamProcess::spawn(&config, &dir.path().join("wardstream-0.log"));
    service.wait_log("subscribed", Duration::from_secs(60));
    let tables = Tables::open(&data);
    let (messages, expected) = workload(readings);
    let options = publish_options(broker.port(), &format!("pub-{name}"), rate_per_sec);
    let publisher = std::thread::spawn(move || {
        let t = Instant::now();
        (publish_all(&options, &messages), t.elapsed())
    });
    for k in 1..=kills {
        std::thread::sleep(rng.duration(low, high));
        service.kill9();
        println!("{name}: kill {k} at {:.1?}: {} rows stored", started.elapsed(), tables.stored());
        service = WardstreamProcess::spawn(&config, &dir.path().join(format!("wardstream-{k}.log")));
    }
    let (report, publish_time) = publisher.join().unwrap();
    let report = report.unwrap();
    println!("{name}: published {} messages in {publish_time:.1?}: {report:?}", readings / PER_MESSAGE);
    assert_eq!(report.acked, readings / PER_MESSAGE);
    let drain_started = Instant::now();
    let stored = tables.wait_stable(readings as i64, drain_timeout);
    println!("{name}: {stored} rows stable {:.1?} after publishing ended", drain_started.elapsed());
    let duplicates = service.metric("wardstream_duplicates_total");
    let status = service.terminate(Duration::from_secs(60));
    assert!(status.success(), "wardstream exited with {status}");
    assert_eq!(stored, readings as i64, "stored rows after the drain (log of the last run in the temp dir)");
    print_recoveries(dir.path());
    let dead = assert_exactly_once(&tables, &expected);
    println!(
        "{name}: {readings} readings, {kills} kills: exactly once; {dead} duplicate dead letters \
         ({duplicates} in the last run); total {:.1?}",
        started.elapsed()
    );
}

#[test]
fn sigkilled_eight_times_wardstream_stores_two_hundred_thousand_acknowledged_readings_exactly_once() {
    kill_nine_run("kill9-200k", 200_000, 8, (0.5, 4.0), 1_000, Duration::from_secs(120));
}

#[test]
fn sigkilled_ten_times_in_quick_succession_even_during_recovery_wardstream_loses_and_doubles_nothing() {
    kill_nine_run("kill9-rapid", 20_000, 10, (0.2, 1.5), 250, Duration::from_secs(120));
}
