//! Tests of the re-handshake's key mixing through [`PacketProtection`] (PROTOCOL.md
//! §6.7): the mixed phase opens at the peer, keys an observer derived without the DH do
//! not, (the vectors of PROTOCOL.md §11.3 are checked in `handshake::vectors`).

use super::rekey::RekeyMix;
use super::tests::{T, open, pair, seal};
use super::{PacketProtection, RecordError};

const E_I: [u8; 32] = [0x11; 32];
const E_R: [u8; 32] = [0x22; 32];
const DH: [u8; 32] = [0x33; 32];

/// Exchanges one packet each way, acknowledged, so a key update is allowed.
fn warm(a: &mut PacketProtection, b: &mut PacketProtection) {
    let p = seal(a, 0, b"a0");
    open(b, T, &p).unwrap();
    a.on_packet_acked(a.packets_sent() - 1);
    let p = seal(b, 0, b"b0");
    open(a, T, &p).unwrap();
    b.on_packet_acked(b.packets_sent() - 1);
}

#[test]
fn mixed_phase_opens_at_the_peer_and_not_with_the_plain_ratchet() {
    let (mut a, mut b) = pair();
    warm(&mut a, &mut b);
    // An observer who copied b's keys before the re-handshake.
    let mut spy = b.clone();
    a.begin_rekey();
    assert!(a.is_rekeying());
    assert_eq!(a.initiate_key_update(), Err(RecordError::KeyUpdateBlocked));
    let generation = b.rekey_generation();
    assert_eq!(generation, 1);
    b.install_rekey(RekeyMix::new(generation, &DH, &E_I, &E_R, false))
        .unwrap();
    // The answering side never starts the mixed update itself.
    assert!(!b.can_update_keys());
    a.install_rekey(RekeyMix::new(generation, &DH, &E_I, &E_R, true))
        .unwrap();
    // The next packet a seals starts the mixed phase on its own.
    let p = seal(&mut a, 0, b"after");
    assert_eq!(a.send_generation(), 1);
    assert_eq!(open(&mut b, T, &p).unwrap().1, b"after");
    assert_eq!((b.recv_generation(), b.send_generation()), (1, 1));
    assert_eq!(open(&mut spy, T, &p), Err(RecordError::Forged));
    // b's answer in the mixed phase opens at a; both have forgotten the DH.
    let r = seal(&mut b, 0, b"reply");
    assert_eq!(open(&mut a, T, &r).unwrap().1, b"reply");
    assert!(!a.is_rekeying() && !b.is_rekeying());
    // Later plain key updates keep working, and the spy stays locked out.
    a.on_packet_acked(a.packets_sent() - 1);
    a.initiate_key_update().unwrap();
    let p = seal(&mut a, 0, b"later");
    assert_eq!(open(&mut b, T, &p).unwrap().1, b"later");
    assert!(open(&mut spy, T, &p).is_err());
}

#[test]
fn a_mix_for_an_entered_or_far_phase_is_refused() {
    let (mut a, mut b) = pair();
    warm(&mut a, &mut b);
    a.initiate_key_update().unwrap();
    // a has entered phase 1: a mix for it (or one more than two ahead) is refused.
    for g in [0, 1, 4] {
        assert_eq!(
            a.install_rekey(RekeyMix::new(g, &DH, &E_I, &E_R, true)),
            Err(RecordError::RekeyGeneration(g))
        );
    }
    a.install_rekey(RekeyMix::new(3, &DH, &E_I, &E_R, true))
        .unwrap();
}
