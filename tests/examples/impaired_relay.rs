//! The tests' impairment relay as a command, for trying `stt` over a bad network by
//! hand and for `docs/slow-transfer.sh`: `cargo run --release -p stt-tests --example
//! impaired_relay -- SERVER:PORT [--loss P] [--delay-ms N] [--rebind-every N] [--seed S]`.
//! Prints the address to send to, then relays until killed. Both directions get the
//! same loss and delay.

use std::net::SocketAddr;
use std::time::Duration;

use stt_tests::relay::{Impairment, Relay, RelayConfig};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args
        .next()
        .ok_or("usage: impaired_relay SERVER:PORT [--loss P] [--delay-ms N] [--rebind-every N] [--seed S]")?
        .parse()
        .map_err(|e| format!("server address: {e}"))?;
    let mut imp = Impairment::default();
    let mut config = RelayConfig::default();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--loss" => imp.loss = value.parse().map_err(|e| bad(&e))?,
            "--delay-ms" => imp.delay = Duration::from_millis(value.parse().map_err(|e| bad(&e))?),
            "--rebind-every" => config.rebind_every = value.parse().map_err(|e| bad(&e))?,
            "--seed" => config.seed = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    config.up = imp;
    config.down = imp;
    let relay = Relay::start(server, config).map_err(|e| format!("relay: {e}"))?;
    println!("{}", relay.addr());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
