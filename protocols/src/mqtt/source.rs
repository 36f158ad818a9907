//! [`MqttSource`]: the MQTT driver. It owns the rumqttc event loop, turns every PUBLISH into an
//! `IngestBatch` with [`pack_to_batch`] and hands it to the pipeline.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, SubAck, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};
use wardstream_pipeline::{Clock, IngestBatch, Inlet};

use super::{Error, MqttConfig, MqttStats};
use crate::senml::{DeviceIdRule, pack_to_batch};

/// First reconnection delay after a connection error; doubled per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a shutdown waits for the DISCONNECT to reach the broker.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The MQTT driver: subscribes to the configured topics and feeds every SenML message to the
/// pipeline. Build it with [`MqttSource::new`], then drive it with [`MqttSource::run`].
pub struct MqttSource {
    options: MqttOptions,
    filters: Vec<SubscribeFilter>,
    rule: DeviceIdRule,
    inlet: Inlet,
    clock: Arc<dyn Clock>,
    stats: Arc<MqttStats>,
}

impl std::fmt::Debug for MqttSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSource")
            .field("broker", &self.options.broker_address())
            .field("filters", &self.filters)
            .finish()
    }
}

/// Builds an [`MqttSource`] from `config` and runs it until `shutdown` turns `true` (or its
/// sender is dropped). See [`MqttSource::run`].
pub async fn run(
    config: MqttConfig,
    inlet: Inlet,
    clock: Arc<dyn Clock>,
    stats: Arc<MqttStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    MqttSource::new(&config, inlet, clock, stats)?.run(shutdown).await
}

impl MqttSource {
    /// Checks `config` and prepares the driver; nothing connects yet. Readings go to `inlet`,
    /// `clock` stamps their `received_at` (and is "now" for SenML relative times), `stats` is
    /// updated as messages arrive.
    pub fn new(
        config: &MqttConfig,
        inlet: Inlet,
        clock: Arc<dyn Clock>,
        stats: Arc<MqttStats>,
    ) -> Result<MqttSource, Error> {
        let options = config.mqtt_options()?;
        let qos = config.qos()?;
        let filters = config.topics.iter().map(|t| SubscribeFilter::new(t.clone(), qos)).collect();
        Ok(MqttSource { options, filters, rule: config.device_id_rule(), inlet, clock, stats })
    }

