"""A researcher's own mastery model, kept outside the package: mastered after `need` pieces
of evidence in a row at the threshold. It imports nothing from the project, on purpose —
a model needs only an `estimates(scores, scale)` method returning objects with `level` and
`mastered`."""

from dataclasses import dataclass


@dataclass
class Belief:
    level: float
    mastered: bool
    p_mastery: float | None = None
    p_next: float | None = None


class Streak:
    def __init__(self, need: int = 3):
        self.need = need

    def estimates(self, scores, scale):
        out, run = [], 0
        for score in scores:
            run = run + 1 if score >= scale.threshold else 0
            out.append(Belief(level=float(run), mastered=run >= self.need))
        return out


class Broken:
    def estimates(self, scores, scale):
        raise ZeroDivisionError("the researcher's bug")
