//! The `func` scope: parameters of the sequence templates being run (`$func:name`,
//! `get-property('func', 'name')`), one set per active `call-template`, innermost last.

use super::{MessageContext, Value};

impl MessageContext {
    /// Enters a template with these parameter values.
    pub(crate) fn push_func_scope(&mut self, params: Vec<(String, Value)>) {
        self.func_scopes.push(params);
    }

    /// Leaves the innermost template.
    pub(crate) fn pop_func_scope(&mut self) {
        self.func_scopes.pop();
    }

    /// How many templates are active.
    pub(crate) fn func_depth(&self) -> usize {
        self.func_scopes.len()
    }

    /// Leaves every template entered after `depth` (a flow ended inside them).
    pub(crate) fn truncate_func_scopes(&mut self, depth: usize) {
        self.func_scopes.truncate(depth);
    }

    /// The parameter `name` of the innermost template, as Synapse reads `$func:` (only
    /// the innermost call's parameters are visible).
    pub(crate) fn func_param(&self, name: &str) -> Option<&Value> {
        self.func_scopes
            .last()
            .and_then(|scope| scope.iter().find(|(n, _)| n == name).map(|(_, v)| v))
    }
}
