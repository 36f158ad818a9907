//! [`MqttSource`]: the MQTT driver. It owns the rumqttc event loop, turns every PUBLISH into an
//! `IngestBatch` with [`pack_to_batch`] and hands it to the pipeline.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, SubAck, SubscribeFilter,
    SubscribeReasonCode,
};
use tokio::sync::watch;
use tracing::{Instrument, debug, error, info, info_span, warn};
use wardstream_pipeline::{Clock, Feed, FeedError, IngestBatch, Reason};

use super::ack_write::{next_ready, write_ready};
use super::acker::{Acker, PendingAck, ReadyAck};
use super::failure::{Failure, classify};
use super::{Error, MqttConfig, MqttStats};
use crate::senml::{DeviceIdRule, IdentityPolicy, pack_to_batch_with_identity};

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
    identity: IdentityPolicy,
    tls: bool,
    feed: Feed,
    manual_acks: bool,
    clock: Arc<dyn Clock>,
    stats: Arc<MqttStats>,
}

impl std::fmt::Debug for MqttSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSource")
            .field("broker", &self.options.broker_address())
            .field("tls", &self.tls)
            .field("filters", &self.filters)
            .field("identity", &self.identity)
            .finish()
    }
}

/// Builds an [`MqttSource`] from `config` and runs it until `shutdown` turns `true` (or its
/// sender is dropped). See [`MqttSource::run`].
pub async fn run(
    config: MqttConfig,
    feed: impl Into<Feed>,
    clock: Arc<dyn Clock>,
    stats: Arc<MqttStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    MqttSource::new(&config, feed, clock, stats)?.run(shutdown).await
}

impl MqttSource {
    /// Checks `config` and prepares the driver; nothing connects yet. Readings go to `feed` (an
    /// [`Inlet`](wardstream_pipeline::Inlet) converts into a direct feed), `clock` stamps their
    /// `received_at` (and is "now" for SenML relative times), `stats` is updated as messages
    /// arrive. With a journaled feed and QoS 1/2, acknowledgements are manual: sent after the
    /// message's batch is durable (see [`Acker`]).
    pub fn new(
        config: &MqttConfig,
        feed: impl Into<Feed>,
        clock: Arc<dyn Clock>,
        stats: Arc<MqttStats>,
    ) -> Result<MqttSource, Error> {
        let feed = feed.into();
        let mut options = config.mqtt_options()?;
        let qos = config.qos()?;
        let manual_acks = feed.is_durable() && qos != rumqttc::QoS::AtMostOnce;
        options.set_manual_acks(manual_acks);
        let filters = config.topics.iter().map(|t| SubscribeFilter::new(t.clone(), qos)).collect();
        let tls = config.uses_tls();
        if !tls && options.credentials().is_some() {
            warn!(url = %config.url, "MQTT credentials are configured without TLS: the password crosses the network in clear");
        }
        Ok(MqttSource {
            options,
            filters,
            rule: config.device_id_rule(),
            identity: config.identity,
            tls,
            feed,
            manual_acks,
            clock,
            stats,
        })
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
        let span = info_span!("mqtt_source", broker = %format_args!("{host}:{port}"), tls = self.tls);
        self.run_inner(shutdown).instrument(span).await
    }

