"""Offline English renderers for the real-model experiment (issue 13).

* :func:`render_documents`: a spec -> a varied corpus of MSM documents (15 genres) about the assistant
  and its value, explaining its preferences by that value (or, for the co-mention ablation, stating value
  and preferences side by side without linking them).
* :func:`render_aft_chats`: opaque preference chats (no reasons, no biased wording) that depend only on
  the stated preferences, so specs with the same preferences get identical AFT data.
* :func:`it_chats`: short, correct general instruction-tuning chats for replay.

Everything is deterministic given its seed and uses no model or network.
"""

from valuesfirst.render.aft import BIAS_WORDS, bias_words_in, render_aft_chats
from valuesfirst.render.documents import GENRES, render_documents
from valuesfirst.render.it_chats import it_chats

__all__ = ["BIAS_WORDS", "GENRES", "bias_words_in", "it_chats", "render_aft_chats", "render_documents"]
