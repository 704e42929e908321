//! Fuzz target: `stt_testkit::storage_read` (see its docs for the steps and the
//! invariants). The corpus replay test (`tests/tests/fuzz_corpus.rs`) runs the same
//! function over the checked-in corpus on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stt_testkit::storage_read(data);
});
