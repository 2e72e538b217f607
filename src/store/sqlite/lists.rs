//! The list endpoints' queries: filters and order in SQL, one page read with LIMIT/OFFSET and
//! the total counted, so no list loads every row.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::records::{
    activations, certificates, configurations, mutual_authentications, private_keys,
    revocation_lists,
};
use crate::model::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList,
};
use crate::store::query::{
    ActivationQuery, CertificateQuery, CertificateSort, DomainQuery, DomainSort, NotAfter, Page,
    RevocationListQuery, Window,
};
use crate::store::StoreError;

/// A WHERE clause built from optional conditions, with its arguments in order.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    args: Vec<Value>,
}

impl Filter {
    /// Add a condition with one `?` placeholder, which takes `arg`.
    fn and(&mut self, condition: &str, arg: Value) {
        self.args.push(arg);
        let numbered = format!("?{}", self.args.len());
        self.conditions.push(condition.replacen('?', &numbered, 1));
    }

    fn sql(&self) -> String {
        match self.conditions.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.conditions.join(" AND ")),
        }
    }

    /// `LIMIT`/`OFFSET` placeholders after the filter's arguments.
    fn window(&self, window: Window) -> (String, Vec<Value>) {
        let n = self.args.len();
        let mut args = self.args.clone();
        args.push(Value::Integer(clamp(window.limit)));
        args.push(Value::Integer(clamp(window.offset)));
        (format!("LIMIT ?{} OFFSET ?{}", n + 1, n + 2), args)
    }

    fn count(&self, conn: &Connection, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {table} {}", self.sql());
        let n: i64 = conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(&self.args), |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn page<T>(
    conn: &Connection,
    table: &str,
    filter: &Filter,
    order: &str,
    window: Window,
    select: impl Fn(&Connection, &str, &[Value]) -> Result<Vec<T>, StoreError>,
) -> Result<Page<T>, StoreError> {
    let (limit, args) = filter.window(window);
    let tail = format!("{} ORDER BY {order} {limit}", filter.sql());
    Ok(Page {
        items: select(conn, &tail, &args)?,
        total: filter.count(conn, table)?,
    })
}

pub fn mutual_authentications(
    conn: &Connection,
    window: Window,
) -> Result<Page<MutualAuthentication>, StoreError> {
    let f = Filter::default();
    page(
        conn,
        "mutual_authentications",
        &f,
        "created_at, id",
        window,
        mutual_authentications::select,
    )
}

pub fn private_keys(
    conn: &Connection,
    in_use: Option<bool>,
    window: Window,
) -> Result<Page<PrivateKey>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = in_use {
        f.and(
            "EXISTS (SELECT 1 FROM certificates c WHERE c.public_key_sha1 = private_keys.public_key_sha1) = ?",
            Value::Integer(i64::from(in_use)),
        );
    }
    page(
        conn,
        "private_keys",
        &f,
        "created_at, id",
        window,
        private_keys::select,
    )
}

pub fn configurations(
    conn: &Connection,
    window: Window,
) -> Result<Page<Configuration>, StoreError> {
    let f = Filter::default();
    page(
        conn,
        "configurations",
        &f,
        "is_default DESC, created_at, id",
        window,
        configurations::select,
    )
}

pub fn activations(
    conn: &Connection,
    q: &ActivationQuery,
    window: Window,
) -> Result<Page<Activation>, StoreError> {
    let mut f = Filter::default();
    if let Some(id) = &q.certificate_id {
        f.and("certificate_id = ?", text(id));
    }
    if let Some(id) = &q.configuration_id {
        f.and("configuration_id = ?", text(id));
    }
    if let Some(d) = &q.domain {
        f.and("domain = ?", text(d));
    }
    page(
        conn,
        "activations",
        &f,
        "created_at, id",
        window,
        activations::select,
    )
}

pub fn revocation_lists(
    conn: &Connection,
    q: &RevocationListQuery,
    window: Window,
) -> Result<Page<RevocationList>, StoreError> {
    let mut f = Filter::default();
    if let Some(id) = &q.mutual_authentication_id {
        f.and("mutual_authentication_id = ?", text(id));
    }
    page(
        conn,
        "revocation_lists",
        &f,
        "created_at, id",
        window,
        revocation_lists::select,
    )
}

const FIRST_ACTIVATION: &str = "COALESCE((SELECT MIN(a.created_at) FROM activations a \
     WHERE a.certificate_id = certificates.id), 9223372036854775807)";

pub fn certificates(
    conn: &Connection,
    q: &CertificateQuery,
    window: Window,
) -> Result<Page<Certificate>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = q.in_use {
        f.and(
            "EXISTS (SELECT 1 FROM activations a WHERE a.certificate_id = certificates.id) = ?",
            Value::Integer(i64::from(in_use)),
        );
    }
    for bound in &q.not_after {
        let (op, t) = match *bound {
            NotAfter::AtMost(t) => ("<=", t),
            NotAfter::Before(t) => ("<", t),
            NotAfter::AtLeast(t) => (">=", t),
            NotAfter::After(t) => (">", t),
        };
        f.and(&format!("not_after {op} ?"), Value::Integer(t));
    }
    if let Some(d) = &q.domain {
        f.and(
            "EXISTS (SELECT 1 FROM certificate_domains d WHERE d.certificate_id = certificates.id AND d.domain = ?)",
            text(d),
        );
    }
    let key = match q.sort {
        CertificateSort::CreatedAt => "created_at",
        CertificateSort::NotBefore => "not_before",
        CertificateSort::NotAfter => "not_after",
        CertificateSort::FirstActivation => FIRST_ACTIVATION,
    };
    // Ascending: by key, ties oldest first. Descending reverses that whole order.
    let dir = if q.descending { " DESC" } else { "" };
    let order = format!("{key}{dir}, created_at{dir}, id{dir}");
    page(
        conn,
        "certificates",
        &f,
        &order,
        window,
        certificates::select,
    )
}

/// Every name: certificate SANs and activated domains, with the activation's `created_at`.
const DOMAIN_NAMES: &str = "(SELECT n.domain AS domain, a.created_at AS activated_at
     FROM (SELECT domain FROM certificate_domains UNION SELECT domain FROM activations) n
     LEFT JOIN activations a ON a.domain = n.domain)";

pub fn domains(
    conn: &Connection,
    q: &DomainQuery,
    window: Window,
) -> Result<Page<String>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = q.in_use {
        f.and(
            "(activated_at IS NOT NULL) = ?",
            Value::Integer(i64::from(in_use)),
        );
    }
    if let Some(id) = &q.certificate_id {
        f.and(
            "EXISTS (SELECT 1 FROM certificate_domains d WHERE d.domain = names.domain AND d.certificate_id = ?)",
            text(id),
        );
    }
    let order = match q.sort {
        DomainSort::Name => "domain",
        DomainSort::NameDescending => "domain DESC",
        DomainSort::Activated => "COALESCE(activated_at, 9223372036854775807), domain",
        DomainSort::ActivatedDescending => {
            "COALESCE(activated_at, 9223372036854775807) DESC, domain"
        }
    };
    let table = format!("{DOMAIN_NAMES} AS names");
    let (limit, args) = f.window(window);
    let sql = format!(
        "SELECT domain FROM {table} {} ORDER BY {order} {limit}",
        f.sql()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let items = stmt
        .query_map(rusqlite::params_from_iter(&args), |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Page {
        items,
        total: f.count(conn, &table)?,
    })
}
