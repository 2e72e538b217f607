//! Create, update and delete revocation lists (our extension of the Fastly resources), keep
//! them consistent with their mutual authentication's bundle, and record what fetching a
//! list's URL brought. A list is one CRL of one issuer of the bundle.

use super::change::{RevocationFetch, RevocationListFields, Update};
use super::{next_version, ControlError};
use crate::model::pki::{self, CrlAge, CrlInfo};
use crate::model::{id, validate, Kind, Record, RevocationList};
use crate::store::{Reads, WriteTx};

const RESOURCE: &str = "revocation list";

/// Longest `last_fetch_error` kept, in bytes (a hostile server's error text is not stored whole).
const MAX_FETCH_ERROR_BYTES: usize = 1000;

/// The DER certificates of a mutual authentication's bundle.
fn bundle_of(r: &dyn Reads, ma_id: &str) -> Result<Vec<Vec<u8>>, ControlError> {
    let ma = r.mutual_authentication(ma_id)?.ok_or_else(|| {
        ControlError::invalid("mutual_authentication", format!("{ma_id:?} does not exist"))
    })?;
    pki::parse_ca_bundle(&ma.cert_bundle)
        .map(|b| b.certs_der)
        .map_err(|e| ControlError::invalid("cert_bundle", e))
}

/// A CRL as uploaded: PEM text that parses, issued and signed by a certificate of the bundle.
fn checked_crl(pem: &str, bundle: &[Vec<u8>]) -> Result<CrlInfo, ControlError> {
    validate::pem_text(pem).map_err(|e| ControlError::invalid("crl", e))?;
    let info = pki::parse_crl(pem).map_err(|e| ControlError::invalid("crl", e))?;
    pki::check_crl_issuer(&info.der, bundle).map_err(|e| ControlError::invalid("crl", e))?;
    Ok(info)
}

fn checked_name(name: &str) -> Result<(), ControlError> {
    validate::name(name).map_err(|e| ControlError::invalid("name", e))
}

/// `Some("")` and `Some(None)` clear the URL.
fn checked_url(url: Option<String>) -> Result<Option<String>, ControlError> {
    match url.filter(|u| !u.is_empty()) {
        Some(u) => {
            validate::fetch_url(&u).map_err(|e| ControlError::invalid("url", e))?;
            Ok(Some(u))
        }
        None => Ok(None),
    }
}

/// One list per issuer and mutual authentication: the verifier picks a CRL by issuer name, so
/// a second one would be ambiguous. Replace the existing list's `crl` instead.
fn one_per_issuer(
    r: &dyn Reads,
    ma_id: &str,
    issuer: &str,
    except: Option<&str>,
) -> Result<(), ControlError> {
    let taken = r
        .revocation_lists_of(ma_id)?
        .into_iter()
        .find(|l| l.issuer == issuer && Some(l.id.as_str()) != except);
    match taken {
        Some(l) => Err(ControlError::Conflict(format!(
            "revocation list {} already holds the CRL of {issuer} for this mutual authentication; replace its crl instead",
            l.id
        ))),
        None => Ok(()),
    }
}

fn apply_crl(list: &mut RevocationList, pem: String, info: CrlInfo) {
    list.crl_pem = pem;
    list.issuer = info.issuer;
    list.this_update = info.this_update;
    list.next_update = info.next_update;
    list.crl_number = info.number;
    list.revoked_count = info.revoked_count;
}

/// A replacement for `list`: the same issuer, and not older (rule 5, docs/architecture.md: an older CRL
/// replayed would reinstate revoked certificates).
fn checked_replacement(
    list: &RevocationList,
    pem: &str,
    bundle: &[Vec<u8>],
) -> Result<CrlInfo, ControlError> {
    let info = checked_crl(pem, bundle)?;
    if info.issuer != list.issuer {
        return Err(ControlError::invalid(
            "crl",
            format!(
                "is issued by {}, but this list holds the CRL of {}; create another list for another issuer",
                info.issuer, list.issuer
            ),
        ));
    }
    let current = CrlAge {
        this_update: list.this_update,
        number: list.crl_number.clone(),
    };
    let new = CrlAge {
        this_update: info.this_update,
        number: info.number.clone(),
    };
    pki::check_not_older(&current, &new).map_err(|e| ControlError::invalid("crl", e))?;
    Ok(info)
}

/// Create: the mutual authentication and `crl` are required; `name` is generated when absent.
pub fn create(
    tx: &mut dyn WriteTx,
    f: RevocationListFields,
    now: i64,
) -> Result<String, ControlError> {
    let ma_id = f
        .mutual_authentication
        .ok_or_else(|| ControlError::invalid("mutual_authentication", "can't be blank"))?;
    let bundle = bundle_of(tx, &ma_id)?;
    let pem = f
        .crl
        .ok_or_else(|| ControlError::invalid("crl", "can't be blank"))?;
    let info = checked_crl(&pem, &bundle)?;
    one_per_issuer(tx, &ma_id, &info.issuer, None)?;
    let url = checked_url(f.url.flatten())?;
    let id = id::new_id();
    let name = match f.name.filter(|n| !n.is_empty()) {
        Some(n) => {
            checked_name(&n)?;
            n
        }
        None => format!("Revocation list {id}"),
    };
    let mut list = RevocationList {
        id: id.clone(),
        mutual_authentication_id: ma_id,
        name,
        url,
        crl_pem: String::new(),
        issuer: String::new(),
        this_update: 0,
        next_update: 0,
        crl_number: String::new(),
        revoked_count: 0,
        last_fetch_error: None,
        created_at: now,
        updated_at: now,
    };
    apply_crl(&mut list, pem, info);
    tx.put(&Record::RevocationList(list))?;
    Ok(id)
}

