//! One bed: a frame generator feeding the [`Outbox`], and an MQTT driver that owns one rumqttc
//! connection at a time, a forwarder task handing messages to it, and the orderly stop.
//!
//! Tasks of a bed: `run_bed` generates frames, then drains and closes; `drive` polls the event
//! loop (never publishing itself, see PITFALLS) and reconnects with backoff; `forward` moves
//! waiting messages into the connected client. They share the [`Bed`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info_span, warn};

use super::backoff::Backoff;
use super::config::WardConfig;
use super::outbox::{Outbox, Reading};
use super::report::{BedCounters, BedReport};
use crate::mimic::Numerics;
use crate::senml::now_millis_as_micros;

/// Largest MQTT packet either way (rumqttc's default of 10 KiB is too small for some packs).
const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// The generator waits while this many messages wait for the broker.
const MAX_WAITING: usize = 1024;
/// How often the drain looks whether everything is acknowledged.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// How long a clean disconnect may take before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keep-alive interval of the monitors' connections.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// The numerics to replay, with names and UCUM units shared by all messages.
#[derive(Debug)]
pub(crate) struct Replay {
    numerics: Arc<Numerics>,
    labels: Vec<(Arc<str>, Arc<str>)>,
}

impl Replay {
    pub fn new(numerics: Arc<Numerics>) -> Self {
        let labels =
            numerics.signals().iter().map(|s| (Arc::from(s.name.as_str()), Arc::from(s.ucum_unit()))).collect();
        Replay { numerics, labels }
    }

    pub fn frame_count(&self) -> usize {
        self.numerics.frame_count()
    }

    /// The present values of frame `frame`, in header order.
    fn readings(&self, frame: usize) -> Vec<Reading> {
        let values = self.numerics.frames().get(frame).map(Vec::as_slice).unwrap_or_default();
        self.labels
            .iter()
            .zip(values)
            .filter_map(|((name, unit), value)| {
                value.map(|value| Reading { name: name.clone(), unit: unit.clone(), value })
            })
            .collect()
    }
}

/// The state one bed's tasks share.
#[derive(Debug)]
pub(crate) struct Bed {
    monitor_id: Arc<str>,
    topic: String,
    qos: QoS,
    start_frame: usize,
    /// Delay before the first frame, spreading the beds over one interval.
    stagger: Duration,
    counters: Arc<BedCounters>,
    outbox: Mutex<Outbox>,
    /// Wakes the forwarder when a message starts waiting.
    wake_forwarder: Notify,
    /// Wakes the generator when a waiting message was handed over.
    space: Notify,
    /// The client of the current connection, once it is connected.
    client: Mutex<Option<AsyncClient>>,
    closing: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bed {
    pub fn new(index: usize, config: &WardConfig, frame_count: usize) -> Arc<Bed> {
        let monitor_id: Arc<str> = config.monitor_id(index).into();
        let counters = Arc::new(BedCounters::default());
        let outbox = Outbox::new(monitor_id.clone(), config.qos, counters.clone(), config.recorder.clone());
        let beds = u32::try_from(config.beds).unwrap_or(u32::MAX).max(1);
        let position = u32::try_from(index).unwrap_or(0);
        Arc::new(Bed {
            topic: config.topic(index),
            qos: config.qos,
            start_frame: config.start_frame(index, frame_count),
            stagger: config.interval * position / beds,
            monitor_id,
            counters,
            outbox: Mutex::new(outbox),
            wake_forwarder: Notify::new(),
            space: Notify::new(),
            client: Mutex::new(None),
            closing: AtomicBool::new(false),
        })
    }

    /// The counters now.
    pub fn report(&self) -> BedReport {
        self.counters.snapshot(&self.monitor_id)
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }
}

/// Aborts a task when dropped, so that no task outlives the bed that started it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl AbortOnDrop {
    async fn abort_and_wait(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

/// Runs one bed until its frames are done or `shutdown`, then waits for the outstanding
/// acknowledgements (at most `drain_timeout`) and disconnects. Returns its final counters.
pub(crate) async fn run_bed(
    bed: Arc<Bed>,
    config: Arc<WardConfig>,
    replay: Arc<Replay>,
    mut shutdown: watch::Receiver<bool>,
) -> BedReport {
    let span = info_span!("monitor", id = %bed.monitor_id);
    let driver = AbortOnDrop(tokio::spawn(
        drive(bed.clone(), mqtt_options(&config, &bed.monitor_id), config.max_reconnect_backoff)
            .instrument(span.clone()),
    ));
    async {
        generate(&bed, &config, &replay, &mut shutdown).await;
        if !drain(&bed, config.drain_timeout).await {
            let report = bed.report();
            warn!(
                unacked = report.messages_published.saturating_sub(report.messages_acked),
                "Stopped before every message was acknowledged"
            );
        }
        close(&bed, driver).await;
    }
    .instrument(span)
    .await;
    bed.report()
}

fn mqtt_options(config: &WardConfig, monitor_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(monitor_id, config.broker_host.as_str(), config.broker_port);
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_inflight(config.inflight);
    options
}

/// Resolves once `shutdown` is true. A dropped sender never shuts down.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One frame per interval into the outbox, from the bed's start frame, wrapping around.
async fn generate(bed: &Bed, config: &WardConfig, replay: &Replay, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        biased;
        () = stopped(shutdown) => return,
        () = tokio::time::sleep(bed.stagger) => {}
    }
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let frame_count = replay.frame_count().max(1);
    let mut frame = bed.start_frame % frame_count;
    let mut replayed = 0usize;
    let mut last_time = i64::MIN;
    while config.frames.is_none_or(|frames| replayed < frames) {
        tokio::select! {
            biased;
            () = stopped(shutdown) => break,
            _ = ticker.tick() => {}
        }
        if !wait_for_space(bed, shutdown).await {
            break;
        }
        // A monitor's clock never repeats or goes back, so every message has its own time.
        let time = now_millis_as_micros().max(last_time.saturating_add(1000));
        last_time = time;
        let readings = replay.readings(frame);
        frame = (frame + 1) % frame_count;
        replayed = replayed.saturating_add(1);
        BedCounters::add(&bed.counters.frames_replayed, 1);
        if !readings.is_empty() {
            bed.outbox().push(time, readings);
            bed.wake_forwarder.notify_one();
        }
    }
}

/// Waits while the outbox is full; false if shut down meanwhile.
async fn wait_for_space(bed: &Bed, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        if bed.outbox().waiting_len() < MAX_WAITING {
            return true;
        }
        tokio::select! {
            biased;
            () = stopped(shutdown) => return false,
            () = bed.space.notified() => {}
        }
    }
}

