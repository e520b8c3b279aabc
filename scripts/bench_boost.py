"""Which gradient booster: LightGBM (what models/ links through lightgbm3)
against PerpetualBooster (the maintained pure-Rust booster, through its
Python wheel, same Rust core) on the same purged walk-forward folds of the
bundled daily data, written by models/examples/boost_compare.rs.

    cargo run --release -p models --example boost_compare -- /tmp/boost
    $TRADERAI_VENV/bin/python scripts/bench_boost.py /tmp/boost

Both get balanced class weights and early stopping on the validation
hold-out (Perpetual stops by its own budget rule). Scores are on the test
window only.
"""
import json
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from perpetual import PerpetualBooster
from sklearn.metrics import balanced_accuracy_score, log_loss


def load(path):
    df = pd.read_csv(path)
    y = df.pop("class").to_numpy(int)
    m = df.pop("move").to_numpy(float)
    return df.to_numpy(float), y, m


def balanced(y):
    counts = np.bincount(y, minlength=3).astype(float)
    w = len(y) / (3 * np.maximum(counts, 1))
    return w[y]


def score(name, fold, p, y, seconds, extra):
    p = np.clip(p, 1e-15, 1)
    p = p / p.sum(axis=1, keepdims=True)
    return {
        "booster": name,
        "fold": fold,
        "log_loss": log_loss(y, p, labels=[0, 1, 2]),
        "balanced_accuracy": balanced_accuracy_score(y, p.argmax(axis=1)),
        "accuracy": float((p.argmax(axis=1) == y).mean()),
        "fit_seconds": seconds,
        **extra,
    }


def lightgbm(fold, fit, val, test):
    (x, y, _), (xv, yv, _), (xt, yt, _) = fit, val, test
    params = dict(objective="multiclass", num_class=3, learning_rate=0.05, num_leaves=15,
                  min_data_in_leaf=50, feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1,
                  lambda_l2=1.0, seed=42, deterministic=True, force_row_wise=True, verbosity=-1)
    t = time.perf_counter()
    train = lgb.Dataset(x, y, weight=balanced(y))
    valid = lgb.Dataset(xv, yv, reference=train)
    b = lgb.train(params, train, 500, valid_sets=[valid],
                  callbacks=[lgb.early_stopping(50, verbose=False)])
    secs = time.perf_counter() - t
    return score("lightgbm", fold, b.predict(xt, num_iteration=b.best_iteration), yt, secs,
                 {"rounds": b.best_iteration})


def perpetual(fold, fit, val, test, budget):
    (x, y, _), _, (xt, yt, _) = fit, val, test
    t = time.perf_counter()
    # Capped: uncapped, budget 0.5 ran > 15 min and 7 GB on fold 0 here
    # (two cores) without finishing.
    b = PerpetualBooster(objective="LogLoss", budget=budget, timeout=TIMEOUT_S)
    b.fit(x, y, sample_weight=balanced(y))
    secs = time.perf_counter() - t
    return score(f"perpetual(budget={budget})", fold, b.predict_proba(xt), yt, secs, {})


TIMEOUT_S = 300


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "boost-compare")
    # Perpetual runs on fold 0 only unless --all (see TIMEOUT_S).
    rows = []
    for d in sorted(root.glob("fold-*")):
        k = int(d.name.split("-")[1])
        parts = [load(d / f"{n}.csv") for n in ("fit", "val", "test")]
        rows.append(lightgbm(k, *parts))
        print(rows[-1], flush=True)
        if k == 0 or "--all" in sys.argv:
            rows.append(perpetual(k, *parts, 0.5))
            print(rows[-1], flush=True)
        prior = np.bincount(parts[0][1], minlength=3) / len(parts[0][1])
        rows.append(score("class prior", k, np.tile(prior, (len(parts[2][1]), 1)), parts[2][1], 0.0, {}))
    df = pd.DataFrame(rows)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print()
    print(df.groupby("booster")[["log_loss", "balanced_accuracy", "accuracy", "fit_seconds"]]
          .mean().to_string(float_format=lambda v: f"{v:.4f}"))
    rust = root / "rust_lightgbm.json"
    if rust.exists():
        print("\nlightgbm through models::boost (Rust):")
        for r in json.loads(rust.read_text()):
            m = r["metrics"]
            print(f"  fold {r['fold']}: log loss {m['log_loss']:.4f} bal.acc {m['balanced_accuracy']:.4f} "
                  f"acc {m['accuracy']:.4f} rounds {r['report']['classifier_rounds']} "
                  f"fit {r['report']['seconds']:.2f}s")


if __name__ == "__main__":
    main()
