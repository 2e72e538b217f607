//! The immutable data-plane snapshot: everything a connection reads, built once and swapped whole.

pub mod lookup;
