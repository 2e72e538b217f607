//! What changed between two store revisions: the rows written or removed, as plain records.
//! The store produces it (from its change log), the snapshot side applies it; a node's own
//! writes and another node's commits travel the same way.

use super::resources::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList, State,
};

/// The kinds of stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    MutualAuthentication,
    PrivateKey,
    Certificate,
    Configuration,
    Activation,
    RevocationList,
}

impl Kind {
    /// Every kind, in the order a delta lists them.
    pub const ALL: [Kind; 6] = [
        Kind::MutualAuthentication,
        Kind::PrivateKey,
        Kind::Certificate,
        Kind::Configuration,
        Kind::Activation,
        Kind::RevocationList,
    ];

    /// The stable name a store records the kind under (never change a shipped one).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MutualAuthentication => "mutual_authentication",
            Kind::PrivateKey => "private_key",
            Kind::Certificate => "certificate",
            Kind::Configuration => "configuration",
            Kind::Activation => "activation",
            Kind::RevocationList => "revocation_list",
        }
    }

    /// The kind recorded as `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One stored record of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    MutualAuthentication(MutualAuthentication),
    PrivateKey(PrivateKey),
    Certificate(Certificate),
    Configuration(Configuration),
    Activation(Activation),
    RevocationList(RevocationList),
}

impl Record {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Record::MutualAuthentication(_) => Kind::MutualAuthentication,
            Record::PrivateKey(_) => Kind::PrivateKey,
            Record::Certificate(_) => Kind::Certificate,
            Record::Configuration(_) => Kind::Configuration,
            Record::Activation(_) => Kind::Activation,
            Record::RevocationList(_) => Kind::RevocationList,
        }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        match self {
            Record::MutualAuthentication(r) => &r.id,
            Record::PrivateKey(r) => &r.id,
            Record::Certificate(r) => &r.id,
            Record::Configuration(r) => &r.id,
            Record::Activation(r) => &r.id,
            Record::RevocationList(r) => &r.id,
        }
    }
}

/// One row's change: its content now, or its removal.
// A delta is a short-lived list: boxing each record would cost an allocation per row for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// Created or updated: the whole record as of the delta's revision.
    Put(Record),
    /// Deleted.
    Removed(Kind, String),
}

/// Every row that changed after revision `from`, as of revision `to`. Each row appears at most
/// once, with its state at `to` (a row created and deleted in between is a removal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub from: u64,
    pub to: u64,
    pub rows: Vec<RowChange>,
}

/// How a reader catches up to the store: by the rows that changed, or, when the change log does
/// not reach back far enough, by the whole state.
#[derive(Debug, Clone)]
pub enum Update {
    Delta(Delta),
    Full(State),
}

impl Update {
    /// The revision the reader is at once it applied this.
    pub fn revision(&self) -> u64 {
        match self {
            Update::Delta(d) => d.to,
            Update::Full(s) => s.revision,
        }
    }
}
