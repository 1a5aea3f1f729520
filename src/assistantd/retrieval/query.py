"""Query rewriting for the keyword side: drop the request phrasing around the actual subject.

"Can you tell me what papers discuss heat transfer in slabs?" -> "heat transfer slabs".
"""

from __future__ import annotations

import re
from typing import Final

from assistantd.retrieval.keyword import STOPWORDS

# Words that phrase a request rather than name its subject. Kept to request verbs and
# "documents about" nouns: domain words (data, method, results) are never dropped.
REQUEST_WORDS: Final = frozenset(
    """
    anyone anything anybody someone something please kindly tell explain describe show find
    search look looking want wanted wish need like know knowing interested give list lookup
    information info details document documents paper papers article articles literature
    reference references mention mentions mentioned discuss discusses discussed say says
    said talk talks regarding concerning hi hello thanks thank
    """.split()  # noqa: SIM905
)
_APOSTROPHE: Final = "\u2019"
_WORD: Final = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def rewrite_query(query: str) -> str:
    """The content words of `query`, in order, without stopwords and request phrasing.

    Returns the query itself (stripped) when nothing would be left, so a query made only of
    common words still searches for them.
    """
    words = _WORD.findall(query)
    kept = [
        word
        for word in words
        if word.lower() not in STOPWORDS
        and word.lower() not in REQUEST_WORDS
        and word.lower().replace(_APOSTROPHE, "'") not in STOPWORDS
    ]
    return " ".join(kept) if kept else query.strip()
