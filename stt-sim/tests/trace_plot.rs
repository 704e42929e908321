//! A simulated transfer under 1% random loss, traced with metrics on, read back by
//! `stt-trace`: the SVG parses as SVG and holds every series and axis it promises, the
//! summary sees the losses, and the qlog export carries the fields qlog 0.3 requires of
//! a JSON-SEQ file (header: `qlog_version`, `qlog_format`, `trace` with
//! `vantage_point.type` and `common_fields`; events: numeric `time`, `category:event`
//! `name`, object `data`).

use std::cell::RefCell;
use std::rc::Rc;

use stt_sim::{run_scenario, scenarios};

#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lossy_trace() -> Vec<u8> {
    let s = scenarios::by_name("goodput-veno-1", 1).expect("scenario");
    let buf = Buf::default();
    let r = run_scenario(&s, 1, Some(Box::new(buf.clone())));
    assert!(r.passed(), "{}", r.failure_text());
    assert!(r.packets_lost > 0, "the run lost nothing: no loss to see");
    buf.0.take()
}

#[test]
fn svg_summary_and_qlog_from_a_lossy_simulated_transfer() {
    let text = lossy_trace();
    let trace = stt_trace::Trace::read(text.as_slice()).expect("trace reads");
    assert_eq!(trace.source.as_deref(), Some("stt-sim"));

    // Summary: the sender's session acked all 16 MiB and saw the losses.
    let rows = stt_trace::summary::summaries(&trace);
    let sender = rows
        .iter()
        .max_by_key(|r| r.bytes_acked)
        .expect("a measured session");
    assert_eq!(sender.bytes_acked, 16 << 20);
    assert!(sender.packets_lost > 0 && sender.congestion_events > 0);
    assert!(sender.bytes_resent > 0);
    assert!(sender.goodput > 0.0);

    // SVG: well-formed, an <svg> root, every promised series, axis and legend.
    let dir = std::env::temp_dir().join(format!("stt-trace-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg_path = dir.join("lossy.svg");
    stt_trace::plot::plot(&trace, None, &svg_path).expect("plot");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the plot parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect();
    for want in [
        "highest offset sent",
        "highest offset acked",
        "resent",
        "congestion window",
        "bytes in flight",
        "window cut (loss)",
        "latest RTT",
        "smoothed RTT",
        "min RTT",
        "time (s)",
        "stream offset (MiB)",
        "KiB",
        "RTT (ms)",
    ] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} in the SVG");
    }
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .is_some_and(|p| p.split(' ').count() > 100)
        })
        .count();
    assert!(lines >= 7, "only {lines} long series drawn");
    let _ = std::fs::remove_dir_all(&dir);

    // qlog JSON-SEQ: required fields on the header and on every event.
    let mut qlog = Vec::new();
    let n = stt_trace::qlog::convert(text.as_slice(), &mut qlog, "lossy").expect("qlog");
    let records: Vec<serde_json::Value> = qlog
        .split(|b| *b == stt_trace::qlog::RS)
        .filter(|r| !r.is_empty())
        .map(|r| serde_json::from_slice(r).expect("each record is JSON"))
        .collect();
    assert_eq!(records.len() as u64, n + 1);
    let header = &records[0];
    assert_eq!(header["qlog_format"], "JSON-SEQ");
    assert!(header["qlog_version"].is_string());
    assert!(header["trace"]["vantage_point"]["type"].is_string());
    assert!(header["trace"]["common_fields"]["time_format"].is_string());
    for e in &records[1..] {
        assert!(e["time"].is_number(), "{e}");
        assert!(e["name"].as_str().is_some_and(|n| n.contains(':')), "{e}");
        assert!(e["data"].is_object(), "{e}");
    }
    let named = |name: &str| records.iter().filter(|e| e["name"] == name).count();
    assert!(named("recovery:metrics_updated") > 100);
    assert!(named("recovery:packet_lost") > 0);
    assert!(records.iter().any(|e| {
        e["name"] == "recovery:metrics_updated"
            && e["data"]["congestion_window"]
                .as_u64()
                .is_some_and(|w| w > 0)
            && e["data"]["smoothed_rtt"].as_f64().is_some_and(|r| r > 0.0)
    }));
}

/// Metrics stay out of the run's hash: a traced run and an untraced one are the same run.
#[test]
fn tracing_with_metrics_does_not_change_the_run() {
    let s = scenarios::by_name("loss1", 3).expect("scenario");
    let plain = run_scenario(&s, 3, None);
    let traced = run_scenario(&s, 3, Some(Box::new(Buf::default())));
    assert_eq!(plain.trace_hash, traced.trace_hash);
    assert_eq!(plain.end_time, traced.end_time);
}
