//! Z-score scaling fitted on training rows only; ships with a model.

use serde::{Deserialize, Serialize};

/// Values beyond this many standard deviations are clipped.
pub const CLIP_SIGMA: f64 = 5.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScalerError {
    #[error("no training rows to fit the scaler on")]
    Empty,
    #[error("row {row}: {found} values, the scaler has {expected} features")]
    Width {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("row {row}: feature {feature} is {value}, not a finite number")]
    NotFinite {
        row: usize,
        feature: String,
        value: f64,
    },
}

/// Per-feature mean and standard deviation of the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub names: Vec<String>,
    pub mean: Vec<f64>,
    /// Population standard deviation; a constant feature gets 1 so it maps to 0.
    pub std: Vec<f64>,
    pub clip_sigma: f64,
    pub fitted_rows: usize,
}

impl Scaler {
    /// Fits on `rows` (training rows only; the caller picks them from a fold).
    pub fn fit<'a>(
        names: &[&str],
        rows: impl IntoIterator<Item = &'a [f64]>,
    ) -> Result<Scaler, ScalerError> {
        let k = names.len();
        // Welford: one pass, stable for millions of rows.
        let (mut n, mut mean, mut m2) = (0usize, vec![0.0; k], vec![0.0; k]);
        for (r, row) in rows.into_iter().enumerate() {
            check(names, r, row)?;
            n += 1;
            for j in 0..k {
                let d = row[j] - mean[j];
                mean[j] += d / n as f64;
                m2[j] += d * (row[j] - mean[j]);
            }
        }
        if n == 0 {
            return Err(ScalerError::Empty);
        }
        let std = m2
            .iter()
            .map(|&s| {
                let sd = (s / n as f64).sqrt();
                if sd > 0.0 { sd } else { 1.0 }
            })
            .collect();
        Ok(Scaler {
            names: names.iter().map(|s| s.to_string()).collect(),
            mean,
            std,
            clip_sigma: CLIP_SIGMA,
            fitted_rows: n,
        })
    }

    /// Scales one row in place: (x − mean) / std, clipped to ±`clip_sigma`.
    pub fn transform(&self, row: &mut [f64]) -> Result<(), ScalerError> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        check(&names, 0, row)?;
        for (j, x) in row.iter_mut().enumerate() {
            *x = ((*x - self.mean[j]) / self.std[j]).clamp(-self.clip_sigma, self.clip_sigma);
        }
        Ok(())
    }
}

fn check(names: &[&str], row: usize, values: &[f64]) -> Result<(), ScalerError> {
    if values.len() != names.len() {
        return Err(ScalerError::Width {
            row,
            expected: names.len(),
            found: values.len(),
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(j) => Err(ScalerError::NotFinite {
            row,
            feature: names[j].to_string(),
            value: values[j],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_on_training_rows_clips_and_round_trips_through_json() {
        let train: Vec<Vec<f64>> = (0..100).map(|i| vec![i as f64, 7.0]).collect();
        let s = Scaler::fit(&["a", "b"], train.iter().map(Vec::as_slice)).unwrap();
        assert!((s.mean[0] - 49.5).abs() < 1e-12);
        assert!((s.std[0] - (9999.0f64 / 12.0).sqrt()).abs() < 1e-9);
        let mut row = [49.5, 7.0];
        s.transform(&mut row).unwrap();
        assert_eq!(row, [0.0, 0.0]);
        let mut far = [1e9, 7.0];
        s.transform(&mut far).unwrap();
        assert_eq!(far[0], CLIP_SIGMA);
        let back: Scaler = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn refuses_bad_rows_by_name() {
        let rows = [vec![1.0, 2.0], vec![1.0, f64::NAN]];
        let err = Scaler::fit(&["a", "b"], rows.iter().map(Vec::as_slice)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1: feature b is NaN, not a finite number"
        );
        assert_eq!(
            Scaler::fit(&["a"], std::iter::empty()).unwrap_err(),
            ScalerError::Empty
        );
    }
}
