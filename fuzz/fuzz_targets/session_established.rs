//! Fuzz target: `stt_testkit::session_established` (see its docs for the steps
//! and the invariants). The established pair is built once per process and cloned for
//! each input. The corpus replay test (`tests/tests/fuzz_corpus.rs`) runs the same
//! function over the checked-in corpus on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stt_testkit::EstablishedPair;

thread_local! {
    static PAIR: EstablishedPair = EstablishedPair::new();
}

fuzz_target!(|data: &[u8]| {
    PAIR.with(|pair| stt_testkit::session_established(pair, data));
});
