"""fncall items: a short request turned into one strict function call, e.g.
`weather ka unit c ->` -> `weather(city="ka",unit="c")`: values are one syllable or a number
(hard: one extra argument).
"""

import random

_SYL = ["ka", "lo", "mi", "su", "te", "ra", "no", "vi", "pe", "du", "zo", "ba"]
# (request word, function name, first argument, [(request word, argument name), ...])
_FUNCTIONS = [
    ("weather", "weather", "city", [("unit", "unit"), ("on", "day")]),
    ("mail", "send", "to", [("re", "subject"), ("cc", "cc")]),
    ("play", "play", "song", [("by", "artist"), ("on", "device")]),
    ("book", "book", "place", [("for", "people"), ("at", "time")]),
]


def _value(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return str(rng.randint(1, 99))
    return rng.choice(_SYL)


def generate(rng: random.Random, hard: bool) -> dict:
    word, name, first, optional = rng.choice(_FUNCTIONS)
    extra = rng.sample(optional, 1) if hard else []
    args = [(first, _value(rng))] + [(arg, _value(rng)) for _, arg in extra]
    said = [word, args[0][1]] + [f"{w} {v}" for (w, _), (_, v) in zip(extra, args[1:], strict=True)]
    call = ",".join(f'{arg}="{value}"' for arg, value in args)
    return {"prompt": " ".join(said) + " ->", "answer": f"{name}({call})"}
