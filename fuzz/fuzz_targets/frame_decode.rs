//! Fuzz target: arbitrary bytes as an STT packet through every decoder of the codec.
//!
//! The invariants live in `stt_testkit::frame_decode`, shared with the corpus
//! replay test (`tests/tests/fuzz_corpus.rs`) so stable CI checks the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stt_testkit::frame_decode(data);
});