    /// Connects, subscribes and delivers messages until `shutdown` turns `true` or its sender
    /// is dropped.
    ///
    /// - Subscribes on the first CONNACK and again on every CONNACK whose `session_present` is
    ///   false (the broker forgot the subscriptions).
    /// - Connection errors never end the loop: each is logged, counted as a reconnect, and
    ///   followed by a pause of 100 ms doubling up to 5 s (reset on CONNACK) before rumqttc
    ///   reconnects. Bad payloads become dead letters and never stop the driver.
    /// - Each message's batch is sent to the inlet before the next message is read; a full
    ///   pipeline queue blocks this task (inside `block_in_place` on a multi-threaded runtime,
    ///   so run it on one), which stops reading from the broker: back-pressure. No pings are
    ///   sent meanwhile, so a stall beyond 1.5 × keep-alive makes the broker drop the
    ///   connection, which is then re-established like any other.
    /// - On shutdown it sends DISCONNECT (delivering any message read before it, waiting at
    ///   most [`DISCONNECT_TIMEOUT`]) and returns `Ok` once every message received has been
    ///   handed to the inlet. Dropping the future instead skips both, and can lose messages
    ///   already acknowledged to the broker.
    ///
    /// Errors: [`Error::PipelineClosed`] when the pipeline shut down before the driver.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let (host, port) = self.options.broker_address();
        let span = info_span!("mqtt_source", broker = %format_args!("{host}:{port}"));
        self.run_inner(shutdown).instrument(span).await
    }

    async fn run_inner(self, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let capacity = self.options.request_channel_capacity();
        let (client, mut events) = AsyncClient::new(self.options.clone(), capacity);
        let mut backoff = BACKOFF_MIN;
        let mut first_connack = true;
        let result = loop {
            let event = tokio::select! {
                biased;
                () = shutdown_requested(&mut shutdown) => break Ok(()),
                event = events.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    self.stats.set_connected(true);
                    backoff = BACKOFF_MIN;
                    info!(session_present = ack.session_present, "connected to the MQTT broker");
                    if first_connack || !ack.session_present {
                        self.subscribe(&client);
                    } else {
                        // The broker kept the session, subscriptions included.
                        self.stats.set_subscribed(true);
                    }
                    first_connack = false;
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => self.on_suback(&ack),
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Err(e) = self.on_publish(&publish) {
                        break Err(e);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    self.stats.set_connected(false);
                    self.stats.count_reconnect();
                    warn!(%error, retry_in_ms = backoff.as_millis() as u64, "MQTT connection failed; reconnecting");
                    // rumqttc reconnects on the next poll at once: pause first (PITFALLS).
                    tokio::select! {
                        biased;
                        () = shutdown_requested(&mut shutdown) => break Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        };
        let result = match result {
            Ok(()) => self.disconnect(&client, &mut events).await,
            Err(e) => Err(e),
        };
        self.stats.set_connected(false);
        info!("MQTT source stopped");
        result
    }

    fn subscribe(&self, client: &AsyncClient) {
        self.stats.set_subscribed(false);
        // `try_` never blocks the task that polls the event loop (PITFALLS); the request
        // channel has room, as it only ever holds this and a disconnect.
        if let Err(error) = client.try_subscribe_many(self.filters.clone()) {
            warn!(%error, "could not queue the MQTT subscription");
        }
    }

    fn on_suback(&self, ack: &SubAck) {
        let refused: Vec<&str> = ack
            .return_codes
            .iter()
            .zip(&self.filters)
            .filter(|(code, _)| matches!(code, SubscribeReasonCode::Failure))
            .map(|(_, filter)| filter.path.as_str())
            .collect();
        if refused.is_empty() {
            self.stats.set_subscribed(true);
            debug!(filters = self.filters.len(), "subscribed");
        } else {
            warn!(?refused, "the MQTT broker refused subscriptions");
        }
    }

    // Design: acknowledgements are automatic for now (rumqttc acks each PUBLISH as it reads
    // it), so a message is acked before it is stored. Manual acks slot in here: with
    // `set_manual_acks(true)`, this function would pass the `Publish` (topic, pkid) along with
    // the batch, and the storage side would report back once the batch is durable so that the
    // driver calls `client.try_ack` in receive order, skipping acks for publishes from before
    // the latest CONNACK (PITFALLS: rumqttc matches acks by packet id only).
    fn on_publish(&self, publish: &Publish) -> Result<(), Error> {
        let now = self.clock.now_micros();
        let batch = pack_to_batch(&publish.payload, &publish.topic, &self.rule, now);
        self.stats.count_message(publish.payload.len(), now, batch.readings.len(), batch.dead_letters.len());
        if let Some(first) = batch.dead_letters.first() {
            debug!(topic = %publish.topic, reason = %first.reason, rejected = batch.dead_letters.len(), "rejected SenML content");
        }
        if batch.is_empty() {
            return Ok(());
        }
        send_blocking(&self.inlet, batch).map_err(|_| Error::PipelineClosed)
    }

    /// Sends DISCONNECT, delivering whatever is read until it is on the wire.
    async fn disconnect(&self, client: &AsyncClient, events: &mut EventLoop) -> Result<(), Error> {
        if !self.stats.snapshot().connected || client.try_disconnect().is_err() {
            return Ok(());
        }
        let deadline = tokio::time::sleep(DISCONNECT_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => {
                    warn!("the MQTT disconnect timed out");
                    return Ok(());
                }
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(publish))) => self.on_publish(&publish)?,
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return Ok(()),
                    Ok(_) => {}
                },
            }
        }
    }
}

/// Resolves once `shutdown` holds `true` or its sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Sends a batch, blocking while the pipeline queue is full. On a multi-threaded runtime the
/// wait happens inside `block_in_place` so the runtime's other tasks keep running.
fn send_blocking(inlet: &Inlet, batch: IngestBatch) -> Result<(), IngestBatch> {
    let batch = match inlet.try_send(batch) {
        Ok(()) => return Ok(()),
        Err(batch) => batch,
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| matches!(h.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread));
    if multi_thread { tokio::task::block_in_place(|| inlet.send(batch)) } else { inlet.send(batch) }
}
