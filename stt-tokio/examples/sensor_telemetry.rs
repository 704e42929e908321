//! Sensor telemetry to a named endpoint.
//!
//! A collector serves the endpoint "sensor.telemetry" with a queue of 8 readings and
//! reads it slowly. A sensor sends 40 readings with `route_wait`, which waits for room
//! when the queue is full (nothing is dropped), then tries `route` (which refuses with
//! `QueueFull` instead of waiting) and an unknown endpoint name.
//!
//! Run: `cargo run -p stt-tokio --example sensor_telemetry`

use std::time::Duration;

use stt_tokio::{Identity, NetworkKey, Node, RouteError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = NetworkKey::from_shared_seed(b"example network seed of 32 bytes")?;
    let collector = Node::builder(Identity::from_node_seed(&[1; 32])?, network.clone())
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    let sensor = Node::builder(Identity::from_node_seed(&[2; 32])?, network)
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;

    let mut telemetry = collector.endpoint_with_capacity("sensor.telemetry", 8)?;
    let collect = tokio::spawn(async move {
        let mut sum = 0.0;
        for n in 0..40 {
            let m = telemetry.recv().await.ok_or("collector stopped")?;
            let celsius: f64 = std::str::from_utf8(&m.payload)?.parse()?;
            sum += celsius;
            if n % 10 == 9 {
                println!(
                    "collector: {} readings, mean {:.2} °C",
                    n + 1,
                    sum / (n + 1) as f64
                );
            }
            // A slow consumer: the sensor meets a full queue and waits.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(telemetry)
    });

    let session = sensor.connect(collector.udp_addrs()[0]).await?;
    println!(
        "sensor: collector serves sensor.telemetry: {}",
        session.resolve("sensor.telemetry").await?
    );
    for n in 0..40 {
        let reading = format!("{:.2}", 20.0 + (n as f64 / 7.0).sin());
        session.route_wait("sensor.telemetry", reading).await?;
    }
    let telemetry = collect.await?.map_err(|e| e.to_string())?;
    // With nobody reading, `route` reports the full queue instead of waiting.
    let mut refused = 0;
    for _ in 0..10 {
        if let Err(RouteError::QueueFull) = session.route("sensor.telemetry", "21.00").await {
            refused += 1;
        }
    }
    println!("sensor: queue of 8 full, {refused} of 10 readings refused with QueueFull");
    assert_eq!(refused, 2);
    match session.route("sensor.humidity", "40%").await {
        Err(RouteError::NotFound) => println!("sensor: sensor.humidity is not served"),
        other => return Err(format!("unexpected {other:?}").into()),
    }
    drop(telemetry);
    sensor.shutdown(0, b"done", Duration::from_secs(1)).await;
    collector.shutdown(0, b"done", Duration::from_secs(1)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().expect("example runs");
    }
}
