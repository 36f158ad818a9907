//! A PCD-01 gateway simulator: IHE PCD-01 device results (HL7 v2.6 ORU^R01) in MLLP frames, sent
//! to wardstream over TCP (its `[pcd01]` listener) or a serial line (a `[[serial]]` port with
//! `codec = "pcd01-mllp"`), one at a time, each followed by reading its ACK — what a device
//! gateway (or a monitor with an HL7 serial option) does.
//!
//! Messages are either files (the real IHE samples; line ends become `\r` segment separators) or
//! generated ([`generated_message`]: a monitor's heart rate and SpO2, MDC-coded, UCUM units, the
//! device's EUI-64 in MSH-3, times with a UTC offset). The MLLP client is written here, not taken
//! from `wardstream-protocols` (a peer must not share the code it tests).

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// MLLP start block.
const START: u8 = 0x0b;
/// MLLP end block and the carriage return after it.
const END: [u8; 2] = [0x1c, 0x0d];
/// The largest ACK read before giving up on the peer.
const MAX_ACK_BYTES: usize = 64 * 1024;

/// What the peer answered to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckSummary {
    /// MSH-10 of the message sent.
    pub control_id: String,
    /// MSA-1: `AA`, `AE` or `AR`.
    pub code: String,
    /// MSA-2: the control id the ACK names.
    pub acked_control_id: String,
}

/// A file's message with its line ends turned into HL7 segment separators.
pub fn message_from_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.replace("\r\n", "\r").replace('\n', "\r").trim_end_matches('\r').to_owned() + "\r")
}

/// ORU^R01 number `seq` of monitor `device` (an EUI-64, 16 hex digits) observed at `time`:
/// heart rate `60 + seq % 40` /min and SpO2 `90 + seq % 10` %.
pub fn generated_message(device: &str, seq: u64, time: DateTime<Utc>) -> String {
    let ts = time.format("%Y%m%d%H%M%S+0000");
    let hr = 60 + seq % 40;
    let spo2 = 90 + seq % 10;
    format!(
        "MSH|^~\\&|WARDSIM^{device}^EUI-64|WARDSIM|||{ts}||ORU^R01^ORU_R01|SIM-{device}-{seq}|P|2.6|||NE|AL||8859/1|||IHE PCD ORU-R01 2006^HL7^Universal ID^HL7\r\
         OBR|1|{device}-{seq}^WARDSIM||126.169.95.2^2000^MDC|||{ts}\r\
         OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.6.1.1|{hr}|/min^/min^UCUM|||||R|||{ts}\r\
         OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|{spo2}|%^%^UCUM|||||R|||{ts}\r"
    )
}

/// MSH-10 of `message`.
pub fn control_id(message: &str) -> String {
    message.split('\r').next().and_then(|msh| msh.split('|').nth(9)).unwrap_or_default().to_owned()
}

/// Line noise written between frames by fault injection: what a gateway's serial line picks up
/// (no MLLP block characters, so the receiver must skip exactly these bytes).
pub const GARBAGE: &[u8] = b"\x00\xffNOISE~~\r\n";

/// Sends each message in an MLLP frame and waits (at most `timeout`) for its ACK before the
/// next. Bytes before an ACK's start block are skipped.
pub async fn send_all<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    messages: &[String],
    timeout: Duration,
) -> anyhow::Result<Vec<AckSummary>> {
    send_all_with_garbage(stream, messages, timeout, 0).await
}

