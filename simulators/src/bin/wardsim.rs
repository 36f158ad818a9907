//! `wardsim`: wardstream's device simulators from the command line.
//!
//! `wardsim serial --port PATH [--rate HZ] [--count N] [--faults LIST] [--baud B] [--sn SN]
//! [--start "YYYY-MM-DD HH:MM:SS"] [--frame K]` runs a Masimo pulse oximeter writing "ASCII 1"
//! lines to a serial port or pty (MIMIC-II SpO2 and pulse), stops after `--count` lines or on
//! Ctrl-C, and prints its report as one JSON object: what was written and what a correct
//! receiver must count.
//!
//! `wardsim modbus (--listen HOST:PORT | --rtu PATH [--baud B]) [--exception-every N]
//! [--exception-code C] [--delay-ms MS] [--silent-unit U]...` runs the Modbus slave of
//! `wardstream_simulators::modbus` (a blood fridge as unit 1, an incubator as unit 2) over TCP or
//! RTU, with those faults on every unit (silence on the units named), prints one line
//! `listening on ADDR` (the bound address, so port 0 works; the port path for RTU) once it
//! answers, and runs until Ctrl-C or a listener or port error.
//!
//! `wardsim pcd01 (--tcp HOST:PORT | --serial PATH [--baud B]) [--file PATH]... [--count N]
//! [--device EUI64] [--garbage-every N]` is a PCD-01 gateway (`wardstream_simulators::pcd01`): it sends each file's
//! ORU^R01, then `--count` generated ones (heart rate and SpO2 of `--device`, one second apart, the
//! last one now), in
//! MLLP frames, waiting for each ACK; it prints one JSON line per message (`control_id`, `code`,
//! `acked_control_id`) and exits non-zero unless every ACK is `AA` for its message.

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use clap::{Parser, Subcommand};
use wardstream_simulators::modbus::{self, SlaveConfig, SlaveTransport, UnitConfig};
use wardstream_simulators::oximeter::{Faults, OximeterConfig, OximeterReport, ScriptConfig, run_oximeter};

#[derive(Debug, Parser)]
#[command(name = "wardsim", about = "wardstream's device simulators")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A Masimo pulse oximeter writing ASCII 1 lines to a serial port or pseudo-terminal.
    Serial {
        /// The port to write to (e.g. one end of `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`).
        #[arg(long)]
        port: String,
        /// Lines per second (a real device: 1). The device clock advances 1 s per line anyway.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Stop after this many lines (default: run until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
        /// Faults, each every N-th line: garbage:N, half:N, drop:N, exc:N, dashes:N (comma-separated).
        #[arg(long, default_value = "none", value_parser = parse_faults)]
        faults: Faults,
        /// Line speed in baud (8N1).
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        /// The serial number written in SN= (default: dashes, as a device without one).
        #[arg(long)]
        sn: Option<String>,
        /// The device's local time of the first line, "YYYY-MM-DD HH:MM:SS" (default: now, local).
        #[arg(long, value_parser = parse_start)]
        start: Option<NaiveDateTime>,
        /// The first MIMIC-II frame replayed (one frame per line, wrapping at the end).
        #[arg(long, default_value_t = 0)]
        frame: usize,
    },
    /// A PCD-01 gateway: ORU^R01 in MLLP frames over TCP or a serial line, waiting for each ACK.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["tcp", "serial"])))]
    Pcd01 {
        /// wardstream's PCD-01 listener, `HOST:PORT`.
        #[arg(long)]
        tcp: Option<String>,
        /// A serial port or pseudo-terminal (8N1) of a `codec = "pcd01-mllp"` port.
        #[arg(long)]
        serial: Option<String>,
        /// Serial line speed in baud.
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// An HL7 file to send (repeatable), before the generated messages.
        #[arg(long)]
        file: Vec<std::path::PathBuf>,
        /// Generated messages to send after the files.
        #[arg(long, default_value_t = 0)]
        count: u64,
        /// EUI-64 of the generated messages' monitor (MSH-3).
        #[arg(long, default_value = "0A0B0C0D0E0F1011")]
        device: String,
        /// Fault injection: line noise outside any frame before every N-th message (0: none).
        #[arg(long, default_value_t = 0)]
        garbage_every: u64,
        /// Longest wait for one ACK, seconds.
        #[arg(long, default_value_t = 30)]
        ack_timeout: u64,
    },
    /// A Modbus slave: a blood fridge (unit 1) and an incubator (unit 2), over TCP or RTU.
    #[command(group(clap::ArgGroup::new("transport").required(true).args(["listen", "rtu"])))]
    Modbus {
        /// Modbus TCP on this address (`127.0.0.1:0` picks a free port).
        #[arg(long)]
        listen: Option<String>,
        /// Modbus RTU on this serial port or pseudo-terminal (8N1).
        #[arg(long)]
        rtu: Option<String>,
        /// RTU line speed in baud (default 9600).
        #[arg(long, conflicts_with = "listen")]
        baud: Option<u32>,
        /// Answer every N-th request of each unit with an exception (0: never).
        #[arg(long, default_value_t = 0)]
        exception_every: u32,
        /// The exception code sent then (0 means 0x04, server device failure).
        #[arg(long, default_value_t = 0)]
        exception_code: u8,
        /// Delay every answer by this many milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Never answer for this unit (repeatable).
        #[arg(long)]
        silent_unit: Vec<u8>,
    },
}

