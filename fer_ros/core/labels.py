"""Canonical expression labels (ROS4HRI spellings) and the mappings of the public data sets."""

from __future__ import annotations

NEUTRAL = "neutral"
HAPPY = "happy"
SAD = "sad"
ANGRY = "angry"
SURPRISED = "surprised"
DISGUSTED = "disgusted"
SCARED = "scared"
CONTEMPT = "contempt"

CANONICAL_LABELS: tuple[str, ...] = (NEUTRAL, HAPPY, SAD, ANGRY, SURPRISED, DISGUSTED, SCARED, CONTEMPT)

# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
FERPLUS_VOTE_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
# The eight emotion columns of the FER+ votes as canonical labels (the output order of our FER+ model).
FERPLUS_LABELS: tuple[str, ...] = (NEUTRAL, HAPPY, SURPRISED, SAD, ANGRY, DISGUSTED, SCARED, CONTEMPT)

# FER2013 class ids 0..6: angry, disgust, fear, happy, sad, surprise, neutral.
FER2013_LABELS: tuple[str, ...] = (ANGRY, DISGUSTED, SCARED, HAPPY, SAD, SURPRISED, NEUTRAL)

_ALIASES: dict[str, str] = {
    "neutral": NEUTRAL,
    "happy": HAPPY, "happiness": HAPPY, "joy": HAPPY,
    "sad": SAD, "sadness": SAD,
    "angry": ANGRY, "anger": ANGRY,
    "surprised": SURPRISED, "surprise": SURPRISED,
    "disgusted": DISGUSTED, "disgust": DISGUSTED,
    "scared": SCARED, "fear": SCARED, "fearful": SCARED, "afraid": SCARED,
    "contempt": CONTEMPT,
}


def canonical_label(name: str) -> str:
    """Return the canonical spelling of an expression name (``"Happiness"`` -> ``"happy"``).

    Raises ValueError for a name that is not an expression.
    """
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown expression label {name!r}; expected one of {', '.join(CANONICAL_LABELS)}")
    return _ALIASES[key]
