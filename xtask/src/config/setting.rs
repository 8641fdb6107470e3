//! `Setting<T>`: a config value that remembers where in `testing.toml` it came from.

use std::ops::{Deref, Range};

use serde::{Deserialize, Deserializer};

/// A value plus the byte span it was read from (`None` for built-in defaults),
/// so validation errors can point at `testing.toml:line:col`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

impl<T> Setting<T> {
    /// A default value that does not appear in the file.
    pub fn new(value: T) -> Self {
        Setting { value, span: None }
    }
}

impl<T: Default> Default for Setting<T> {
    fn default() -> Self {
        Setting::new(T::default())
    }
}

impl<T> Deref for Setting<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        Ok(Setting {
            span: Some(spanned.span()),
            value: spanned.into_inner(),
        })
    }
}
