//! The `func` scope: parameters of the sequence templates being run (`$func:name`,
//! `get-property('func', 'name')`), one set per active `call-template`, innermost last.

use std::fmt;
use std::sync::Arc;

use super::payload::PayloadError;
use super::{MessageContext, Value};

/// A parameter whose value is computed each time it is read (`{{expression}}`).
pub(crate) trait Deferred: fmt::Debug + Send + Sync {
    /// The value for `msg` as it is now; `None` when there is none.
    fn value(&self, msg: &MessageContext) -> Option<Value>;

    /// Makes the payload available in the form [`Deferred::value`] reads.
    ///
    /// # Errors
    /// As [`MessageContext::load_xml`].
    fn prepare(&self, msg: &mut MessageContext) -> Result<(), PayloadError>;
}

/// One template parameter: a value fixed on entry, or one computed on each read.
#[derive(Debug, Clone)]
pub enum FuncParam {
    /// Evaluated when the template was entered (a literal or `{expression}`).
    Fixed(Value),
    /// Evaluated on every read (`{{expression}}`).
    Deferred(DeferredParam),
}

/// A parameter computed on every read (see [`FuncParam::Deferred`]).
#[derive(Debug, Clone)]
pub struct DeferredParam(pub(crate) Arc<dyn Deferred>);

impl From<Value> for FuncParam {
    fn from(value: Value) -> Self {
        FuncParam::Fixed(value)
    }
}

impl MessageContext {
    /// Enters a template with these parameter values.
    pub(crate) fn push_func_scope(&mut self, params: Vec<(String, FuncParam)>) {
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

    /// Makes the payload readable for the parameter `name` when it is computed on read.
    ///
    /// # Errors
    /// As [`Deferred::prepare`].
    pub(crate) fn prepare_func_param(&mut self, name: &str) -> Result<(), PayloadError> {
        let deferred = self.func_scopes.last().and_then(|scope| {
            scope.iter().find_map(|(n, v)| match v {
                FuncParam::Deferred(it) if n == name => Some(Arc::clone(&it.0)),
                _ => None,
            })
        });
        match deferred {
            Some(it) => it.prepare(self),
            None => Ok(()),
        }
    }

    /// The parameter `name` of the innermost template, as Synapse reads `$func:` (only
    /// the innermost call's parameters are visible); a deferred one is computed now.
    pub(crate) fn func_param(&self, name: &str) -> Option<Value> {
        let param = self
            .func_scopes
            .last()
            .and_then(|scope| scope.iter().find(|(n, _)| n == name).map(|(_, v)| v))?;
        match param {
            FuncParam::Fixed(value) => Some(value.clone()),
            FuncParam::Deferred(it) => it.0.value(self),
        }
    }
}
