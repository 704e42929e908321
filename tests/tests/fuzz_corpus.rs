//! Replays every fuzz target's checked-in corpus through the target's function, so CI
//! on stable Rust exercises the fuzz invariants without libFuzzer; and keeps the seed
//! corpora in step with their sources: the golden examples of docs/PROTOCOL.md for
//! `frame_decode`, `stt_testkit::storage_read_seeds` for `storage_read`. The engine targets'
//! corpora are inputs the fuzzer found (minimized with `cargo fuzz cmin`) plus crash
//! regressions (`regression-*`); a few pseudo-random inputs run through each as well.
//!
//! Regenerate the seed files after changing the spec or the edge cases below with
//! `STT_BLESS=1 cargo test -p stt-tests --test fuzz_corpus`.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use stt_proto::frame::{
    AckFrame, AckRange, DataFrame, Flags, Frame, HEADER_LEN, Header, MAX_ACK_RANGES, PacketType,
    SessionId, StreamId,
};
use stt_tests::{corpus, corpus_dir, golden_vectors};

fn header(packet_type: PacketType, flags: u8) -> Vec<u8> {
    let mut h = Header {
        packet_type,
        session_id: SessionId(0x0123_4567_89ab_cdef),
        stream_id: StreamId(4),
        sequence: 1,
        flags: Flags::new(false),
    }
    .to_bytes();
    h[HEADER_LEN - 1] = flags;
    h.to_vec()
}

fn data_packet(frames: &[u8]) -> Vec<u8> {
    let mut p = header(PacketType::Data, 0x01);
    p.extend_from_slice(frames);
    p
}

fn encode(frame: &Frame<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; frame.encoded_len().unwrap()];
    frame.encode(&mut buf).unwrap();
    buf
}

/// Hand-made edge cases: limits, each decode error, and a few non-canonical encodings.
fn edge_cases() -> Vec<(&'static str, Vec<u8>)> {
    let golden: BTreeMap<_, _> = golden_vectors().into_iter().collect();
    let mut init_v2 = golden["packet-init"].clone();
    init_v2[HEADER_LEN - 1] = 0x02;
    let mut bad_magic = golden["header"].clone();
    bad_magic[1] = 0x55;
    let mut unknown_type = golden["header"].clone();
    unknown_type[2] = 0x08;
    let payload_1400 = vec![0x5a; 1400];
    let data_1400 = encode(&Frame::Data(DataFrame {
        offset: 1 << 20,
        fin: false,
        data: &payload_1400,
    }));
    // 64 ranges, every other packet number below 256: the most an ACK may carry.
    let ranges: Vec<AckRange> = (0..MAX_ACK_RANGES as u64)
        .map(|i| {
            let n = 254 - 2 * i;
            AckRange {
                smallest: n,
                largest: n,
            }
        })
        .collect();
    let ack_max = encode(&Frame::Ack(AckFrame::new(1000, &ranges).unwrap()));
    let mut ack_too_many = ack_max.clone();
    // Range count sits after type, largest (2 bytes) and delay (2 bytes).
    assert_eq!(ack_too_many[5], (MAX_ACK_RANGES - 1) as u8);
    ack_too_many[5] = MAX_ACK_RANGES as u8;
    let mut short_init = golden["packet-init"].clone();
    short_init.pop();
    let mut long_cookie = golden["packet-cookie"].clone();
    long_cookie.push(0);
    let mut long_reset = golden["packet-reset"].clone();
    long_reset.push(0);
    let mut disconnect_257 = vec![0x15, 0x00, 0x41, 0x01];
    disconnect_257.extend(std::iter::repeat_n(b'x', 257));
    let mut confirm = header(PacketType::Confirm, 0x01);
    confirm.extend_from_slice(&[0x13, 0x00, 0x00, 0x00, 0x00, 0x14]);
    vec![
        ("edge-empty", vec![]),
        (
            "edge-header-19-bytes",
            golden["header"][..HEADER_LEN - 1].to_vec(),
        ),
        ("edge-bad-magic", bad_magic),
        ("edge-unknown-packet-type", unknown_type),
        ("edge-init-version-2", init_v2),
        ("edge-reserved-flag-bits", header(PacketType::Data, 0x09)),
        ("edge-confirm-ack-keepalive", confirm),
        ("edge-data-1400", data_packet(&data_1400)),
        ("edge-padding-1436", data_packet(&[0; 1436])),
        ("edge-ack-64-ranges", data_packet(&ack_max)),
        ("edge-ack-65-ranges", data_packet(&ack_too_many)),
        (
            "edge-ack-first-range-underflow",
            data_packet(&[0x13, 0x03, 0x00, 0x00, 0x04]),
        ),
        (
            "edge-ack-gap-underflow",
            data_packet(&[0x13, 0x05, 0x00, 0x01, 0x01, 0x02, 0x00]),
        ),
        (
            "edge-data-length-overflow",
            data_packet(&[0x10, 0x00, 0x00, 0x44, 0x00, 0xab]),
        ),
        (
            "edge-data-reserved-flag",
            data_packet(&[0x10, 0x02, 0x00, 0x00]),
        ),
        (
            "edge-data-end-past-2-62",
            data_packet(&[
                0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
            ]),
        ),
        (
            "edge-max-data-nonminimal-varint",
            data_packet(&[0x30, 0xc0, 0, 0, 0, 0, 0, 0, 0x01]),
        ),
        ("edge-varint-truncated", data_packet(&[0x30, 0x80, 0x01])),
        ("edge-unknown-frame-0x7f", data_packet(&[0x7f])),
        ("edge-storage-get-truncated", data_packet(&[0x60, 0x00])),
        ("edge-reserved-storage-0x64", data_packet(&[0x64, 0x00])),
        (
            "edge-storage-data-past-total",
            data_packet(&[0x61, 0x00, 0x04, 0x03, 0x02, 0xaa, 0xbb]),
        ),
        (
            "edge-stream-open-stream-0",
            data_packet(&[0x11, 0x00, 0x00, 0x00]),
        ),
        (
            "edge-stream-open-stream-3",
            data_packet(&[0x11, 0x03, 0x00, 0x00]),
        ),
        ("edge-disconnect-reason-257", data_packet(&disconnect_257)),
        ("edge-custom-0xff-empty", data_packet(&[0xff, 0x00, 0x00])),
        ("edge-custom-0x80-no-length", data_packet(&[0x80, 0x00])),
        ("edge-register-action-2", data_packet(&[0x20, 0x02])),
        ("edge-resolve-kind-3", data_packet(&[0x21, 0x00, 0x03])),
        (
            "edge-max-streams-2-30",
            data_packet(&[0x32, 0xc0, 0, 0, 0, 0x40, 0, 0, 0]),
        ),
        ("edge-init-body-63", short_init),
        ("edge-cookie-body-57", long_cookie),
        ("edge-reset-body-17", long_reset),
        {
            let mut v = header(PacketType::Version, 0x01);
            v.extend_from_slice(&[1; 9]);
            ("edge-version-9-entries", v)
        },
        {
            let mut v = header(PacketType::Version, 0x01);
            v.push(0);
            ("edge-version-zero", v)
        },
    ]
}

