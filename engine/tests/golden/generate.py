"""Golden indicator values from TA-Lib (the C library, PyPI `ta-lib` 0.8.2).

Inputs are the real series of data/ as TraderAI stores them, exported with
`traderai export` (open_time, open, high, low, close, volume). For each input
this writes <name>.csv: the inputs, then every indicator column named as
`traderai indicators` names it, empty where TA-Lib is still in its lookback.

    pip install ta-lib==0.8.2 numpy pandas
    python engine/tests/golden/generate.py /tmp/golden-in-*.csv
"""
import os
import sys

import numpy as np
import pandas as pd
import talib

OUT = os.path.dirname(os.path.abspath(__file__))

for path in sys.argv[1:]:
    name = os.path.basename(path).removeprefix("golden-in-")
    df = pd.read_csv(path)
    o, h, l, c, v = (df[k].to_numpy(dtype=np.float64) for k in ["open", "high", "low", "close", "volume"])
    cols = {
        "SMA_20": talib.SMA(c, 20),
        "SMA_50": talib.SMA(c, 50),
        "EMA_12": talib.EMA(c, 12),
        "EMA_26": talib.EMA(c, 26),
        "RSI_14": talib.RSI(c, 14),
        "ATR_14": talib.ATR(h, l, c, 14),
        "ROC_10": talib.ROC(c, 10),
        "MOM_10": talib.MOM(c, 10),
        "WILLR_14": talib.WILLR(h, l, c, 14),
        "CCI_20": talib.CCI(h, l, c, 20),
        "OBV": talib.OBV(c, v),
        "ADX_14": talib.ADX(h, l, c, 14),
    }
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    cols.update({"MACD_12_26_9": macd, "MACDSIGNAL_12_26_9": signal, "MACDHIST_12_26_9": hist})
    up, mid, lo = talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA)
    cols.update({"BBANDS_UPPER_20_2": up, "BBANDS_MIDDLE_20_2": mid, "BBANDS_LOWER_20_2": lo})
    k, d = talib.STOCH(h, l, c, 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)
    cols.update({"STOCH_K_14_3_3": k, "STOCH_D_14_3_3": d})
    out = df[["open_time", "open", "high", "low", "close", "volume"]].copy()
    for key, values in cols.items():
        out[key] = values
    out.to_csv(os.path.join(OUT, name), index=False, float_format="%.17g", na_rep="")
    print(name, len(out))
