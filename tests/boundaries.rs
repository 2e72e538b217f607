//! The module boundaries of docs/architecture.md, checked against the code: every reference from
//! one top-level module of `src/` to another (`use crate::…`, a `crate::…` or `super::…` path in
//! code, types or macro input) must be an arrow the document's table allows, every module of
//! `src/lib.rs` must have a row in it, and `model` must not use the runtime crates the document
//! forbids it. Code under `#[cfg(test)]` is not checked (unit tests wire parts together the way
//! `app` does). The source is parsed with `syn`, so paths split over lines, `use` groups and
//! `super::` chains are resolved as the compiler would.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

const DOC: &str = "docs/architecture.md";

/// A `module → module` reference found in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Arrow {
    from: String,
    to: String,
    file: String,
}

/// What one source file refers to, by the module it belongs to.
#[derive(Default)]
struct Found {
    /// Arrows between top-level modules (references within one module are left out).
    arrows: BTreeSet<Arrow>,
    /// The first segment of every other path, per top-level module: external crates.
    externals: BTreeMap<String, BTreeSet<String>>,
    /// References the checker cannot resolve safely (a glob of the crate root), as messages.
    unresolved: Vec<String>,
}

/// Walks one file's items in the module `module` (its path from the crate root), skipping
/// `#[cfg(test)]` code.
struct Walker<'a> {
    module: Vec<String>,
    file: String,
    found: &'a mut Found,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

impl Walker<'_> {
    /// Record a path given as its leading identifiers (as many as resolution needs).
    fn reference(&mut self, segments: &[String]) {
        let Some(from) = self.module.first().cloned() else {
            return; // src/lib.rs declares modules only
        };
        let Some(first) = segments.first() else {
            return;
        };
        let target = match first.as_str() {
            "crate" => segments.get(1).cloned(),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                match self.module.len().checked_sub(ups) {
                    // Still inside this top-level module.
                    Some(depth) if depth > 0 => None,
                    // At the crate root: the next segment names the module.
                    Some(_) => segments.get(ups).cloned(),
                    None => None, // the compiler refuses it
                }
            }
            "self" | "Self" => None,
            other => {
                self.found
                    .externals
                    .entry(from.clone())
                    .or_default()
                    .insert(other.to_string());
                None
            }
        };
        match target.as_deref() {
            Some("*") => self.found.unresolved.push(format!(
                "{}: a glob import of the crate root hides which modules it uses",
                self.file
            )),
            Some(to) if to != from => {
                self.found.arrows.insert(Arrow {
                    from,
                    to: to.to_string(),
                    file: self.file.clone(),
                });
            }
            _ => {}
        }
    }

    /// Every path spelled out by a `use` tree.
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.with_last(prefix, n.ident.to_string()),
            syn::UseTree::Rename(r) => self.with_last(prefix, r.ident.to_string()),
            syn::UseTree::Glob(_) => self.with_last(prefix, "*".to_string()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn with_last(&mut self, prefix: &mut Vec<String>, last: String) {
        prefix.push(last);
        self.reference(prefix);
        prefix.pop();
    }

    /// `crate :: name` and `super :: …` sequences in macro input (also `$crate` in macro
    /// definitions), which syn leaves as tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let flat = flatten(tokens);
        for (i, tree) in flat.iter().enumerate() {
            let TokenTree::Ident(ident) = tree else {
                continue;
            };
            if ident != "crate" && ident != "super" {
                continue;
            }
            let mut segments = vec![ident.to_string()];
            let mut rest = flat.iter().skip(i + 1);
            while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(next)) =
                (rest.next(), rest.next(), rest.next())
            {
                if a.as_char() != ':' || b.as_char() != ':' {
                    break;
                }
                match next {
                    TokenTree::Ident(id) => segments.push(id.to_string()),
                    _ => break,
                }
                if segments.last().is_some_and(|s| s != "super") {
                    break;
                }
            }
            if segments.len() > 1 {
                self.reference(&segments);
            }
        }
    }
}

