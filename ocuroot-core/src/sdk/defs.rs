//! Function identity: where each `def` of an evaluated file is, and which file a function
//! value comes from.
//!
//! Starlark does not expose a function's definition position, so the loader records, for
//! each file it evaluates, the positions of its `def`s (from the AST) and, once frozen, the
//! module itself ([`FileRegistry`]). A function value is then identified by its name and by
//! finding the module whose global of that name is the very same value. The position is
//! that of the function *name* (`def build():` at line 3 gives `file:3:5`), as in the
//! original tool, so function keys (`name/file:line:col`) stay compatible with existing
//! state.

use std::collections::HashMap;

use starlark::environment::FrozenModule;
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::syntax::ast::{AstStmt, StmtP};
use starlark::values::Value;

use crate::model::FnDef;

/// The position of one `def` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefPos {
    /// The function name.
    pub name: String,
    /// 1-based line of the name.
    pub line: usize,
    /// 1-based column of the name.
    pub col: usize,
    /// True for a `def` that is not nested in another `def`.
    pub top_level: bool,
}

/// The files evaluated so far: their `def` positions and frozen modules.
#[derive(Debug, Clone, Default)]
pub struct FileRegistry {
    /// `def` positions by file (relative to the repo root, `/`-separated).
    pub defs: HashMap<String, Vec<DefPos>>,
    /// Frozen modules by file, in evaluation order.
    pub modules: Vec<(String, FrozenModule)>,
    /// The files being evaluated, innermost last.
    pub current: Vec<String>,
}

impl FileRegistry {
    /// Records the `def`s of `file` and marks it as being evaluated.
    pub fn enter(&mut self, file: &str, ast: &AstModule) {
        let mut defs = Vec::new();
        collect_defs(ast, ast.statement(), 0, &mut defs);
        self.defs.insert(file.to_owned(), defs);
        self.current.push(file.to_owned());
    }

    /// Records the frozen module of `file`, which is no longer being evaluated.
    pub fn leave(&mut self, file: &str, module: Option<&FrozenModule>) {
        if let Some(pos) = self.current.iter().rposition(|f| f == file) {
            self.current.remove(pos);
        }
        if let Some(module) = module {
            self.modules.push((file.to_owned(), module.clone()));
        }
    }

    /// Returns the last top-level `def` named `name` in `file` (the one its global refers to).
    pub fn top_level_def(&self, file: &str, name: &str) -> Option<&DefPos> {
        self.defs
            .get(file)?
            .iter()
            .rev()
            .find(|d| d.top_level && d.name == name)
    }

    /// Identifies the function value `f`: its [`FnDef`] and whether it is a top-level `def`.
    ///
    /// Returns `None` for values that are not Starlark functions.
    pub fn identify<'v>(
        &self,
        eval: &Evaluator<'v, '_, '_>,
        f: Value<'v>,
    ) -> Option<(FnDef, bool)> {
        f.parameters_spec()?;
        let name = f.function_name()?.to_owned();
        // The files whose global `name` is this very value: the module being evaluated, then
        // the frozen ones. A loaded name is a global of the loading file too, so the file is
        // the one that also has the top-level `def`.
        let mut files = Vec::new();
        if let Some(current) = self.current.last()
            && eval.module().get(&name).is_some_and(|v| v.ptr_eq(f))
        {
            files.push(current.as_str());
        }
        for (fname, module) in self.modules.iter().rev() {
            if let Ok((v, _)) = module.get_any_visibility(&name)
                && v.value().ptr_eq(f)
            {
                files.push(fname.as_str());
            }
        }
        for file in files {
            if let Some(def) = self.top_level_def(file, &name) {
                let pos = format!("{file}:{}:{}", def.line, def.col);
                return Some((FnDef { name, pos }, true));
            }
        }
        // A nested def or a lambda: report where such a def is, for the error message.
        let mut files: Vec<&String> = self.current.iter().rev().collect();
        files.extend(self.modules.iter().rev().map(|(f, _)| f));
        for file in files {
            if let Some(def) = self
                .defs
                .get(file)
                .and_then(|defs| defs.iter().find(|d| d.name == name))
            {
                let pos = format!("{file}:{}:{}", def.line, def.col);
                return Some((FnDef { name, pos }, false));
            }
        }
        Some((
            FnDef {
                name,
                pos: "<unknown>".to_owned(),
            },
            false,
        ))
    }
}

fn collect_defs(ast: &AstModule, stmt: &AstStmt, depth: usize, out: &mut Vec<DefPos>) {
    if let StmtP::Def(def) = &stmt.node {
        let span = ast.file_span(def.name.span).resolve_span();
        out.push(DefPos {
            name: def.name.node.ident.clone(),
            line: span.begin.line + 1,
            col: span.begin.column + 1,
            top_level: depth == 0,
        });
        collect_defs(ast, &def.body, depth + 1, out);
        return;
    }
    stmt.visit_stmt(|child| collect_defs(ast, child, depth, out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn def_positions() {
        let src = "def a():\n    def b():\n        pass\n    return b\nif True:\n    def c(x):\n        pass\n";
        let ast =
            AstModule::parse("f.star", src.to_owned(), &crate::sdk::dialect()).expect("parses");
        let mut reg = FileRegistry::default();
        reg.enter("f.star", &ast);
        let defs = &reg.defs["f.star"];
        let got: Vec<(&str, usize, usize, bool)> = defs
            .iter()
            .map(|d| (d.name.as_str(), d.line, d.col, d.top_level))
            .collect();
        assert_eq!(
            got,
            vec![("a", 1, 5, true), ("b", 2, 9, false), ("c", 6, 9, true)]
        );
    }
}
