//! `[timings]`: the per-run timing report and its trend.

use serde::Deserialize;

use super::setting::Setting;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Timings {
    /// Alert when the execution phase is this much slower (0.25 = 25%) than
    /// the median of the comparable runs in the trend.
    pub regression: Setting<f64>,
    /// How many recent runs the trend shows and the alert compares against.
    pub trend: Setting<i64>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            regression: Setting::new(0.25),
            trend: Setting::new(20),
        }
    }
}
