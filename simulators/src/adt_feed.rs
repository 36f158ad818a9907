//! An ADT feed simulator: HL7 v2.5 ADT messages (A01 admit, A02 transfer, A03 discharge, A11,
//! A12, A13 cancels) built for simulated patients and sent over MLLP to wardstream's listener,
//! reading each ACK — what a hospital's EMR interface engine does.
//!
//! The MLLP client here is written independently of `wardstream-protocols` (a peer must not share
//! the code it tests). Times are written with a UTC offset (`+0000`), to the second.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One ADT event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtMessage {
    /// Trigger event: `A01`, `A02`, `A03`, `A11`, `A12`, `A13`.
    pub trigger: String,
    /// MSH-10.
    pub control_id: String,
    /// PID-3 medical record number.
    pub patient_id: String,
    /// PV1-19 visit number.
    pub encounter_id: String,
    /// PV1-3 as (point of care, room, bed).
    pub location: (String, String, String),
    /// PV1-6 prior location, for transfers.
    pub prior: Option<(String, String, String)>,
    /// EVN-2 / EVN-6 event time.
    pub event_time: DateTime<Utc>,
}

impl AdtMessage {
    /// The HL7 v2.5 text, segments ended by `\r`.
    pub fn to_hl7(&self) -> String {
        let ts = |t: &DateTime<Utc>| t.format("%Y%m%d%H%M%S+0000").to_string();
        let loc = |(ward, room, bed): &(String, String, String)| format!("{ward}^{room}^{bed}^WARDSTREAM-SIM");
        let now = ts(&Utc::now());
        let event = ts(&self.event_time);
        let prior = self.prior.as_ref().map(loc).unwrap_or_default();
        format!(
            "MSH|^~\\&|SIM-EMR|SIM-HOSP|WARDSTREAM|SIM-HOSP|{now}||ADT^{trigger}^ADT_A01|{control}|P|2.5\r\
             EVN||{event}|||SIM^Feed|{event}\r\
             PID|1||{patient}^^^SIM-HOSP^MR||Patient^{patient}||19500101|U\r\
             PV1|1|I|{location}|||{prior}|||||||||||||{encounter}^^^SIM-HOSP^VN\r",
            trigger = self.trigger,
            control = self.control_id,
            patient = self.patient_id,
            location = loc(&self.location),
            encounter = self.encounter_id,
        )
    }
}

/// What an ACK said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReply {
    /// MSA-1: `AA`, `AE` or `AR`.
    pub code: String,
    /// MSA-2: the acknowledged control id.
    pub control_id: String,
    /// MSA-3 text, if any.
    pub text: String,
}

/// An MLLP connection to an ADT listener.
#[derive(Debug)]
pub struct AdtClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl AdtClient {
    /// Connects to `address` (`host:port`).
    pub async fn connect(address: &str) -> anyhow::Result<AdtClient> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        Ok(AdtClient { stream, buffer: Vec::new() })
    }

    /// Sends one message in an MLLP frame and waits for its ACK.
    pub async fn send(&mut self, message: &AdtMessage) -> anyhow::Result<AckReply> {
        self.send_raw(message.to_hl7().as_bytes()).await
    }

    /// Sends any bytes in an MLLP frame and waits for the ACK.
    pub async fn send_raw(&mut self, hl7: &[u8]) -> anyhow::Result<AckReply> {
        let mut frame = Vec::with_capacity(hl7.len() + 3);
        frame.push(0x0B);
        frame.extend_from_slice(hl7);
        frame.extend_from_slice(&[0x1C, 0x0D]);
        self.stream.write_all(&frame).await.context("sending the frame")?;
        let reply = self.read_frame().await?;
        parse_ack(&reply)
    }

    async fn read_frame(&mut self) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == [0x1C, 0x0D]) {
                let start = self.buffer.iter().position(|b| *b == 0x0B).map_or(0, |p| p + 1);
                let frame = self.buffer.get(start..end).unwrap_or_default().to_vec();
                self.buffer.drain(..end + 2);
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.context("reading the ACK")?;
            if n == 0 {
                bail!("the listener closed the connection before acknowledging");
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// MSA-1..3 of an ACK message.
pub fn parse_ack(frame: &[u8]) -> anyhow::Result<AckReply> {
    let text = String::from_utf8_lossy(frame);
    let msa = text
        .split(['\r', '\n'])
        .find(|s| s.starts_with("MSA|"))
        .with_context(|| format!("no MSA segment in the reply: {text:?}"))?;
    let fields: Vec<&str> = msa.split('|').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_owned();
    Ok(AckReply { code: field(1), control_id: field(2), text: field(3) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_fields_the_listener_reads() {
        let m = AdtMessage {
            trigger: "A02".into(),
            control_id: "C1".into(),
            patient_id: "P1".into(),
            encounter_id: "V1".into(),
            location: ("ICU".into(), "1".into(), "B".into()),
            prior: Some(("ICU".into(), "1".into(), "A".into())),
            event_time: DateTime::from_timestamp(1_795_305_600, 0).unwrap(),
        };
        let text = m.to_hl7();
        let segments: Vec<&str> = text.split('\r').collect();
        assert!(segments[0].contains("|ADT^A02^ADT_A01|C1|P|2.5"));
        assert_eq!(segments[1], "EVN||20261122000000+0000|||SIM^Feed|20261122000000+0000");
        assert_eq!(segments[2].split('|').nth(3), Some("P1^^^SIM-HOSP^MR"));
        let pv1: Vec<&str> = segments[3].split('|').collect();
        assert_eq!((pv1[3], pv1[6], pv1[19]), ("ICU^1^B^WARDSTREAM-SIM", "ICU^1^A^WARDSTREAM-SIM", "V1^^^SIM-HOSP^VN"));
        let ack = parse_ack(b"MSH|^~\\&|A|B|C|D|x||ACK^A02^ACK|9|P|2.5\rMSA|AE|C1|unknown bed\r").unwrap();
        assert_eq!(ack, AckReply { code: "AE".into(), control_id: "C1".into(), text: "unknown bed".into() });
    }
}
