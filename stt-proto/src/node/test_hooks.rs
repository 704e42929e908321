//! Test-only session access for the fuzz targets and the attack suite (`test-hooks`
//! feature). Never compiled into a normal build; the protocol never calls it.

use crate::frame::StreamId;
use crate::session::FlowAudit;
use crate::time::Instant;

use super::SessionRef;

impl SessionRef<'_> {
    /// Seals `frames` (raw frame bytes, not checked: they may break every rule) as this
    /// session's next protected packet to the peer, with `stream_id` in the header.
    /// Returns the datagram's length in `buf`; the caller delivers it. `None` if the
    /// session is not established or `buf` is too small.
    pub fn seal_raw_frames(
        &mut self,
        now: Instant,
        stream_id: StreamId,
        frames: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        let len = self.session().seal_raw(now, stream_id, frames, buf);
        self.done(now, len)
    }

    /// This side's receive-side flow-control counters ([`FlowAudit`]); `None` before
    /// the handshake completes.
    pub fn flow_audit(&mut self) -> Option<FlowAudit> {
        self.session().flow_audit()
    }
}
