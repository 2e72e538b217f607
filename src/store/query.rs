//! Typed queries of the list endpoints: filters, sort orders and page windows, so that each
//! backend answers them in its own query language without loading every row.

/// A resource that activations reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses<'a> {
    Certificate(&'a str),
    MutualAuthentication(&'a str),
    Configuration(&'a str),
}

/// Which rows of a list: skip `offset`, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

impl Window {
    /// Everything (tests and small tables).
    pub const ALL: Window = Window {
        offset: 0,
        limit: u64::MAX,
    };
}

/// One page of a list and the number of rows matching in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Resources by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub mutual_authentications: u64,
    pub private_keys: u64,
    pub certificates: u64,
    pub configurations: u64,
    pub activations: u64,
    pub revocation_lists: u64,
}

/// A bound on a certificate's `not_after` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAfter {
    AtMost(i64),
    Before(i64),
    AtLeast(i64),
    After(i64),
}

impl NotAfter {
    /// Whether `not_after` satisfies the bound.
    pub fn admits(self, not_after: i64) -> bool {
        match self {
            NotAfter::AtMost(t) => not_after <= t,
            NotAfter::Before(t) => not_after < t,
            NotAfter::AtLeast(t) => not_after >= t,
            NotAfter::After(t) => not_after > t,
        }
    }
}

/// Sort keys of the certificate list. Rows with equal keys stay oldest first; a descending
/// sort reverses the whole ascending order, ties included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateSort {
    CreatedAt,
    NotBefore,
    NotAfter,
    /// The `created_at` of its oldest activation; certificates without one sort last.
    FirstActivation,
}

/// Filters and order of the certificate list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateQuery {
    /// Whether an activation uses it.
    pub in_use: Option<bool>,
    /// Every bound must hold.
    pub not_after: Vec<NotAfter>,
    /// A SAN DNS name it must list exactly.
    pub domain: Option<String>,
    pub sort: CertificateSort,
    pub descending: bool,
}

impl Default for CertificateQuery {
    fn default() -> Self {
        CertificateQuery {
            in_use: None,
            not_after: Vec::new(),
            domain: None,
            sort: CertificateSort::CreatedAt,
            descending: false,
        }
    }
}

/// Filters of the activation list (all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    pub certificate_id: Option<String>,
    pub configuration_id: Option<String>,
    pub domain: Option<String>,
}

/// Orders of the domain list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DomainSort {
    /// By name (byte order).
    #[default]
    Name,
    /// By name, descending.
    NameDescending,
    /// By the activation's `created_at`, then name; names without activation last.
    Activated,
    /// By the activation's `created_at` descending, then name ascending; names without
    /// activation first.
    ActivatedDescending,
}

/// Filters and order of the domain list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainQuery {
    /// Whether the name is activated.
    pub in_use: Option<bool>,
    /// A certificate whose SANs list the name exactly.
    pub certificate_id: Option<String>,
    pub sort: DomainSort,
}

/// Filters of the revocation list list (all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationListQuery {
    pub mutual_authentication_id: Option<String>,
}