/// The transport and units of `wardsim modbus`: the ward pair with `faults` on every unit and
/// `silent` units that never answer. Errors name a silent unit the slave does not serve.
fn slave_config(transport: SlaveTransport, faults: modbus::Faults, silent: &[u8]) -> Result<SlaveConfig, String> {
    let mut units = UnitConfig::ward_pair();
    if let Some(unknown) = silent.iter().find(|id| !units.iter().any(|u| u.unit_id == **id)) {
        return Err(format!("--silent-unit {unknown}: the slave serves unit 1 (blood fridge) and 2 (incubator)"));
    }
    for unit in &mut units {
        unit.faults = modbus::Faults { silent: silent.contains(&unit.unit_id), ..faults };
    }
    Ok(SlaveConfig { transport, units })
}

fn parse_faults(s: &str) -> Result<Faults, String> {
    s.parse()
}

fn parse_start(s: &str) -> Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| format!("{s:?}: {e} (expected YYYY-MM-DD HH:MM:SS)"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Pcd01 { tcp, serial, baud, file, count, device, ack_timeout, garbage_every } => {
            use wardstream_simulators::pcd01;
            let mut messages = file.iter().map(|f| pcd01::message_from_file(f)).collect::<Result<Vec<_>>>()?;
            let now = chrono::Utc::now();
            // One second apart, the last one now (whole seconds: HL7 times here are to the second).
            let now = now - chrono::TimeDelta::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)));
            messages.extend((1..=count).map(|k| {
                let back = i64::try_from(count - k).unwrap_or(i64::MAX).min(86_400);
                pcd01::generated_message(&device, k, now - chrono::TimeDelta::seconds(back))
            }));
            let timeout = std::time::Duration::from_secs(ack_timeout.max(1));
            let acks = match (tcp, serial) {
                (Some(address), _) => {
                    let mut stream = tokio::net::TcpStream::connect(&address)
                        .await
                        .with_context(|| format!("connecting to {address}"))?;
                    pcd01::send_all_with_garbage(&mut stream, &messages, timeout, garbage_every).await?
                }
                (None, Some(path)) => {
                    use tokio_serial::SerialPortBuilderExt;
                    let mut port = tokio_serial::new(&path, baud)
                        .open_native_async()
                        .with_context(|| format!("opening {path}"))?;
                    pcd01::send_all_with_garbage(&mut port, &messages, timeout, garbage_every).await?
                }
                (None, None) => anyhow::bail!("--tcp or --serial is required"),
            };
            for ack in &acks {
                println!("{}", serde_json::to_string(ack)?);
            }
            let bad = acks.iter().filter(|a| a.code != "AA" || a.acked_control_id != a.control_id).count();
            anyhow::ensure!(bad == 0, "{bad} of {} messages not accepted", acks.len());
            Ok(())
        }
        Command::Serial { port, rate, count, faults, baud, sn, start, frame } => {
            let start = start.unwrap_or_else(|| {
                let now = chrono::Local::now().naive_local();
                now - chrono::TimeDelta::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)))
            });
            let script = ScriptConfig { start, serial_number: sn, start_frame: frame, count, faults };
            let config = OximeterConfig { port, baud_rate: baud, rate_hz: rate, script };
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            let mut run = tokio::spawn(run_oximeter(config, stop));
            let joined = tokio::select! {
                joined = &mut run => joined,
                _ = tokio::signal::ctrl_c() => {
                    let _ = stop_tx.send(true);
                    run.await
                }
            };
            let report = joined.context("the simulator task failed")??;
            println!("{}", report_json(&report));
            Ok(())
        }
        Command::Modbus { listen, rtu, baud, exception_every, exception_code, delay_ms, silent_unit } => {
            let (transport, shown) = match (listen, rtu) {
                (Some(listen), _) => (SlaveTransport::Tcp { listen }, None),
                (None, Some(path)) => {
                    (SlaveTransport::Rtu { path: path.clone(), baud: baud.unwrap_or(9600) }, Some(path))
                }
                (None, None) => anyhow::bail!("give --listen HOST:PORT or --rtu PATH"),
            };
            let faults = modbus::Faults { exception_every, exception_code, delay_ms, silent: false };
            let config = slave_config(transport, faults, &silent_unit).map_err(anyhow::Error::msg)?;
            let slave = modbus::spawn_slave(config).await.context("cannot start the Modbus slave")?;
            let addr = shown.or_else(|| slave.local_addr().map(|a| a.to_string())).unwrap_or_default();
            println!("listening on {addr}");
            tokio::select! {
                ended = slave.join() => ended.context("the Modbus slave failed"),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}

fn report_json(r: &OximeterReport) -> serde_json::Value {
    serde_json::json!({
        "lines": r.lines,
        "bytes_written": r.bytes_written,
        "intact_lines": r.intact_lines,
        "malformed_lines": r.malformed_lines,
        "readings": r.readings,
        "questionable_readings": r.questionable_readings,
        "no_value_lines": r.no_value_lines,
        "faults": { "garbage": r.garbage, "half": r.half, "drop": r.dropped, "exc": r.exc, "dashes": r.dashes },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modbus_flags_become_the_faults_of_every_unit_and_silence_only_the_named_ones() {
        let cli = Cli::try_parse_from([
            "wardsim",
            "modbus",
            "--listen",
            "127.0.0.1:0",
            "--exception-every",
            "4",
            "--exception-code",
            "11",
            "--delay-ms",
            "30",
            "--silent-unit",
            "2",
        ])
        .unwrap();
        let Command::Modbus { listen, rtu, exception_every, exception_code, delay_ms, silent_unit, .. } = cli.command
        else {
            panic!("not the modbus command")
        };
        assert_eq!((listen.as_deref(), rtu), (Some("127.0.0.1:0"), None));
        let faults = modbus::Faults { exception_every, exception_code, delay_ms, silent: false };
        let tcp = SlaveTransport::Tcp { listen: "127.0.0.1:0".into() };
        let config = slave_config(tcp, faults, &silent_unit).unwrap();
        let units: Vec<(u8, modbus::Faults)> = config.units.iter().map(|u| (u.unit_id, u.faults)).collect();
        let expected = modbus::Faults { exception_every: 4, exception_code: 0x0B, delay_ms: 30, silent: false };
        assert_eq!(units, [(1, expected), (2, modbus::Faults { silent: true, ..expected })]);
    }

    #[test]
    fn modbus_needs_exactly_one_transport_and_refuses_a_unit_it_does_not_serve() {
        let parse = |args: &[&str]| Cli::try_parse_from(["wardsim", "modbus"].iter().chain(args)).map(|_| ());
        assert!(parse(&[]).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--rtu", "/dev/ttyUSB0"]).is_err());
        assert!(parse(&["--listen", "127.0.0.1:0", "--baud", "19200"]).is_err(), "--baud is for RTU");
        assert!(parse(&["--rtu", "/dev/ttyUSB0", "--baud", "19200"]).is_ok());
        let rtu = SlaveTransport::Rtu { path: "/dev/ttyUSB0".into(), baud: 9600 };
        assert_eq!(
            slave_config(rtu, modbus::Faults::default(), &[2, 7]).unwrap_err(),
            "--silent-unit 7: the slave serves unit 1 (blood fridge) and 2 (incubator)"
        );
    }
}