/// As [`send_all`], with fault injection: before every `garbage_every`-th message (0: never),
/// [`GARBAGE`] is written outside any frame.
pub async fn send_all_with_garbage<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    messages: &[String],
    timeout: Duration,
    garbage_every: u64,
) -> anyhow::Result<Vec<AckSummary>> {
    let mut summaries = Vec::with_capacity(messages.len());
    for (index, message) in (1_u64..).zip(messages) {
        if garbage_every > 0 && index % garbage_every == 0 {
            stream.write_all(GARBAGE).await.context("sending line noise")?;
        }
        let mut frame = Vec::with_capacity(message.len() + 3);
        frame.push(START);
        frame.extend_from_slice(message.as_bytes());
        frame.extend_from_slice(&END);
        stream.write_all(&frame).await.context("sending a message")?;
        stream.flush().await.context("sending a message")?;
        let ack = tokio::time::timeout(timeout, read_frame(stream))
            .await
            .with_context(|| format!("no ACK within {timeout:?} for {}", control_id(message)))??;
        let msa: Vec<&str> =
            ack.split('\r').find(|s| s.starts_with("MSA|")).map(|s| s.split('|').collect()).unwrap_or_default();
        summaries.push(AckSummary {
            control_id: control_id(message),
            code: msa.get(1).copied().unwrap_or_default().to_owned(),
            acked_control_id: msa.get(2).copied().unwrap_or_default().to_owned(),
        });
    }
    Ok(summaries)
}

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> anyhow::Result<String> {
    let mut got = Vec::new();
    let mut started = false;
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte).await.context("reading the ACK")? == 0 {
            bail!("the peer closed the connection before the ACK");
        }
        if !started {
            started = byte[0] == START;
            continue;
        }
        got.push(byte[0]);
        if got.ends_with(&END) {
            got.truncate(got.len() - END.len());
            return Ok(String::from_utf8_lossy(&got).into_owned());
        }
        if got.len() > MAX_ACK_BYTES {
            bail!("an ACK longer than {MAX_ACK_BYTES} bytes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_message_is_framed_and_its_ack_read_before_the_next() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let peer = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let frame = read_frame(&mut server).await.unwrap();
                let id = control_id(&frame);
                let ack = format!("\x0bMSH|^~\\&|||||x||ACK|A1|P|2.6\rMSA|AA|{id}\r\x1c\r");
                server.write_all(b"noise").await.unwrap();
                server.write_all(ack.as_bytes()).await.unwrap();
                seen.push(id);
            }
            seen
        });
        let time = DateTime::parse_from_rfc3339("2026-12-03T08:00:00Z").unwrap().with_timezone(&Utc);
        let messages =
            vec![generated_message("0A0B0C0D0E0F1011", 1, time), generated_message("0A0B0C0D0E0F1011", 2, time)];
        let acks = send_all(&mut client, &messages, Duration::from_secs(5)).await.unwrap();
        assert_eq!(peer.await.unwrap(), ["SIM-0A0B0C0D0E0F1011-1", "SIM-0A0B0C0D0E0F1011-2"]);
        assert_eq!(
            acks,
            [1, 2].map(|k| AckSummary {
                control_id: format!("SIM-0A0B0C0D0E0F1011-{k}"),
                code: "AA".into(),
                acked_control_id: format!("SIM-0A0B0C0D0E0F1011-{k}"),
            })
        );
        assert!(messages[0].contains("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.6.1.1|61|/min^/min^UCUM"));
        assert!(messages[0].contains("|20261203080000+0000"));
    }

    #[tokio::test]
    async fn garbage_goes_between_frames_before_every_nth_message() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let peer = tokio::spawn(async move {
            let mut raw = Vec::new();
            for _ in 0..4 {
                // Read up to the end of the next frame, keeping every byte.
                loop {
                    let mut byte = [0u8; 1];
                    server.read_exact(&mut byte).await.unwrap();
                    raw.push(byte[0]);
                    if raw.ends_with(&END) {
                        break;
                    }
                }
                let frame = String::from_utf8_lossy(&raw).into_owned();
                let start = frame.rfind('\x0b').unwrap();
                let id = control_id(&frame[start + 1..]);
                server
                    .write_all(format!("\x0bMSH|^~\\&|||||x||ACK|A1|P|2.6\rMSA|AA|{id}\r\x1c\r").as_bytes())
                    .await
                    .unwrap();
            }
            raw
        });
        let time = DateTime::parse_from_rfc3339("2026-12-03T08:00:00Z").unwrap().with_timezone(&Utc);
        let messages: Vec<String> = (1..=4).map(|k| generated_message("0A0B0C0D0E0F1011", k, time)).collect();
        let acks = send_all_with_garbage(&mut client, &messages, Duration::from_secs(5), 2).await.unwrap();
        assert!(acks.iter().all(|a| a.code == "AA" && a.acked_control_id == a.control_id));
        let raw = peer.await.unwrap();
        let framed: usize = messages.iter().map(|m| m.len() + 3).sum();
        assert_eq!(raw.len(), framed + 2 * GARBAGE.len());
        let second_frame_at = messages[0].len() + 3;
        assert_eq!(&raw[second_frame_at..second_frame_at + GARBAGE.len()], GARBAGE);
    }
}
