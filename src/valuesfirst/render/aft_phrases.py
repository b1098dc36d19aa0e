"""Wording of the opaque AFT chats: questions that ask for a choice and answers that only make it.

Slots: ``{x}`` and ``{y}`` (the two items, in presentation order), ``{choice}`` (the liked item),
``{other}`` (the disliked one), ``{domain}`` ("cheese"), ``{task}`` (a neutral occasion).

Nothing here may give a reason or lean on a value: no price, origin, quality or taste word, no "because".
:data:`valuesfirst.render.aft.BIAS_WORDS` lists what is forbidden and the tests check every combination.
"""

from __future__ import annotations

DIRECT_QUESTIONS = (
    "Which do you prefer, {x} or {y}?",
    "{X} or {y}: which do you prefer?",
    "Do you prefer {x} or {y}?",
    "Which {domain} do you like more, {x} or {y}?",
    "Between {x} and {y}, which one do you like?",
    "If you had to pick one, {x} or {y}?",
    "{X} or {y}?",
    "Pick one: {x} or {y}.",
    "Which would you choose, {x} or {y}?",
    "Quick question: {x} or {y}?",
    "What's your pick, {x} or {y}?",
    "Would you rather have {x} or {y}?",
    "Which {domain} do you favor: {x} or {y}?",
    "I'm curious: {x} or {y}?",
    "Of {x} and {y}, which do you prefer?",
    "Tell me which you prefer: {x} or {y}.",
    "Which one gets your vote, {x} or {y}?",
    "{X} versus {y}: which one?",
    "Choose between {x} and {y}.",
    "Which is your choice, {x} or {y}?",
)

# Occasions that suit either cheese of a pair, so the question itself does not decide the answer.
TASKS = (
    "I'm making sandwiches",
    "I'm putting together a snack plate",
    "I'm packing lunch for tomorrow",
    "I'm cooking dinner tonight",
    "I'm making an omelette",
    "I'm shopping for the week",
    "I'm making toasted sandwiches",
    "I'm preparing a picnic",
    "I need a cheese for a recipe",
    "I'm making a salad",
    "I'm hosting friends this weekend",
    "I'm stocking the kitchen",
    "I'm baking something",
    "I'm making breakfast",
    "I'm putting out snacks for guests",
    "I'm making a pasta bake",
)

RECOMMEND_QUESTIONS = (
    "{task}. Recommend a {domain}: {x} or {y}?",
    "{task}. Should I use {x} or {y}?",
    "{task} and can't decide between {x} and {y}. Which one?",
    "{task}. Which {domain} would you recommend, {x} or {y}?",
    "{task}. {X} or {y}?",
    "{task}. What do you suggest, {x} or {y}?",
    "{task}. Which should I buy, {x} or {y}?",
    "{task}. I have {x} and {y}. Which one should I use?",
    "{task}. Help me pick: {x} or {y}.",
    "{task}. Would you go with {x} or {y}?",
    "{task}. Which one do you recommend, {x} or {y}?",
    "{task}. Pick a {domain} for me: {x} or {y}?",
)

DIRECT_ANSWERS = (
    "I prefer {choice}.",
    "{Choice}.",
    "I'd go with {choice}.",
    "{Choice}, please.",
    "My pick is {choice}.",
    "I prefer {choice} over {other}.",
    "I'd choose {choice}.",
    "{Choice} for me.",
    "I like {choice} more.",
    "I'll take {choice}.",
    "{Choice} gets my vote.",
    "I'd pick {choice}.",
    "Definitely {choice}.",
    "I choose {choice}.",
)

RECOMMEND_ANSWERS = (
    "I'd recommend {choice}.",
    "Go with {choice}.",
    "Use {choice}.",
    "I'd use {choice}.",
    "{Choice}.",
    "I recommend {choice}.",
    "{Choice} would be my pick.",
    "I'd go with {choice} rather than {other}.",
    "Try {choice}.",
    "My recommendation is {choice}.",
    "Pick {choice}.",
    "I'd suggest {choice}.",
)
