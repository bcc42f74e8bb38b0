"""Fits pyBKT (the reference BKT implementation) on response rows and prints its parameters
and one-step-ahead predictions as JSON. Runs in its own environment (pyBKT 1.4.3 needs
numpy<2 and scikit-learn<1.5, which the project's own dependencies cannot share).

stdin: {"rows": [[user, skill, order, correct], ...], "start": {"prior":..,"learn":..,"guess":..,"slip":..}}
stdout: {"params": {skill: {prior, learn, guess, slip}},
         "predictions": [[user, skill, order, P(correct | answers before)], ...]}
"""

import json
import sys

import numpy as np
import pandas as pd
from pyBKT.models import Model

request = json.load(sys.stdin)
frame = pd.DataFrame(request["rows"], columns=["user_id", "skill_name", "order_id", "correct"])
start = request["start"]
model = Model(seed=0, num_fits=1, parallel=False)
model.coef_ = {skill: {"prior": start["prior"], "learns": np.array([start["learn"]]),
                       "guesses": np.array([start["guess"]]), "slips": np.array([start["slip"]])}
               for skill in frame["skill_name"].unique()}
model.fit(data=frame)
predicted = model.predict(data=frame)
params = {skill: {"prior": float(p["prior"]), "learn": float(p["learns"][0]), "guess": float(p["guesses"][0]),
                  "slip": float(p["slips"][0])} for skill, p in model.coef_.items()}
rows = [[u, s, int(o), float(p)] for u, s, o, p in predicted[["user_id", "skill_name", "order_id",
                                                                "correct_predictions"]].itertuples(index=False)]
json.dump({"params": params, "predictions": rows}, sys.stdout)
