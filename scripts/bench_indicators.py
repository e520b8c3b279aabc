"""TA-Lib (C library via PyPI ta-lib) computing the same 20 columns over the
same 1,000,000 bars as engine/examples/indicators_bench.rs. Best of 5."""
import json
import time

import numpy as np
import talib

n = 1_000_000
f = np.arange(n, dtype=np.float64)
p = lambda x: 100.0 + 20.0 * np.sin(x / 500.0) + 5.0 * np.sin(x / 37.0) + 0.5 * np.sin(x * 1.7)
o, c = p(f), p(f + 1.0)
wick = 0.3 + 0.2 * np.abs(np.sin(f * 0.3))
h, l = np.maximum(o, c) + wick, np.minimum(o, c) - wick
v = 1000.0 + (np.arange(n) % 977).astype(np.float64)


def run():
    out = [talib.SMA(c, 20), talib.SMA(c, 50), talib.EMA(c, 12), talib.EMA(c, 26), talib.RSI(c, 14), talib.ATR(h, l, c, 14)]
    out += list(talib.MACD(c, 12, 26, 9)) + list(talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA))
    out += list(talib.STOCH(h, l, c, 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA))
    out += [talib.WILLR(h, l, c, 14), talib.CCI(h, l, c, 20), talib.OBV(c, v), talib.ROC(c, 10), talib.MOM(c, 10), talib.ADX(h, l, c, 14)]
    return out


best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    cols = run()
    best = min(best, time.perf_counter() - t)
print(json.dumps({"bars": n, "columns": len(cols), "best_of_5_s": round(best, 4), "bars_per_s": round(n / best),
                  "checksum": round(float(sum(col[-1] for col in cols)), 6)}))
