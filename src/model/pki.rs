//! PEM and X.509 validation of operator input: CA bundles, private keys, certificate chains,
//! and the attributes the API derives from them. Pure functions; no rustls, no I/O.
