//! Parquet files as pandas and polars write them: a time column (timestamp,
//! date, epoch integer or text) and numeric OHLCV columns.

use super::layout::{ColumnOverrides, ColumnRef, Columns, Field};
use super::rows::{Parsed, RejectReason, RowSink, parse_number};
use super::timestamp::{Stamp, TextStampParser, from_epoch};
use super::{ImportError, Layout, SourceFormat};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use engine::Timeframe;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

const DAY_MS: i64 = 86_400_000;

pub(crate) fn times(
    arr: &ArrayRef,
    parser: &mut TextStampParser,
) -> Result<Vec<Result<Stamp, RejectReason>>, String> {
    let n = arr.len();
    let bad = |v: String| Err(RejectReason::BadTime { value: v });
    let mut out = Vec::with_capacity(n);
    macro_rules! ints {
        ($t:ty, $f:expr) => {{
            let a = arr.as_primitive::<$t>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Err(RejectReason::MissingField { field: "time" })
                } else {
                    Ok($f(a.value(i) as i64))
                });
            }
        }};
    }
    match arr.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            ints!(TimestampSecondType, |v: i64| Stamp::from_utc_ms(v * 1000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            ints!(TimestampMillisecondType, Stamp::from_utc_ms)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => ints!(
            TimestampMicrosecondType,
            |v: i64| Stamp::from_utc_ms(v.div_euclid(1000))
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            ints!(TimestampNanosecondType, |v: i64| Stamp::from_utc_ms(
                v.div_euclid(1_000_000)
            ))
        }
        DataType::Date32 => ints!(Date32Type, |d: i64| Stamp::from_utc_ms(d * DAY_MS)),
        DataType::Date64 => ints!(Date64Type, Stamp::from_utc_ms),
        DataType::Int64 => ints!(Int64Type, from_epoch),
        DataType::Int32 => ints!(Int32Type, from_epoch),
        DataType::UInt64 => ints!(UInt64Type, from_epoch),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings: Vec<Option<String>> = match arr.data_type() {
                DataType::Utf8 => arr
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.map(str::to_owned))
                    .collect(),
                DataType::LargeUtf8 => arr
                    .as_string::<i64>()
                    .iter()
                    .map(|s| s.map(str::to_owned))
                    .collect(),
                _ => arr
                    .as_string_view()
                    .iter()
                    .map(|s| s.map(str::to_owned))
                    .collect(),
            };
            for s in strings {
                out.push(match s {
                    None => Err(RejectReason::MissingField { field: "time" }),
                    Some(s) => parser
                        .parse(&s)
                        .map_or_else(|| bad(s.chars().take(40).collect()), Ok),
                });
            }
        }
        other => {
            return Err(format!(
                "time column has type {other}, expected a timestamp, date, integer or string"
            ));
        }
    }
    Ok(out)
}

pub(crate) fn numbers(
    arr: &ArrayRef,
    field: &'static str,
) -> Result<Vec<Result<f64, RejectReason>>, String> {
    let n = arr.len();
    let missing = || Err(RejectReason::MissingField { field });
    macro_rules! prim {
        ($t:ty) => {{
            let a = arr.as_primitive::<$t>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        missing()
                    } else {
                        Ok(a.value(i) as f64)
                    }
                })
                .collect()
        }};
    }
    Ok(match arr.data_type() {
        DataType::Float64 => prim!(Float64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::Utf8 => arr
            .as_string::<i32>()
            .iter()
            .map(|s| s.map_or_else(missing, |s| parse_number(field, s)))
            .collect(),
        DataType::LargeUtf8 => arr
            .as_string::<i64>()
            .iter()
            .map(|s| s.map_or_else(missing, |s| parse_number(field, s)))
            .collect(),
        other => {
            return Err(format!(
                "{field} column has type {other}, expected a number"
            ));
        }
    })
}

pub fn read(
    path: &Path,
    tf: Timeframe,
    overrides: &ColumnOverrides,
    mut progress: impl FnMut(u64),
) -> Result<(Parsed, Layout), ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let perr = |e: parquet::errors::ParquetError| ImportError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let layout_err = |message: String| ImportError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let headers: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // pandas' `to_parquet()` keeps an unnamed date index as `__index_level_0__`.
    let mut overrides = overrides.clone();
    if !overrides.0.iter().any(|(f, _)| *f == Field::Time)
        && !headers.iter().any(|h| Field::is_time_alias(h))
        && let Some(i) = builder.schema().fields().iter().position(|f| {
            f.name() == "__index_level_0__"
                && matches!(
                    f.data_type(),
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                )
        })
    {
        overrides.0.push((Field::Time, ColumnRef::Index(i)));
    }
    let columns = Columns::from_header(&headers, &overrides).map_err(layout_err)?;
    let reader = builder.with_batch_size(65_536).build().map_err(perr)?;

    let mut sink = RowSink::new(tf);
    let mut parser = TextStampParser::default();
    let mut row: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| ImportError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let t = times(batch.column(columns.get(Field::Time)), &mut parser).map_err(layout_err)?;
        let mut vals = Vec::with_capacity(5);
        for f in [
            Field::Open,
            Field::High,
            Field::Low,
            Field::Close,
            Field::Volume,
        ] {
            vals.push(numbers(batch.column(columns.get(f)), f.name()).map_err(layout_err)?);
        }
        'rows: for (i, stamp) in t.into_iter().enumerate() {
            row += 1;
            let stamp = match stamp {
                Ok(s) => s,
                Err(r) => {
                    sink.reject(row, r);
                    continue;
                }
            };
            let mut v = [0.0; 5];
            for (slot, col) in v.iter_mut().zip(&vals) {
                match &col[i] {
                    Ok(x) => *slot = *x,
                    Err(r) => {
                        sink.reject(row, r.clone());
                        continue 'rows;
                    }
                }
            }
            sink.push(row, stamp, v);
        }
        progress(row);
    }
    let layout = Layout {
        format: SourceFormat::Parquet,
        columns: columns.describe(Some(&headers)),
        time_format: parser.format().map(str::to_owned),
    };
    Ok((sink.finish(), layout))
}
