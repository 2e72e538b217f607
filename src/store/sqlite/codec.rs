//! Encoding of list-valued columns (JSON arrays of strings in TEXT columns).

use crate::store::StoreError;

/// Encode a string list for a TEXT column.
pub fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

/// Decode a string list written by `encode_list`.
pub fn decode_list(text: &str, column: &'static str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(column))
}
