//! Handshake (stub).
