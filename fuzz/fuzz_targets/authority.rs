//! Host and `:authority` parsing: a request's authority (absolute-form target or HTTP/2
//! `:authority`, and the Host header) as the proxy reads it, then every host-name property
//! (host_properties.rs) on the result and on the raw strings, also as table entry names.

#![no_main]

mod host_properties;

use libfuzzer_sys::fuzz_target;
use mtls_proxy::proxy::authority::authority;
use mtls_proxy::snapshot::lookup::canonical_host;

fuzz_target!(|data: &[u8]| {
    // Layout: one byte = length of the request target, the target, then the Host header value.
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (target, host) = rest.split_at(usize::from(len).min(rest.len()));
    for raw in [target, host] {
        if let Ok(text) = std::str::from_utf8(raw) {
            host_properties::check(text);
            host_properties::check_entry_name(text);
        }
    }
    // What hyper hands the proxy: a parsed URI and a header value.
    let mut req = http::Request::builder();
    if let Ok(uri) = http::Uri::try_from(target) {
        req = req.uri(uri);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(host) {
        req = req.header(http::header::HOST, value);
    }
    let Ok(req) = req.body(()) else {
        return;
    };
    let (parts, ()) = req.into_parts();
    if let Ok(named) = authority(&parts) {
        let canonical = host_properties::check(&named);
        // When both the target and Host are present they name one host (or the request was
        // refused above).
        if let (Some(uri), Some(h)) = (parts.uri.authority(), parts.headers.get(http::header::HOST))
        {
            let h = h.to_str().expect("authority() accepted this Host as text");
            assert_eq!(canonical_host(uri.as_str()), canonical_host(h));
            assert_eq!(canonical, canonical_host(h));
        }
    }
});
