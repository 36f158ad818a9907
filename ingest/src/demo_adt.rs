//! The demo's admissions: an EMR feed (the ADT simulator in `wardstream-simulators`, an
//! independent MLLP client) admits one patient to each monitored bed through the service's real
//! ADT listener, then during the run discharges the patient of bed 2 and transfers the patient of
//! bed 1 into it — so the timeline of patient `P-0001` shows two beds, and bed 1's later readings
//! are unassociated.

use std::net::SocketAddr;

use anyhow::Context;
use chrono::Utc;
use wardstream_simulators::adt_feed::{AdtClient, AdtMessage};

/// The demo ward's name (the simulated ward's id).
pub const WARD: &str = "icu-1";

/// Room of every demo bed.
pub const ROOM: &str = "1";

/// The bed label of bed `i` (0-based): `bed-01`.
pub fn bed_label(i: usize) -> String {
    format!("bed-{:02}", i + 1)
}

/// The patient admitted to bed `i` at the start: `P-0001`.
pub fn patient_of(i: usize) -> String {
    format!("P-{:04}", i + 1)
}

/// Sends the demo's ADT messages and checks each ACK is `AA`.
#[derive(Debug)]
pub struct DemoAdt {
    client: AdtClient,
    next_id: u32,
}

impl DemoAdt {
    /// Connects to the service's ADT listener.
    pub async fn connect(address: SocketAddr) -> anyhow::Result<DemoAdt> {
        Ok(DemoAdt { client: AdtClient::connect(&address.to_string()).await?, next_id: 0 })
    }

    async fn send(&mut self, trigger: &str, patient: &str, bed: usize, prior: Option<usize>) -> anyhow::Result<()> {
        self.next_id += 1;
        let message = AdtMessage {
            trigger: trigger.into(),
            control_id: format!("DEMO-{}-{:05}", std::process::id(), self.next_id),
            patient_id: patient.into(),
            encounter_id: format!("V-{patient}"),
            location: (WARD.into(), ROOM.into(), bed_label(bed)),
            prior: prior.map(|p| (WARD.into(), ROOM.into(), bed_label(p))),
            event_time: Utc::now(),
        };
        let ack = self.client.send(&message).await.with_context(|| format!("sending {trigger} for {patient}"))?;
        anyhow::ensure!(ack.code == "AA", "{trigger} for {patient} answered {} {}", ack.code, ack.text);
        Ok(())
    }

    /// A01 for bed `i`'s patient.
    pub async fn admit(&mut self, i: usize) -> anyhow::Result<()> {
        self.send("A01", &patient_of(i), i, None).await
    }

    /// A03 for the patient in bed `i`.
    pub async fn discharge(&mut self, patient: &str, i: usize) -> anyhow::Result<()> {
        self.send("A03", patient, i, None).await
    }

    /// A02: `patient` moves from bed `from` to bed `to`.
    pub async fn transfer(&mut self, patient: &str, from: usize, to: usize) -> anyhow::Result<()> {
        self.send("A02", patient, to, Some(from)).await
    }
}
