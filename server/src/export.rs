//! `traderai export`: candles out as CSV or Parquet that pandas and polars
//! read without arguments. The first column is the bar's open time.

use arrow_array::{ArrayRef, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use engine::Candle;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl ExportFormat {
    /// From the output file's extension; CSV unless it says Parquet.
    pub fn from_path(p: &Path) -> ExportFormat {
        match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("parquet" | "pq") => ExportFormat::Parquet,
            _ => ExportFormat::Csv,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
}

/// Candles: `open_time, open, high, low, close, volume`.
pub fn write(path: &Path, format: ExportFormat, candles: &[Candle]) -> Result<(), ExportError> {
    let col = |f: fn(&Candle) -> f64| candles.iter().map(|c| Some(f(c))).collect::<Vec<_>>();
    let columns = [
        ("open", col(|c| c.open)),
        ("high", col(|c| c.high)),
        ("low", col(|c| c.low)),
        ("close", col(|c| c.close)),
        ("volume", col(|c| c.volume)),
    ];
    let times: Vec<i64> = candles.iter().map(|c| c.open_time).collect();
    write_columns(path, format, &times, &columns)
}

/// A table keyed by bar open time: `open_time` (ISO 8601 in CSV, a UTC
/// millisecond timestamp in Parquet) then one float column per entry, empty
/// (CSV) or null (Parquet) where a value is `None`.
pub fn write_columns(
    path: &Path,
    format: ExportFormat,
    open_times: &[i64],
    columns: &[(&str, Vec<Option<f64>>)],
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let enc = |e: &dyn std::fmt::Display| ExportError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != open_times.len()) {
        return Err(enc(&format!(
            "column {name} has {} values for {} bars",
            c.len(),
            open_times.len()
        )));
    }
    let file = std::fs::File::create(path).map_err(io)?;
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
            let header: Vec<&str> = std::iter::once("open_time")
                .chain(columns.iter().map(|(n, _)| *n))
                .collect();
            w.write_record(&header).map_err(|e| enc(&e))?;
            let mut row = Vec::with_capacity(columns.len() + 1);
            for (i, t) in open_times.iter().enumerate() {
                row.clear();
                row.push(crate::time::iso(*t));
                row.extend(
                    columns
                        .iter()
                        .map(|(_, c)| c[i].map(|v| v.to_string()).unwrap_or_default()),
                );
                w.write_record(&row).map_err(|e| enc(&e))?;
            }
            w.flush().map_err(io)?;
        }
        ExportFormat::Parquet => {
            let fields: Vec<Field> = std::iter::once(Field::new(
                "open_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ))
            .chain(
                columns
                    .iter()
                    .map(|(n, c)| Field::new(*n, DataType::Float64, c.iter().any(Option::is_none))),
            )
            .collect();
            let schema = Arc::new(Schema::new(fields));
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w =
                ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| enc(&e))?;
            let step = 1 << 16;
            for start in (0..open_times.len()).step_by(step) {
                let end = (start + step).min(open_times.len());
                let mut arrays: Vec<ArrayRef> = vec![Arc::new(
                    TimestampMillisecondArray::from_iter_values(
                        open_times[start..end].iter().copied(),
                    )
                    .with_timezone("UTC"),
                )];
                arrays.extend(columns.iter().map(|(_, c)| {
                    Arc::new(Float64Array::from(c[start..end].to_vec())) as ArrayRef
                }));
                let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| enc(&e))?;
                w.write(&batch).map_err(|e| enc(&e))?;
            }
            w.close().map_err(|e| enc(&e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::layout::ColumnOverrides;
    use engine::Timeframe;

    fn sample() -> Vec<Candle> {
        (0..1000)
            .map(|i| Candle {
                open_time: 1_609_459_200_000 + i * 900_000,
                open: 1.0 + i as f64 / 7.0,
                high: 3.0 + i as f64,
                low: 0.5,
                close: 1.25,
                volume: i as f64 * 0.1,
            })
            .collect()
    }

    /// What we write, our importer reads back bit for bit, in both formats.
    #[test]
    fn round_trips_through_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for (name, fmt) in [
            ("c.csv", ExportFormat::Csv),
            ("c.parquet", ExportFormat::Parquet),
        ] {
            let p = dir.path().join(name);
            assert_eq!(ExportFormat::from_path(&p), fmt);
            write(&p, fmt, &sample()).unwrap();
            let (parsed, _) = crate::import::parse_file(
                &p,
                Timeframe::M15,
                None,
                &ColumnOverrides::default(),
                true,
            )
            .unwrap();
            assert_eq!(parsed.candles, sample(), "{name}");
            assert_eq!(parsed.rejected_count + parsed.off_grid_count, 0);
        }
    }
}
