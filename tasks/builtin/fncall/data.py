"""fncall items: a short request turned into one strict function call, e.g.
`weather in oslo unit c` -> `get_weather(city="oslo",unit="c")` (hard: two or three arguments).
"""

import random

_SYL = ["ka", "lo", "mi", "su", "te", "ra", "no", "vi", "pe", "du", "zo", "ba"]
# (request words, function name, [(request word for the argument, argument name), ...])
_FUNCTIONS = [
    ("weather in", "get_weather", [("unit", "unit"), ("day", "day")], "city"),
    ("email", "send_email", [("subject", "subject"), ("cc", "cc")], "to"),
    ("play", "play_song", [("by", "artist"), ("on", "device")], "title"),
    ("book table at", "book_table", [("for", "people"), ("at", "time")], "place"),
    ("find file", "find_file", [("in", "folder"), ("type", "ext")], "name"),
]


def _value(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return str(rng.randint(1, 99))
    return "".join(rng.choice(_SYL) for _ in range(rng.randint(1, 3)))


def generate(rng: random.Random, hard: bool) -> dict:
    words, name, optional, first = rng.choice(_FUNCTIONS)
    extra = rng.sample(optional, rng.randint(1, 2)) if hard else []
    args = [(first, _value(rng))] + [(arg, _value(rng)) for _, arg in extra]
    said = [words, args[0][1]] + [f"{w} {v}" for (w, _), (_, v) in zip(extra, args[1:], strict=True)]
    call = ",".join(f'{arg}="{value}"' for arg, value in args)
    return {"prompt": " ".join(said) + " ->", "answer": f"{name}({call})"}
