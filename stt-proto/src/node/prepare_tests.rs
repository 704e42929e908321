//! `Node::prepare_idle`: ephemeral keys prepared while idle serve exactly one handshake,
//! and handshakes complete with or without them.

use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;

use super::test_pair::node;
use crate::event::Event;
use crate::frame::HEADER_LEN;
use crate::handshake::DH_LEN;
use crate::{Instant, Node, PathId};

/// Runs `a.connect` to `b` until `a` reports Connected; returns the INIT `a` sent.
fn handshake(a: &mut Node, b: &mut Node, now: Instant) -> Vec<u8> {
    a.connect(now, PathId(1)).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut init = None;
    for _ in 0..20 {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            init.get_or_insert_with(|| buf[..t.len].to_vec());
            b.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
        }
        while let Some(e) = a.poll_event() {
            if matches!(e, Event::Connected { .. }) {
                return init.unwrap();
            }
        }
    }
    panic!("no handshake")
}

#[test]
fn prepared_keys_are_used_once_and_refilled() {
    let (mut a, mut b) = (node(1), node(2));
    let now = Instant::from_micros(0);
    assert!(a.prepare_idle(), "nothing prepared yet");
    assert!(!a.prepare_idle(), "both keys ready: no work");
    assert!(b.prepare_idle());
    let first = handshake(&mut a, &mut b, now);
    // a's initiator key and b's responder key were consumed; each is refilled once.
    assert!(a.prepare_idle());
    assert!(!a.prepare_idle());
    assert!(b.prepare_idle());
    let second = handshake(&mut a, &mut b, now);
    let e = |p: &[u8]| p[HEADER_LEN..HEADER_LEN + DH_LEN].to_vec();
    assert_ne!(
        e(&first),
        e(&second),
        "an ephemeral key served two handshakes"
    );
    // Without prepare_idle, handshakes still complete (keys generated when they start).
    let third = handshake(&mut a, &mut b, now);
    assert_ne!(e(&third), e(&second));
    let fourth = handshake(&mut a, &mut b, now);
    assert_ne!(e(&third), e(&fourth));
}
