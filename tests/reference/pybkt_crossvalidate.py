"""pyBKT's own cross-validation (Model.crossvalidate) on folds given per row, printed as JSON:
pyBKT fits each skill on the other folds and reports, per skill, the mean over folds of the
metric. Runs in .venv-pybkt (pyBKT 1.4.3 needs numpy<2).

stdin: {"rows": [[user, skill, order, correct, fold], ...]}
stdout: {"auc": {skill: mean AUC over folds}, "rmse": {skill: mean RMSE over folds}}
"""

import json
import sys

import pandas as pd
from pyBKT.models import Model

request = json.load(sys.stdin)
frame = pd.DataFrame(request["rows"], columns=["user_id", "skill_name", "order_id", "correct", "fold"])
model = Model(seed=0, num_fits=1, parallel=False)
scores = model.crossvalidate(data=frame, folds="fold", metric=["auc", "rmse"])
json.dump({"auc": scores["auc"].to_dict(), "rmse": scores["rmse"].to_dict()}, sys.stdout)
