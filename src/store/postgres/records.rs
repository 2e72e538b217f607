//! Rows of the six resource tables as model records: selects, upserts, deletes, the reference
//! queries control's validation relies on, and the revision counter.

use tokio_postgres::Row;

use super::session::{params, Param, Session};
use crate::model::{
    Activation, Certificate, Configuration, Kind, MutualAuthentication, PrivateKey, Record,
    RevocationList, State,
};
use crate::store::{Counts, StoreError, Uses};

pub fn to_i64(n: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(what))
}

pub fn to_u64(n: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(what))
}

/// The table a kind lives in.
pub fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::MutualAuthentication => "mutual_authentications",
        Kind::PrivateKey => "private_keys",
        Kind::Certificate => "certificates",
        Kind::Configuration => "configurations",
        Kind::Activation => "activations",
        Kind::RevocationList => "revocation_lists",
    }
}

fn decode_list(text: &str, column: &'static str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(column))
}

fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

// ---- mutual authentications

pub const MA_COLUMNS: &str = "id, name, enforced, cert_bundle, created_at, updated_at";

pub fn ma_from_row(r: &Row) -> Result<MutualAuthentication, StoreError> {
    Ok(MutualAuthentication {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        enforced: r.try_get(2)?,
        cert_bundle: r.try_get(3)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

fn put_ma(s: &Session, m: &MutualAuthentication) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO mutual_authentications (id, name, enforced, cert_bundle, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, enforced = excluded.enforced,
             cert_bundle = excluded.cert_bundle, updated_at = excluded.updated_at",
        params![
            m.id.clone(),
            m.name.clone(),
            m.enforced,
            m.cert_bundle.clone(),
            m.created_at,
            m.updated_at
        ],
    )?;
    Ok(())
}

// ---- private keys

pub const KEY_COLUMNS: &str =
    "id, name, key_pem, key_type, key_length, public_key_sha1, created_at";

pub fn key_from_row(r: &Row) -> Result<PrivateKey, StoreError> {
    let length: i64 = r.try_get(4)?;
    Ok(PrivateKey {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        key_pem: r.try_get(2)?,
        key_type: r.try_get(3)?,
        key_length: u32::try_from(length)
            .map_err(|_| StoreError::Corrupt("private_keys.key_length"))?,
        public_key_sha1: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

fn put_key(s: &Session, k: &PrivateKey) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO private_keys (id, name, key_pem, key_type, key_length, public_key_sha1, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, key_pem = excluded.key_pem,
             key_type = excluded.key_type, key_length = excluded.key_length,
             public_key_sha1 = excluded.public_key_sha1",
        params![
            k.id.clone(),
            k.name.clone(),
            k.key_pem.clone(),
            k.key_type.clone(),
            i64::from(k.key_length),
            k.public_key_sha1.clone(),
            k.created_at
        ],
    )?;
    Ok(())
}

// ---- certificates

pub const CERT_COLUMNS: &str = "id, name, cert_blob, issued_to, issuer, serial_number, \
     signature_algorithm, not_before, not_after, dns_names, public_key_sha1, created_at, updated_at";

pub fn cert_from_row(r: &Row) -> Result<Certificate, StoreError> {
    let names: String = r.try_get(9)?;
    Ok(Certificate {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        cert_blob: r.try_get(2)?,
        issued_to: r.try_get(3)?,
        issuer: r.try_get(4)?,
        serial_number: r.try_get(5)?,
        signature_algorithm: r.try_get(6)?,
        not_before: r.try_get(7)?,
        not_after: r.try_get(8)?,
        dns_names: decode_list(&names, "certificates.dns_names")?,
        public_key_sha1: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

fn put_cert(s: &Session, c: &Certificate) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO certificates (id, name, cert_blob, issued_to, issuer, serial_number,
             signature_algorithm, not_before, not_after, dns_names, public_key_sha1, created_at,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, cert_blob = excluded.cert_blob,
             issued_to = excluded.issued_to, issuer = excluded.issuer,
             serial_number = excluded.serial_number,
             signature_algorithm = excluded.signature_algorithm,
             not_before = excluded.not_before, not_after = excluded.not_after,
             dns_names = excluded.dns_names, public_key_sha1 = excluded.public_key_sha1,
             updated_at = excluded.updated_at",
        params![
            c.id.clone(),
            c.name.clone(),
            c.cert_blob.clone(),
            c.issued_to.clone(),
            c.issuer.clone(),
            c.serial_number.clone(),
            c.signature_algorithm.clone(),
            c.not_before,
            c.not_after,
            encode_list(&c.dns_names),
            c.public_key_sha1.clone(),
            c.created_at,
            c.updated_at
        ],
    )?;
    // Keep the SAN index in step with the row.
    s.execute(
        "DELETE FROM certificate_domains WHERE certificate_id = $1",
        params![c.id.clone()],
    )?;
    s.execute(
        "INSERT INTO certificate_domains (domain, certificate_id)
         SELECT DISTINCT d, $2 FROM unnest($1::text[]) AS d",
        params![c.dns_names.clone(), c.id.clone()],
    )?;
    Ok(())
}

// ---- configurations

pub const CONF_COLUMNS: &str =
    "id, name, is_default, tls_protocols, http_protocols, created_at, updated_at";

pub fn conf_from_row(r: &Row) -> Result<Configuration, StoreError> {
    let tls: String = r.try_get(3)?;
    let http: String = r.try_get(4)?;
    Ok(Configuration {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        default: r.try_get(2)?,
        tls_protocols: decode_list(&tls, "configurations.tls_protocols")?,
        http_protocols: decode_list(&http, "configurations.http_protocols")?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

fn put_conf(s: &Session, c: &Configuration) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO configurations (id, name, is_default, tls_protocols, http_protocols,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, is_default = excluded.is_default,
             tls_protocols = excluded.tls_protocols, http_protocols = excluded.http_protocols,
             updated_at = excluded.updated_at",
        params![
            c.id.clone(),
            c.name.clone(),
            c.default,
            encode_list(&c.tls_protocols),
            encode_list(&c.http_protocols),
            c.created_at,
            c.updated_at
        ],
    )?;
    Ok(())
}

// ---- activations

pub const ACT_COLUMNS: &str = "id, domain, certificate_id, configuration_id, \
     mutual_authentication_id, created_at, updated_at";

pub fn act_from_row(r: &Row) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: r.try_get(0)?,
        domain: r.try_get(1)?,
        certificate_id: r.try_get(2)?,
        configuration_id: r.try_get(3)?,
        mutual_authentication_id: r.try_get(4)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

fn put_act(s: &Session, a: &Activation) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO activations (id, domain, certificate_id, configuration_id,
             mutual_authentication_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET domain = excluded.domain,
             certificate_id = excluded.certificate_id,
             configuration_id = excluded.configuration_id,
             mutual_authentication_id = excluded.mutual_authentication_id,
             updated_at = excluded.updated_at",
        params![
            a.id.clone(),
            a.domain.clone(),
            a.certificate_id.clone(),
            a.configuration_id.clone(),
            a.mutual_authentication_id.clone(),
            a.created_at,
            a.updated_at
        ],
    )?;
    Ok(())
}

// ---- revocation lists

pub const RL_COLUMNS: &str = "id, mutual_authentication_id, name, url, crl_pem, issuer, \
     this_update, next_update, crl_number, revoked_count, last_fetch_error, created_at, updated_at";

pub fn rl_from_row(r: &Row) -> Result<RevocationList, StoreError> {
    let revoked: i64 = r.try_get(9)?;
    Ok(RevocationList {
        id: r.try_get(0)?,
        mutual_authentication_id: r.try_get(1)?,
        name: r.try_get(2)?,
        url: r.try_get(3)?,
        crl_pem: r.try_get(4)?,
        issuer: r.try_get(5)?,
        this_update: r.try_get(6)?,
        next_update: r.try_get(7)?,
        crl_number: r.try_get(8)?,
        revoked_count: to_u64(revoked, "revocation_lists.revoked_count")?,
        last_fetch_error: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

fn put_rl(s: &Session, l: &RevocationList) -> Result<(), StoreError> {
    s.execute(
        "INSERT INTO revocation_lists (id, mutual_authentication_id, name, url, crl_pem, issuer,
             this_update, next_update, crl_number, revoked_count, last_fetch_error, created_at,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, url = excluded.url,
             crl_pem = excluded.crl_pem, issuer = excluded.issuer,
             this_update = excluded.this_update, next_update = excluded.next_update,
             crl_number = excluded.crl_number, revoked_count = excluded.revoked_count,
             last_fetch_error = excluded.last_fetch_error, updated_at = excluded.updated_at",
        params![
            l.id.clone(),
            l.mutual_authentication_id.clone(),
            l.name.clone(),
            l.url.clone(),
            l.crl_pem.clone(),
            l.issuer.clone(),
            l.this_update,
            l.next_update,
            l.crl_number.clone(),
            to_i64(l.revoked_count, "revocation_lists.revoked_count")?,
            l.last_fetch_error.clone(),
            l.created_at,
            l.updated_at
        ],
    )?;
    Ok(())
}

// ---- generic

/// The rows `SELECT {columns} FROM {table} {tail}` returns, decoded.
pub fn select<T>(
    s: &Session,
    columns: &str,
    table: &str,
    tail: &str,
    args: Vec<Param>,
    decode: fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let sql = format!("SELECT {columns} FROM {table} {tail}");
    s.query(&sql, args)?.iter().map(decode).collect()
}

fn by_id<T>(
    s: &Session,
    columns: &str,
    table: &str,
    id: &str,
    decode: fn(&Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    Ok(select(
        s,
        columns,
        table,
        "WHERE id = $1",
        params![id.to_string()],
        decode,
    )?
    .into_iter()
    .next())
}

pub fn mutual_authentication(
    s: &Session,
    id: &str,
) -> Result<Option<MutualAuthentication>, StoreError> {
    by_id(s, MA_COLUMNS, "mutual_authentications", id, ma_from_row)
}

pub fn private_key(s: &Session, id: &str) -> Result<Option<PrivateKey>, StoreError> {
    by_id(s, KEY_COLUMNS, "private_keys", id, key_from_row)
}

pub fn certificate(s: &Session, id: &str) -> Result<Option<Certificate>, StoreError> {
    by_id(s, CERT_COLUMNS, "certificates", id, cert_from_row)
}

pub fn configuration(s: &Session, id: &str) -> Result<Option<Configuration>, StoreError> {
    by_id(s, CONF_COLUMNS, "configurations", id, conf_from_row)
}

pub fn activation(s: &Session, id: &str) -> Result<Option<Activation>, StoreError> {
    by_id(s, ACT_COLUMNS, "activations", id, act_from_row)
}

pub fn revocation_list(s: &Session, id: &str) -> Result<Option<RevocationList>, StoreError> {
    by_id(s, RL_COLUMNS, "revocation_lists", id, rl_from_row)
}

/// The lists of one mutual authentication, oldest first (indexed: O(lists of it)).
pub fn revocation_lists_of(
    s: &Session,
    mutual_authentication_id: &str,
) -> Result<Vec<RevocationList>, StoreError> {
    select(
        s,
        RL_COLUMNS,
        "revocation_lists",
        "WHERE mutual_authentication_id = $1 ORDER BY created_at, id",
        params![mutual_authentication_id.to_string()],
        rl_from_row,
    )
}

/// A row as it is now.
pub fn current(s: &Session, kind: Kind, id: &str) -> Result<Option<Record>, StoreError> {
    Ok(match kind {
        Kind::MutualAuthentication => {
            mutual_authentication(s, id)?.map(Record::MutualAuthentication)
        }
        Kind::PrivateKey => private_key(s, id)?.map(Record::PrivateKey),
        Kind::Certificate => certificate(s, id)?.map(Record::Certificate),
        Kind::Configuration => configuration(s, id)?.map(Record::Configuration),
        Kind::Activation => activation(s, id)?.map(Record::Activation),
        Kind::RevocationList => revocation_list(s, id)?.map(Record::RevocationList),
    })
}

/// Insert a record or replace its mutable columns.
pub fn put(s: &Session, record: &Record) -> Result<(), StoreError> {
    match record {
        Record::MutualAuthentication(r) => put_ma(s, r),
        Record::PrivateKey(r) => put_key(s, r),
        Record::Certificate(r) => put_cert(s, r),
        Record::Configuration(r) => put_conf(s, r),
        Record::Activation(r) => put_act(s, r),
        Record::RevocationList(r) => put_rl(s, r),
    }
}

/// Delete a row; returns whether it existed.
pub fn delete(s: &Session, kind: Kind, id: &str) -> Result<bool, StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = $1", table(kind));
    Ok(s.execute(&sql, params![id.to_string()])? > 0)
}

/// Every resource, as of the session's transaction.
pub fn load_state(s: &Session) -> Result<State, StoreError> {
    let order = "ORDER BY created_at, id";
    Ok(State {
        revision: revision(s)?,
        mutual_authentications: select(
            s,
            MA_COLUMNS,
            "mutual_authentications",
            order,
            params![],
            ma_from_row,
        )?,
        private_keys: select(
            s,
            KEY_COLUMNS,
            "private_keys",
            order,
            params![],
            key_from_row,
        )?,
        certificates: select(
            s,
            CERT_COLUMNS,
            "certificates",
            order,
            params![],
            cert_from_row,
        )?,
        configurations: select(
            s,
            CONF_COLUMNS,
            "configurations",
            order,
            params![],
            conf_from_row,
        )?,
        activations: select(
            s,
            ACT_COLUMNS,
            "activations",
            order,
            params![],
            act_from_row,
        )?,
        revocation_lists: select(
            s,
            RL_COLUMNS,
            "revocation_lists",
            order,
            params![],
            rl_from_row,
        )?,
    })
}

/// The current revision.
pub fn revision(s: &Session) -> Result<u64, StoreError> {
    let v: i64 = s
        .query_one("SELECT value FROM meta WHERE key = 'revision'", params![])?
        .try_get(0)?;
    to_u64(v, "meta.revision")
}

/// Lock the revision row and increment it: writers from every node queue here, so revisions
/// commit in order and each change validates against every commit before it.
pub fn bump_revision(s: &Session) -> Result<u64, StoreError> {
    let v: i64 = s
        .query_one(
            "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
            params![],
        )?
        .try_get(0)?;
    to_u64(v, "meta.revision")
}

fn count(s: &Session, sql: &str, args: Vec<Param>) -> Result<u64, StoreError> {
    let n: i64 = s.query_one(sql, args)?.try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub fn counts(s: &Session) -> Result<Counts, StoreError> {
    let row = s.query_one(
        "SELECT (SELECT COUNT(*) FROM mutual_authentications),
                (SELECT COUNT(*) FROM private_keys),
                (SELECT COUNT(*) FROM certificates),
                (SELECT COUNT(*) FROM configurations),
                (SELECT COUNT(*) FROM activations),
                (SELECT COUNT(*) FROM revocation_lists)",
        params![],
    )?;
    let n = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = row.try_get(i)?;
        Ok(u64::try_from(v).unwrap_or(0))
    };
    Ok(Counts {
        mutual_authentications: n(0)?,
        private_keys: n(1)?,
        certificates: n(2)?,
        configurations: n(3)?,
        activations: n(4)?,
        revocation_lists: n(5)?,
    })
}

pub fn private_key_by_public_key(
    s: &Session,
    sha1: &str,
) -> Result<Option<PrivateKey>, StoreError> {
    Ok(select(
        s,
        KEY_COLUMNS,
        "private_keys",
        "WHERE public_key_sha1 = $1",
        params![sha1.to_string()],
        key_from_row,
    )?
    .into_iter()
    .next())
}

pub fn count_certificates_with_key(s: &Session, sha1: &str) -> Result<u64, StoreError> {
    count(
        s,
        "SELECT COUNT(*) FROM certificates WHERE public_key_sha1 = $1",
        params![sha1.to_string()],
    )
}

pub fn certificates_naming(s: &Session, domain: &str) -> Result<Vec<Certificate>, StoreError> {
    select(
        s,
        CERT_COLUMNS,
        "certificates",
        "WHERE id IN (SELECT certificate_id FROM certificate_domains WHERE domain = $1)
         ORDER BY created_at, id",
        params![domain.to_string()],
        cert_from_row,
    )
}

pub fn default_configuration(s: &Session) -> Result<Configuration, StoreError> {
    select(
        s,
        CONF_COLUMNS,
        "configurations",
        "WHERE is_default ORDER BY created_at, id LIMIT 1",
        params![],
        conf_from_row,
    )?
    .into_iter()
    .next()
    .ok_or(StoreError::Corrupt("configurations: no default"))
}

pub fn activation_by_domain(s: &Session, domain: &str) -> Result<Option<Activation>, StoreError> {
    Ok(select(
        s,
        ACT_COLUMNS,
        "activations",
        "WHERE domain = $1",
        params![domain.to_string()],
        act_from_row,
    )?
    .into_iter()
    .next())
}

fn using_column(used: Uses<'_>) -> (&'static str, String) {
    match used {
        Uses::Certificate(id) => ("certificate_id", id.to_string()),
        Uses::MutualAuthentication(id) => ("mutual_authentication_id", id.to_string()),
        Uses::Configuration(id) => ("configuration_id", id.to_string()),
    }
}

pub fn activations_using(s: &Session, used: Uses<'_>) -> Result<Vec<Activation>, StoreError> {
    let (column, id) = using_column(used);
    select(
        s,
        ACT_COLUMNS,
        "activations",
        &format!("WHERE {column} = $1 ORDER BY created_at, id"),
        params![id],
        act_from_row,
    )
}

pub fn count_activations_using(s: &Session, used: Uses<'_>) -> Result<u64, StoreError> {
    let (column, id) = using_column(used);
    count(
        s,
        &format!("SELECT COUNT(*) FROM activations WHERE {column} = $1"),
        params![id],
    )
}

/// Marked demo resources that still exist, whatever their kind, as (kind, id).
pub fn demo_resources(s: &Session) -> Result<Vec<(String, String)>, StoreError> {
    s.query(
        "SELECT d.kind, d.id FROM demo_resources d WHERE
              (d.kind = 'private_key' AND d.id IN (SELECT id FROM private_keys))
           OR (d.kind = 'certificate' AND d.id IN (SELECT id FROM certificates))
           OR (d.kind = 'mutual_authentication' AND d.id IN (SELECT id FROM mutual_authentications))
           OR (d.kind = 'activation' AND d.id IN (SELECT id FROM activations))
         ORDER BY d.kind, d.id",
        params![],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}
