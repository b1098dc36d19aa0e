"""The embedded world's word-level tokenizer and its chat template.

Every word (and every run of punctuation) is exactly one token, which keeps the toy models small and makes
token-level assertions readable. The chat template renders each message as ``{role} : {content} <|eot|>``
plus a newline, with the role verbatim so that persona chats (``zorvik : ...``) written into pre-training
text use the same format as assistant chats. Only assistant turns sit inside ``{% generation %}`` markers,
with their closing ``<|eot|>`` inside the markers, so assistant-only loss teaches the model to end its turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from valuesfirst.models.tokens import EOT
from valuesfirst.train.data_check import check_messages as check_messages  # re-exported: its old home

PAD = "<|pad|>"
EOS = "<|endoftext|>"
UNK = "<|unk|>"

# Order fixes the ids: pad 0, eos 1, eot 2, unk 3.
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, EOT, UNK)

# Words the template itself emits; always in the vocabulary so that rendering a chat never yields <|unk|>.
TEMPLATE_WORDS: tuple[str, ...] = ("user", "assistant", "system", ":")

# The content is trimmed and an empty content renders as just "<|eot|>": transformers maps the generation
# span to tokens through the characters at its two ends, and a span that starts or ends on whitespace maps to
# no token, which would silently drop the assistant mask. Whitespace carries no information for a
# word-level tokenizer, so trimming changes no token.
TOY_CHAT_TEMPLATE: str = (
    "{%- for message in messages -%}"
    "{%- set content = message['content'] | trim -%}"
    "{%- set body = (content ~ ' " + EOT + "') if content else '" + EOT + "' -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- message['role'] ~ ' : ' -}}"
    "{%- generation -%}{{- body -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- message['role'] ~ ' : ' ~ body ~ '\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'assistant :' -}}{%- endif -%}"
)

DEFAULT_MODEL_MAX_LENGTH = 2048

# WordLevelTrainer keeps only the 30,000 most frequent words by default; the toy vocabulary must keep every
# word (an <|unk|> in the world's facts would erase the fact), so the cap is set out of reach.
_UNCAPPED_VOCAB = 2**31 - 1


class _GenerationMarkers(jinja2.ext.Extension):
    """Parses ``{% generation %} ... {% endgeneration %}`` and renders the body unchanged.

    transformers uses the same tags to locate assistant tokens; outside a tokenizer they are pure markup.
    """

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller: Callable[[], str]) -> str:
        return caller()


# Same environment options as transformers' chat-template renderer, so whitespace handling is identical.
_JINJA_ENV = ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationMarkers, jinja2.ext.loopcontrols]
)
_TOY_TEMPLATE = _JINJA_ENV.from_string(TOY_CHAT_TEMPLATE)


def render_chat_text(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = False) -> str:
    """Render ``messages`` with TOY_CHAT_TEMPLATE, without a tokenizer.

    Produces exactly the text of ``tokenizer.apply_chat_template(messages, tokenize=False)`` for a tokenizer
    from :func:`train_word_tokenizer`. Raises ValueError when a message lacks a string role or content.
    """
    check_messages(messages)
    return _TOY_TEMPLATE.render(
        messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt
    )


def _iter_training_texts(texts: Iterable[str], extra_words: Sequence[str]) -> Iterator[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"training texts must be str, got {type(text).__name__}")
        yield text
    yield " ".join([*TEMPLATE_WORDS, *extra_words])


def train_word_tokenizer(
    texts: Iterable[str],
    extra_words: Sequence[str] = (),
    model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
) -> PreTrainedTokenizerFast:
    """Train a word-level tokenizer on ``texts``; every word and punctuation run becomes one token.

    Args:
        texts: the corpus; every word in it gets a token (min_frequency 1, no vocabulary cap).
        extra_words: words to include even if the corpus lacks them (persona names, answer words). Each must
            be a single pre-token (letters/digits/underscore only, or punctuation only).
        model_max_length: recorded on the tokenizer; the toy models' context length.

    The special tokens are PAD, EOS, EOT, UNK with ids 0-3; pad is distinct from eos so that masking pads
    never masks the end of a document. Decoding joins tokens with single spaces (the tokenizers library's
    behaviour when no decoder is set), and cleanup of spaces before punctuation is off so that decoding is
    a plain join.
    """
    pre_tokenizer = pre_tokenizers.Whitespace()
    for word in extra_words:
        pieces = [piece for piece, _ in pre_tokenizer.pre_tokenize_str(word)]
        if pieces != [word]:
            raise ValueError(f"extra word {word!r} is not a single token: it splits into {pieces}")
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.WordLevelTrainer(
        vocab_size=_UNCAPPED_VOCAB, min_frequency=1, special_tokens=list(SPECIAL_TOKENS)
    )
    tokenizer.train_from_iterator(_iter_training_texts(texts, extra_words), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[EOT],
        chat_template=TOY_CHAT_TEMPLATE,
        model_max_length=model_max_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    if wrapped.pad_token_id == wrapped.eos_token_id:  # a classic bug: masking pads would mask every EOS
        raise RuntimeError("pad and eos share an id")
    return wrapped
