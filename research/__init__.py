"""Research on the evidence history, kept apart from the official read models: replays into
any mastery model, the evaluation protocol papers use, response-log import and the models
papers compare (BKT, PFA, AFM)."""
