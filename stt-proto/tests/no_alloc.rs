//! Proves that decoding a full-size DATA packet does not touch the heap: a counting
//! global allocator wraps the system allocator and the decode runs between two reads of
//! this thread's counter. Owns only that proof; the codec itself is tested elsewhere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stt_proto::frame::{
    DataFrame, Flags, Frame, Frames, HEADER_LEN, Header, PacketType, SessionId, StreamId,
};

/// Forwards every call to [`System`] and counts allocations made by the current thread.
struct Counting;

thread_local! {
    // `const` initialisation and no destructor: reading it never allocates, so it is
    // safe to use from inside the allocator itself.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // try_with: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract, and returns System's result unchanged; the only addition is a
// thread-local counter update that neither allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same layout the caller gave us, which meets alloc's requirements.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as for alloc.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: ptr was allocated by System (every allocation goes through it) with
        // `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System with this layout, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn decoding_a_1400_byte_data_packet_does_not_allocate() {
    let header = Header {
        packet_type: PacketType::Data,
        session_id: SessionId(0x0123_4567_89ab_cdef),
        stream_id: StreamId(4),
        sequence: 7,
        flags: Flags::new(false),
    };
    let data = vec![0x5au8; 1400];
    let mut packet = vec![0u8; 1472];
    let n = header.encode(&mut packet).unwrap();
    let m = Frame::Data(DataFrame {
        offset: 0,
        fin: true,
        data: &data,
    })
    .encode(&mut packet[n..])
    .unwrap();
    packet.truncate(n + m);

    // The counter works: this allocation is seen.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(
        allocations(),
        before + 1,
        "counting allocator is not active"
    );

    let before = allocations();
    let decoded = Header::decode(&packet).unwrap();
    let mut payload_bytes = 0;
    let mut sum = 0u64;
    for frame in Frames::new(&packet[HEADER_LEN..]) {
        if let Frame::Data(d) = frame.unwrap() {
            payload_bytes += d.data.len();
            sum += d.data.iter().map(|&b| u64::from(b)).sum::<u64>();
            // Borrowed, not copied: the slice points into the packet buffer.
            assert!(packet.as_ptr_range().contains(&d.data.as_ptr()));
        }
    }
    let after = allocations();
    assert_eq!(decoded, header);
    assert_eq!(payload_bytes, 1400);
    assert_eq!(sum, 1400 * 0x5a);
    assert_eq!(
        after - before,
        0,
        "decode allocated {} times",
        after - before
    );
}
