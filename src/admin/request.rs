//! Parsing of JSON:API request documents with errors that name the member at fault.
//! Lenient where real clients need it (docs/admin-api.md, "Compatibility with Fastly's
//! clients"): missing or empty `type`, PATCH with or without `data.id`, `included` stubs
//! (ignored), unknown attributes (ignored).

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::control::RelationshipChange;

/// The primary resource object of a request.
#[derive(Debug)]
pub struct ResourceObject {
    attributes: Map<String, Value>,
    relationships: Map<String, Value>,
}

/// Parse a request body whose primary data must be of `kind`; `path_id` is the id in the URL
/// (PATCH), which a present `data.id` must equal.
pub fn parse(body: &[u8], kind: &str, path_id: Option<&str>) -> Result<ResourceObject, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body can't be blank: expected a JSON:API document with a data member",
        ));
    }
    let doc: Value = super::strict_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    let data = match doc {
        Value::Object(mut top) => top.remove("data"),
        _ => return Err(ApiError::bad_request("request body must be a JSON object")),
    };
    let mut data = match data {
        Some(Value::Object(d)) => d,
        Some(_) => return Err(ApiError::bad_request("data must be an object")),
        None => return Err(ApiError::bad_request("data can't be blank")),
    };
    check_type(data.get("type"), kind)?;
    check_id(data.get("id"), path_id)?;
    Ok(ResourceObject {
        attributes: object_member(&mut data, "attributes")?,
        relationships: object_member(&mut data, "relationships")?,
    })
}

fn check_type(value: Option<&Value>, kind: &str) -> Result<(), ApiError> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t)) if t.is_empty() || t == kind => Ok(()),
        Some(Value::String(t)) => Err(ApiError::conflict(format!(
            "data.type {t:?} does not match this endpoint (expected {kind:?})"
        ))),
        Some(_) => Err(ApiError::bad_request("data.type must be a string")),
    }
}

fn check_id(value: Option<&Value>, path_id: Option<&str>) -> Result<(), ApiError> {
    match (value, path_id) {
        (None | Some(Value::Null), _) => Ok(()),
        (Some(Value::String(id)), Some(path)) if !id.is_empty() && id != path => {
            Err(ApiError::conflict(format!(
                "data.id {id:?} does not match the id in the path ({path:?})"
            )))
        }
        (Some(Value::String(_)), _) => Ok(()),
        (Some(_), _) => Err(ApiError::bad_request("data.id must be a string")),
    }
}

fn object_member(
    data: &mut Map<String, Value>,
    name: &str,
) -> Result<Map<String, Value>, ApiError> {
    match data.remove(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ApiError::bad_request(format!(
            "data.{name} must be an object"
        ))),
    }
}

impl ResourceObject {
    fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name).filter(|v| !v.is_null())
    }

    /// A string attribute; absent or null → None.
    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.attribute(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "data.attributes.{name} must be a string"
            ))),
        }
    }

    /// A string attribute that may be cleared: absent → None; null → Some(None).
    pub fn nullable_string(&self, name: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.attributes.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(ApiError::bad_request(format!(
                "data.attributes.{name} must be a string or null"
            ))),
        }
    }

    /// A boolean attribute; absent or null → None.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.attribute(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_request(format!(
                "data.attributes.{name} must be a boolean (true or false)"
            ))),
        }
    }

    /// A list-of-strings attribute; absent or null → None.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let err = || {
            ApiError::bad_request(format!(
                "data.attributes.{name} must be an array of strings"
            ))
        };
        match self.attribute(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(err))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(err()),
        }
    }

    /// A to-one relationship: absent → Absent; `data: null` or a member without an id →
    /// Clear (what Terraform sends to detach); a member with an id → Set.
    pub fn relationship(&self, name: &str, kind: &str) -> Result<RelationshipChange, ApiError> {
        let Some(rel) = self.relationships.get(name) else {
            return Ok(RelationshipChange::Absent);
        };
        let path = format!("data.relationships.{name}");
        let data = match rel {
            Value::Null => return Ok(RelationshipChange::Absent),
            Value::Object(o) => o.get("data"),
            _ => return Err(ApiError::bad_request(format!("{path} must be an object"))),
        };
        let member = match data {
            None => return Ok(RelationshipChange::Absent),
            Some(Value::Null) => return Ok(RelationshipChange::Clear),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "{path}.data must be an object or null"
                )))
            }
        };
        match member.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t.is_empty() || t == kind => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "{path}.data.type must be {kind:?}"
                )))
            }
        }
        match member.get("id") {
            None | Some(Value::Null) => Ok(RelationshipChange::Clear),
            Some(Value::String(id)) if id.is_empty() => Ok(RelationshipChange::Clear),
            Some(Value::String(id)) => Ok(RelationshipChange::Set(id.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "{path}.data.id must be a string"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Result<ResourceObject, ApiError> {
        parse(body.as_bytes(), "mutual_authentication", Some("ID1"))
    }

    #[test]
    fn accepts_what_clients_send() {
        assert!(
            p(r#"{"data":{"type":"mutual_authentication","attributes":{"enforced":true}}}"#)
                .is_ok()
        );
        assert!(p(r#"{"data":{"type":"","id":"ID1","attributes":{}}}"#).is_ok());
        assert!(p(r#"{"data":{"attributes":{}},"included":[{"type":"x"}]}"#).is_ok());
    }

    #[test]
    fn refuses_wrong_shapes_with_the_member_named() {
        assert!(p("").unwrap_err().detail.contains("blank"));
        assert!(p("{").unwrap_err().detail.contains("not valid JSON"));
        assert!(p("[]").unwrap_err().detail.contains("JSON object"));
        assert!(p(r#"{"data":[]}"#)
            .unwrap_err()
            .detail
            .contains("data must be an object"));
        let e = p(r#"{"data":{"type":"mutual_authentications"}}"#).unwrap_err();
        assert_eq!(e.status, 409);
        let e = p(r#"{"data":{"id":"OTHER"}}"#).unwrap_err();
        assert_eq!(e.status, 409);
        let r = p(r#"{"data":{"attributes":{"enforced":"true","name":5}}}"#).unwrap();
        assert!(r
            .boolean("enforced")
            .unwrap_err()
            .detail
            .contains("data.attributes.enforced"));
        assert!(r
            .string("name")
            .unwrap_err()
            .detail
            .contains("data.attributes.name"));
    }

    #[test]
    fn relationships() {
        let r = p(r#"{"data":{"relationships":{
            "a":{"data":null},
            "b":{"data":{"type":"mutual_authentication"}},
            "c":{"data":{"type":"mutual_authentication","id":"X"}},
            "d":{"data":{"type":"tls_certificate","id":"X"}}}}}"#)
        .unwrap();
        let k = "mutual_authentication";
        assert_eq!(r.relationship("a", k).unwrap(), RelationshipChange::Clear);
        assert_eq!(r.relationship("b", k).unwrap(), RelationshipChange::Clear);
        assert_eq!(
            r.relationship("c", k).unwrap(),
            RelationshipChange::Set("X".into())
        );
        assert!(r.relationship("d", k).is_err());
        assert_eq!(r.relationship("zz", k).unwrap(), RelationshipChange::Absent);
    }
}
