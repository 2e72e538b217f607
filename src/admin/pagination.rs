//! List documents: one page of resource objects with Fastly's `links` and `meta`.

use serde_json::{json, Value};

use super::query::{Page, Query};
use crate::control::reads::Window;

/// Where the list lives, for absolute links: `http://host` and the path.
pub struct ListContext<'a> {
    pub base_url: &'a str,
    pub path: &'a str,
    pub query: &'a Query,
}

impl ListContext<'_> {
    fn link(&self, page: Page, number: u64) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query.others() {
            s.append_pair(k, v);
        }
        s.append_pair("page[number]", &number.to_string());
        s.append_pair("page[size]", &page.size.to_string());
        format!("{}{}?{}", self.base_url, self.path, s.finish())
    }
}

/// The rows of `page`, for the store to read (and no others).
pub fn window(page: Page) -> Window {
    Window {
        offset: page.number.saturating_sub(1).saturating_mul(page.size),
        limit: page.size,
    }
}

/// A list document. `per_page` always echoes the effective size (never 0: the Python client
/// raises otherwise); `prev`/`next` are null at the ends.
pub fn document(
    ctx: &ListContext<'_>,
    page: Page,
    total: u64,
    data: Vec<Value>,
    included: Option<Vec<Value>>,
) -> Value {
    let total_pages = total.div_ceil(page.size);
    let last = total_pages.max(1);
    let prev = (page.number > 1).then(|| ctx.link(page, (page.number - 1).min(last)));
    let next = (page.number < total_pages).then(|| ctx.link(page, page.number + 1));
    let mut doc = json!({
        "data": data,
        "links": {
            "self": ctx.link(page, page.number),
            "first": ctx.link(page, 1),
            "prev": prev,
            "next": next,
            "last": ctx.link(page, last),
        },
        "meta": {
            "per_page": page.size,
            "current_page": page.number,
            "record_count": total,
            "total_pages": total_pages,
        },
    });
    if let (Some(inc), Some(obj)) = (included, doc.as_object_mut()) {
        obj.insert("included".into(), Value::Array(inc));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(raw: &str, total: u64) -> Value {
        let q = Query::parse(Some(raw));
        let page = q.page(20).unwrap();
        let ctx = ListContext {
            base_url: "http://h",
            path: "/tls/x",
            query: &q,
        };
        document(&ctx, page, total, vec![], None)
    }

    #[test]
    fn empty_list_keeps_per_page_and_null_ends() {
        let d = doc("", 0);
        assert_eq!(d["meta"]["per_page"], 20);
        assert_eq!(d["meta"]["total_pages"], 0);
        assert!(d["links"]["prev"].is_null() && d["links"]["next"].is_null());
        assert_eq!(
            d["links"]["last"],
            "http://h/tls/x?page%5Bnumber%5D=1&page%5Bsize%5D=20"
        );
    }

    #[test]
    fn middle_last_and_beyond() {
        let d = doc("include=a&page%5Bnumber%5D=2&page%5Bsize%5D=1", 3);
        assert_eq!(
            d["links"]["next"],
            "http://h/tls/x?include=a&page%5Bnumber%5D=3&page%5Bsize%5D=1"
        );
        assert_eq!(
            d["links"]["prev"],
            "http://h/tls/x?include=a&page%5Bnumber%5D=1&page%5Bsize%5D=1"
        );
        let d = doc("page[number]=3&page[size]=1", 3);
        assert!(d["links"]["next"].is_null());
        let d = doc("page[number]=9&page[size]=1", 3);
        assert!(d["links"]["next"].is_null());
        assert_eq!(
            d["links"]["prev"],
            "http://h/tls/x?page%5Bnumber%5D=3&page%5Bsize%5D=1"
        );
        assert_eq!(d["meta"]["current_page"], 9);
    }

    #[test]
    fn windows() {
        let w = window(Page { number: 2, size: 2 });
        assert_eq!((w.offset, w.limit), (2, 2));
        let far = window(Page {
            number: u64::MAX,
            size: 100,
        });
        assert_eq!((far.offset, far.limit), (u64::MAX, 100));
    }
}