/// Waits until every message is acknowledged; false if `timeout` passed first.
async fn drain(bed: &Bed, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if bed.outbox().is_idle() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Disconnects cleanly if connected, else (or if that takes too long) drops the connection.
async fn close(bed: &Bed, mut driver: AbortOnDrop) {
    bed.closing.store(true, Ordering::SeqCst);
    let client = lock(&bed.client).clone();
    let disconnecting = client.is_some_and(|client| client.try_disconnect().is_ok());
    if disconnecting && tokio::time::timeout(CLOSE_TIMEOUT, &mut driver.0).await.is_ok() {
        return;
    }
    driver.abort_and_wait().await;
}

/// Connects, runs the connection until it breaks, and starts over after a backoff, with a new
/// event loop each time (see the outbox's design note), until the bed closes.
async fn drive(bed: Arc<Bed>, options: MqttOptions, max_backoff: Duration) {
    let capacity = usize::from(options.inflight()).max(16);
    let mut backoff = Backoff::new(max_backoff);
    let mut warned = false;
    while !bed.closing.load(Ordering::SeqCst) {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), capacity);
        let mut forwarder = None;
        let result = connection(&bed, &client, &mut eventloop, &mut forwarder).await;
        if let Some(forwarder) = forwarder {
            forwarder.abort_and_wait().await;
        }
        *lock(&bed.client) = None;
        bed.outbox().connection_lost();
        let error = match result {
            Ok(()) => break,
            Err(error) => error,
        };
        BedCounters::add(&bed.counters.connection_errors, 1);
        if bed.closing.load(Ordering::SeqCst) {
            break;
        }
        if matches!(error, Failure::AfterConnAck(_)) {
            backoff.reset();
            warned = false;
        }
        let delay = backoff.next_delay();
        let retry_in_ms = delay.as_millis();
        if warned {
            debug!(error = %error, retry_in_ms, "MQTT connection failed again");
        } else {
            warn!(error = %error, retry_in_ms, "MQTT connection failed");
            warned = true;
        }
        tokio::time::sleep(delay).await;
    }
}

/// How a connection ended other than by our disconnect.
#[derive(Debug)]
enum Failure {
    /// Connecting failed.
    BeforeConnAck(ConnectionError),
    /// The connection broke after the broker accepted it.
    AfterConnAck(ConnectionError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::BeforeConnAck(e) => write!(f, "connecting: {e}"),
            Failure::AfterConnAck(e) => write!(f, "connection lost: {e}"),
        }
    }
}

/// Polls one event loop until our disconnect (Ok) or an error.
async fn connection(
    bed: &Arc<Bed>,
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    forwarder: &mut Option<AbortOnDrop>,
) -> Result<(), Failure> {
    loop {
        let event = eventloop
            .poll()
            .await
            .map_err(|e| if forwarder.is_some() { Failure::AfterConnAck(e) } else { Failure::BeforeConnAck(e) })?;
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                BedCounters::add(&bed.counters.connections, 1);
                debug!("MQTT connected");
                *lock(&bed.client) = Some(client.clone());
                *forwarder = Some(AbortOnDrop(tokio::spawn(forward(bed.clone(), client.clone()).in_current_span())));
            }
            Event::Incoming(Packet::PubAck(ack)) => bed.outbox().on_ack(ack.pkid),
            Event::Incoming(Packet::PubComp(comp)) => bed.outbox().on_ack(comp.pkid),
            Event::Outgoing(Outgoing::Publish(pkid)) => bed.outbox().on_outgoing_publish(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => bed.outbox().on_await_ack(pkid),
            Event::Outgoing(Outgoing::Disconnect) => return Ok(()),
            _ => {}
        }
    }
}

/// Hands waiting messages to the connected client, oldest first. The client's channel is at
/// least as large as the inflight window, so `publish` waits only while the window is full.
async fn forward(bed: Arc<Bed>, client: AsyncClient) {
    loop {
        let next = bed.outbox().hand_over();
        match next {
            Some(payload) => {
                bed.space.notify_one();
                if client.publish(bed.topic.as_str(), bed.qos, false, payload).await.is_err() {
                    return; // the event loop is gone; the driver requeues the message
                }
            }
            None => bed.wake_forwarder.notified().await,
        }
    }
}
