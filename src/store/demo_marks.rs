//! Which stored resources the built-in demo created. The demo's private keys and client CA are
//! published with the source, so a proxy serving them must never face a network: `serve`
//! checks [`Reads::demo_resources`](super::Reads::demo_resources) before it listens anywhere but
//! on loopback. Marks are metadata about resources, not resources: writing them bumps no
//! revision ([`Store::mark_demo`](super::Store::mark_demo)).

/// A kind of resource the demo creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoKind {
    PrivateKey,
    Certificate,
    MutualAuthentication,
    Activation,
}

impl DemoKind {
    /// The stored name, also the resource type in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DemoKind::PrivateKey => "private_key",
            DemoKind::Certificate => "certificate",
            DemoKind::MutualAuthentication => "mutual_authentication",
            DemoKind::Activation => "activation",
        }
    }
}
