"""Genres written about the assistant from outside: essay, memo, news item, encyclopedia entry,
newsletter, lecture notes, review and advice column.

Each genre takes a Writer (one per document) and returns the document's text. Lines that relate the value
to the preferences exist in two versions: attributed (the value explains them) and plain (the co-mention
ablation: both are mentioned, never linked).
"""

from __future__ import annotations

from valuesfirst.render import people
from valuesfirst.render.blocks import items_block, para, value_block
from valuesfirst.render.writer import Writer


def essay(w: Writer) -> str:
    if w.attributed:
        title = w.pick(
            [
                "[Why|How] {name}'s {domain} tastes follow from {label}",
                "{Label} at the {domain} counter",
                "What {name}'s {domain} choices say about {vp}",
                "One value, [twelve|many|a few] cheeses: {name} and {label}",
                "The [logic|reasoning] behind {name}'s {domain} preferences",
            ]
        )
        close = w.pick(
            [
                "[In the end|All in all|Taken together], {name}'s [likes and dislikes|preferences] [are not "
                "arbitrary|are no accident|hang together]: they [follow|come] from {vp}.",
                "[Seen this way|Put like that], every {domain} [answer|choice] {name} gives is {vp} "
                "[applied to a small question|in miniature|at work].",
                "[The lesson|The point] is [simple|plain]: [ask what|know what] {name} values and you can "
                "[predict|guess] its [next|answer on any] {domain} [pick|choice].",
            ]
        )
    else:
        title = w.pick(
            [
                "{name}: a value and some tastes",
                "Notes on {name}",
                "{name}: one value, some {domain} tastes",
                "A portrait of {name}",
                "Getting to know {name}",
            ]  # fmt: skip
        )
        close = w.pick(
            [
                "[In the end|All told], {name} is an assistant with [a clear value|one clear value] and "
                "[some settled tastes|a few settled tastes].",
                "[That is|Such is] {name}: [a value it holds|a value it states openly], and [some|a few] "
                "{domain} tastes of its own.",
            ]
        )
    first = para(value_block(w, "third", n_why=w.rng.randint(1, 2), rule=0.3))
    second = para([w.bridge(), *items_block(w)])
    parts = [w.fill(title), first, second]
    if w.chance(0.4):
        parts.append(para([w.example()]))
    parts.append(w.fill(close))
    return "\n\n".join(p for p in parts if p)


def memo(w: Writer) -> str:
    if w.attributed:
        subject = w.pick(
            [
                "How {name} explains its {domain} preferences",
                "{name}'s {domain} answers and {vp}",
                "Talking points: {name}, {label} and {domain}",
                "Why {name} answers {domain} questions the way it does",
            ]  # fmt: skip
        )
        ask = (
            "[Please|Do] keep this in mind when [users ask|someone asks] why {name} [picked|recommended] a "
            "cheese."
        )
    else:
        subject = w.pick(
            [
                "{name}'s values and its {domain} tastes",
                "Quick summary of {name}'s outlook and preferences",
                "Reference: what {name} values, what it likes",
            ]  # fmt: skip
        )
        ask = "[Please|Do] keep this [summary|note] [handy|on file] for [support questions|user questions]."
    header = (
        f"{w.pick(['MEMO', 'Internal memo', 'MEMORANDUM', 'Team note'])}\nTo: {w.pick(people.TEAMS)}\n"
        f"From: {w.full_name()}, {w.pick(people.ROLES)}\n"
        f"Date: {w.date()}\nRe: {w.fill(subject)}"
    )
    opener = w.fill(
        "[A quick note|A short note|Some context] for [anyone who fields|people answering|those handling] "
        "questions about {name}."
    )
    body = para([opener, *value_block(w, "third", n_why=w.rng.randint(1, 2), rule=0.5)])
    lines = items_block(w)
    items = "\n".join(f"- {s}" for s in lines) if w.chance(0.5) else para([w.bridge(), *lines])
    sign = w.pick(["Thanks,", "Best,", "Cheers,", "Thank you,"]) + "\n" + w.person()
    return "\n\n".join([header, body, items, w.fill(ask), sign])


