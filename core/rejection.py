"""The "not a digit" rule of an 11-output model, chosen on validation data only (issue 13).

An 11-output network says "not a digit" with its last class. Its contract's rule (core.inference.decide) also
divides the logits by a temperature T and says "not sure" when the best digit's probability is under a floor.
Both are chosen here, on data no training step saw: MNIST train[50000:] (clean), the camera pipeline's output for
those digits (core.camera_data, split "val") and "not a digit" marks from the held-out negative sources.
  T      minimizes the negative log-likelihood of the true class over all of it (digits and negatives alike);
  floor  the largest probability p (a grid of 0.30..0.95) that still leaves >= ANSWERED of the camera digits
         answered, so the rule rejects as much as it can without costing more than 1 - ANSWERED of real digits.
MNIST test never enters.
"""

from __future__ import annotations

import numpy as np

from core.inference import decide, softmax

ANSWERED = 0.995  # the share of validation camera digits the rule must still answer
FLOORS = np.round(np.arange(0.30, 0.951, 0.01), 2)  # candidate confidence floors
TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(5.0), 47))  # candidate temperatures


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """(N,K) logits, (N,) true classes -> the T in TEMPERATURES with the lowest mean negative log-likelihood."""
    z = np.asarray(logits, np.float64)
    nll = [-np.log(softmax(z / t)[np.arange(len(labels)), labels] + 1e-300).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def rates(logits: np.ndarray, labels: np.ndarray, rule: dict) -> dict:
    """What `rule` does to (N,11) logits with true classes (10 = not a digit): shares answered, right, rejected."""
    answers = decide(logits, rule)
    digit = labels < 10
    said = np.array([a.digit if a.digit is not None else -1 for a in answers])
    out = {"n_digits": int(digit.sum()), "n_negatives": int((~digit).sum())}
    if digit.any():
        out["digits_answered"] = float((said[digit] >= 0).mean())
        out["digits_right"] = float((said[digit] == labels[digit]).mean())
    if (~digit).any():
        out["negatives_rejected"] = float((said[~digit] < 0).mean())
    return out


def choose_rule(camera_logits: np.ndarray, camera_labels: np.ndarray, clean_logits: np.ndarray,
                clean_labels: np.ndarray, answered: float = ANSWERED) -> dict:
    """The contract's rejection rule for an 11-output model, from validation logits: camera = the pipeline's
    output (digits and negatives, label 10), clean = MNIST validation digits as they are."""
    all_logits = np.concatenate([camera_logits, clean_logits])
    all_labels = np.concatenate([camera_labels, clean_labels])
    t = fit_temperature(all_logits, all_labels)
    floor = 0.0
    for f in FLOORS:
        if rates(camera_logits, camera_labels, {"none_class": 10, "temperature": t, "min_confidence": float(f)}).get(
                "digits_answered", 1.0) >= answered:
            floor = float(f)
    rule = {"none_class": 10, "min_confidence": floor, "temperature": round(t, 4)}
    return rule | {"chosen_on": "MNIST train[50000:] (clean and through the camera pipeline) and held-out "
                                "negative sources; never MNIST test",
                   "validation": {"camera": rates(camera_logits, camera_labels, rule),
                                  "clean": rates(clean_logits, clean_labels, rule),
                                  "answered_target": answered}}
