//! The live lifecycle cells of one configuration generation (the states and their rules are
//! plain vocabulary, in `base/lifecycle.rs`).

use std::sync::Arc;

use crate::base::lifecycle::ApiLife;
use crate::config::{ApiId, Config};

/// The lifecycle cells of one configuration generation, indexed by [`ApiId`].
#[derive(Debug, Default)]
pub(crate) struct ApiStates {
    apis: Vec<Arc<ApiLife>>,
}

// === impl ApiStates ===

impl ApiStates {
    /// The cells for `config`. An API that `previous` also has, with the same declared
    /// state, keeps its cell (and so any change made at run time); the others start in
    /// their declared state.
    pub(crate) fn build(config: &Config, previous: Option<&ApiStates>) -> ApiStates {
        let apis = config
            .apis
            .iter()
            .map(|api| {
                previous
                    .and_then(|p| p.named(&api.name))
                    .filter(|old| old.declared() == api.lifecycle)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(ApiLife::new(&api.name, api.lifecycle)))
            })
            .collect();
        ApiStates { apis }
    }

    /// The cell of API `id`.
    ///
    /// # Panics
    /// Never for an id of the configuration these states were built from.
    pub(crate) fn get(&self, id: ApiId) -> &Arc<ApiLife> {
        &self.apis[id.0 as usize]
    }

    /// The cell of the API called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<&Arc<ApiLife>> {
        self.apis.iter().find(|a| a.name() == name)
    }
}