/// Tokens in order, with delimited groups opened (their delimiters dropped).
fn flatten(tokens: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for tree in tokens {
        match tree {
            TokenTree::Group(g) => out.extend(flatten(g.stream())),
            other => out.push(other),
        }
    }
    out
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::ExternCrate(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::ForeignMod(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::TraitAlias(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Union(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return syn::visit::visit_impl_item(self, item),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_impl_item(self, item);
        }
    }

    /// Inline modules change the module `super` starts from; file modules are walked by
    /// [`walk_file`].
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if let Some((_, items)) = &item.content {
            self.module.push(item.ident.to_string());
            for item in items {
                self.visit_item(item);
            }
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut prefix = Vec::new();
        self.use_tree(&mut prefix, &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        // A one-segment path is a local name, never another module.
        if segments.len() > 1 {
            self.reference(&segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// The file of `mod name;` declared in a module whose children live in `dir`.
fn module_file(dir: &Path, name: &str) -> PathBuf {
    let flat = dir.join(format!("{name}.rs"));
    if flat.is_file() {
        return flat;
    }
    let nested = dir.join(name).join("mod.rs");
    assert!(
        nested.is_file(),
        "mod {name}: neither {} nor {} exists",
        flat.display(),
        nested.display()
    );
    nested
}

/// Walk `file` (module `module`, children in `dir`) and every non-test module it declares.
fn walk_file(root: &Path, file: &Path, module: Vec<String>, dir: PathBuf, found: &mut Found) {
    let text = std::fs::read_to_string(file).unwrap();
    let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let name = file.strip_prefix(root).unwrap().display().to_string();
    walk_items(root, &ast.items, &name, module, dir, found);
}

fn walk_items(
    root: &Path,
    items: &[syn::Item],
    file: &str,
    module: Vec<String>,
    dir: PathBuf,
    found: &mut Found,
) {
    for item in items {
        if let syn::Item::Mod(m) = item {
            if is_cfg_test(&m.attrs) {
                continue;
            }
            assert!(
                !m.attrs.iter().any(|a| a.path().is_ident("path")),
                "{file}: mod {} has a #[path]; teach this test about it",
                m.ident
            );
            let mut child = module.clone();
            child.push(m.ident.to_string());
            let child_dir = dir.join(m.ident.to_string());
            match &m.content {
                Some((_, inner)) => walk_items(root, inner, file, child, child_dir, found),
                None => {
                    let path = module_file(&dir, &m.ident.to_string());
                    walk_file(root, &path, child, child_dir, found);
                }
            }
            continue;
        }
        let mut walker = Walker {
            module: module.clone(),
            file: file.to_string(),
            found,
        };
        walker.visit_item(item);
    }
}

/// The arrows and external crates of the whole library, from `src/lib.rs`.
fn scan() -> Found {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Found::default();
    walk_file(
        root,
        &root.join("src/lib.rs"),
        Vec::new(),
        root.join("src"),
        &mut found,
    );
    found
}

/// The modules `src/lib.rs` declares.
fn top_level_modules() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    syn::parse_file(&text)
        .unwrap()
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// The rows of the table between `<!-- {marker}: begin -->` and `<!-- {marker}: end -->`: the
/// module in the first cell, the backquoted names of the second (`—` for none).
fn table(doc: &str, marker: &str) -> BTreeMap<String, BTreeSet<String>> {
    let begin = format!("<!-- {marker}: begin -->");
    let end = format!("<!-- {marker}: end -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("{DOC} has no {begin}"));
    let stop = doc
        .find(&end)
        .unwrap_or_else(|| panic!("{DOC} has no {end}"));
    let mut rows = BTreeMap::new();
    for line in doc[start..stop].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `module` | `a`, `b` | why |" splits into ["", "`module`", "`a`, `b`", "why", ""].
        let (Some(module), Some(uses)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Some(module) = module.strip_prefix('`').and_then(|m| m.strip_suffix('`')) else {
            continue; // the header and separator rows
        };
        let uses: BTreeSet<String> = uses
            .split(',')
            .map(str::trim)
            .filter(|u| *u != "—")
            .map(|u| {
                u.strip_prefix('`')
                    .and_then(|u| u.strip_suffix('`'))
                    .unwrap_or_else(|| panic!("{DOC}: {module}: {u:?} is not `module`"))
                    .to_string()
            })
            .collect();
        assert!(
            rows.insert(module.to_string(), uses).is_none(),
            "{DOC}: two rows for {module}"
        );
    }
    rows
}

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC)).unwrap()
}

/// The arrows of `found` the table does not allow, one line each. References to crate-root
/// items that are not modules (exported macros) are no arrows.
fn violations(found: &Found, allowed: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let modules = top_level_modules();
    let mut out = found.unresolved.clone();
    for arrow in found.arrows.iter().filter(|a| modules.contains(&a.to)) {
        let ok = allowed
            .get(&arrow.from)
            .is_some_and(|uses| uses.contains(&arrow.to));
        if !ok {
            out.push(format!(
                "{}: {} → {} is not an arrow {DOC} allows",
                arrow.file, arrow.from, arrow.to
            ));
        }
    }
    out
}

#[test]
fn every_arrow_between_modules_is_one_the_architecture_allows() {
    let found = scan();
    // The scan saw the code: the wiring module reaches most others.
    assert!(
        found
            .arrows
            .iter()
            .any(|a| a.from == "app" && a.to == "control"),
        "the scan found no app → control arrow; it is not reading the code"
    );
    let bad = violations(&found, &table(&doc(), "allowed-arrows"));
    assert!(bad.is_empty(), "\n{}\n", bad.join("\n"));
}

#[test]
fn every_module_has_a_row_and_every_row_a_module() {
    let modules = top_level_modules();
    let rows = table(&doc(), "allowed-arrows");
    let documented: BTreeSet<String> = rows.keys().cloned().collect();
    let missing: Vec<&String> = modules.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&modules).collect();
    assert!(
        missing.is_empty(),
        "modules without a row in {DOC}'s table: {missing:?}"
    );
    assert!(stale.is_empty(), "rows in {DOC} for no module: {stale:?}");
    for (module, uses) in &rows {
        let unknown: Vec<&String> = uses.difference(&modules).collect();
        assert!(
            unknown.is_empty(),
            "{DOC}: {module} may use {unknown:?}, which are not modules"
        );
    }
}

#[test]
fn model_uses_none_of_the_runtime_crates() {
    let found = scan();
    let forbidden = table(&doc(), "forbidden-crates");
    assert!(!forbidden.is_empty(), "{DOC} forbids nothing");
    for (module, crates) in forbidden {
        let used = found.externals.get(&module).cloned().unwrap_or_default();
        assert!(
            used.contains("std"),
            "the scan saw no std path in {module}; it is not reading the code"
        );
        let bad: Vec<&String> = used.intersection(&crates).collect();
        assert!(bad.is_empty(), "{module} uses {bad:?}, which {DOC} forbids");
    }
}

/// The checker itself: references of every shape are found and judged.
#[test]
fn the_checker_reports_every_shape_of_reference() {
    let source = r#"
        use crate::store::Reads;
        use crate::{admin::x, model::y};
        use super::super::fleet::Thing;
        use super::sibling::Z;
        fn f() -> crate::control::Applied {
            let _ = crate::origin::
                OriginClient::new();
            format!("{}", crate::app::NAME);
            foo!($crate::bench::run);
            super::super::super::demo::x();
        }
        #[cfg(test)]
        mod tests {
            use crate::devpki::Ca;
        }
        #[cfg(test)]
        fn helper() { crate::settings::x(); }
        mod inline {
            use super::super::super::super::hex::encode;
        }
    "#;
    let ast = syn::parse_file(source).unwrap();
    let mut found = Found::default();
    // As if it were src/proxy/a/b.rs: module proxy::a::b.
    let module = vec!["proxy".to_string(), "a".to_string(), "b".to_string()];
    walk_items(
        Path::new("/"),
        &ast.items,
        "src/proxy/a/b.rs",
        module,
        PathBuf::from("/nowhere"),
        &mut found,
    );
    let targets: BTreeSet<&str> = found.arrows.iter().map(|a| a.to.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "store", "admin", "model", "control", "origin", "app", "bench", "demo", "hex",
    ]
    .into();
    assert_eq!(targets, expected);
    let allowed: BTreeMap<String, BTreeSet<String>> =
        [("proxy".to_string(), ["model".to_string()].into())].into();
    let bad = violations(&found, &allowed);
    assert_eq!(bad.len(), expected.len() - 1, "{bad:?}");
    assert!(bad.contains(&format!(
        "src/proxy/a/b.rs: proxy → store is not an arrow {DOC} allows"
    )));
    // The file's own module (`super::sibling`, `super::super::fleet` within proxy) is no arrow.
    assert!(found.arrows.iter().all(|a| a.from == "proxy"));
}
