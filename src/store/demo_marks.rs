//! Which stored resources the built-in demo created. The demo's private keys and client CA are
//! published with the source, so a proxy serving them must never face a network: `serve`
//! checks [`Store::demo_resources`] before it listens anywhere but on loopback. Marks are
//! metadata about resources, not resources: writing them bumps no revision.

use rusqlite::params;

use super::{Store, StoreError};

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

/// Marked resources that still exist, whatever their kind.
const PRESENT: &str = "
SELECT d.kind, d.id FROM demo_resources d WHERE
     (d.kind = 'private_key' AND d.id IN (SELECT id FROM private_keys))
  OR (d.kind = 'certificate' AND d.id IN (SELECT id FROM certificates))
  OR (d.kind = 'mutual_authentication' AND d.id IN (SELECT id FROM mutual_authentications))
  OR (d.kind = 'activation' AND d.id IN (SELECT id FROM activations))
ORDER BY d.kind, d.id";

impl Store {
    /// Mark the resource `id` of `kind` as created by the demo.
    pub fn mark_demo(&self, kind: DemoKind, id: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT OR IGNORE INTO demo_resources (kind, id) VALUES (?1, ?2)",
            params![kind.as_str(), id],
        )?;
        Ok(())
    }

    /// The demo resources still stored, as (kind, id).
    pub fn demo_resources(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(PRESENT)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MutualAuthentication;
    use crate::store::records::mutual_authentications as mas;

    #[test]
    fn marks_count_only_while_their_resource_exists() {
        let s = Store::in_memory().unwrap();
        assert!(s.demo_resources().unwrap().is_empty());
        let ma = MutualAuthentication {
            id: "M".into(),
            name: "demo".into(),
            enforced: true,
            cert_bundle: "pem".into(),
            created_at: 1,
            updated_at: 1,
        };
        s.write(|tx, _| mas::put(tx, &ma)).unwrap();
        let revision = s.revision().unwrap();
        s.mark_demo(DemoKind::MutualAuthentication, "M").unwrap();
        s.mark_demo(DemoKind::MutualAuthentication, "M").unwrap();
        s.mark_demo(DemoKind::Activation, "gone").unwrap();
        assert_eq!(s.revision().unwrap(), revision, "marks are not changes");
        assert_eq!(
            s.demo_resources().unwrap(),
            vec![("mutual_authentication".to_string(), "M".to_string())]
        );
        s.write(|tx, _| mas::delete(tx, "M")).unwrap();
        assert!(s.demo_resources().unwrap().is_empty());
    }
}
