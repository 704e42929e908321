//! Fuzz target: `stt_testkit::rendezvous_relay` (see its docs for the steps and the
//! invariants): rendezvous frames and relay datagrams against a node serving as
//! rendezvous and relay and its two members. The three-node world is built once per
//! process and cloned for each input; `tests/tests/fuzz_corpus.rs` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stt_testkit::RelayWorld;

thread_local! {
    static WORLD: RelayWorld = RelayWorld::new();
}

fuzz_target!(|data: &[u8]| {
    WORLD.with(|world| stt_testkit::rendezvous_relay(world, data));
});
