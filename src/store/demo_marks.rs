//! Which stored resources the built-in demo created. The demo's private keys and client CA are
//! published with the source, so a proxy serving them must never face a network: `serve`
//! checks [`Store::demo_resources`](super::Store::demo_resources) before it listens anywhere but
//! on loopback. Marks are metadata about resources, not resources: writing them bumps no
//! revision. Every backend answers with the same query over its `demo_resources` table.

/// A kind of resource the demo creates (its table).
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

/// Marked resources that still exist, whatever their kind (the same SQL in every backend).
pub const PRESENT: &str = "
SELECT d.kind, d.id FROM demo_resources d WHERE
     (d.kind = 'private_key' AND d.id IN (SELECT id FROM private_keys))
  OR (d.kind = 'certificate' AND d.id IN (SELECT id FROM certificates))
  OR (d.kind = 'mutual_authentication' AND d.id IN (SELECT id FROM mutual_authentications))
  OR (d.kind = 'activation' AND d.id IN (SELECT id FROM activations))
ORDER BY d.kind, d.id";
