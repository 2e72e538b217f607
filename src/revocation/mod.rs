//! Revocation lists that keep themselves current: a task that fetches each list with a `url`
//! before its nextUpdate (and at least every `[revocation] refresh`) and hands what it got to
//! control, which validates it like an upload and swaps it in through the normal publish path.
//! It also reports lists going stale. It never writes the store itself.

pub mod fetch;
pub mod refresher;