/// Every seed file the corpus must hold: each golden example as a full packet (frames
/// behind a DATA header for stream 4), then the edge cases.
fn seed_files() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (name, bytes) in golden_vectors() {
        let packet = if name.starts_with("frame-") || name.starts_with("payload-") {
            data_packet(&bytes)
        } else {
            bytes
        };
        files.insert(format!("golden-{name}"), packet);
    }
    for (name, bytes) in edge_cases() {
        files.insert(name.to_string(), bytes);
    }
    files
}

/// Checks that every generated seed of `target` is on disk byte for byte
/// (`STT_BLESS=1` writes them first).
fn check_seeds(target: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = corpus_dir(target);
    if std::env::var_os("STT_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let on_disk: BTreeMap<String, Vec<u8>> = corpus(target).into_iter().collect();
    for (name, bytes) in seeds {
        assert_eq!(
            on_disk.get(name),
            Some(bytes),
            "seed {name} missing or stale; run STT_BLESS=1 cargo test -p stt-tests --test fuzz_corpus"
        );
    }
}

#[test]
fn seed_corpus_matches_the_spec_and_edge_cases() {
    let seeds: Vec<(String, Vec<u8>)> = seed_files().into_iter().collect();
    check_seeds("frame_decode", &seeds);
}

#[test]
fn frame_decode_corpus_replays_without_failure() {
    let files = corpus("frame_decode");
    assert!(files.len() >= 30, "corpus has only {} files", files.len());
    let mut failed = Vec::new();
    for (name, bytes) in &files {
        let outcome = catch_unwind(AssertUnwindSafe(|| stt_testkit::frame_decode(bytes)));
        if outcome.is_err() {
            failed.push(name.clone());
        }
    }
    assert!(failed.is_empty(), "frame_decode failed on {failed:?}");
    println!("replayed {} corpus files through frame_decode", files.len());
}

/// Runs every corpus file of `target` through `f`, then `random` pseudo-random inputs;
/// fails naming every input that panicked.
fn replay(target: &str, min_files: usize, random: usize, f: impl Fn(&[u8])) {
    let files = corpus(target);
    let mut failed = Vec::new();
    for (name, bytes) in &files {
        if catch_unwind(AssertUnwindSafe(|| f(bytes))).is_err() {
            failed.push(name.clone());
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..random {
        let len = 64 + (i * 97) % 2048;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            failed.push(format!("random input {i}"));
        }
    }
    assert!(failed.is_empty(), "{target} failed on {failed:?}");
    assert!(
        files.len() >= min_files,
        "corpus {target} has only {} files",
        files.len()
    );
    println!(
        "replayed {} corpus files and {random} random inputs through {target}",
        files.len()
    );
}

#[test]
fn handshake_responder_corpus_replays_without_failure() {
    replay(
        "handshake_responder",
        10,
        20,
        stt_testkit::handshake_responder,
    );
}

#[test]
fn handshake_initiator_corpus_replays_without_failure() {
    replay(
        "handshake_initiator",
        10,
        20,
        stt_testkit::handshake_initiator,
    );
}

#[test]
fn session_established_corpus_replays_without_failure() {
    let pair = stt_testkit::EstablishedPair::new();
    replay("session_established", 10, 20, |data| {
        stt_testkit::session_established(&pair, data)
    });
}

#[test]
fn rendezvous_relay_corpus_replays_without_failure() {
    let world = stt_testkit::RelayWorld::new();
    replay("rendezvous_relay", 10, 20, |data| {
        stt_testkit::rendezvous_relay(&world, data)
    });
}

#[test]
fn stream_reassembly_corpus_replays_without_failure() {
    replay("stream_reassembly", 10, 50, stt_testkit::stream_reassembly);
}

#[test]
fn storage_read_seeds_are_checked_in() {
    check_seeds("storage_read", &stt_testkit::storage_read_seeds());
}

#[test]
fn storage_read_corpus_replays_without_failure() {
    replay("storage_read", 30, 50, stt_testkit::storage_read);
}
