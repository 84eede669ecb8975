//! CSV → Parquet: the Parquet files hold the CSV's values with the documented types.

mod common;

use common::{fixture_copy, read_csv};
use polars::prelude::{DataType, ParquetReader, SerReader};
use sculpt_report::write_tables;

fn read_parquet(path: &std::path::Path) -> polars::prelude::DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

#[test]
fn parquet_matches_csv_with_documented_types() {
    let dir = fixture_copy("tpu-2obj", "parquet");
    let written = write_tables(&dir).unwrap();
    assert_eq!(written.written, vec![dir.join("candidates.parquet"), dir.join("front.parquet")]);
    assert!(written.missing.is_empty());
    for stem in ["candidates", "front"] {
        let csv = read_csv(&dir.join(format!("{stem}.csv")));
        let df = read_parquet(&dir.join(format!("{stem}.parquet")));
        assert_eq!(df.height(), csv.len(), "{stem}");
        let dtype = |name: &str| df.column(name).unwrap().dtype().clone();
        assert_eq!(dtype("plan_id"), DataType::Int64);
        assert_eq!(dtype("size_bytes"), DataType::Int64);
        assert_eq!(dtype("latency_s"), DataType::Float64);
        assert_eq!(
            dtype("latency_s_measured"),
            DataType::Float64,
            "an all-empty column stays a float column"
        );
        assert_eq!(dtype("feasible"), DataType::Boolean);
        assert_eq!(dtype("violated"), DataType::String);
        let plan_ids = df.column("plan_id").unwrap().i64().unwrap().clone();
        let latency = df.column("latency_s").unwrap().f64().unwrap().clone();
        let feasible = df.column("feasible").unwrap().bool().unwrap().clone();
        let measured = df.column("accuracy_loss_measured").unwrap().f64().unwrap().clone();
        for (i, row) in csv.iter().enumerate() {
            assert_eq!(plan_ids.get(i), Some(row["plan_id"].parse().unwrap()));
            assert_eq!(latency.get(i), Some(row["latency_s"].parse().unwrap()));
            assert_eq!(feasible.get(i), Some(row["feasible"] == "true"));
            let expected = (!row["accuracy_loss_measured"].is_empty())
                .then(|| row["accuracy_loss_measured"].parse::<f64>().unwrap());
            assert_eq!(measured.get(i), expected);
        }
        if stem == "front" {
            assert_eq!(dtype("plan_file"), DataType::String, "extra columns are kept");
        }
    }
    // Written atomically: nothing but the results is left in the folder.
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn missing_csv_is_reported_and_broken_csv_is_an_error() {
    let dir = fixture_copy("tpu-incomplete", "parquet-incomplete");
    let written = write_tables(&dir).unwrap();
    assert_eq!(written.written, vec![dir.join("front.parquet")]);
    assert_eq!(written.missing, vec![dir.join("candidates.csv")]);

    let text = std::fs::read_to_string(dir.join("front.csv")).unwrap();
    std::fs::write(dir.join("front.csv"), text.replacen(",true,", ",maybe,", 1)).unwrap();
    let err = write_tables(&dir).unwrap_err();
    assert!(matches!(err, sculpt_report::Error::Table { .. }), "{err:?}");
    assert!(
        err.to_string().contains("column `feasible` does not hold values of type bool"),
        "{err}"
    );
}