/// Update: absent attributes stay; a new `crl` must come from the same issuer and not be older.
pub fn update(
    tx: &mut dyn WriteTx,
    u: Update<RevocationListFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut list = tx
        .revocation_list(&u.id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if let Some(name) = u.fields.name {
        if name.is_empty() {
            return Err(ControlError::invalid("name", "can't be blank"));
        }
        checked_name(&name)?;
        list.name = name;
    }
    if let Some(pem) = u.fields.crl {
        let bundle = bundle_of(tx, &list.mutual_authentication_id)?;
        let info = checked_replacement(&list, &pem, &bundle)?;
        apply_crl(&mut list, pem, info);
    }
    if let Some(url) = u.fields.url {
        let url = checked_url(url)?;
        if url != list.url {
            // The last error was about another URL (or none is fetched any more).
            list.last_fetch_error = None;
        }
        list.url = url;
    }
    list.updated_at = next_version(list.updated_at, now);
    let id = list.id.clone();
    tx.put(&Record::RevocationList(list))?;
    Ok(id)
}

/// Delete.
pub fn delete(tx: &mut dyn WriteTx, id: &str) -> Result<String, ControlError> {
    if !tx.delete(Kind::RevocationList, id)? {
        return Err(ControlError::NotFound { resource: RESOURCE });
    }
    Ok(id.to_string())
}

/// Record a fetch of the list's URL. A CRL that passes the same checks as an upload replaces
/// the current one; anything else (the fetch failed, or brought a CRL that is older, from
/// another issuer, or does not verify) keeps the current CRL and is stored as
/// `last_fetch_error`. Neither bumps `updated_at` unless the CRL changed, so an error changes
/// no policy. Refused (nothing stored) when the list's URL changed during the fetch.
pub fn record_fetch(
    tx: &mut dyn WriteTx,
    fetch: RevocationFetch,
    now: i64,
) -> Result<String, ControlError> {
    let mut list = tx
        .revocation_list(&fetch.id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if list.url.as_deref() != Some(fetch.url.as_str()) {
        return Err(ControlError::Conflict(
            "the list's url changed during the fetch".into(),
        ));
    }
    let refused = |e: ControlError| format!("the CRL fetched from {} was refused: {e}", fetch.url);
    let replaced = fetch.outcome.and_then(|pem| {
        let bundle = bundle_of(tx, &list.mutual_authentication_id).map_err(refused)?;
        checked_replacement(&list, &pem, &bundle)
            .map(|info| (pem, info))
            .map_err(refused)
    });
    match replaced {
        Ok((pem, info)) => {
            list.last_fetch_error = None;
            if pem != list.crl_pem {
                apply_crl(&mut list, pem, info);
                list.updated_at = next_version(list.updated_at, now);
            }
        }
        Err(e) => list.last_fetch_error = Some(truncate(&e, MAX_FETCH_ERROR_BYTES)),
    }
    let id = list.id.clone();
    tx.put(&Record::RevocationList(list))?;
    Ok(id)
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let end = (0..=max.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s.get(..end).unwrap_or("").to_string()
}

/// A bundle replacing a mutual authentication's must still hold the issuer of each of its
/// lists (with the key that signed it): otherwise the list would be checked against another
/// key, or not at all, without anyone having decided so.
pub fn check_bundle_keeps_issuers(
    r: &dyn Reads,
    ma_id: &str,
    bundle_pem: &str,
) -> Result<(), ControlError> {
    let lists = r.revocation_lists_of(ma_id)?;
    if lists.is_empty() {
        return Ok(());
    }
    let bundle = pki::parse_ca_bundle(bundle_pem)
        .map_err(|e| ControlError::invalid("cert_bundle", e))?
        .certs_der;
    for list in lists {
        let der = pki::parse_crl(&list.crl_pem)
            .map_err(|_| crate::store::StoreError::Corrupt("revocation_lists.crl_pem"))?
            .der;
        if pki::check_crl_issuer(&der, &bundle).is_err() {
            return Err(ControlError::invalid(
                "cert_bundle",
                format!(
                    "no longer holds {}, the issuer of revocation list {}; delete the list first or keep its issuer",
                    list.issuer, list.id
                ),
            ));
        }
    }
    Ok(())
}

/// Delete the lists of a mutual authentication being deleted, one by one, so that each
/// deletion is in the change log like any other.
pub fn delete_of(tx: &mut dyn WriteTx, ma_id: &str) -> Result<(), ControlError> {
    for list in tx.revocation_lists_of(ma_id)? {
        tx.delete(Kind::RevocationList, &list.id)?;
    }
    Ok(())
}
