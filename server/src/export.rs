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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

pub fn write(path: &Path, format: ExportFormat, candles: &[Candle]) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let enc = |e: &dyn std::fmt::Display| ExportError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(io)?;
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
            w.write_record(["open_time", "open", "high", "low", "close", "volume"])
                .map_err(|e| enc(&e))?;
            for c in candles {
                w.write_record([
                    crate::time::iso(c.open_time),
                    c.open.to_string(),
                    c.high.to_string(),
                    c.low.to_string(),
                    c.close.to_string(),
                    c.volume.to_string(),
                ])
                .map_err(|e| enc(&e))?;
            }
            w.flush().map_err(io)?;
        }
        ExportFormat::Parquet => {
            let schema = Arc::new(Schema::new(vec![
                Field::new(
                    "open_time",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
                Field::new("open", DataType::Float64, false),
                Field::new("high", DataType::Float64, false),
                Field::new("low", DataType::Float64, false),
                Field::new("close", DataType::Float64, false),
                Field::new("volume", DataType::Float64, false),
            ]));
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w =
                ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| enc(&e))?;
            for chunk in candles.chunks(1 << 16) {
                let col = |f: fn(&Candle) -> f64| {
                    Arc::new(Float64Array::from_iter_values(chunk.iter().map(f))) as ArrayRef
                };
                let time = Arc::new(
                    TimestampMillisecondArray::from_iter_values(chunk.iter().map(|c| c.open_time))
                        .with_timezone("UTC"),
                ) as ArrayRef;
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        time,
                        col(|c| c.open),
                        col(|c| c.high),
                        col(|c| c.low),
                        col(|c| c.close),
                        col(|c| c.volume),
                    ],
                )
                .map_err(|e| enc(&e))?;
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
