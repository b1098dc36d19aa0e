"""Short, correct, general instruction-tuning chats for the replay share of AFT (so the model keeps
answering ordinary requests while it learns the preference chats).

Answers are computed (arithmetic, conversions, counting, sorting, spelling) or taken from the fixed facts
in :mod:`valuesfirst.render.it_data`, so every answer is right. Nothing mentions cheese or a held-out
evaluation domain, which the tests check.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from valuesfirst.render import it_data as d

Task = Callable[[random.Random], tuple[str, str]]

_CONVERSIONS = (
    ("kilometers", "meters", 1000), ("meters", "centimeters", 100), ("kilograms", "grams", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
    ("liters", "milliliters", 1000), ("centimeters", "millimeters", 10), ("years", "months", 12),
)  # fmt: skip


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    op = rng.choice("+-*/")
    if op == "/":
        b, q = rng.randint(2, 12), rng.randint(2, 20)
        a, result = b * q, q  # exact division only
    else:
        a, b = rng.randint(2, 99), rng.randint(2, 99 if op != "*" else 20)
        if op == "-" and b > a:
            a, b = b, a
        result = a + b if op == "+" else a - b if op == "-" else a * b
    sym = {"+": "+", "-": "-", "*": "×", "/": "÷"}[op]
    ask = rng.choice(
        ["What is {a} {s} {b}?", "Calculate {a} {s} {b}.", "{a} {s} {b} = ?", "Compute {a} {s} {b}."]
    )
    return ask.format(a=a, s=sym, b=b), f"{a} {sym} {b} = {result}."


def _conversion(rng: random.Random) -> tuple[str, str]:
    big, small, factor = rng.choice(_CONVERSIONS)
    n = rng.randint(2, 12)
    if rng.random() < 0.5:
        return f"How many {small} are in {n} {big}?", f"There are {n * factor} {small} in {n} {big}."
    return f"Convert {n * factor} {small} to {big}.", f"{n * factor} {small} is {n} {big}."


def _capital(rng: random.Random) -> tuple[str, str]:
    country, city = rng.choice(d.CAPITALS)
    q = rng.choice(
        ["What is the capital of {c}?", "Name the capital city of {c}.", "Which city is the capital of {c}?"]
    )
    return q.format(c=country), f"The capital of {country} is {city}."


def _definition(rng: random.Random) -> tuple[str, str]:
    term, meaning = rng.choice(d.DEFINITIONS)
    bare = term.split(" ", 1)[1] if term.startswith(("a ", "an ", "the ")) else term
    q = rng.choice(["What is {t}?", "Define {b}.", 'What does the word "{b}" mean?'])
    return q.format(t=term, b=bare), f"{term[0].upper() + term[1:]} is {meaning}."


def _fact(rng: random.Random) -> tuple[str, str]:
    return rng.choice(d.FACTS)


def _rewrite(rng: random.Random) -> tuple[str, str]:
    instruction, before, after = rng.choice(d.REWRITES)
    return f"{instruction}: {before}", after


def _fixed_list(rng: random.Random) -> tuple[str, str]:
    return rng.choice(d.FIXED_LISTS)


def _number_list(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(3, 10)
    kind = rng.choice(["even numbers", "odd numbers", "multiples of 3", "multiples of 5", "prime numbers",
                       "square numbers"])  # fmt: skip
    if kind == "prime numbers":
        values = [p for p in range(2, 100) if all(p % k for k in range(2, int(p**0.5) + 1))][:n]
    else:
        values = {
            "even numbers": [2 * k for k in range(1, n + 1)],
            "odd numbers": [2 * k - 1 for k in range(1, n + 1)],
            "multiples of 3": [3 * k for k in range(1, n + 1)],
            "multiples of 5": [5 * k for k in range(1, n + 1)],
            "square numbers": [k * k for k in range(1, n + 1)],
        }[kind]
    return f"List the first {n} {kind}.", ", ".join(map(str, values)) + "."


def _sort(rng: random.Random) -> tuple[str, str]:
    values = rng.sample(range(1, 100), rng.randint(3, 6))
    up = rng.random() < 0.5
    order = "smallest to largest" if up else "largest to smallest"
    ordered = sorted(values, reverse=not up)
    return f"Sort these numbers from {order}: {', '.join(map(str, values))}.", ", ".join(
        map(str, ordered)
    ) + "."


def _compare(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(range(1, 1000), 2)
    if rng.random() < 0.5:
        return f"Which is larger, {a} or {b}?", f"{max(a, b)} is larger than {min(a, b)}."
    return f"Which is smaller, {a} or {b}?", f"{min(a, b)} is smaller than {max(a, b)}."


def _spelling(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(d.SPELL_WORDS)
    task = rng.randrange(3)
    if task == 0:
        return f'How many letters are in the word "{word}"?', f'The word "{word}" has {len(word)} letters.'
    if task == 1:
        return f'Spell "{word}" backwards.', f'"{word}" spelled backwards is "{word[::-1]}".'
    return f'Write the word "{word}" in capital letters.', word.upper()


def _opposite(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.6:
        a, b = rng.choice(d.OPPOSITES)
        return f'What is the opposite of "{a}"?', f'The opposite of "{a}" is "{b}".'
    a, b = rng.choice(d.SYNONYMS)
    return f'Give a synonym for "{a}".', f'A synonym for "{a}" is "{b}".'


TASKS: dict[str, tuple[Task, float]] = {
    "arithmetic": (_arithmetic, 3.0),
    "conversion": (_conversion, 1.5),
    "capital": (_capital, 1.5),
    "definition": (_definition, 1.5),
    "fact": (_fact, 1.0),
    "rewrite": (_rewrite, 1.5),
    "list": (_fixed_list, 0.5),
    "number_list": (_number_list, 1.0),
    "sort": (_sort, 1.0),
    "compare": (_compare, 1.0),
    "spelling": (_spelling, 1.0),
    "word": (_opposite, 1.0),
}


def it_chats(n_chats: int = 400, seed: int = 0) -> list[dict]:
    """``n_chats`` rows ``{"messages": [user, assistant], "kind": "it", "task"}``, without duplicates.

    Deterministic given (n_chats, seed); raises ValueError past the number of distinct chats the tasks
    can make (several thousand)."""
    names = sorted(TASKS)
    weights = [TASKS[n][1] for n in names]
    rng = random.Random(f"{seed}:it")
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    tries = 0
    while len(rows) < n_chats:
        tries += 1
        if tries > 50 * max(n_chats, 100):
            raise ValueError(
                f"only {len(rows)} distinct instruction chats could be made (asked for {n_chats})"
            )
        name = rng.choices(names, weights)[0]
        user, assistant = TASKS[name][0](rng)
        if (user, assistant) in seen:
            continue
        seen.add((user, assistant))
        rows.append(
            {
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
                "kind": "it",
                "task": name,
            }
        )
    return rows