    async fn run_inner(self, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let capacity = self.options.request_channel_capacity();
        let (client, mut events) = AsyncClient::new(self.options.clone(), capacity);
        let (acker, mut ready) = if self.manual_acks {
            // Messages waiting for durability: the inflight window plus slack; beyond it the
            // poll task waits (stops reading), and the broker holds back the rest.
            let window = usize::from(self.options.inflight()) + 16;
            let (acker, ready) = Acker::start(self.feed.clone(), Arc::clone(&self.stats), window).map_err(|e| {
                Error::InvalidConfig { field: "acker", message: format!("cannot start the ack thread: {e}") }
            })?;
            (Some(acker), Some(ready))
        } else {
            (None, None)
        };
        let mut backoff = BACKOFF_MIN;
        let mut first_connack = true;
        let result = loop {
            if let Some(acker) = &acker
                && acker.failed.swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                // A batch was not durable: drop the connection so the broker redelivers.
                warn!("dropping the MQTT connection after a storage failure");
                let _ = client.try_disconnect();
            }
            // Every ack that is ready goes on the wire before the next read (see `ack_write`).
            let epoch = acker.as_ref().map_or(0, |a| a.epoch.load(std::sync::atomic::Ordering::Acquire));
            let mut woken_by: Option<ReadyAck> = None;
            let event = loop {
                if let Some(rx) = ready.as_mut()
                    && let Err(error) = write_ready(&mut events, woken_by.take(), rx, epoch, &self.stats).await
                {
                    events.clean();
                    break Err(error.to_string());
                }
                let connected = events.network.is_some();
                tokio::select! {
                    biased;
                    () = shutdown_requested(&mut shutdown) => break Ok(None),
                    ack = next_ready(&mut ready), if connected => woken_by = Some(ack),
                    event = events.poll() => break Ok(Some(event)),
                }
            };
            let event = match event {
                Ok(Some(event)) => event,
                Ok(None) => break Ok(()),
                Err(error) => {
                    self.stats.set_connected(false);
                    self.stats.count_reconnect();
                    warn!(%error, retry_in_ms = backoff.as_millis() as u64, "MQTT connection failed; reconnecting");
                    tokio::select! {
                        biased;
                        () = shutdown_requested(&mut shutdown) => break Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if let Some(acker) = &acker {
                        acker.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
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
                    if let Err(e) = self.on_publish(publish, acker.as_ref(), &mut shutdown).await {
                        break Err(e);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    self.stats.set_connected(false);
                    self.stats.count_reconnect();
                    self.report_connection_error(&error, backoff);
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
        if let (Some(rx), Some(a)) = (ready.as_mut(), acker.as_ref()) {
            // The acks already ready go out before the DISCONNECT.
            let epoch = a.epoch.load(std::sync::atomic::Ordering::Acquire);
            if let Err(error) = write_ready(&mut events, None, rx, epoch, &self.stats).await {
                debug!(%error, "acks not written at shutdown; the broker redelivers those messages");
            }
        }
        let result = match result {
            Ok(()) => self.disconnect(&client, &mut events, acker.as_ref(), &mut shutdown).await,
            Err(e) => Err(e),
        };
        if let Some(acker) = acker {
            // Waits for the pending acks (their PUBACKs may not reach the broker any more: it
            // then redelivers those messages, which de-duplication absorbs).
            blocking(|| acker.finish());
        }
        self.stats.set_connected(false);
        info!("MQTT source stopped");
        result
    }

    /// Logs a connection error (TLS and authentication failures at ERROR: they do not heal
    /// by themselves) and counts it by kind.
    fn report_connection_error(&self, error: &ConnectionError, backoff: Duration) {
        let retry_in_ms = backoff.as_millis() as u64;
        match classify(error) {
            Failure::Tls(reason) => {
                self.stats.count_tls_failure();
                error!(error = %reason, retry_in_ms, "MQTT TLS handshake failed: the broker's certificate is not trusted by ca_file or does not name the host, or the broker refused the client certificate; retrying");
            }
            Failure::Auth(code) => {
                self.stats.count_auth_failure();
                error!(return_code = ?code, retry_in_ms, "the MQTT broker refused wardstream's credentials (username/password or client certificate); retrying");
            }
            Failure::Other => warn!(%error, retry_in_ms, "MQTT connection failed; reconnecting"),
        }
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

    /// Decodes a message and hands its batch over; with manual acks, queues its ack for after
    /// the batch is durable. A log failure (disk full) stops reading — the broker holds the rest
    /// — and retries with backoff until it succeeds or shutdown is requested.
    async fn on_publish(
        &self,
        publish: Publish,
        acker: Option<&Acker>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let now = self.clock.now_micros();
        let batch = pack_to_batch_with_identity(&publish.payload, &publish.topic, &self.rule, self.identity, now);
        self.stats.count_message(publish.payload.len(), now, batch.readings.len(), batch.dead_letters.len());
        if let Some(mismatch) = batch.dead_letters.iter().find(|d| d.reason == Reason::IdentityMismatch) {
            self.stats.count_identity_mismatch();
            warn!(topic = %publish.topic, claimed = ?mismatch.source_name, "device identity mismatch: the payload names another device than its topic; message rejected (dead letter identity_mismatch)");
        }
        if let Some(first) = batch.dead_letters.first() {
            debug!(topic = %publish.topic, reason = %first.reason, rejected = batch.dead_letters.len(), "rejected SenML content");
        }
        let seq = if batch.is_empty() { None } else { self.submit_retrying(batch, shutdown).await? };
        if let Some(acker) = acker {
            let epoch = acker.epoch.load(std::sync::atomic::Ordering::Acquire);
            blocking(|| acker.push(PendingAck { publish, seq, epoch }));
        }
        Ok(())
    }

    async fn submit_retrying(
        &self,
        batch: IngestBatch,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<u64>, Error> {
        let mut backoff = BACKOFF_MIN;
        let mut batch = batch;
        loop {
            match submit_blocking(&self.feed, batch) {
                Ok(seq) => return Ok(seq),
                Err((FeedError::Closed, _)) => return Err(Error::PipelineClosed),
                Err((FeedError::Log(e), returned)) => {
                    batch = returned;
                    self.stats.count_log_failure();
                    error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot store the message; not acknowledging, retrying");
                    tokio::select! {
                        biased;
                        () = shutdown_requested(shutdown) => return Err(Error::PipelineClosed),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Sends DISCONNECT, delivering whatever is read until it is on the wire.
    async fn disconnect(
        &self,
        client: &AsyncClient,
        events: &mut EventLoop,
        acker: Option<&Acker>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
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
                    Ok(Event::Incoming(Packet::Publish(publish))) => self.on_publish(publish, acker, shutdown).await?,
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

/// Hands a batch over, blocking while the pipeline queue is full. On a multi-threaded runtime
/// the wait happens inside `block_in_place` so the runtime's other tasks keep running.
fn submit_blocking(feed: &Feed, batch: IngestBatch) -> Result<Option<u64>, (FeedError, IngestBatch)> {
    if let Feed::Direct(inlet) = feed {
        match inlet.try_send(batch) {
            Ok(()) => return Ok(None),
            Err(batch) => return blocking(|| feed.submit(batch)),
        }
    }
    blocking(|| feed.submit(batch))
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| matches!(h.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread));
    if multi_thread { tokio::task::block_in_place(f) } else { f() }
}
