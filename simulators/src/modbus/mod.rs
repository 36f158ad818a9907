//! A simulated Modbus slave (TCP, or RTU on a serial port or pty) built on rmodbus's server
//! side: a blood fridge and an incubator whose values move with time, with fault injection.
//!
//! - [`SlaveConfig`] (`config`): where it listens and which units it serves ([`UnitConfig`]:
//!   unit id, [`DeviceKind`], [`Faults`]: exceptions every n-th request, slow answers, silence).
//! - `model`: the register maps (documented there, and as wardstream Modbus models by
//!   [`DeviceKind::register_map_json`]) and the values as functions of time.
//! - [`spawn_slave`] starts it and returns a [`SlaveHandle`] (its TCP address, each unit's
//!   [`FaultControl`] to change faults while it runs, `stop`); [`run_slave`] runs it until it
//!   fails. Errors are `std::io::Error`s (bind, open the port, bad configuration).
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use wardstream_simulators::modbus::{SlaveConfig, spawn_slave};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let slave = spawn_slave(SlaveConfig::tcp("127.0.0.1:0")).await?;
//! let mut client = tokio::net::TcpStream::connect(slave.local_addr().unwrap()).await?;
//! // Read discrete input 0 (the door) of unit 1, the blood fridge: closed in the first minute.
//! client.write_all(&[0, 1, 0, 0, 0, 6, 1, 0x02, 0, 0, 0, 1]).await?;
//! let mut response = [0u8; 10];
//! client.read_exact(&mut response).await?;
//! assert_eq!(response, [0, 1, 0, 0, 0, 4, 1, 0x02, 1, 0]);
//! slave.faults(1).unwrap().set_silent(true); // unit 1 stops answering
//! slave.stop();
//! # Ok::<(), std::io::Error>(()) })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod config;
pub mod model;
mod server;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_serial::SerialPortBuilderExt;

pub use config::{DeviceKind, FaultControl, Faults, SlaveConfig, SlaveTransport, UnitConfig};

/// A running simulated slave. Dropping it (or [`SlaveHandle::stop`]) stops it.
#[derive(Debug)]
pub struct SlaveHandle {
    local_addr: Option<SocketAddr>,
    controls: Vec<(u8, Arc<FaultControl>)>,
    task: JoinHandle<io::Result<()>>,
}

impl SlaveHandle {
    /// The TCP address it listens on (`None` for RTU).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The fault controls of unit `unit_id`, if the slave serves it.
    pub fn faults(&self, unit_id: u8) -> Option<&FaultControl> {
        self.controls.iter().find(|(id, _)| *id == unit_id).map(|(_, c)| &**c)
    }

    /// Stops the slave (closing its listener or port and every connection).
    pub fn stop(self) {
        drop(self);
    }

    /// Waits until the slave fails (it runs until stopped otherwise).
    pub async fn join(mut self) -> io::Result<()> {
        (&mut self.task).await.map_err(io::Error::other)?
    }
}

impl Drop for SlaveHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a slave: binds the TCP listener or opens the serial port first (so that errors come
/// back here), then answers requests on a background task.
pub async fn spawn_slave(config: SlaveConfig) -> io::Result<SlaveHandle> {
    let mut ids = BTreeSet::new();
    if config.units.is_empty() || !config.units.iter().all(|u| (1..=247).contains(&u.unit_id) && ids.insert(u.unit_id))
    {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a slave needs units with distinct ids in 1-247"));
    }
    let (units, controls) = server::Units::new(&config.units);
    let units = Arc::new(Mutex::new(units));
    let (local_addr, task) = match &config.transport {
        SlaveTransport::Tcp { listen } => {
            let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
            (Some(listener.local_addr()?), tokio::spawn(server::serve_tcp(listener, units)))
        }
        SlaveTransport::Rtu { path, baud } => {
            let port = tokio_serial::new(path.as_str(), *baud).open_native_async().map_err(io::Error::from)?;
            (None, tokio::spawn(server::serve_rtu(port, units)))
        }
    };
    Ok(SlaveHandle { local_addr, controls, task })
}

/// Runs a slave until it fails (a listener or port error); it never returns otherwise. Run it
/// in a `select!` with a shutdown signal, or use [`spawn_slave`] to keep control of it.
pub async fn run_slave(config: SlaveConfig) -> io::Result<()> {
    spawn_slave(config).await?.join().await
}
