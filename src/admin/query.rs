//! Query strings: percent-decoded keys (clients send `page%5Bnumber%5D`), pagination,
//! `include` lists and filters. Unknown parameters are ignored.

use super::error::ApiError;

/// The decoded query parameters of a request, in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// A requested page: 1-based number and size (1..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

/// Largest page size clients accept (the Python client refuses others).
pub const MAX_PAGE_SIZE: u64 = 100;

impl Query {
    /// Decode a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parameters other than the page ones, for building links.
    pub fn others(&self) -> impl Iterator<Item = &(String, String)> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "page[number]" && k != "page[size]")
    }

    /// `page[number]` and `page[size]`, with `default_size` when absent.
    pub fn page(&self, default_size: u64) -> Result<Page, ApiError> {
        let number = match self.get("page[number]") {
            None | Some("") => 1,
            Some(v) => v.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "page[number] must be a positive integer, got {v:?}"
                ))
            })?,
        };
        let size = match self.get("page[size]") {
            None | Some("") => default_size,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "page[size] must be an integer from 1 to {MAX_PAGE_SIZE}, got {v:?}"
                    ))
                })?,
        };
        Ok(Page { number, size })
    }

    /// The `include` list. Names in `supported` are returned; names in `known` are accepted
    /// and yield nothing (relationships we do not model); anything else is a 400.
    pub fn includes(&self, supported: &[&str], known: &[&str]) -> Result<Vec<String>, ApiError> {
        let Some(raw) = self.get("include") else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if supported.contains(&name) {
                out.push(name.to_string());
            } else if !known.contains(&name) {
                return Err(ApiError::bad_request(format!(
                    "include {name:?} is not supported here (supported: {})",
                    supported.join(", ")
                )));
            }
        }
        Ok(out)
    }

    /// A boolean filter such as `filter[in_use]`.
    pub fn bool_filter(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(format!(
                "{key} must be true or false, got {v:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_encoded_keys() {
        let q = Query::parse(Some(
            "page%5Bnumber%5D=2&page%5Bsize%5D=5&include=a%2Cb&x=1",
        ));
        assert_eq!(q.page(20).unwrap(), Page { number: 2, size: 5 });
        assert_eq!(q.includes(&["a", "b"], &[]).unwrap(), vec!["a", "b"]);
        assert_eq!(q.others().count(), 2);
    }

    #[test]
    fn page_bounds() {
        assert_eq!(
            Query::parse(None).page(100).unwrap(),
            Page {
                number: 1,
                size: 100
            }
        );
        for bad in [
            "page[size]=0",
            "page[size]=101",
            "page[size]=x",
            "page[number]=0",
            "page[number]=-1",
        ] {
            assert!(Query::parse(Some(bad)).page(20).is_err(), "{bad}");
        }
    }

    #[test]
    fn includes_and_filters() {
        let q = Query::parse(Some("include=tls_subscriptions&filter[in_use]=maybe"));
        assert!(q
            .includes(&["tls_activations"], &["tls_subscriptions"])
            .unwrap()
            .is_empty());
        assert!(q.includes(&["tls_activations"], &[]).is_err());
        assert!(q.bool_filter("filter[in_use]").is_err());
        assert_eq!(q.bool_filter("filter[other]").unwrap(), None);
    }
}
