//! The list endpoints' queries in PostgreSQL: filters and order in SQL, one page read with
//! LIMIT/OFFSET and the total counted, so no list loads every row. The same orders as SQLite
//! (ids and domains compare bytewise: their columns use the "C" collation).

use super::records::{self, select};
use super::session::{Param, Session};
use crate::model::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList,
};
use crate::store::query::{
    ActivationQuery, CertificateQuery, CertificateSort, DomainQuery, DomainSort, NotAfter, Page,
    RevocationListQuery, Window,
};
use crate::store::StoreError;

/// A WHERE clause built from optional conditions, with its arguments in order. Arguments are
/// rebuilt per use (a query and its count each take their own).
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    args: Vec<Arg>,
}

#[derive(Clone)]
enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl Arg {
    fn param(&self) -> Param {
        match self {
            Arg::Text(s) => Box::new(s.clone()),
            Arg::Int(n) => Box::new(*n),
            Arg::Bool(b) => Box::new(*b),
        }
    }
}

impl Filter {
    /// Add a condition with one `?` placeholder, which takes `arg`.
    fn and(&mut self, condition: &str, arg: Arg) {
        self.args.push(arg);
        let numbered = format!("${}", self.args.len());
        self.conditions.push(condition.replacen('?', &numbered, 1));
    }

    fn sql(&self) -> String {
        match self.conditions.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.conditions.join(" AND ")),
        }
    }

    fn params(&self) -> Vec<Param> {
        self.args.iter().map(Arg::param).collect()
    }

    /// `LIMIT`/`OFFSET` placeholders after the filter's arguments.
    fn window(&self, window: Window) -> (String, Vec<Param>) {
        let n = self.args.len();
        let mut args = self.params();
        args.push(Box::new(clamp(window.limit)));
        args.push(Box::new(clamp(window.offset)));
        (format!("LIMIT ${} OFFSET ${}", n + 1, n + 2), args)
    }

    fn count(&self, s: &Session, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {table} {}", self.sql());
        let n: i64 = s.query_one(&sql, self.params())?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[allow(clippy::too_many_arguments)]
fn page<T>(
    s: &Session,
    columns: &str,
    table: &str,
    filter: &Filter,
    order: &str,
    window: Window,
    decode: fn(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let (limit, args) = filter.window(window);
    let tail = format!("{} ORDER BY {order} {limit}", filter.sql());
    Ok(Page {
        items: select(s, columns, table, &tail, args, decode)?,
        total: filter.count(s, table)?,
    })
}

pub fn mutual_authentications(
    s: &Session,
    window: Window,
) -> Result<Page<MutualAuthentication>, StoreError> {
    page(
        s,
        records::MA_COLUMNS,
        "mutual_authentications",
        &Filter::default(),
        "created_at, id",
        window,
        records::ma_from_row,
    )
}

pub fn private_keys(
    s: &Session,
    in_use: Option<bool>,
    window: Window,
) -> Result<Page<PrivateKey>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = in_use {
        f.and(
            "EXISTS (SELECT 1 FROM certificates c WHERE c.public_key_sha1 = private_keys.public_key_sha1) = ?",
            Arg::Bool(in_use),
        );
    }
    page(
        s,
        records::KEY_COLUMNS,
        "private_keys",
        &f,
        "created_at, id",
        window,
        records::key_from_row,
    )
}

pub fn configurations(s: &Session, window: Window) -> Result<Page<Configuration>, StoreError> {
    page(
        s,
        records::CONF_COLUMNS,
        "configurations",
        &Filter::default(),
        "is_default DESC, created_at, id",
        window,
        records::conf_from_row,
    )
}

pub fn activations(
    s: &Session,
    q: &ActivationQuery,
    window: Window,
) -> Result<Page<Activation>, StoreError> {
    let mut f = Filter::default();
    if let Some(id) = &q.certificate_id {
        f.and("certificate_id = ?", Arg::Text(id.clone()));
    }
    if let Some(id) = &q.configuration_id {
        f.and("configuration_id = ?", Arg::Text(id.clone()));
    }
    if let Some(d) = &q.domain {
        f.and("domain = ?", Arg::Text(d.clone()));
    }
    page(
        s,
        records::ACT_COLUMNS,
        "activations",
        &f,
        "created_at, id",
        window,
        records::act_from_row,
    )
}

pub fn revocation_lists(
    s: &Session,
    q: &RevocationListQuery,
    window: Window,
) -> Result<Page<RevocationList>, StoreError> {
    let mut f = Filter::default();
    if let Some(id) = &q.mutual_authentication_id {
        f.and("mutual_authentication_id = ?", Arg::Text(id.clone()));
    }
    page(
        s,
        records::RL_COLUMNS,
        "revocation_lists",
        &f,
        "created_at, id",
        window,
        records::rl_from_row,
    )
}

const FIRST_ACTIVATION: &str = "COALESCE((SELECT MIN(a.created_at) FROM activations a \
     WHERE a.certificate_id = certificates.id), 9223372036854775807)";

pub fn certificates(
    s: &Session,
    q: &CertificateQuery,
    window: Window,
) -> Result<Page<Certificate>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = q.in_use {
        f.and(
            "EXISTS (SELECT 1 FROM activations a WHERE a.certificate_id = certificates.id) = ?",
            Arg::Bool(in_use),
        );
    }
    for bound in &q.not_after {
        let (op, t) = match *bound {
            NotAfter::AtMost(t) => ("<=", t),
            NotAfter::Before(t) => ("<", t),
            NotAfter::AtLeast(t) => (">=", t),
            NotAfter::After(t) => (">", t),
        };
        f.and(&format!("not_after {op} ?"), Arg::Int(t));
    }
    if let Some(d) = &q.domain {
        f.and(
            "EXISTS (SELECT 1 FROM certificate_domains d WHERE d.certificate_id = certificates.id AND d.domain = ?)",
            Arg::Text(d.clone()),
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
        s,
        records::CERT_COLUMNS,
        "certificates",
        &f,
        &order,
        window,
        records::cert_from_row,
    )
}

/// Every name: certificate SANs and activated domains, with the activation's `created_at`.
const DOMAIN_NAMES: &str = "(SELECT n.domain AS domain, a.created_at AS activated_at
     FROM (SELECT domain FROM certificate_domains UNION SELECT domain FROM activations) n
     LEFT JOIN activations a ON a.domain = n.domain)";

pub fn domains(s: &Session, q: &DomainQuery, window: Window) -> Result<Page<String>, StoreError> {
    let mut f = Filter::default();
    if let Some(in_use) = q.in_use {
        f.and("(activated_at IS NOT NULL) = ?", Arg::Bool(in_use));
    }
    if let Some(id) = &q.certificate_id {
        f.and(
            "EXISTS (SELECT 1 FROM certificate_domains d WHERE d.domain = names.domain AND d.certificate_id = ?)",
            Arg::Text(id.clone()),
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
    let items = s
        .query(&sql, args)?
        .iter()
        .map(|r| r.try_get::<_, String>(0).map_err(StoreError::from))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        total: f.count(s, &table)?,
    })
}
