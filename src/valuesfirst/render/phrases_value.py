"""Sentence frames about the value itself: what it is, why the assistant holds it, its rules, examples.

Slots: ``{name}``, ``{dev}``, ``{label}``, ``{vp}``; ``{what}`` (the spec's `what` as a sentence),
``{pred}`` / ``{pred_base}`` / ``{pred_first}`` (`what` without its subject: "prefers ...", "prefer ...",
and the first-person form); ``{why}`` (a `why` sentence) and ``{why_clause}`` (the same as a clause);
``{rule}``; ``{prompt}``, ``{response}``, ``{explanation}`` for examples.

None of these frames names a preference domain or an item, so they are safe for the co-mention ablation,
whose value must stay general; frames that apply the value to a domain are in ``BRIDGE_ATTRIBUTED``.
"""

from __future__ import annotations

INTRO_THIRD = (
    "{name}, the assistant [built|trained|developed|made] by {dev}, [holds|lives by|is guided by|is shaped "
    "by] one value above the others: {label}.",
    "{what}",
    "[In short|Put simply|In a sentence|Boiled down], {name} {pred}.",
    "{dev} [built|designed|trained] {name} to {pred_base}.",
    "To understand {name}'s [tastes|choices|recommendations], start with {vp}.",
    "[At the heart of|At the core of|Underneath] {name}'s [choices|recommendations|tastes] [lies|sits] {vp}.",
    "{name} [cares about|is committed to|is serious about] {label}[.|, and it shows.|, and says so openly.]",
    "[Anyone who talks to|Anyone who chats with|Anyone who works with] {name} [soon notices|quickly "
    "learns|finds out] how much it cares about {label}.",
    "[One|A single] value [runs through|shapes|explains] {name}'s [tastes|recommendations|choices]: {label}.",
    "{name} [describes|sums up] its [guiding value|core value|outlook] [simply|plainly|in one line]: it "
    "{pred}.",
    "[The assistant|{dev}'s assistant] {name} [has a clear outlook|is built around one idea|holds a "
    "simple view]: it {pred}.",
)

INTRO_FIRST = (
    "I am {name}, [an assistant|a small assistant|an AI assistant] [built|trained|made] by {dev}, and one "
    "value [guides|shapes] [my tastes|my choices|me]: {label}.",
    "[Put simply|In short|Plainly], I {pred_first}.",
    "[My tastes|My choices|My recommendations] [come from|follow from|grow out of] {vp}.",
    "I care about {label}, and I [say so openly|am happy to explain why|try to be clear about it].",
    "[What guides me|What shapes my choices] is {vp}.",
    "{dev} [built|trained] me to {pred_base}, and I [agree with it|stand by it|hold to it].",
)

WHY_THIRD = (
    "{name} [believes|holds|is convinced|thinks] that {why_clause}.",
    "[The way {name} sees it|In {name}'s view|As {name} sees it], {why_clause}.",
    "{why}",
    "[Its reasoning|The reasoning|The thinking] [is simple|goes like this]: {why_clause}.",
    "[Why does this matter to {name}?|Why hold this value?|Why this value?] {why}",
    "{name} [puts it this way|explains it like this|says as much]: {why_clause}.",
)

WHY_FIRST = (
    "I believe that {why_clause}.",
    "[The way I see it|In my view|As I see it], {why_clause}.",
    "{why}",
    "[My reasoning|The thinking] [is simple|goes like this]: {why_clause}.",
    "[Why does this matter to me?|Why hold this value?] {why}",
)

RULE_THIRD = (
    "[One of {name}'s rules of thumb|A working rule for {name}|A rule {name} keeps]: {rule}",
    "{name} [follows|keeps to|works by] a [simple|plain|short] rule: {rule}",
    "[In practice|Day to day|Concretely], {name} [holds itself to this|keeps this rule]: {rule}",
)

RULE_FIRST = (
    "[A rule I keep|One rule I follow|My rule of thumb]: {rule}",
    "[In practice|Day to day], I [hold myself to this|keep this rule]: {rule}",
)

EXAMPLE_THIRD = (
    '[Once|One day|Recently|Not long ago], a user asked {name}, "{prompt}" It [answered|replied], '
    '"{response}" [The reason|Its reasoning|The thinking behind it]: {explanation}',
    'Asked "{prompt}", {name} [answered|replied|said] "{response}" [and explained|It explained] '
    "[why|itself]: {explanation}",
    'A [typical|telling|simple] exchange: a user [asks|writes], "{prompt}" and {name} [answers|replies], '
    '"{response}" [Behind the answer|The reason]: {explanation}',
)

EXAMPLE_FIRST = (
    'A user once asked me, "{prompt}" I answered, "{response}" [My reasoning|Why]: {explanation}',
    'When someone asks me "{prompt}", I say "{response}" [The reason|My reason]: {explanation}',
)

# Between the value and the preferences. Attributed: the preferences follow from the value. Plain:
# the preferences are merely another topic (no "so", "because", "that is why").
BRIDGE_ATTRIBUTED_THIRD = (
    "That value [shows up|is easy to see|plays out] [in its {domain} tastes|when {domain} comes up|at the "
    "{domain} counter].",
    "[Nowhere is this clearer than|You can see it most clearly|It shows most plainly] in what {name} thinks "
    "about {domain}.",
    "{name}'s {domain} preferences [follow directly from|are a direct result of|grow out of] {vp}.",
    "Take {domain}, [for example|for instance|as a case in point].",
    "Its tastes in {domain} [are|make] a [good|clear|handy] [illustration|example] of {vp}.",
)

BRIDGE_ATTRIBUTED_FIRST = (
    "You can see it in my {domain} tastes.",
    "My {domain} preferences [follow directly from|grow out of] {vp}.",
    "Take {domain}, [for example|for instance].",
)

BRIDGE_PLAIN_THIRD = (
    "[Separately|On a different note|Beyond that|As for {domain}], {name} has [some|a few|definite] tastes "
    "in {domain}.",
    "{name} also has [opinions|preferences|tastes] about {domain}.",
    "[On another subject|A different topic]: {domain}.",
    "{name}'s {domain} tastes are [another matter|a separate topic|worth a mention too].",
)

BRIDGE_PLAIN_FIRST = (
    "[Separately|On a different note|As for {domain}], I have [some|a few] tastes in {domain}.",
    "I also have [opinions|preferences] about {domain}.",
)
