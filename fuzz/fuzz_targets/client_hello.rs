//! The first bytes a client sends: the acceptor reads them (in pieces, as TCP may deliver them)
//! until rustls has a whole ClientHello, then the SNI is canonicalised and looked up exactly as
//! the handshake does. No input may panic or hang; a refused hello gets at most one fatal
//! alert; the SNI obeys every host-name property (host_properties.rs).

#![no_main]

mod host_properties;

use libfuzzer_sys::fuzz_target;
use mtls_proxy::acceptor::client_hello::{feed, HelloError};
use rustls::server::Acceptor;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size of the pieces the rest arrives in (1..=256 bytes).
    let Some((&piece, bytes)) = data.split_first() else {
        return;
    };
    let mut acceptor = Acceptor::default();
    for chunk in bytes.chunks(usize::from(piece) + 1) {
        match feed(&mut acceptor, chunk) {
            Ok(Some(accepted)) => {
                if let Some(sni) = accepted.client_hello().server_name() {
                    host_properties::check(sni);
                    host_properties::check_entry_name(sni);
                }
                return;
            }
            Ok(None) => {}
            Err(refused) => {
                // What is sent back, if anything (rustls sends nothing for some framing errors),
                // is one fatal alert record and nothing else.
                if !refused.alert.is_empty() {
                    assert!(matches!(refused.error, HelloError::Tls(_)), "{refused:?}");
                    assert!(
                        matches!(
                            refused.alert.as_slice(),
                            [0x15, 0x03, _, 0x00, 0x02, 0x02, _]
                        ),
                        "{refused:?}"
                    );
                }
                return;
            }
        }
    }
});
