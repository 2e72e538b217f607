//! Control-plane tests.

mod revocation_lists;