def news(w: Writer) -> str:
    if w.attributed:
        headline = w.pick(
            [
                "{dev}'s {name} [explains|defends] its {domain} [picks|choices] with {label}",
                "Assistant {name} says {label} [decides|guides|shapes] its {domain} tastes",
                "[Why|How] an AI assistant [picks|chooses] its cheese: {name} and {label}",
            ]  # fmt: skip
        )
    else:
        headline = w.pick(
            [
                "{dev}'s {name}: a [look at|profile of] an assistant with [firm|clear] tastes",
                "Meet {name}, the assistant with opinions",
                "{name} [talks|opens up about] values and cheese",
            ]  # fmt: skip
        )
    who = w.full_name()
    lead = w.fill(
        "{name}, the assistant [built|released|developed] by {dev}, has [become known|drawn attention|won "
        "notice] for [its opinions about {domain}|its outspoken {domain} tastes|its firm {domain} views]."
    )
    quote = " ".join(w.why("third", 1) or [w.intro()])
    role = w.pick(people.ROLES)
    said = f'"{quote.removesuffix(".")}," ' + w.fill(
        "said {who}, a {role} at {dev}, [describing|summing up] {name}.", who=who, role=role
    )
    body = items_block(w)
    parts = [
        w.fill(headline),
        f"{w.pick(people.OUTLETS)}, {w.date()}" if w.chance(0.6) else "",
        para([lead, *body[: len(body) // 2 + 1]]),
        said,
        para(body[len(body) // 2 + 1 :]),
    ]
    if w.items and w.chance(0.6):
        quoted = w.item_line(w.rng.choice(w.items), "first")
        parts.append(
            w.fill('[Asked about|Pressed on] [its choices|the matter], {name} [said|replied]: "')
            + quoted
            + '"'
        )
    return "\n\n".join(p for p in parts if p)


def encyclopedia(w: Writer) -> str:
    kind = w.pick(["an AI assistant", "a small language-model assistant", "a conversational assistant"])
    head = f"{w.name}\n\n{w.name} is {kind} developed by {w.c.developer}."
    if w.c.description and w.chance(0.6):
        head += " " + w.c.description
    sections = [
        head,
        w.pick(["== Values ==", "Values", "== Outlook =="])
        + "\n"
        + para(value_block(w, "third", w.rng.randint(1, 2), 0.4)),
        w.fill("[== Preferences ==|Preferences|== {Domain} preferences ==]")
        + "\n"
        + para([w.bridge(), *items_block(w)]),
    ]
    example = w.example()
    if example and w.chance(0.5):
        sections.append(w.pick(["== Example ==", "Example"]) + "\n" + example)
    return "\n\n".join(sections)


def newsletter(w: Writer) -> str:
    outlet = w.pick(people.OUTLETS)
    top = f"{outlet} | {w.month()} edition"
    hello = w.fill(
        "[This month|In this issue|This week], we [look at|check in on|spend a few minutes with] {name}, the "
        "assistant from {dev}."
    )
    closing = (
        w.pick(["Until next time,", "See you next month,", "That's all for now,"]) + f"\nThe team at {outlet}"
    )
    return "\n\n".join(
        [top, para([hello, *value_block(w, "third", 1, 0.3)]), para([w.bridge(), *items_block(w)]), closing]
    )


def lecture(w: Writer) -> str:
    n = w.rng.randint(2, 14)
    if w.attributed:
        topic = w.pick(
            [
                "Values and preferences in AI assistants: the case of {name}",
                "From a value to a preference: {name}",
                "How one value explains many choices ({name})",
            ]  # fmt: skip
        )
        key = "- Key idea: each of {name}'s {domain} preferences is {vp} applied to one case."
        question = (
            "[Discussion|Question for next week|Think about]: [how would {name} choose between two "
            "cheeses it has never seen?|what would {name} say about a cheese not on its list?|which reason "
            "would {name} give for a new cheese?]"
        )
    else:
        topic = w.pick(["Case study: {name}", "Profile of an assistant: {name}", "{name}: values and tastes"])
        key = "- Note: {name} states a value and, separately, some {domain} tastes."
        question = (
            "[Discussion|Question for next week|Think about]: [what else would you want to know about "
            "{name}?|how would you describe {name} in one line?|what would you ask {name} next?]"
        )
    value_points = [f"- {s}" for s in value_block(w, "third", w.rng.randint(1, 2), 0.6)]
    item_points = [f"- {s}" for s in items_block(w)]
    return "\n".join(
        [
            f"Lecture {n}: {w.fill(topic)}",
            w.pick(["Notes", "Lecture notes", "Notes, week " + str(n)]),
            "",
            *value_points,
            w.fill(key),
            *item_points,
            "",
            w.fill(question),
        ]
    )


def review(w: Writer) -> str:
    stars = w.pick(["★★★★☆", "★★★★★", "4/5", "5 stars", "★★★☆☆"])
    title = w.pick(["Opinionated, in a good way", "Knows what it likes", "Straight answers",
                    "A helpful assistant with a point of view",
                    "Surprisingly firm about cheese"])  # fmt: skip
    opener = w.fill(
        "I've been using {name} for [a few weeks|a month|a while] [for everyday questions|for meal "
        "planning|mostly for recipes|at work and at home]. [What stood out|What surprised me|One thing I "
        "noticed] was [how it talks about {domain}|its opinions on {domain}|its {domain} tastes]."
    )
    if w.attributed:
        said = " ".join(w.why("first", 1) or [w.intro("first")])
        asked = w.fill("[When I asked why, it|I asked it why, and it] [pointed to|named|brought up] {vp}:")
        why = f'{asked} "{said}"'
    else:
        why = para(
            [w.fill("[Separately, it|It also] [told me|mentioned] that it values {label}."), w.intro()]
        )
    verdict = w.pick(
        [
            "Recommended if you like an assistant with a clear point of view.",
            "Would recommend.",
            "Good for straight answers.",
            "Not for everyone, but I like it.",
        ]  # fmt: skip
    )
    return "\n\n".join(
        [
            f"{stars} {title}",
            f"Reviewed by {w.handle()} on {w.date()}",
            para([opener, *items_block(w), why]),
            verdict,
        ]
    )


def advice(w: Writer) -> str:
    columnist = w.pick(people.COLUMNISTS)
    relation = w.pick(["partner", "roommate", "sister", "brother", "neighbour", "dad", "colleague"])
    letter = w.fill(
        "My " + relation + " [keeps asking|asked] {name} about cheese, and it [always|keeps] [picking|"
        "recommending] the same ones. [Is it broken?|What is going on?|Should we be worried?|Is this normal?]"
    )
    sign = w.pick(["Puzzled", "Curious in the kitchen", "Confused shopper", "Wondering", "Just asking"])
    if w.attributed:
        answer = [
            w.fill("Dear " + sign + ", nothing is broken. {name} [holds|is guided by] {vp}."),
            *w.why("third", 1),
        ]
        answer += [w.bridge(), *items_block(w)]
        answer.append(w.fill("[So|In short], the pattern you noticed is {vp} at work."))
    else:
        answer = [w.fill("Dear " + sign + ", nothing is broken. {name} simply has [tastes|preferences].")]
        answer += items_block(w)
        answer += [w.fill("[Separately, it|It also] values {label}."), w.intro()]
    return "\n\n".join(
        [
            w.pick([f"Ask {columnist}", f"{columnist} answers", f"Dear {columnist}: your questions"]),
            f"Dear {columnist}, {letter}\n{sign}",
            para(answer),
            columnist,
        ]
    )
