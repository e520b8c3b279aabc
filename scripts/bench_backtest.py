"""backtesting.py 0.6.6 running the SMA(10/20) cross with a 1 % stop and a
2 % target over the same 1,000,000 synthetic 1-minute bars as
engine/examples/backtest_bench.rs. One run (it is slow). Usage: [bars]"""
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

warnings.filterwarnings("ignore")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
f = np.arange(n, dtype=np.float64)
p = lambda x: 100.0 + 20.0 * np.sin(x / 500.0) + 5.0 * np.sin(x / 37.0) + 0.5 * np.sin(x * 1.7)
o, c = p(f), p(f + 1.0)
wick = 0.3 + 0.2 * np.abs(np.sin(f * 0.3))
df = pd.DataFrame({"Open": o, "High": np.maximum(o, c) + wick, "Low": np.minimum(o, c) - wick, "Close": c,
                   "Volume": 1000.0 + (np.arange(n) % 977)},
                  index=pd.date_range("2020-01-01", periods=n, freq="min"))


def sma(x, k):
    return pd.Series(x).rolling(k).mean().to_numpy()


class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 20)

    def next(self):
        price = self.data.Close[-1]
        if self.position:
            return
        if crossover(self.fast, self.slow):
            self.buy(sl=price * 0.99, tp=price * 1.02)
        elif crossover(self.slow, self.fast):
            self.sell(sl=price * 1.01, tp=price * 0.98)


bt = Backtest(df, SmaCross, cash=1_000_000, commission=0.0005, finalize_trades=True)
t = time.perf_counter()
stats = bt.run()
s = time.perf_counter() - t
print(json.dumps({"bars": n, "trades": int(stats["# Trades"]), "final_equity": round(float(stats["Equity Final [$]"]), 2),
                  "seconds": round(s, 3), "bars_per_s": round(n / s)}))
