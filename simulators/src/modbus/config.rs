//! [`SlaveConfig`]: what a simulated Modbus slave serves (TCP or RTU, which units, which device
//! model each unit is) and the faults it injects ([`Faults`], adjustable at run time through
//! [`FaultControl`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64};

use serde::Deserialize;

/// A simulated slave: where it listens and the units behind it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaveConfig {
    /// TCP listener or serial port.
    pub transport: SlaveTransport,
    /// The units (slave ids) it answers for; requests to other units get no answer on RTU and
    /// the gateway exception 0x0B on TCP.
    pub units: Vec<UnitConfig>,
}

impl SlaveConfig {
    /// A TCP slave on `listen` (`127.0.0.1:0` picks a free port) with a blood fridge as unit 1
    /// and an incubator as unit 2.
    pub fn tcp(listen: &str) -> SlaveConfig {
        SlaveConfig { transport: SlaveTransport::Tcp { listen: listen.to_owned() }, units: UnitConfig::ward_pair() }
    }

    /// An RTU slave on the serial port or pty at `path`, 9600 baud, with the same two units.
    pub fn rtu(path: &str) -> SlaveConfig {
        SlaveConfig {
            transport: SlaveTransport::Rtu { path: path.to_owned(), baud: 9600 },
            units: UnitConfig::ward_pair(),
        }
    }
}

/// How the slave is reached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SlaveTransport {
    /// Modbus TCP on `listen` (`host:port`).
    Tcp {
        /// The address to listen on.
        listen: String,
    },
    /// Modbus RTU on a serial port or pseudo-terminal (8 data bits, no parity, 1 stop bit).
    Rtu {
        /// The port's path (one end of a `socat` pty pair in tests).
        path: String,
        /// Baud rate.
        baud: u32,
    },
}

/// One unit of the slave.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Its unit (slave) id, 1-247.
    pub unit_id: u8,
    /// The device it simulates.
    pub kind: DeviceKind,
    /// Faults injected from the start.
    #[serde(default)]
    pub faults: Faults,
}

impl UnitConfig {
    /// A blood fridge as unit 1 and an incubator as unit 2, no faults.
    pub fn ward_pair() -> Vec<UnitConfig> {
        vec![
            UnitConfig { unit_id: 1, kind: DeviceKind::BloodFridge, faults: Faults::default() },
            UnitConfig { unit_id: 2, kind: DeviceKind::Incubator, faults: Faults::default() },
        ]
    }
}

/// The simulated device models (register maps in [`super::model`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A blood bank refrigerator: temperature around 4 °C that rises while the door is open.
    BloodFridge,
    /// A neonatal incubator: air temperature around 37 °C, relative humidity around 60 %, heater.
    Incubator,
}

/// Faults a unit injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer every n-th request with an exception instead of data (0: never).
    pub exception_every: u32,
    /// The exception code sent then (0 means 0x04, server device failure). Any byte is sent
    /// as is, gateway codes 0x0A/0x0B included.
    pub exception_code: u8,
    /// Delay every answer by this many ms (a slow slave; on RTU it holds the whole bus).
    pub delay_ms: u64,
    /// Never answer (a dead or unplugged slave).
    pub silent: bool,
}

/// A unit's faults, shared with the running slave and adjustable while it runs, and the count
/// of requests the unit received.
#[derive(Debug, Default)]
pub struct FaultControl {
    exception_every: AtomicU32,
    exception_code: AtomicU8,
    delay_ms: AtomicU64,
    silent: AtomicBool,
    requests: AtomicU64,
}

impl FaultControl {
    /// Controls starting with `faults`.
    pub fn new(faults: Faults) -> FaultControl {
        let control = FaultControl::default();
        control.set(faults);
        control
    }

    /// Replaces every fault setting.
    pub fn set(&self, faults: Faults) {
        self.exception_every.store(faults.exception_every, Relaxed);
        self.exception_code.store(faults.exception_code, Relaxed);
        self.delay_ms.store(faults.delay_ms, Relaxed);
        self.silent.store(faults.silent, Relaxed);
    }

    /// The settings now.
    pub fn get(&self) -> Faults {
        Faults {
            exception_every: self.exception_every.load(Relaxed),
            exception_code: self.exception_code.load(Relaxed),
            delay_ms: self.delay_ms.load(Relaxed),
            silent: self.silent.load(Relaxed),
        }
    }

    /// Stops (`true`) or resumes (`false`) answering.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Relaxed);
    }

    /// Requests received for this unit so far (answered or not).
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Counts a request; returns its 1-based number.
    pub(crate) fn count_request(&self) -> u64 {
        self.requests.fetch_add(1, Relaxed) + 1
    }
}
